/*
 * An order event of the orders.events contract (DESIGN.md §3), as the
 * validator hands it to the store and the fan-out. Every string is borrowed
 * from the parsed document that owns it (see contracts/validate.h); optional
 * fields are NULL when absent.
 */
#ifndef OP_CORE_EVENT_H
#define OP_CORE_EVENT_H

#include <stddef.h>
#include <stdint.h>

#define OP_ID_MAX 128 /* ids are non-empty strings of at most this many bytes */

typedef struct op_order_event_s {
  const char *event_id;
  const char *event_type; /* order_created, order_paid, order_status_updated */
  const char *order_id;
  const char *tenant_id;
  const char *timestamp; /* RFC 3339 as received */
  int64_t timestamp_ms;  /* the same, parsed */
  int schema_version;    /* 1 when absent */
  /* payload */
  const char *status;
  const char *reference;    /* optional */
  const char *total_amount; /* optional decimal string */
  const char *currency;     /* optional ISO 4217 code */
  const char *user_id;      /* optional */
  /* transport */
  const char *trace_id; /* from the traceparent header, optional */
  const char *raw;      /* the message value as received */
  size_t raw_len;
  int32_t partition;
  int64_t offset;
  void *doc; /* owner of the strings above (a json_t *), or NULL */
} op_order_event_t;

#endif
