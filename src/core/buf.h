/* A growable byte buffer. Not thread-safe; the owner frees it with op_buf_free. */
#ifndef OP_CORE_BUF_H
#define OP_CORE_BUF_H

#include <stdarg.h>
#include <stddef.h>

typedef struct op_buf_s {
  char *data; /* always NUL-terminated when cap > 0 */
  size_t len;
  size_t cap;
} op_buf_t;

#define OP_BUF_INIT                                                                                \
  { NULL, 0, 0 }

/* Ensures room for extra more bytes (plus a NUL). Returns 0 or OP_ENOMEM. */
int op_buf_reserve(op_buf_t *buf, size_t extra);
int op_buf_append(op_buf_t *buf, const void *data, size_t len);
int op_buf_puts(op_buf_t *buf, const char *s);
int op_buf_printf(op_buf_t *buf, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int op_buf_vprintf(op_buf_t *buf, const char *fmt, va_list ap);
void op_buf_reset(op_buf_t *buf);
void op_buf_free(op_buf_t *buf);

#endif
