/* An idempotent producer with delivery accounting, and the dead-letter rule. */
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "core/log.h"
#include "core/metrics.h"
#include "kafka/kafka.h"

struct op_producer_s {
  rd_kafka_t *rk;
  atomic_long failed; /* deliveries that failed since the last flush */
};

/* Runs on: the thread that polls the producer (op_producer_send / flush). */
static void delivery_cb(rd_kafka_t *rk, const rd_kafka_message_t *msg, void *opaque) {
  op_producer_t *p = opaque;
  if (msg->err) {
    atomic_fetch_add(&p->failed, 1);
    op_log_error("kafka", "delivery to %s [%d] failed: %s", rd_kafka_topic_name(msg->rkt),
                 (int)msg->partition, rd_kafka_err2str(msg->err));
  }
}

op_producer_t *op_producer_new(const op_config_t *cfg, const char *brokers, char *errbuf,
                               size_t errlen) {
  op_producer_t *p = calloc(1, sizeof *p);
  if (p == NULL) {
    snprintf(errbuf, errlen, "out of memory");
    return NULL;
  }
  rd_kafka_conf_t *conf = op_kafka_conf_new(cfg, brokers, errbuf, errlen);
  char linger[24];
  snprintf(linger, sizeof linger, "%lld", (long long)cfg->kafka_linger_ms);
  if (conf == NULL || op_kafka_conf_set(conf, "enable.idempotence", "true", errbuf, errlen) ||
      op_kafka_conf_set(conf, "acks", "all", errbuf, errlen) ||
      op_kafka_conf_set(conf, "linger.ms", linger, errbuf, errlen) ||
      op_kafka_conf_set(conf, "compression.type", "lz4", errbuf, errlen)) {
    if (conf)
      rd_kafka_conf_destroy(conf);
    free(p);
    return NULL;
  }
  rd_kafka_conf_set_dr_msg_cb(conf, delivery_cb);
  rd_kafka_conf_set_opaque(conf, p);
  char err[512];
  p->rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof err);
  if (p->rk == NULL) {
    snprintf(errbuf, errlen, "kafka producer: %s", err);
    rd_kafka_conf_destroy(conf);
    free(p);
    return NULL;
  }
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
    rd_kafka_resp_err_t err = rd_kafka_producev(
        p->rk, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_PARTITION(partition),
        RD_KAFKA_V_KEY((void *)key, keylen), RD_KAFKA_V_VALUE((void *)value, vallen),
        RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
        RD_KAFKA_V_HEADERS(hdrs ? rd_kafka_headers_copy(hdrs) : NULL), RD_KAFKA_V_END);
    if (err == RD_KAFKA_RESP_ERR_NO_ERROR) {
      /* On success the copy of the headers is owned by the message. */
      if (hdrs)
        rd_kafka_headers_destroy(hdrs);
      rd_kafka_poll(p->rk, 0);
      return 0;
    }
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

int op_producer_flush(op_producer_t *p, int timeout_ms) {
  rd_kafka_resp_err_t err = rd_kafka_flush(p->rk, timeout_ms);
  long failed = atomic_exchange(&p->failed, 0);
  if (err == RD_KAFKA_RESP_ERR__TIMED_OUT)
    return OP_ETIMEDOUT;
  return failed ? OP_EKAFKA : 0;
}

rd_kafka_t *op_producer_handle(op_producer_t *p) {
  return p->rk;
}

void op_producer_free(op_producer_t *p) {
  if (p == NULL)
    return;
  rd_kafka_flush(p->rk, 5000);
  rd_kafka_destroy(p->rk);
  free(p);
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
