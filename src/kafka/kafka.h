/*
 * Kafka plumbing shared by every service: the topic table of DESIGN.md §2,
 * client configuration, an idempotent producer, the dead-letter convention,
 * an at-least-once batch consumer, and the embedded dev broker.
 */
#ifndef OP_KAFKA_KAFKA_H
#define OP_KAFKA_KAFKA_H

#include <librdkafka/rdkafka.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "core/config.h"

/* ---- topics ---------------------------------------------------------- */

typedef struct op_topic_s {
  const char *name;
  int partitions; /* production default */
} op_topic_t;

extern const op_topic_t op_topics[];
extern const size_t op_topics_len;

#define OP_DLQ_PARTITIONS 6

/* ---- client configuration -------------------------------------------- */

/* Builds a client configuration with bootstrap.servers = brokers, client.id,
 * and logs routed to op_log. Returns NULL and fills errbuf on error; the caller
 * owns the result (or hands it to rd_kafka_new). */
rd_kafka_conf_t *op_kafka_conf_new(const op_config_t *cfg, const char *brokers, char *errbuf,
                                   size_t errlen);

/* Routes a client's logs to op_log as JSON lines. */
void op_kafka_conf_set_logger(rd_kafka_conf_t *conf);

/* Sets one property; returns 0 or OP_ECONFIG with errbuf filled. */
int op_kafka_conf_set(rd_kafka_conf_t *conf, const char *name, const char *value, char *errbuf,
                      size_t errlen);

/* Copies the trace id (32 hex digits) of a W3C traceparent header into out
 * (at least 33 bytes). Returns 0, or OP_ENOENT when absent or malformed. */
int op_kafka_trace_id(const rd_kafka_message_t *msg, char *out, size_t outlen);

/* ---- producer -------------------------------------------------------- */

typedef struct op_producer_s op_producer_t;

/* An idempotent producer (acks=all, enable.idempotence). The producers of one
 * process with the same brokers share one librdkafka handle (producer.c);
 * each keeps its own delivery accounting. NULL + errbuf on error. */
op_producer_t *op_producer_new(const op_config_t *cfg, const char *brokers, char *errbuf,
                               size_t errlen);

/*
 * Queues one message; key and value are copied. headers: NULL or an array of
 * name/value pairs, NULL-terminated ({"error","bad_json","source_offset","7",NULL}).
 * Returns 0, OP_EFULL when the local queue is full (after polling briefly), or
 * OP_EKAFKA. Runs on: any thread.
 */
int op_producer_send(op_producer_t *p, const char *topic, int32_t partition, const void *key,
                     size_t keylen, const void *value, size_t vallen, const char *const *headers);

/* Waits until every message queued through p is acknowledged. Returns 0 when all were
 * delivered since the last call, OP_ETIMEDOUT, or OP_EKAFKA if any delivery
 * failed (the failures are counted and reset by this call). */
int op_producer_flush(op_producer_t *p, int timeout_ms);

void op_producer_free(op_producer_t *p);

/*
 * Dead-letters msg on "<topic>.dlq": the original key and value unchanged,
 * headers error=<reason>, error_message, source_topic, source_partition,
 * source_offset (and the original traceparent). Counts
 * orderpulse_events_dead_lettered_total{reason}. The caller flushes before it
 * commits the source offset.
 */
int op_dlq_send(op_producer_t *p, const rd_kafka_message_t *msg, const char *reason,
                const char *message);

/* ---- consumer -------------------------------------------------------- */

typedef struct op_consumer_s op_consumer_t;

/*
 * Handles one batch of messages (all of them real messages, in Kafka order per
 * partition). Returns 0 when every message's effects are durable (the offsets
 * are then committed), or a negative OP_E* to have the same batch handed again
 * after a backoff (nothing committed). Runs on: the consumer thread.
 */
typedef int (*op_batch_cb)(rd_kafka_message_t **msgs, size_t n, void *ud);

/* Called between batches on the consumer thread (periodic work). */
typedef void (*op_idle_cb)(void *ud);

typedef struct op_consumer_opts_s {
  const char *group_id;
  const char *const *topics; /* NULL-terminated */
  size_t batch_size;
  op_batch_cb on_batch;
  op_idle_cb on_idle; /* optional */
  void *ud;
} op_consumer_opts_t;

/* Creates a consumer in group opts->group_id: manual commits, earliest reset,
 * fetch.wait.max.ms 10, session timeout and group.instance.id from cfg.
 * NULL + errbuf on error. */
op_consumer_t *op_consumer_new(const op_config_t *cfg, const char *brokers,
                               const op_consumer_opts_t *opts, char *errbuf, size_t errlen);

/* Runs the poll → handle → commit loop until op_consumer_stop; then commits
 * what was handled and leaves the group. Returns 0 or OP_EKAFKA on a fatal
 * client error. Runs on: the consumer thread (the caller's). */
int op_consumer_run(op_consumer_t *c);

/* Asks the loop to stop after the batch in hand. Runs on: any thread. */
void op_consumer_stop(op_consumer_t *c);

void op_consumer_free(op_consumer_t *c);

/* ---- embedded dev broker --------------------------------------------- */

typedef struct op_devbroker_s op_devbroker_t;

/* Starts an in-memory Kafka-protocol cluster (librdkafka's mock cluster) of
 * nbrokers brokers with every topic of op_topics and its .dlq, partition counts
 * divided by partitions_scale (at least 1). NULL + errbuf on error. */
op_devbroker_t *op_devbroker_start(int nbrokers, int partitions_scale, char *errbuf, size_t errlen);

/* The bootstrap list ("127.0.0.1:port,…"); borrowed, valid until stop. */
const char *op_devbroker_bootstraps(const op_devbroker_t *b);

void op_devbroker_stop(op_devbroker_t *b);

#endif
