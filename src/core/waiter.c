#include "core/waiter.h"

#include <errno.h>
#include <time.h>

void op_waiter_init(op_waiter_t *w) {
  pthread_mutex_init(&w->mu, NULL);
  pthread_condattr_t attr;
  pthread_condattr_init(&attr);
  pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
  pthread_cond_init(&w->cv, &attr);
  pthread_condattr_destroy(&attr);
  w->wake = w->stop = 0;
}

void op_waiter_destroy(op_waiter_t *w) {
  pthread_cond_destroy(&w->cv);
  pthread_mutex_destroy(&w->mu);
}

void op_waiter_wait(op_waiter_t *w, int64_t ms) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  ts.tv_sec += (time_t)(ms / 1000);
  ts.tv_nsec += (long)(ms % 1000) * 1000000L;
  if (ts.tv_nsec >= 1000000000L) {
    ts.tv_sec++;
    ts.tv_nsec -= 1000000000L;
  }
  pthread_mutex_lock(&w->mu);
  while (!w->wake && !w->stop)
    if (pthread_cond_timedwait(&w->cv, &w->mu, &ts) == ETIMEDOUT)
      break;
  w->wake = 0;
  pthread_mutex_unlock(&w->mu);
}

static void set(op_waiter_t *w, int stop) {
  pthread_mutex_lock(&w->mu);
  if (stop)
    w->stop = 1;
  else
    w->wake = 1;
  pthread_cond_signal(&w->cv);
  pthread_mutex_unlock(&w->mu);
}

void op_waiter_wake(op_waiter_t *w) {
  set(w, 0);
}

void op_waiter_stop(op_waiter_t *w) {
  set(w, 1);
}

int op_waiter_stopping(op_waiter_t *w) {
  pthread_mutex_lock(&w->mu);
  int stop = w->stop;
  pthread_mutex_unlock(&w->mu);
  return stop;
}
