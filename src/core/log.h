/*
 * Structured logging: one JSON object per line on stderr with the keys ts,
 * level, component, msg and, when known, trace_id. Thread-safe: each line is
 * written with a single write(2).
 */
#ifndef OP_CORE_LOG_H
#define OP_CORE_LOG_H

typedef enum { OP_LOG_DEBUG = 0, OP_LOG_INFO, OP_LOG_WARN, OP_LOG_ERROR } op_log_level_t;

void op_log_set_level(op_log_level_t level);
int op_log_enabled(op_log_level_t level);

/* Parses "debug", "info", "warn"/"warning", "error". Returns 0 or OP_EINVAL. */
int op_log_parse_level(const char *s, op_log_level_t *out);

void op_log(op_log_level_t level, const char *component, const char *trace_id, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

#define op_log_debug(comp, ...) op_log(OP_LOG_DEBUG, comp, NULL, __VA_ARGS__)
#define op_log_info(comp, ...) op_log(OP_LOG_INFO, comp, NULL, __VA_ARGS__)
#define op_log_warn(comp, ...) op_log(OP_LOG_WARN, comp, NULL, __VA_ARGS__)
#define op_log_error(comp, ...) op_log(OP_LOG_ERROR, comp, NULL, __VA_ARGS__)

#endif
