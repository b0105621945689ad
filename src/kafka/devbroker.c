/*
 * The embedded development broker: librdkafka's mock cluster speaks the Kafka
 * protocol on loopback sockets, so real clients (ours, kcat, confluent-kafka)
 * connect to it as to any cluster. It keeps everything in memory and exists
 * for development and tests only; production sets KAFKA_BROKERS.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "core/log.h"
#include "kafka/kafka.h"
/* after rdkafka.h, which kafka.h includes */
#include <librdkafka/rdkafka_mock.h>

struct op_devbroker_s {
  rd_kafka_t *rk; /* the handle that hosts the mock cluster */
  rd_kafka_mock_cluster_t *mcluster;
};

static int create_topic(op_devbroker_t *b, const char *name, int partitions, int replication,
                        char *errbuf, size_t errlen) {
  rd_kafka_resp_err_t err = rd_kafka_mock_topic_create(b->mcluster, name, partitions, replication);
  if (err) {
    snprintf(errbuf, errlen, "dev broker: creating topic %s: %s", name, rd_kafka_err2str(err));
    return OP_EKAFKA;
  }
  return 0;
}

op_devbroker_t *op_devbroker_start(int nbrokers, int partitions_scale, char *errbuf,
                                   size_t errlen) {
  op_devbroker_t *b = calloc(1, sizeof *b);
  if (b == NULL) {
    snprintf(errbuf, errlen, "out of memory");
    return NULL;
  }
  rd_kafka_conf_t *conf = rd_kafka_conf_new();
  char err[512];
  /* The hosting client never connects anywhere; it only owns the cluster. Its
   * warning about having no bootstrap servers is expected, hence log_level 4. */
  rd_kafka_conf_set(conf, "log_level", "4", err, sizeof err);
  op_kafka_conf_set_logger(conf);
  b->rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof err);
  if (b->rk == NULL) {
    snprintf(errbuf, errlen, "dev broker: %s", err);
    rd_kafka_conf_destroy(conf);
    free(b);
    return NULL;
  }
  b->mcluster = rd_kafka_mock_cluster_new(b->rk, nbrokers);
  if (b->mcluster == NULL) {
    snprintf(errbuf, errlen, "dev broker: could not start the mock cluster");
    op_devbroker_stop(b);
    return NULL;
  }
  int replication = nbrokers < 3 ? nbrokers : 3;
  if (partitions_scale < 1)
    partitions_scale = 1;
  for (size_t i = 0; i < op_topics_len; i++) {
    int parts = op_topics[i].partitions / partitions_scale;
    int dlq_parts = OP_DLQ_PARTITIONS / partitions_scale;
    char dlq[128];
    snprintf(dlq, sizeof dlq, "%s.dlq", op_topics[i].name);
    if (create_topic(b, op_topics[i].name, parts < 1 ? 1 : parts, replication, errbuf, errlen) ||
        create_topic(b, dlq, dlq_parts < 1 ? 1 : dlq_parts, replication, errbuf, errlen)) {
      op_devbroker_stop(b);
      return NULL;
    }
  }
  op_log_warn("broker",
              "embedded dev broker on %s: in memory only, for development and tests; "
              "set KAFKA_BROKERS for a real cluster",
              rd_kafka_mock_cluster_bootstraps(b->mcluster));
  return b;
}

const char *op_devbroker_bootstraps(const op_devbroker_t *b) {
  return rd_kafka_mock_cluster_bootstraps(b->mcluster);
}

void op_devbroker_stop(op_devbroker_t *b) {
  if (b == NULL)
    return;
  if (b->mcluster)
    rd_kafka_mock_cluster_destroy(b->mcluster);
  if (b->rk)
    rd_kafka_destroy(b->rk);
  free(b);
}
