/*
 * Process configuration: every setting comes from an environment variable
 * (DESIGN.md §7) and may be overridden by a flag of the same name in
 * lower-kebab case (DATABASE_URL -> --database-url VALUE or --database-url=VALUE).
 * One table in config.c lists every setting with its default, its type and
 * whether it is a secret; .env.example mirrors it.
 */
#ifndef OP_CORE_CONFIG_H
#define OP_CORE_CONFIG_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

typedef struct op_config_s {
  char *kafka_brokers; /* empty: embedded dev broker */
  char *kafka_client_id;
  char *kafka_group_instance_id; /* empty: dynamic membership */
  int64_t kafka_session_timeout_ms;
  int64_t kafka_topic_partitions_scale; /* dev broker: divide partition counts by this */
  int64_t kafka_dev_brokers;            /* embedded broker: brokers in the mock cluster */
  int64_t kafka_linger_ms;              /* producers: wait this long to fill a batch */
  int64_t kafka_fetch_wait_ms;          /* consumers: a broker holds an empty fetch this long */
  char *database_url;
  char *redis_url;
  int64_t port;
  char *http_host;
  int64_t http_threads; /* 0: one per core */
  int64_t http_header_timeout_ms;
  int64_t http_max_body_bytes;
  char *jwt_secret;
  char *cors_allowed_origins;
  int64_t sse_heartbeat_seconds;
  int64_t sse_replay_buffer_ttl_seconds;
  int64_t sse_replay_buffer_size;
  int64_t sse_max_clients_per_instance;
  int64_t sse_client_queue_bytes;  /* per client, beyond the kernel's 128 KiB */
  int64_t sse_client_queue_frames; /* per client, written and not yet sent */
  char *smtp_url;
  char *smtp_from;
  int64_t email_max_attempts;
  char *email_templates_dir;          /* <event_type>.{subject,html,txt} */
  int64_t email_rate_per_user_minute; /* mails per user per minute; 0: no limit */
  int64_t email_retry_base_ms;        /* first retry delay, doubled each attempt */
  int64_t email_retry_max_ms;         /* retry delay cap */
  int64_t email_timeout_ms;           /* one SMTP conversation */
  char *notify_recipient_roles;       /* event_type=Role,Role;event_type=Role */
  char *smtp_ca_file;                 /* PEM CA bundle for the SMTP server; empty: system store */
  int64_t smtp_require_tls;           /* 1: smtp:// must upgrade with STARTTLS */
  char *log_level;
  int64_t event_retention_hours;
  int64_t consumer_batch_size;
  int64_t payment_latency_ms;
  char *payment_failure_rate; /* text; op_config_load checks it with op_config_parse_rate */
  int64_t payment_max_attempts;
  int64_t analytics_low_stock_threshold; /* analytics: available below this is low */
  int64_t analytics_window_seconds;      /* analytics: length of a published window */
  char *web_dir;          /* the dashboard's files; relative: to the cwd, then beside the binary */
  int64_t notify_consume; /* notify: 0 = SSE only, fed by Redis (--no-consume) */
} op_config_t;

/*
 * Fills cfg from defaults, then the environment, then argv flags. Flags that
 * are not configuration settings are left in place and compacted to the front
 * of argv; *argc is updated. On error returns OP_ECONFIG with one line in
 * errbuf naming the variable. The caller frees cfg with op_config_free.
 */
int op_config_load(op_config_t *cfg, int *argc, char **argv, char *errbuf, size_t errlen);
void op_config_free(op_config_t *cfg);

/* Prints "NAME=value" lines, secrets and URL passwords masked. */
void op_config_print(const op_config_t *cfg, FILE *out);

/* Prints the settings with their flags and descriptions, for --help. */
void op_config_usage(FILE *out);

/* Writes url with any password replaced by "****" into out. */
void op_config_mask_url(const char *url, char *out, size_t outlen);

/* Parses a rate: a finite decimal number from 0 to 1 ("0", "0.25", "1.0").
 * Returns 0 or OP_EINVAL. */
int op_config_parse_rate(const char *s, double *out);

/* True when the Kafka brokers are the embedded dev broker. */
int op_config_embedded_kafka(const op_config_t *cfg);

#endif
