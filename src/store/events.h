/*
 * Notify's event store, in portable SQL over op_store_exec (both backends):
 *
 *   event_records  every stored event_id (dedupe), purged after retention
 *   tenant_seq     per tenant, the last position handed out
 *   tenant_log     per tenant, each stored event at its position (SSE replay)
 *   order_view     per order, its current state and the position that set it
 *
 * Positions: per tenant, 1, 2, 3, … with no gap, in the order the events
 * were applied. Concurrent writers of one tenant are serialized by the
 * tenant_seq row, so positions become visible in order: a reader never sees
 * position p+1 without p (DESIGN.md §4.4).
 *
 * All functions take a handle owned by the calling thread, return 0 or a
 * negative OP_E* code (details in op_store_errmsg), and call their callback,
 * if any, only after the read succeeded (never on failure).
 */
#ifndef OP_STORE_EVENTS_H
#define OP_STORE_EVENTS_H

#include <stddef.h>
#include <stdint.h>

#include "core/event.h"
#include "store/store.h"

typedef struct op_event_result_s {
  int64_t position; /* position in the tenant's log; 0 for a duplicate */
  int duplicate;    /* 1: the event_id was stored before, or earlier in the batch */
} op_event_result_t;

/*
 * Stores a batch of events (in Kafka order) in one transaction: events whose
 * event_id is already stored, or appears earlier in the batch, are
 * duplicates and change nothing; every other event gets the next position of
 * its tenant (in batch order), a row in event_records (received_at = now_ms)
 * and in tenant_log (the body is raw/raw_len), and updates order_view.
 * order_view takes, per order, the fields of the last event that carries
 * them: a later event without reference/amount/currency/user keeps the known
 * values; updated_at is the event's timestamp.
 *
 * results[i] (n entries, caller-owned) describes evs[i]. Events are borrowed.
 * Required fields: event_id, event_type, order_id, tenant_id, raw (else
 * OP_EINVAL before anything is done).
 *
 * Without an open transaction, apply begins and commits its own; on failure
 * it rolls back and nothing is stored. Inside the caller's transaction it
 * neither commits nor rolls back; on failure the caller must roll back.
 * OP_EEXIST on PostgreSQL means a concurrent writer stored one of these
 * event_ids first: applying the batch again resolves it (as duplicates).
 */
int op_events_apply(op_store_t *store, const op_order_event_t *evs, size_t n,
                    op_event_result_t *results, int64_t now_ms);

/* One tenant_log entry; strings are borrowed for the callback's duration. */
typedef struct op_log_entry_s {
  int64_t pos;
  const char *event_id;
  const char *event_type;
  const char *order_id;
  int64_t created_at; /* ms, when stored */
  const char *body;   /* the event as received */
  size_t body_len;
  const char *trace_id; /* NULL when absent */
} op_log_entry_t;

/* Returns 0 to go on; any other value stops the iteration and is returned. */
typedef int (*op_log_entry_cb)(const op_log_entry_t *entry, void *arg);

/*
 * Calls cb for the tenant's log entries with pos > after_pos, in position
 * order, at most limit of them (0: no limit). Entries are contiguous; when
 * the first one is not after_pos + 1 (or there is none while
 * op_events_last_position is past after_pos) the range was purged and the
 * reader must resync from a snapshot.
 */
int op_events_read_log(op_store_t *store, const char *tenant_id, int64_t after_pos, size_t limit,
                       op_log_entry_cb cb, void *arg);

/* Sets *pos to the tenant's last position (0 when it has none). */
int op_events_last_position(op_store_t *store, const char *tenant_id, int64_t *pos);

/* One order_view row; strings are borrowed for the callback's duration and
 * NULL when unknown. */
typedef struct op_order_state_s {
  const char *order_id;
  const char *status;
  const char *reference;
  const char *total_amount;
  const char *currency;
  const char *user_id;
  int64_t updated_at; /* ms, the timestamp of the last event */
  int64_t last_pos;   /* position of the last event applied to the order */
  const char *last_event_id;
} op_order_state_t;

typedef int (*op_order_state_cb)(const op_order_state_t *order, void *arg);

/*
 * Reads, in one consistent view, the tenant's last position into *last_pos
 * and calls cb for every order changed after since_pos (last_pos > since_pos),
 * in position order. Every event up to *last_pos is reflected, none after:
 * *last_pos used as Last-Event-ID continues with no gap and no duplicate.
 * A callback's non-zero return stops the iteration and is returned (then
 * *last_pos is still set).
 */
int op_events_snapshot(op_store_t *store, const char *tenant_id, int64_t since_pos,
                       op_order_state_cb cb, void *arg, int64_t *last_pos);

/*
 * Retention: deletes event_records received before older_than_ms and
 * tenant_log entries created before it, in short transactions of a few
 * thousand rows (writers are not blocked for long). tenant_seq keeps each
 * tenant's last position, so positions never restart. The counts (optional)
 * receive the rows deleted. Must be called outside a transaction.
 */
int op_events_purge(op_store_t *store, int64_t older_than_ms, size_t *events_deleted,
                    size_t *log_deleted);

#endif
