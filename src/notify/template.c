#include "notify/template.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/buf.h"
#include "core/err.h"
#include "core/log.h"

#define MAX_TEMPLATE_BYTES (256 * 1024)
#define MAX_VAR_NAME 64

static int append_escaped(op_buf_t *b, const char *s, op_tmpl_mode_t mode) {
  if (mode != OP_TMPL_HTML)
    return op_buf_puts(b, s);
  int rc = 0;
  for (const char *p = s; rc == 0 && *p; p++) {
    switch (*p) {
      case '&':
        rc = op_buf_puts(b, "&amp;");
        break;
      case '<':
        rc = op_buf_puts(b, "&lt;");
        break;
      case '>':
        rc = op_buf_puts(b, "&gt;");
        break;
      case '"':
        rc = op_buf_puts(b, "&quot;");
        break;
      case '\'':
        rc = op_buf_puts(b, "&#39;");
        break;
      default:
        rc = op_buf_append(b, p, 1);
    }
  }
  return rc;
}

static int append_value(op_buf_t *b, const json_t *v, op_tmpl_mode_t mode) {
  char num[64];
  switch (json_typeof(v)) {
    case JSON_STRING:
      return append_escaped(b, json_string_value(v), mode);
    case JSON_INTEGER:
      snprintf(num, sizeof num, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
      return op_buf_puts(b, num);
    case JSON_REAL:
      snprintf(num, sizeof num, "%.17g", json_real_value(v));
      return op_buf_puts(b, num);
    case JSON_TRUE:
      return op_buf_puts(b, "true");
    case JSON_FALSE:
      return op_buf_puts(b, "false");
    default:
      return 0; /* null, objects and arrays: nothing sensible to print */
  }
}

static void trim_name(const char *start, size_t len, char *out) {
  while (len && (*start == ' ' || *start == '\t'))
    start++, len--;
  while (len && (start[len - 1] == ' ' || start[len - 1] == '\t'))
    len--;
  memcpy(out, start, len);
  out[len] = '\0';
}

/* The subject must stay one header line: every control character goes. */
static void strip_controls(char *s) {
  char *w = s;
  for (char *r = s; *r; r++)
    if ((unsigned char)*r >= 0x20 && *r != 0x7f)
      *w++ = *r;
  *w = '\0';
}

char *op_template_expand(const char *tmpl, const json_t *vars, op_tmpl_mode_t mode,
                         json_t *warned) {
  op_buf_t b = OP_BUF_INIT;
  int rc = op_buf_reserve(&b, strlen(tmpl) + 1);
  const char *p = tmpl;
  while (rc == 0 && *p) {
    const char *open = strstr(p, "{{");
    const char *close = open ? strstr(open + 2, "}}") : NULL;
    if (open == NULL || close == NULL) {
      rc = op_buf_puts(&b, p);
      break;
    }
    rc = op_buf_append(&b, p, (size_t)(open - p));
    size_t len = (size_t)(close - open - 2);
    char name[MAX_VAR_NAME + 1];
    if (rc == 0 && len <= MAX_VAR_NAME) {
      trim_name(open + 2, len, name);
      const json_t *v = json_is_object(vars) ? json_object_get(vars, name) : NULL;
      if (v)
        rc = append_value(&b, v, mode);
      else if (warned && json_object_get(warned, name) == NULL) {
        json_object_set_new(warned, name, json_true());
        op_log_warn("notify", "mail template variable {{%s}} is not set: rendered empty", name);
      }
    } else if (rc == 0) {
      rc = op_buf_append(&b, open, (size_t)(close + 2 - open)); /* not a name: keep it */
    }
    p = close + 2;
  }
  if (rc == 0)
    rc = op_buf_append(&b, "", 1);
  if (rc != 0) {
    op_buf_free(&b);
    return NULL;
  }
  char *out = b.data;
  if (mode == OP_TMPL_SUBJECT)
    strip_controls(out);
  return out;
}

static int valid_name(const char *name) {
  if (name == NULL || *name == '\0' || strlen(name) > 128)
    return 0;
  for (const char *p = name; *p; p++)
    if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
          *p == '_' || *p == '-'))
      return 0;
  return 1;
}

/* Reads dir/name.ext whole. NULL when missing, unreadable or too large. */
static char *read_file(const char *dir, const char *name, const char *ext) {
  char path[PATH_MAX];
  if (snprintf(path, sizeof path, "%s/%s.%s", dir, name, ext) >= (int)sizeof path)
    return NULL;
  FILE *f = fopen(path, "rb");
  if (f == NULL)
    return NULL;
  char *data = malloc(MAX_TEMPLATE_BYTES + 1);
  size_t n = data ? fread(data, 1, MAX_TEMPLATE_BYTES + 1, f) : 0;
  int bad = data == NULL || ferror(f) || n > MAX_TEMPLATE_BYTES;
  fclose(f);
  if (bad) {
    free(data);
    return NULL;
  }
  data[n] = '\0';
  return data;
}

int op_template_render(const char *dir, const char *name, const json_t *vars, json_t *warned,
                       op_mail_content_t *out) {
  if (!valid_name(name))
    return OP_EINVAL;
  char *subject = read_file(dir, name, "subject");
  char *html = read_file(dir, name, "html");
  char *text = read_file(dir, name, "txt");
  int rc = subject && html && text ? 0 : OP_ENOENT;
  if (rc == 0) {
    subject[strcspn(subject, "\r\n")] = '\0'; /* the first line is the subject */
    op_mail_content_t c = {op_template_expand(subject, vars, OP_TMPL_SUBJECT, warned),
                           op_template_expand(html, vars, OP_TMPL_HTML, warned),
                           op_template_expand(text, vars, OP_TMPL_TEXT, warned)};
    if (c.subject && c.html && c.text)
      *out = c;
    else {
      op_mail_content_free(&c);
      rc = OP_ENOMEM;
    }
  }
  free(subject);
  free(html);
  free(text);
  return rc;
}

void op_mail_content_free(op_mail_content_t *c) {
  free(c->subject);
  free(c->html);
  free(c->text);
  c->subject = c->html = c->text = NULL;
}

static int is_dir(const char *path) {
  struct stat st;
  return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

int op_template_dir_resolve(const char *configured, char *out, size_t outlen) {
  snprintf(out, outlen, "%s", configured);
  if (configured[0] == '/' || is_dir(configured))
    return is_dir(configured);
  char exe[PATH_MAX];
  ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
  if (n <= 0)
    return 0;
  exe[n] = '\0';
  char *slash = strrchr(exe, '/');
  if (slash == NULL)
    return 0;
  *slash = '\0';
  char candidate[PATH_MAX];
  if (snprintf(candidate, sizeof candidate, "%s/../%s", exe, configured) >= (int)sizeof candidate ||
      !is_dir(candidate))
    return 0;
  snprintf(out, outlen, "%s", candidate);
  return 1;
}
