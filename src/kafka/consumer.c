/*
 * The at-least-once batch consumer every service runs on its own thread:
 *
 *   poll a batch → hand it to the service (which makes its effects durable in
 *   one transaction) → commit the offsets that follow the batch.
 *
 * Offsets are committed only after the handler said the batch is durable, so a
 * crash at any point redelivers at most the batch in hand, and the handlers'
 * deduplication makes the redelivery harmless. A failing handler (database
 * down) gets the same batch again after an exponential backoff; nothing is
 * committed meanwhile.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/clock.h"
#include "core/err.h"
#include "core/health.h"
#include "core/log.h"
#include "core/metrics.h"
#include "kafka/kafka.h"

#define MAX_LAG_GAUGES 512

struct op_consumer_s {
  rd_kafka_t *rk;
  op_consumer_opts_t opts;
  char *group_id;
  atomic_int stopping;
  rd_kafka_message_t **batch;
  op_metric_t *batch_seconds;
  struct {
    char topic[64];
    int32_t partition;
    op_metric_t *gauge;
  } lag[MAX_LAG_GAUGES];
  int nlag;
};

/* Runs on: the consumer thread (inside rd_kafka_consumer_poll). */
static void rebalance_cb(rd_kafka_t *rk, rd_kafka_resp_err_t err,
                         rd_kafka_topic_partition_list_t *parts, void *opaque) {
  op_consumer_t *c = opaque;
  const char *proto = rd_kafka_rebalance_protocol(rk);
  int cooperative = proto && strcmp(proto, "COOPERATIVE") == 0;
  if (err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
    op_log_info("kafka", "group %s: assigned %d partitions", c->group_id, parts->cnt);
    if (cooperative)
      rd_kafka_incremental_assign(rk, parts);
    else
      rd_kafka_assign(rk, parts);
    op_health_set("kafka", OP_HEALTH_OK, "consuming");
  } else {
    op_log_info("kafka", "group %s: revoked %d partitions", c->group_id, parts->cnt);
    if (cooperative)
      rd_kafka_incremental_unassign(rk, parts);
    else
      rd_kafka_assign(rk, NULL);
  }
}

/* Runs on: a librdkafka thread. */
static void error_cb(rd_kafka_t *rk, int err, const char *reason, void *opaque) {
  if (err == RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN) {
    op_health_set("kafka", OP_HEALTH_DOWN, "all brokers down");
    op_log_error("kafka", "%s", reason);
  } else if (err == RD_KAFKA_RESP_ERR__TRANSPORT) {
    op_log_warn("kafka", "%s", reason);
  } else {
    op_log_error("kafka", "%s: %s", rd_kafka_err2name(err), reason);
  }
}

op_consumer_t *op_consumer_new(const op_config_t *cfg, const char *brokers,
                               const op_consumer_opts_t *opts, char *errbuf, size_t errlen) {
  op_consumer_t *c = calloc(1, sizeof *c);
  if (c == NULL || (c->batch = calloc(opts->batch_size, sizeof *c->batch)) == NULL ||
      (c->group_id = strdup(opts->group_id)) == NULL) {
    snprintf(errbuf, errlen, "out of memory");
    goto fail;
  }
  c->opts = *opts;
  char session[32], heartbeat[32], fetch_wait[32];
  snprintf(fetch_wait, sizeof fetch_wait, "%lld", (long long)cfg->kafka_fetch_wait_ms);
  snprintf(session, sizeof session, "%lld", (long long)cfg->kafka_session_timeout_ms);
  snprintf(heartbeat, sizeof heartbeat, "%lld", (long long)cfg->kafka_session_timeout_ms / 3);
  rd_kafka_conf_t *conf = op_kafka_conf_new(cfg, brokers, errbuf, errlen);
  if (conf == NULL)
    goto fail;
  if (op_kafka_conf_set(conf, "group.id", opts->group_id, errbuf, errlen) ||
      op_kafka_conf_set(conf, "enable.auto.commit", "false", errbuf, errlen) ||
      op_kafka_conf_set(conf, "enable.auto.offset.store", "false", errbuf, errlen) ||
      op_kafka_conf_set(conf, "auto.offset.reset", "earliest", errbuf, errlen) ||
      op_kafka_conf_set(conf, "fetch.wait.max.ms", fetch_wait, errbuf, errlen) ||
      op_kafka_conf_set(conf, "session.timeout.ms", session, errbuf, errlen) ||
      op_kafka_conf_set(conf, "heartbeat.interval.ms", heartbeat, errbuf, errlen) ||
      (cfg->kafka_group_instance_id[0] &&
       op_kafka_conf_set(conf, "group.instance.id", cfg->kafka_group_instance_id, errbuf,
                         errlen))) {
    rd_kafka_conf_destroy(conf);
    goto fail;
  }
  rd_kafka_conf_set_rebalance_cb(conf, rebalance_cb);
  rd_kafka_conf_set_error_cb(conf, error_cb);
  rd_kafka_conf_set_opaque(conf, c);
  char err[512];
  c->rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, err, sizeof err);
  if (c->rk == NULL) {
    snprintf(errbuf, errlen, "kafka consumer: %s", err);
    rd_kafka_conf_destroy(conf);
    goto fail;
  }
  rd_kafka_poll_set_consumer(c->rk);

  int ntopics = 0;
  while (opts->topics[ntopics])
    ntopics++;
  rd_kafka_topic_partition_list_t *subs = rd_kafka_topic_partition_list_new(ntopics);
  for (int i = 0; i < ntopics; i++)
    rd_kafka_topic_partition_list_add(subs, opts->topics[i], RD_KAFKA_PARTITION_UA);
  rd_kafka_resp_err_t rerr = rd_kafka_subscribe(c->rk, subs);
  rd_kafka_topic_partition_list_destroy(subs);
  if (rerr) {
    snprintf(errbuf, errlen, "kafka subscribe: %s", rd_kafka_err2str(rerr));
    goto fail;
  }
  char labels[128];
  snprintf(labels, sizeof labels, "group=\"%s\"", opts->group_id);
  c->batch_seconds =
      op_histogram("orderpulse_batch_seconds", "Time to handle one polled batch, commit included",
                   labels, op_latency_buckets, op_latency_buckets_len);
  op_health_register("kafka", 0);
  return c;
fail:
  op_consumer_free(c);
  return NULL;
}

/* Polls up to batch_size messages: waits up to 100 ms for the first, then
 * takes what is already there. Error events are logged and skipped. */
static size_t poll_batch(op_consumer_t *c) {
  size_t n = 0;
  int timeout = 100;
  while (n < c->opts.batch_size) {
    rd_kafka_message_t *msg = rd_kafka_consumer_poll(c->rk, timeout);
    if (msg == NULL)
      break;
    timeout = 0;
    if (msg->err) {
      if (msg->err != RD_KAFKA_RESP_ERR__PARTITION_EOF)
        op_log_warn("kafka", "consume: %s", rd_kafka_message_errstr(msg));
      rd_kafka_message_destroy(msg);
      continue;
    }
    c->batch[n++] = msg;
  }
  if (n > 0)
    op_health_set("kafka", OP_HEALTH_OK, "consuming");
  return n;
}

static void update_lag(op_consumer_t *c, const char *topic, int32_t partition, int64_t next) {
  int64_t lo, hi;
  if (rd_kafka_get_watermark_offsets(c->rk, topic, partition, &lo, &hi) != 0 || hi < 0)
    return;
  int i;
  for (i = 0; i < c->nlag; i++)
    if (c->lag[i].partition == partition && strcmp(c->lag[i].topic, topic) == 0)
      break;
  if (i == c->nlag) {
    if (c->nlag == MAX_LAG_GAUGES)
      return;
    char labels[192];
    snprintf(labels, sizeof labels, "group=\"%s\",topic=\"%s\",partition=\"%d\"", c->group_id,
             topic, (int)partition);
    snprintf(c->lag[i].topic, sizeof c->lag[i].topic, "%s", topic);
    c->lag[i].partition = partition;
    c->lag[i].gauge = op_gauge("orderpulse_consumer_lag",
                               "Messages behind the partition's high watermark", labels);
    c->nlag++;
  }
  op_gauge_set(c->lag[i].gauge, hi > next ? hi - next : 0);
}

/* Commits, for each partition in the batch, the offset after its last message.
 * Returns 0 or OP_EKAFKA (the batch is then redelivered to whoever owns the
 * partition next, which deduplication absorbs). */
static int commit_batch(op_consumer_t *c, size_t n) {
  rd_kafka_topic_partition_list_t *offsets = rd_kafka_topic_partition_list_new(8);
  for (size_t i = 0; i < n; i++) {
    rd_kafka_message_t *m = c->batch[i];
    const char *topic = rd_kafka_topic_name(m->rkt);
    rd_kafka_topic_partition_t *tp =
        rd_kafka_topic_partition_list_find(offsets, topic, m->partition);
    if (tp == NULL)
      tp = rd_kafka_topic_partition_list_add(offsets, topic, m->partition);
    if (m->offset + 1 > tp->offset)
      tp->offset = m->offset + 1;
  }
  rd_kafka_resp_err_t err = rd_kafka_commit(c->rk, offsets, 0);
  if (err)
    op_log_warn("kafka", "group %s: commit failed: %s", c->group_id, rd_kafka_err2str(err));
  for (int i = 0; i < offsets->cnt; i++)
    update_lag(c, offsets->elems[i].topic, offsets->elems[i].partition, offsets->elems[i].offset);
  rd_kafka_topic_partition_list_destroy(offsets);
  return err ? OP_EKAFKA : 0;
}

/* Sleeps up to ms, waking early when asked to stop. */
static void backoff_sleep(op_consumer_t *c, int ms) {
  while (ms > 0 && !atomic_load(&c->stopping)) {
    int step = ms < 50 ? ms : 50;
    struct timespec ts = {0, step * 1000000L};
    nanosleep(&ts, NULL);
    ms -= step;
  }
}

/* Names the calling thread after the group ("payment-service" → "op-payment"),
 * so that top -H and perf tell the services of one process apart. */
static void name_thread(const char *group) {
  char name[16];
  size_t n = strcspn(group, "-");
  snprintf(name, sizeof name, "op-%.*s", (int)(n < 12 ? n : 12), group);
  pthread_setname_np(pthread_self(), name);
}

int op_consumer_run(op_consumer_t *c) {
  name_thread(c->opts.group_id);
  while (!atomic_load(&c->stopping)) {
    size_t n = poll_batch(c);
    if (n == 0) {
      if (c->opts.on_idle)
        c->opts.on_idle(c->opts.ud);
      continue;
    }
    uint64_t t0 = op_mono_ns();
    int delay = 100;
    int rc;
    while ((rc = c->opts.on_batch(c->batch, n, c->opts.ud)) != 0) {
      if (atomic_load(&c->stopping))
        break;
      /* Full jitter keeps several instances from retrying in lockstep. */
      int sleep_ms = delay / 2 + rand() % (delay / 2 + 1);
      op_log_warn("kafka", "group %s: batch of %zu not stored (%s); retrying in %d ms", c->group_id,
                  n, op_strerror(rc), sleep_ms);
      backoff_sleep(c, sleep_ms);
      delay = delay < 5000 ? delay * 2 : 5000;
    }
    if (rc == 0) {
      commit_batch(c, n);
      op_histogram_observe(c->batch_seconds, (double)(op_mono_ns() - t0) / 1e9);
      if (c->opts.on_idle)
        c->opts.on_idle(c->opts.ud);
    }
    for (size_t i = 0; i < n; i++)
      rd_kafka_message_destroy(c->batch[i]);
  }
  op_log_info("kafka", "group %s: leaving", c->group_id);
  rd_kafka_consumer_close(c->rk);
  return 0;
}

void op_consumer_stop(op_consumer_t *c) {
  atomic_store(&c->stopping, 1);
}

void op_consumer_free(op_consumer_t *c) {
  if (c == NULL)
    return;
  if (c->rk)
    rd_kafka_destroy(c->rk);
  free(c->batch);
  free(c->group_id);
  free(c);
}
