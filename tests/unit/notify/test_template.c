/* Mail templates: placeholders, per-part escaping, the subject's control
 * characters, unknown vars, missing files, the directory rule. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/err.h"
#include "notify/template.h"

static json_t *vars(void) {
  return json_pack("{s:s, s:s, s:s, s:s, s:s, s:I, s:n}", "reference",
                   "<script>alert('x')</script>", "display_name", "Ann & \"Bob\"", "total_amount",
                   "129.90", "currency", "EUR", "status", "paid", "count", (json_int_t)3,
                   "nothing");
}

static void expands_placeholders(void **state) {
  json_t *v = vars();
  char *s = op_template_expand("Total {{total_amount}} {{ currency }}, n={{count}}{{nothing}}.", v,
                               OP_TMPL_TEXT, NULL);
  assert_string_equal(s, "Total 129.90 EUR, n=3.");
  free(s);
  s = op_template_expand("no close {{reference", v, OP_TMPL_TEXT, NULL);
  assert_string_equal(s, "no close {{reference");
  free(s);
  json_decref(v);
}

static void html_part_escapes_every_value(void **state) {
  json_t *v = vars();
  char *s = op_template_expand("<p>{{reference}} {{display_name}}</p>", v, OP_TMPL_HTML, NULL);
  assert_string_equal(s, "<p>&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; Ann &amp; "
                         "&quot;Bob&quot;</p>");
  free(s);
  s = op_template_expand("{{reference}}", v, OP_TMPL_TEXT, NULL); /* text: raw */
  assert_string_equal(s, "<script>alert('x')</script>");
  free(s);
  json_decref(v);
}

static void subject_loses_control_characters(void **state) {
  json_t *v = json_pack("{s:s}", "reference", "A-1\r\nBcc: evil@example.com\t\x01\x7f!");
  char *s = op_template_expand("Order {{reference}} paid", v, OP_TMPL_SUBJECT, NULL);
  assert_null(strpbrk(s, "\r\n\t\x01\x7f"));
  assert_string_equal(s, "Order A-1Bcc: evil@example.com! paid");
  free(s);
  json_decref(v);
}

static void unknown_var_is_empty_and_logged_once(void **state) {
  json_t *v = vars(), *warned = json_object();
  char *s = op_template_expand("[{{missing}}][{{missing}}]", v, OP_TMPL_HTML, warned);
  assert_string_equal(s, "[][]");
  assert_int_equal(json_object_size(warned), 1);
  assert_non_null(json_object_get(warned, "missing"));
  free(s);
  json_decref(warned);
  json_decref(v);
}

static void write_file(const char *dir, const char *name, const char *text) {
  char path[512];
  snprintf(path, sizeof path, "%s/%s", dir, name);
  FILE *f = fopen(path, "w");
  assert_non_null(f);
  fputs(text, f);
  fclose(f);
}

static void renders_files_and_reports_a_missing_one(void **state) {
  char dir[] = "/tmp/op_tmpl_XXXXXX";
  assert_non_null(mkdtemp(dir));
  write_file(dir, "t.subject", "Order {{reference}}\nsecond line ignored\n");
  write_file(dir, "t.html", "<b>{{reference}}</b>");
  write_file(dir, "t.txt", "{{reference}}");
  json_t *v = vars();
  op_mail_content_t c;
  assert_int_equal(op_template_render(dir, "t", v, NULL, &c), 0);
  assert_string_equal(c.subject, "Order <script>alert('x')</script>");
  assert_string_equal(c.html, "<b>&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;</b>");
  assert_string_equal(c.text, "<script>alert('x')</script>");
  op_mail_content_free(&c);
  assert_int_equal(op_template_render(dir, "nope", v, NULL, &c), OP_ENOENT);
  char path[512];
  snprintf(path, sizeof path, "%s/t.txt", dir);
  unlink(path);
  assert_int_equal(op_template_render(dir, "t", v, NULL, &c), OP_ENOENT); /* one part missing */
  assert_int_equal(op_template_render(dir, "../etc/passwd", v, NULL, &c), OP_EINVAL);
  json_decref(v);
  snprintf(path, sizeof path, "%s/t.subject", dir);
  unlink(path);
  snprintf(path, sizeof path, "%s/t.html", dir);
  unlink(path);
  rmdir(dir);
}

static void directory_rule(void **state) {
  char out[4096];
  assert_int_equal(op_template_dir_resolve("/nonexistent/dir", out, sizeof out), 0);
  assert_string_equal(out, "/nonexistent/dir");
  assert_int_equal(op_template_dir_resolve("/tmp", out, sizeof out), 1);
  assert_string_equal(out, "/tmp");
  /* The repository's templates/, from the build directory's parent. */
  assert_int_equal(op_template_dir_resolve("templates", out, sizeof out), 1);
  char path[4200];
  snprintf(path, sizeof path, "%s/order_paid.html", out);
  assert_int_equal(access(path, R_OK), 0);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(expands_placeholders),
      cmocka_unit_test(html_part_escapes_every_value),
      cmocka_unit_test(subject_loses_control_characters),
      cmocka_unit_test(unknown_var_is_empty_and_logged_once),
      cmocka_unit_test(renders_files_and_reports_a_missing_one),
      cmocka_unit_test(directory_rule),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
