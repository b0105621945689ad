/*
 * A worker thread's sleep: wait up to N ms unless woken (op_waiter_wake,
 * e.g. after a commit that left work) or asked to stop. The relays and the
 * email sender use it; src/order/relay.c has the same logic inline.
 */
#ifndef OP_CORE_WAITER_H
#define OP_CORE_WAITER_H

#include <pthread.h>
#include <stdint.h>

typedef struct op_waiter_s {
  pthread_mutex_t mu;
  pthread_cond_t cv; /* CLOCK_MONOTONIC: wall-clock jumps do not stretch a wait */
  int wake, stop;
} op_waiter_t;

void op_waiter_init(op_waiter_t *w);
void op_waiter_destroy(op_waiter_t *w);
/* Sleeps until woken, stopped or ms elapsed; clears the wake flag. */
void op_waiter_wait(op_waiter_t *w, int64_t ms);
void op_waiter_wake(op_waiter_t *w);
/* Sets the stop flag (for good) and wakes the sleeper. */
void op_waiter_stop(op_waiter_t *w);
int op_waiter_stopping(op_waiter_t *w);

#endif
