#include "notify/notice.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/clock.h"
#include "core/err.h"
#include "core/id.h"

static int valid_trace_id(const char *s) {
  if (s == NULL || strlen(s) != 32)
    return 0;
  for (const char *p = s; *p; p++)
    if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f')))
      return 0;
  return 1;
}

/* trace: the message's trace id (33 bytes), n's own or a new one. */
static char *build(const op_notice_t *n, char *trace) {
  if (valid_trace_id(n->trace_id))
    memcpy(trace, n->trace_id, 33);
  else
    op_random_hex(trace, 16);
  json_t *doc =
      json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s}", "notification_id", n->notification_id,
                "tenant_id", n->tenant_id, "user_id", n->user_id, "channel", n->channel, "template",
                n->template, "state", n->state, "order_id", n->order_id);
  if (doc == NULL)
    return NULL;
  int rc = 0;
  if (strcmp(n->state, "sent") == 0) {
    char at[OP_ISO8601_LEN];
    rc |= json_object_set_new(doc, "sent_at", json_string(op_iso8601(n->sent_at_ms, at)));
  } else if (strcmp(n->state, "failed") == 0) {
    /* The contract bounds a reason to 512 characters; a longer SMTP reply is cut. */
    char reason[513];
    snprintf(reason, sizeof reason, "%s", n->reason && *n->reason ? n->reason : "unknown");
    rc |= json_object_set_new(doc, "reason", json_string(reason));
  }
  rc |= json_object_set_new(doc, "trace_id", json_string(trace));
  char *text = rc == 0 ? json_dumps(doc, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
  json_decref(doc);
  return text;
}

char *op_notice_json(const op_notice_t *n) {
  char trace[33];
  return build(n, trace);
}

int op_notice_enqueue(op_store_t *store, const op_notice_t *n, int64_t now_ms) {
  char trace[33];
  char *text = build(n, trace);
  if (text == NULL)
    return OP_ENOMEM;
  char created[24];
  snprintf(created, sizeof created, "%lld", (long long)now_ms);
  const char *params[] = {n->user_id, text, trace, created};
  int rc = op_store_exec(store,
                         "INSERT INTO notify_publish_outbox (msg_key, payload, trace_id, "
                         "created_at) VALUES ($1, $2, $3, $4)",
                         4, params, NULL);
  free(text);
  return rc;
}
