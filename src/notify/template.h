/*
 * Mail templates: templates/<name>.subject (one line), <name>.html and
 * <name>.txt, with {{var}} placeholders filled from a JSON object of vars.
 *
 * Escaping depends on the part: the HTML part HTML-escapes every value
 * (& < > " '), the text part inserts values as they are, and the subject has
 * every control character (CR and LF included) removed after rendering, so
 * no value can add a mail header. An unknown var renders as the empty string.
 *
 * The directory: see op_template_dir_resolve.
 */
#ifndef OP_NOTIFY_TEMPLATE_H
#define OP_NOTIFY_TEMPLATE_H

#include <jansson.h>
#include <stddef.h>

typedef enum { OP_TMPL_TEXT = 0, OP_TMPL_HTML, OP_TMPL_SUBJECT } op_tmpl_mode_t;

typedef struct op_mail_content_s {
  char *subject; /* one line, no control characters */
  char *html;
  char *text;
} op_mail_content_t;

/* Expands {{name}} (spaces inside the braces allowed) in tmpl with vars'
 * values: strings as they are, integers and reals in decimal, true/false,
 * null and objects/arrays as "". An unknown name renders as "" and, when
 * warned is a JSON object, is logged the first time it is met (warned records
 * the names already logged; pass NULL to log nothing). "{{" without a
 * closing "}}" is kept as text. Returns a malloc'd string or NULL (no memory). */
char *op_template_expand(const char *tmpl, const json_t *vars, op_tmpl_mode_t mode, json_t *warned);

/* Loads <dir>/<name>.subject, .html and .txt and renders them. Returns 0, or
 * OP_ENOENT when a file is missing or unreadable (the mail's reason is then
 * "template_missing"), OP_EINVAL for a name that is not [A-Za-z0-9_-]+,
 * OP_ENOMEM. out is filled only on success; free it with op_mail_content_free. */
int op_template_render(const char *dir, const char *name, const json_t *vars, json_t *warned,
                       op_mail_content_t *out);

void op_mail_content_free(op_mail_content_t *c);

/*
 * Chooses the templates directory from EMAIL_TEMPLATES_DIR (configured):
 * an absolute path is used as it is; a relative one is looked up first in the
 * working directory, then beside the executable's parent directory
 * (<dir of /proc/self/exe>/../<configured>), so that build/orderpulse and
 * build-test/orderpulse find the repository's templates/ from any working
 * directory. When neither exists the configured value is kept (every mail
 * then fails with "template_missing"). Writes the choice into out; returns 1
 * when the directory exists, 0 otherwise.
 */
int op_template_dir_resolve(const char *configured, char *out, size_t outlen);

#endif
