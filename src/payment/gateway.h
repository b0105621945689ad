/*
 * The payment gateway seam: a small table of function pointers that the
 * service calls to charge an order, with one implementation today, the
 * simulated gateway (gateway_sim.c). A real gateway is one more file that
 * fills the same table, chosen once at start-up.
 *
 * A charge ends in one of three ways: succeeded, declined (final, with a
 * reason token such as card_declined), or a transient error (the gateway is
 * unreachable or overloaded; the service retries with backoff). The request
 * carries the payment_id, fixed before the first attempt and the same on
 * every retry, as the idempotency key a real gateway would deduplicate on.
 */
#ifndef OP_PAYMENT_GATEWAY_H
#define OP_PAYMENT_GATEWAY_H

#include <stddef.h>
#include <stdint.h>

#include "core/decimal.h"

typedef enum {
  OP_CHARGE_SUCCEEDED = 0,
  OP_CHARGE_DECLINED,
  OP_CHARGE_TRANSIENT,
} op_charge_outcome_t;

typedef struct op_charge_s {
  const char *order_id;
  const char *tenant_id;
  const char *payment_id; /* idempotency key */
  op_dec_t amount;
  const char *currency;
  int attempt; /* 1 for the first attempt of this payment */
} op_charge_t;

#define OP_CHARGE_REASON_MAX 64

typedef struct op_gateway_s op_gateway_t;
struct op_gateway_s {
  const char *name;
  /* Charges req (borrowed). On OP_CHARGE_DECLINED, reason receives a token
   * (NUL-terminated, at most OP_CHARGE_REASON_MAX bytes). May block for the
   * gateway's latency. Runs on: the payment consumer thread. */
  op_charge_outcome_t (*charge)(op_gateway_t *gw, const op_charge_t *req, char *reason);
  void (*free)(op_gateway_t *gw);
};

/*
 * The simulated gateway. Each charge takes latency_ms, then follows the
 * deterministic test rule (op_gateway_rule) when it applies, and otherwise
 * declines a failure_rate share of charges at random (card_declined).
 * NULL + errbuf on error.
 */
op_gateway_t *op_gateway_sim_new(int64_t latency_ms, double failure_rate, char *errbuf,
                                 size_t errlen);

/*
 * The deterministic rule of the simulated gateway (docs/services/payment.md):
 * a negative amount is declined invalid_amount; an amount whose decimals are
 * .13 is declined card_declined; .99 fails transiently on attempts 1 and 2 and
 * succeeds from attempt 3. Returns 1 and sets *outcome (and reason when
 * declined) when the rule decides, 0 when it leaves the charge to chance.
 * Pure: any thread.
 */
int op_gateway_rule(op_dec_t amount, int attempt, op_charge_outcome_t *outcome, char *reason);

#endif
