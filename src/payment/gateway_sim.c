/* The simulated payment gateway (see gateway.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "core/clock.h"
#include "payment/gateway.h"

typedef struct sim_s {
  op_gateway_t base; /* first: a sim_t * is an op_gateway_t * */
  int64_t latency_ms;
  double failure_rate;
  uint64_t rng; /* splitmix64 state; one consumer thread uses it */
} sim_t;

int op_gateway_rule(op_dec_t amount, int attempt, op_charge_outcome_t *outcome, char *reason) {
  if (amount < 0) {
    *outcome = OP_CHARGE_DECLINED;
    snprintf(reason, OP_CHARGE_REASON_MAX, "invalid_amount");
    return 1;
  }
  /* The decimals as ten-thousandths: "10.13", "10.130" and "10.1300" are all .13. */
  int64_t cents4 = (int64_t)(amount % OP_DEC_SCALE);
  if (cents4 == 1300) {
    *outcome = OP_CHARGE_DECLINED;
    snprintf(reason, OP_CHARGE_REASON_MAX, "card_declined");
    return 1;
  }
  if (cents4 == 9900) {
    *outcome = attempt <= 2 ? OP_CHARGE_TRANSIENT : OP_CHARGE_SUCCEEDED;
    return 1;
  }
  return 0;
}

static uint64_t next_random(sim_t *sim) {
  uint64_t z = (sim->rng += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

static op_charge_outcome_t sim_charge(op_gateway_t *gw, const op_charge_t *req, char *reason) {
  sim_t *sim = (sim_t *)gw;
  if (sim->latency_ms > 0) {
    struct timespec ts = {sim->latency_ms / 1000, (sim->latency_ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0)
      ;
  }
  op_charge_outcome_t outcome;
  if (op_gateway_rule(req->amount, req->attempt, &outcome, reason))
    return outcome;
  /* 53 random bits as a uniform double in [0, 1): rate 1.0 declines all. */
  double u = (double)(next_random(sim) >> 11) / 9007199254740992.0;
  if (u < sim->failure_rate) {
    snprintf(reason, OP_CHARGE_REASON_MAX, "card_declined");
    return OP_CHARGE_DECLINED;
  }
  return OP_CHARGE_SUCCEEDED;
}

static void sim_free(op_gateway_t *gw) {
  free(gw);
}

op_gateway_t *op_gateway_sim_new(int64_t latency_ms, double failure_rate, char *errbuf,
                                 size_t errlen) {
  if (latency_ms < 0 || !(failure_rate >= 0.0 && failure_rate <= 1.0)) {
    snprintf(errbuf, errlen, "simulated gateway: latency or failure rate out of range");
    return NULL;
  }
  sim_t *sim = calloc(1, sizeof *sim);
  if (sim == NULL) {
    snprintf(errbuf, errlen, "out of memory");
    return NULL;
  }
  sim->base.name = "simulated";
  sim->base.charge = sim_charge;
  sim->base.free = sim_free;
  sim->latency_ms = latency_ms;
  sim->failure_rate = failure_rate;
  if (getrandom(&sim->rng, sizeof sim->rng, 0) != (ssize_t)sizeof sim->rng)
    sim->rng = (uint64_t)op_now_ms();
  return &sim->base;
}
