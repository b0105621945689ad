#include "core/trace.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "core/err.h"
#include "core/id.h"

static int is_lower_hex(const char *s, size_t n) {
  int nonzero = 0;
  for (size_t i = 0; i < n; i++) {
    if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
      return 0;
    nonzero |= s[i] != '0';
  }
  return nonzero;
}

int op_trace_parse(const char *value, size_t len, char *out) {
  /* version "-" trace-id(32) "-" parent-id(16) "-" flags(2) */
  if (value == NULL || len < OP_TRACEPARENT_LEN || memcmp(value, "00-", 3) != 0 ||
      value[35] != '-' || value[52] != '-' || !is_lower_hex(value + 3, 32) ||
      !is_lower_hex(value + 36, 16))
    return OP_EINVAL;
  memcpy(out, value + 3, OP_TRACE_ID_LEN);
  out[OP_TRACE_ID_LEN] = '\0';
  return 0;
}

static void random_hex(char *out, size_t bytes) {
  unsigned char raw[16];
  op_random_bytes(raw, bytes);
  raw[0] |= 1; /* never all zero */
  for (size_t i = 0; i < bytes; i++)
    snprintf(out + 2 * i, 3, "%02x", raw[i]);
}

void op_trace_new_id(char *out) {
  random_hex(out, OP_TRACE_ID_LEN / 2);
}

char *op_traceparent(const char *trace_id, char *out) {
  char tid[OP_TRACE_ID_LEN + 1], span[17];
  if (trace_id && strlen(trace_id) == OP_TRACE_ID_LEN && is_lower_hex(trace_id, OP_TRACE_ID_LEN))
    memcpy(tid, trace_id, sizeof tid);
  else
    op_trace_new_id(tid);
  random_hex(span, 8);
  snprintf(out, OP_TRACEPARENT_LEN + 1, "00-%s-%s-01", tid, span);
  return out;
}
