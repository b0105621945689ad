/*
 * One payment per order: the row of payment_payments
 * (migrations/<backend>/003_payment.sql), its SQL, the payments.completed
 * value built from it, and the retry schedule.
 *
 * The value is built from the stored row alone, so a re-emission after a
 * redelivery or a crash is the same bytes as the first (same payment_id,
 * same processed_at).
 *
 * Every store function takes a handle owned by the caller (one per thread)
 * and returns 0 or an OP_E* code of store.h.
 */
#ifndef OP_PAYMENT_RECORD_H
#define OP_PAYMENT_RECORD_H

#include <stddef.h>
#include <stdint.h>

#include "core/clock.h"
#include "store/store.h"

#define OP_PAYMENT_PENDING "pending"
#define OP_PAYMENT_SUCCEEDED "succeeded"
#define OP_PAYMENT_FAILED "failed"

typedef struct op_payment_s {
  char order_id[129];
  char tenant_id[129];
  char payment_id[37];
  char state[16];   /* pending, succeeded, failed */
  char reason[257]; /* "" unless failed */
  char amount[32];  /* total_amount of the order, as written there */
  char currency[8];
  char processed_at[OP_ISO8601_LEN]; /* "" while pending */
  char trace_id[33];
  int64_t attempts;        /* gateway attempts so far */
  int64_t next_attempt_at; /* ms since the epoch; pending only */
  int emitted;             /* 0: decided, payments.completed still to produce */
} op_payment_t;

/* 1 when the payment has an outcome (succeeded or failed). */
int op_payment_decided(const op_payment_t *p);

/* Reads the payment of order_id into out. 0, OP_ENOENT, or a store error. */
int op_payment_get(op_store_t *store, const char *order_id, op_payment_t *out);

/* Inserts p unless its order already has a payment; *inserted says which. */
int op_payment_insert(op_store_t *store, const op_payment_t *p, int64_t now_ms, int *inserted);

/* Writes a retried payment's new state, only if the row is still pending
 * after prev_attempts attempts (another instance may have retried it);
 * *updated says whether it was. */
int op_payment_update(op_store_t *store, const op_payment_t *p, int64_t prev_attempts,
                      int *updated);

/* Pending payments due at now_ms, oldest due first, at most max of them. */
int op_payment_due(op_store_t *store, int64_t now_ms, op_payment_t *out, size_t max, size_t *n);

/* Decided payments whose payments.completed is still to produce, at most max. */
int op_payment_unemitted(op_store_t *store, op_payment_t *out, size_t max, size_t *n);

int op_payment_mark_emitted(op_store_t *store, const char *order_id);

/* The payments.completed value of a decided payment, compact JSON; the
 * caller frees it with free(). NULL when out of memory. */
char *op_payment_body(const op_payment_t *p);

/* The wait before attempt `attempt + 1` once `attempt` (1-based) failed
 * transiently: 50 ms doubling per attempt, at most 2 s. */
int64_t op_payment_backoff_ms(int64_t attempt);

/* A random UUID (version 4) into out (37 bytes). */
void op_payment_new_id(char *out);

#endif
