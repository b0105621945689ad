/*
 * W3C Trace Context (traceparent) for the events the services emit: the
 * trace id of the message that caused an event travels on, with a new span
 * id per hop; an event with no cause (an HTTP request without a traceparent)
 * starts a new trace. https://www.w3.org/TR/trace-context/#traceparent-header
 */
#ifndef OP_CORE_TRACE_H
#define OP_CORE_TRACE_H

#include <stddef.h>

#define OP_TRACE_ID_LEN 32    /* hex digits of a trace id */
#define OP_TRACEPARENT_LEN 55 /* "00-" 32 "-" 16 "-" 2 */

/* Copies the trace id of a traceparent value (len bytes, not necessarily
 * NUL-terminated) into out (at least OP_TRACE_ID_LEN + 1 bytes). Returns 0,
 * or OP_EINVAL when the value is not a valid version-00 traceparent (an
 * all-zero trace id is invalid). */
int op_trace_parse(const char *value, size_t len, char *out);

/* A fresh random trace id (OP_TRACE_ID_LEN hex digits) into out. */
void op_trace_new_id(char *out);

/* Formats "00-<trace_id>-<new random span id>-01" into out (at least
 * OP_TRACEPARENT_LEN + 1 bytes). trace_id NULL or invalid starts a new trace.
 * Returns out. */
char *op_traceparent(const char *trace_id, char *out);

#endif
