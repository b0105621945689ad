/* Topic table, client configuration and header helpers. */
#include <stdio.h>
#include <string.h>

#include "core/err.h"
#include "core/trace.h"
#include "core/log.h"
#include "kafka/kafka.h"

const op_topic_t op_topics[] = {
    {"orders.created", 48},      {"orders.events", 24},        {"payments.completed", 24},
    {"inventory.updated", 24},   {"notifications.events", 12}, {"orders.audit", 6},
    {"analytics.aggregates", 6},
};
const size_t op_topics_len = sizeof op_topics / sizeof op_topics[0];

/* librdkafka logs through this callback (on its own threads) as JSON lines. */
static void log_cb(const rd_kafka_t *rk, int level, const char *fac, const char *buf) {
  op_log_level_t lvl = level <= 3 ? OP_LOG_ERROR : level <= 5 ? OP_LOG_WARN : OP_LOG_DEBUG;
  op_log(lvl, "kafka", NULL, "%s: %s: %s", rd_kafka_name(rk), fac, buf);
}

void op_kafka_conf_set_logger(rd_kafka_conf_t *conf) {
  rd_kafka_conf_set_log_cb(conf, log_cb);
}

int op_kafka_conf_set(rd_kafka_conf_t *conf, const char *name, const char *value, char *errbuf,
                      size_t errlen) {
  char err[256];
  if (rd_kafka_conf_set(conf, name, value, err, sizeof err) != RD_KAFKA_CONF_OK) {
    snprintf(errbuf, errlen, "kafka setting %s=%s: %s", name, value, err);
    return OP_ECONFIG;
  }
  return 0;
}

rd_kafka_conf_t *op_kafka_conf_new(const op_config_t *cfg, const char *brokers, char *errbuf,
                                   size_t errlen) {
  rd_kafka_conf_t *conf = rd_kafka_conf_new();
  if (op_kafka_conf_set(conf, "bootstrap.servers", brokers, errbuf, errlen) ||
      op_kafka_conf_set(conf, "client.id", cfg->kafka_client_id, errbuf, errlen) ||
      op_kafka_conf_set(conf, "log.connection.close", "false", errbuf, errlen) ||
      op_kafka_conf_set(conf, "reconnect.backoff.max.ms", "2000", errbuf, errlen)) {
    rd_kafka_conf_destroy(conf);
    return NULL;
  }
  rd_kafka_conf_set_log_cb(conf, log_cb);
  return conf;
}

int op_kafka_trace_id(const rd_kafka_message_t *msg, char *out, size_t outlen) {
  rd_kafka_headers_t *hdrs;
  const void *val;
  size_t len;
  if (outlen < 33 || rd_kafka_message_headers(msg, &hdrs) != RD_KAFKA_RESP_ERR_NO_ERROR ||
      rd_kafka_header_get_last(hdrs, "traceparent", &val, &len) != RD_KAFKA_RESP_ERR_NO_ERROR)
    return OP_ENOENT;
  return op_trace_parse(val, len, out) == 0 ? 0 : OP_ENOENT;
}
