#include "core/buf.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"

int op_buf_reserve(op_buf_t *buf, size_t extra) {
  size_t need = buf->len + extra + 1;
  if (need <= buf->cap)
    return 0;
  size_t cap = buf->cap ? buf->cap : 64;
  while (cap < need)
    cap *= 2;
  char *data = realloc(buf->data, cap);
  if (data == NULL)
    return OP_ENOMEM;
  buf->data = data;
  buf->cap = cap;
  return 0;
}

int op_buf_append(op_buf_t *buf, const void *data, size_t len) {
  if (op_buf_reserve(buf, len))
    return OP_ENOMEM;
  if (len)
    memcpy(buf->data + buf->len, data, len);
  buf->len += len;
  buf->data[buf->len] = '\0';
  return 0;
}

int op_buf_puts(op_buf_t *buf, const char *s) {
  return op_buf_append(buf, s, strlen(s));
}

int op_buf_vprintf(op_buf_t *buf, const char *fmt, va_list ap) {
  va_list copy;
  va_copy(copy, ap);
  int n = vsnprintf(NULL, 0, fmt, copy);
  va_end(copy);
  if (n < 0)
    return OP_EINVAL;
  if (op_buf_reserve(buf, (size_t)n))
    return OP_ENOMEM;
  vsnprintf(buf->data + buf->len, (size_t)n + 1, fmt, ap);
  buf->len += (size_t)n;
  return 0;
}

int op_buf_printf(op_buf_t *buf, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  int rc = op_buf_vprintf(buf, fmt, ap);
  va_end(ap);
  return rc;
}

void op_buf_reset(op_buf_t *buf) {
  buf->len = 0;
  if (buf->data)
    buf->data[0] = '\0';
}

void op_buf_free(op_buf_t *buf) {
  free(buf->data);
  buf->data = NULL;
  buf->len = buf->cap = 0;
}
