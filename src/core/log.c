#include "core/log.h"

#include <jansson.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "core/clock.h"
#include "core/err.h"

static atomic_int min_level = OP_LOG_INFO;

static const char *level_names[] = {"debug", "info", "warn", "error"};

void op_log_set_level(op_log_level_t level) {
  atomic_store(&min_level, (int)level);
}

int op_log_enabled(op_log_level_t level) {
  return (int)level >= atomic_load(&min_level);
}

int op_log_parse_level(const char *s, op_log_level_t *out) {
  if (strcasecmp(s, "debug") == 0)
    *out = OP_LOG_DEBUG;
  else if (strcasecmp(s, "info") == 0)
    *out = OP_LOG_INFO;
  else if (strcasecmp(s, "warn") == 0 || strcasecmp(s, "warning") == 0)
    *out = OP_LOG_WARN;
  else if (strcasecmp(s, "error") == 0)
    *out = OP_LOG_ERROR;
  else
    return OP_EINVAL;
  return 0;
}

void op_log(op_log_level_t level, const char *component, const char *trace_id, const char *fmt,
            ...) {
  if (!op_log_enabled(level))
    return;
  char msg[2048];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);

  char ts[OP_ISO8601_LEN];
  op_iso8601(op_now_ms(), ts);
  /* jansson does the escaping so that any message stays one valid JSON line. */
  json_t *line = json_pack("{s:s, s:s, s:s, s:s}", "ts", ts, "level", level_names[level],
                           "component", component ? component : "main", "msg", msg);
  if (line == NULL)
    return;
  if (trace_id && *trace_id)
    json_object_set_new(line, "trace_id", json_string(trace_id));
  char *text = json_dumps(line, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_ENSURE_ASCII);
  json_decref(line);
  if (text == NULL)
    return;
  size_t len = strlen(text);
  text[len] = '\n'; /* overwrite the NUL: one write(2) per line keeps lines whole */
  ssize_t rc = write(STDERR_FILENO, text, len + 1);
  (void)rc;
  free(text);
}
