/* An idempotent producer with delivery accounting, and the dead-letter rule. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/clock.h"
#include "core/err.h"
#include "core/log.h"
#include "core/metrics.h"
#include "kafka/kafka.h"

/*
 * One librdkafka producer per (brokers, client.id, linger.ms) is shared by
 * every op_producer_t of the process. In `orderpulse dev` the five services'
 * messages then share each request to a broker instead of each service
 * sending its own: fewer, larger requests for the broker and fewer broker
 * threads in the process. The accounting stays per op_producer_t: every
 * message carries its op_producer_t as its opaque, so a flush waits for its
 * own messages only and a failed delivery is reported to the one that sent
 * it (and retried by it alone).
 */
typedef struct shared_s {
  struct shared_s *next;
  char key[512];
  rd_kafka_t *rk;
  int refs;
} shared_t;

static pthread_mutex_t registry_mu = PTHREAD_MUTEX_INITIALIZER;
static shared_t *registry;

struct op_producer_s {
  shared_t *shared;
  rd_kafka_t *rk;
  atomic_long failed;      /* deliveries that failed since the last flush */
  atomic_long outstanding; /* messages queued and not yet reported */
  /* Freed while messages were still outstanding (their broker was down):
   * the last report frees it. claimed: who frees it, exactly once. */
  atomic_int orphan;
  atomic_int claimed;
};

static void release_if_done(op_producer_t *p) {
  if (atomic_load(&p->orphan) && atomic_load(&p->outstanding) == 0 &&
      atomic_exchange(&p->claimed, 1) == 0)
    free(p);
}

/* Runs on: whichever thread polls the shared producer (send or flush). */
static void delivery_cb(rd_kafka_t *rk, const rd_kafka_message_t *msg, void *opaque) {
  (void)rk;
  (void)opaque;
  op_producer_t *p = msg->_private;
  if (msg->err) {
    atomic_fetch_add(&p->failed, 1);
    op_log_error("kafka", "delivery to %s [%d] failed: %s", rd_kafka_topic_name(msg->rkt),
                 (int)msg->partition, rd_kafka_err2str(msg->err));
  }
  atomic_fetch_sub(&p->outstanding, 1);
  release_if_done(p);
}

static rd_kafka_t *create_handle(const op_config_t *cfg, const char *brokers, char *errbuf,
                                 size_t errlen) {
  rd_kafka_conf_t *conf = op_kafka_conf_new(cfg, brokers, errbuf, errlen);
  char linger[24];
  snprintf(linger, sizeof linger, "%lld", (long long)cfg->kafka_linger_ms);
  if (conf == NULL || op_kafka_conf_set(conf, "enable.idempotence", "true", errbuf, errlen) ||
      op_kafka_conf_set(conf, "acks", "all", errbuf, errlen) ||
      op_kafka_conf_set(conf, "linger.ms", linger, errbuf, errlen) ||
      op_kafka_conf_set(conf, "compression.type", "lz4", errbuf, errlen)) {
    if (conf)
      rd_kafka_conf_destroy(conf);
    return NULL;
  }
  rd_kafka_conf_set_dr_msg_cb(conf, delivery_cb);
  char err[512];
  rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof err);
  if (rk == NULL) {
    snprintf(errbuf, errlen, "kafka producer: %s", err);
    rd_kafka_conf_destroy(conf);
  }
  return rk;
}

op_producer_t *op_producer_new(const op_config_t *cfg, const char *brokers, char *errbuf,
                               size_t errlen) {
  op_producer_t *p = calloc(1, sizeof *p);
  if (p == NULL) {
    snprintf(errbuf, errlen, "out of memory");
    return NULL;
  }
  char key[512];
  snprintf(key, sizeof key, "%s|%s|%lld", brokers, cfg->kafka_client_id,
           (long long)cfg->kafka_linger_ms);
  pthread_mutex_lock(&registry_mu);
  shared_t *s = registry;
  while (s && strcmp(s->key, key) != 0)
    s = s->next;
  if (s == NULL && (s = calloc(1, sizeof *s)) != NULL) {
    snprintf(s->key, sizeof s->key, "%s", key);
    if ((s->rk = create_handle(cfg, brokers, errbuf, errlen)) == NULL) {
      free(s);
      s = NULL;
    } else {
      s->next = registry;
      registry = s;
    }
  } else if (s == NULL) {
    snprintf(errbuf, errlen, "out of memory");
  }
  if (s)
    s->refs++;
  pthread_mutex_unlock(&registry_mu);
  if (s == NULL) {
    free(p);
    return NULL;
  }
  p->shared = s;
  p->rk = s->rk;
  return p;
}

int op_producer_send(op_producer_t *p, const char *topic, int32_t partition, const void *key,
                     size_t keylen, const void *value, size_t vallen, const char *const *headers) {
  rd_kafka_headers_t *hdrs = NULL;
  if (headers) {
    size_t n = 0;
    while (headers[n])
      n += 2;
    hdrs = rd_kafka_headers_new(n / 2);
    for (size_t i = 0; i < n; i += 2)
      rd_kafka_header_add(hdrs, headers[i], -1, headers[i + 1], -1);
  }
  for (int attempt = 0;; attempt++) {
    /* Counted before it can be reported: the report may come on another thread. */
    atomic_fetch_add(&p->outstanding, 1);
    rd_kafka_resp_err_t err = rd_kafka_producev(
        p->rk, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_PARTITION(partition),
        RD_KAFKA_V_KEY((void *)key, keylen), RD_KAFKA_V_VALUE((void *)value, vallen),
        RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_OPAQUE(p),
        RD_KAFKA_V_HEADERS(hdrs ? rd_kafka_headers_copy(hdrs) : NULL), RD_KAFKA_V_END);
    if (err == RD_KAFKA_RESP_ERR_NO_ERROR) {
      /* On success the copy of the headers is owned by the message. */
      if (hdrs)
        rd_kafka_headers_destroy(hdrs);
      rd_kafka_poll(p->rk, 0);
      return 0;
    }
    atomic_fetch_sub(&p->outstanding, 1);
    if (err != RD_KAFKA_RESP_ERR__QUEUE_FULL || attempt == 50) {
      if (hdrs)
        rd_kafka_headers_destroy(hdrs);
      op_log_error("kafka", "produce to %s: %s", topic, rd_kafka_err2str(err));
      return err == RD_KAFKA_RESP_ERR__QUEUE_FULL ? OP_EFULL : OP_EKAFKA;
    }
    /* "Not yet": let deliveries drain the local queue, then try again. */
    rd_kafka_poll(p->rk, 100);
  }
}

/* Not rd_kafka_flush: that waits until the shared queue is empty, which
 * other services' steady traffic may never allow. This waits for p's own
 * messages; their reports may be served by another thread's poll, hence the
 * short poll timeout. */
int op_producer_flush(op_producer_t *p, int timeout_ms) {
  uint64_t deadline = op_mono_ns() + (uint64_t)timeout_ms * 1000000u;
  while (atomic_load(&p->outstanding) > 0) {
    uint64_t now = op_mono_ns();
    if (now >= deadline)
      return OP_ETIMEDOUT;
    uint64_t left_ms = (deadline - now) / 1000000u;
    rd_kafka_poll(p->rk, left_ms < 5 ? (int)left_ms : 5);
  }
  long failed = atomic_exchange(&p->failed, 0);
  return failed ? OP_EKAFKA : 0;
}

void op_producer_free(op_producer_t *p) {
  if (p == NULL)
    return;
  op_producer_flush(p, 5000);
  pthread_mutex_lock(&registry_mu);
  shared_t *s = p->shared;
  int last = --s->refs == 0;
  if (last) {
    shared_t **link = &registry;
    while (*link != s)
      link = &(*link)->next;
    *link = s->next;
  }
  pthread_mutex_unlock(&registry_mu);
  atomic_store(&p->orphan, 1);
  release_if_done(p);
  if (last) {
    rd_kafka_flush(s->rk, 5000);
    rd_kafka_destroy(s->rk);
    free(s);
  }
}

int op_dlq_send(op_producer_t *p, const rd_kafka_message_t *msg, const char *reason,
                const char *message) {
  char topic[256], partition[16], offset[32];
  const char *src = rd_kafka_topic_name(msg->rkt);
  snprintf(topic, sizeof topic, "%s.dlq", src);
  snprintf(partition, sizeof partition, "%d", (int)msg->partition);
  snprintf(offset, sizeof offset, "%lld", (long long)msg->offset);

  char traceparent[128] = "";
  rd_kafka_headers_t *src_hdrs;
  const void *val;
  size_t len;
  if (rd_kafka_message_headers(msg, &src_hdrs) == RD_KAFKA_RESP_ERR_NO_ERROR &&
      rd_kafka_header_get_last(src_hdrs, "traceparent", &val, &len) == RD_KAFKA_RESP_ERR_NO_ERROR &&
      len < sizeof traceparent) {
    memcpy(traceparent, val, len);
    traceparent[len] = '\0';
  }
  const char *headers[] = {"error",
                           reason,
                           "error_message",
                           message,
                           "source_topic",
                           src,
                           "source_partition",
                           partition,
                           "source_offset",
                           offset,
                           traceparent[0] ? "traceparent" : NULL,
                           traceparent,
                           NULL};
  int rc = op_producer_send(p, topic, RD_KAFKA_PARTITION_UA, msg->key, msg->key_len, msg->payload,
                            msg->len, headers);
  if (rc == 0) {
    char labels[96];
    snprintf(labels, sizeof labels, "reason=\"%s\"", reason);
    op_counter_add(op_counter("orderpulse_events_dead_lettered_total",
                              "Messages sent to a dead-letter topic", labels),
                   1);
    op_log_warn("kafka", "dead-lettered %s [%d] @%lld: %s: %s", src, (int)msg->partition,
                (long long)msg->offset, reason, message);
  }
  return rc;
}
