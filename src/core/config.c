#include "core/config.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "core/log.h"

typedef enum { T_STR, T_INT, T_URL } type_t;

typedef struct {
  const char *env;
  type_t type;
  size_t offset;
  const char *def;
  int64_t min, max;    /* T_INT only */
  int secret;          /* value never printed */
  const char *schemes; /* T_URL: space-separated accepted schemes, or NULL for any */
  const char *help;
} setting_t;

#define S(env, field, def, help)                                                                   \
  { env, T_STR, offsetof(op_config_t, field), def, 0, 0, 0, NULL, help }
#define I(env, field, def, min, max, help)                                                         \
  { env, T_INT, offsetof(op_config_t, field), def, min, max, 0, NULL, help }
#define U(env, field, def, schemes, help)                                                          \
  { env, T_URL, offsetof(op_config_t, field), def, 0, 0, 0, schemes, help }

static const setting_t settings[] = {
    S("KAFKA_BROKERS", kafka_brokers, "", "Kafka bootstrap servers; unset: embedded dev broker"),
    S("KAFKA_CLIENT_ID", kafka_client_id, "orderpulse", "Kafka client.id"),
    S("KAFKA_GROUP_INSTANCE_ID", kafka_group_instance_id, "",
      "static group membership id (group.instance.id); unset: dynamic"),
    I("KAFKA_SESSION_TIMEOUT_MS", kafka_session_timeout_ms, "6000", 1000, 300000,
      "consumer group session timeout"),
    I("KAFKA_PARTITIONS_SCALE", kafka_topic_partitions_scale, "1", 1, 48,
      "embedded broker: divide the topics' partition counts by this"),
    I("KAFKA_DEV_BROKERS", kafka_dev_brokers, "1", 1, 5,
      "embedded broker: brokers in the in-memory cluster (replication up to 3)"),
    I("KAFKA_LINGER_MS", kafka_linger_ms, "5", 0, 1000,
      "producers: how long a message waits for others to share its request (linger.ms)"),
    I("KAFKA_FETCH_WAIT_MS", kafka_fetch_wait_ms, "10", 1, 1000,
      "consumers: how long a broker may hold a fetch that found nothing (fetch.wait.max.ms)"),
    U("DATABASE_URL", database_url, "sqlite://data/orderpulse.db", "sqlite postgres postgresql",
      "sqlite://PATH or postgres://user:pass@host:port/db"),
    U("REDIS_URL", redis_url, "", "redis rediss", "redis://host:port; unset: in-process fan-out"),
    I("PORT", port, "8080", 0, 65535, "HTTP listen port (0: any free port)"),
    S("HTTP_HOST", http_host, "0.0.0.0", "HTTP listen address"),
    I("HTTP_THREADS", http_threads, "0", 0, 256, "HTTP event loops; 0: one per core"),
    I("HTTP_HEADER_TIMEOUT_MS", http_header_timeout_ms, "10000", 100, 600000,
      "time a client has to send a request's headers"),
    I("HTTP_MAX_BODY_BYTES", http_max_body_bytes, "1048576", 1024, 67108864,
      "largest request body accepted (413 beyond)"),
    {"JWT_SECRET", T_STR, offsetof(op_config_t, jwt_secret), "", 0, 0, 1, NULL,
     "HS256 secret for access tokens"},
    S("CORS_ALLOWED_ORIGINS", cors_allowed_origins, "", "comma-separated allowed origins"),
    I("SSE_HEARTBEAT_SECONDS", sse_heartbeat_seconds, "15", 1, 3600, "SSE heartbeat interval"),
    I("SSE_REPLAY_BUFFER_TTL_SECONDS", sse_replay_buffer_ttl_seconds, "300", 1, 604800,
      "how long events stay replayable"),
    I("SSE_REPLAY_BUFFER_SIZE", sse_replay_buffer_size, "1000", 1, 10000000,
      "events kept replayable per tenant"),
    I("SSE_MAX_CLIENTS_PER_INSTANCE", sse_max_clients_per_instance, "19000", 1, 10000000,
      "SSE connections one instance accepts (503 beyond)"),
    I("SSE_CLIENT_QUEUE_BYTES", sse_client_queue_bytes, "1048576", 131072, 1073741824,
      "bytes queued for one SSE client before it is closed as slow"),
    I("SSE_CLIENT_QUEUE_FRAMES", sse_client_queue_frames, "4096", 1024, 1048576,
      "frames queued for one SSE client before it is closed as slow"),
    U("SMTP_URL", smtp_url, "", "smtp smtps", "smtp://user:pass@host:port; unset: email disabled"),
    S("SMTP_FROM", smtp_from, "orderpulse@localhost", "From: address of notification mail"),
    I("EMAIL_MAX_ATTEMPTS", email_max_attempts, "5", 1, 100, "delivery attempts before failed"),
    S("EMAIL_TEMPLATES_DIR", email_templates_dir, "templates",
      "directory of <event_type>.subject, .html and .txt mail templates"),
    I("EMAIL_RATE_PER_USER_MINUTE", email_rate_per_user_minute, "30", 0, 100000,
      "mails sent to one user per minute (more wait); 0: no limit"),
    I("EMAIL_RETRY_BASE_MS", email_retry_base_ms, "2000", 10, 3600000,
      "first delay before a failed mail is retried (doubled per attempt, with jitter)"),
    I("EMAIL_RETRY_MAX_MS", email_retry_max_ms, "300000", 10, 86400000,
      "longest delay between two attempts of one mail"),
    I("EMAIL_TIMEOUT_MS", email_timeout_ms, "15000", 100, 600000,
      "time allowed for one SMTP delivery (connect included)"),
    S("NOTIFY_RECIPIENT_ROLES", notify_recipient_roles, "order_paid=Owner,Manager,Cashier",
      "who is notified: event_type=Role,Role;event_type=Role"),
    S("SMTP_CA_FILE", smtp_ca_file, "",
      "PEM file of CA certificates the SMTP server's certificate must chain to; unset: the "
      "system's store"),
    I("SMTP_REQUIRE_TLS", smtp_require_tls, "0", 0, 1,
      "1: smtp:// must switch to TLS with STARTTLS (a server without it is not used)"),
    S("LOG_LEVEL", log_level, "info", "debug, info, warn or error"),
    I("EVENT_RETENTION_HOURS", event_retention_hours, "168", 1, 87600,
      "how long event ids are kept for deduplication"),
    I("CONSUMER_BATCH_SIZE", consumer_batch_size, "5000", 1, 20000,
      "events applied per database transaction"),
    I("PAYMENT_LATENCY_MS", payment_latency_ms, "0", 0, 60000,
      "simulated payment gateway: time each charge takes"),
    S("PAYMENT_FAILURE_RATE", payment_failure_rate, "0.0",
      "simulated payment gateway: share of charges declined (card_declined), 0.0 to 1.0"),
    I("PAYMENT_MAX_ATTEMPTS", payment_max_attempts, "8", 1, 100,
      "gateway attempts per payment before it fails with gateway_unavailable"),
    I("ANALYTICS_LOW_STOCK_THRESHOLD", analytics_low_stock_threshold, "10", 0, 1000000000,
      "analytics: a sku whose available stock is below this is low on stock"),
    I("ANALYTICS_WINDOW_SECONDS", analytics_window_seconds, "60", 1, 3600,
      "analytics: length of the windows published to analytics.aggregates"),
    S("WEB_DIR", web_dir, "web",
      "the dashboard's files served at / by `orderpulse dev` (relative: cwd, then the binary's "
      "parent directories)"),
    I("NOTIFY_CONSUME", notify_consume, "1", 0, 1,
      "notify: 0 (or --no-consume) serves SSE from Redis without consuming (needs REDIS_URL)"),
};

#define NSETTINGS (sizeof settings / sizeof settings[0])

static void flag_name(const char *env, char *out, size_t len) {
  size_t i = 0;
  out[i++] = '-';
  out[i++] = '-';
  for (; *env && i + 1 < len; env++)
    out[i++] = *env == '_' ? '-' : (char)tolower((unsigned char)*env);
  out[i] = '\0';
}

static char **str_field(op_config_t *cfg, const setting_t *s) {
  return (char **)((char *)cfg + s->offset);
}

static int64_t *int_field(op_config_t *cfg, const setting_t *s) {
  return (int64_t *)((char *)cfg + s->offset);
}

static int check_url(const setting_t *s, const char *value, char *errbuf, size_t errlen) {
  if (*value == '\0')
    return 0;
  const char *sep = strstr(value, "://");
  if (sep == NULL || sep == value) {
    snprintf(errbuf, errlen, "%s: not a URL (expected one of: %s)", s->env, s->schemes);
    return OP_ECONFIG;
  }
  size_t n = (size_t)(sep - value);
  const char *p = s->schemes;
  while (p && *p) {
    const char *end = strchr(p, ' ');
    size_t len = end ? (size_t)(end - p) : strlen(p);
    if (len == n && strncmp(p, value, n) == 0)
      return sep[3] ? 0
                    : (snprintf(errbuf, errlen, "%s: URL has nothing after the scheme", s->env),
                       OP_ECONFIG);
    p = end ? end + 1 : NULL;
  }
  snprintf(errbuf, errlen, "%s: unsupported scheme '%.*s' (expected one of: %s)", s->env, (int)n,
           value, s->schemes);
  return OP_ECONFIG;
}

static int set_value(op_config_t *cfg, const setting_t *s, const char *value, char *errbuf,
                     size_t errlen) {
  if (s->type == T_INT) {
    char *end;
    errno = 0;
    long long v = strtoll(value, &end, 10);
    if (errno || end == value || *end != '\0') {
      snprintf(errbuf, errlen, "%s: '%s' is not an integer", s->env, value);
      return OP_ECONFIG;
    }
    if (v < s->min || v > s->max) {
      snprintf(errbuf, errlen, "%s: %lld is out of range [%lld, %lld]", s->env, v,
               (long long)s->min, (long long)s->max);
      return OP_ECONFIG;
    }
    *int_field(cfg, s) = v;
    return 0;
  }
  if (s->type == T_URL && check_url(s, value, errbuf, errlen))
    return OP_ECONFIG;
  char *copy = strdup(value);
  if (copy == NULL)
    return OP_ENOMEM;
  free(*str_field(cfg, s));
  *str_field(cfg, s) = copy;
  return 0;
}

int op_config_load(op_config_t *cfg, int *argc, char **argv, char *errbuf, size_t errlen) {
  memset(cfg, 0, sizeof *cfg);
  for (size_t i = 0; i < NSETTINGS; i++) {
    int rc = set_value(cfg, &settings[i], settings[i].def, errbuf, errlen);
    if (rc)
      return rc;
  }
  for (size_t i = 0; i < NSETTINGS; i++) {
    const char *v = getenv(settings[i].env);
    if (v == NULL)
      continue;
    int rc = set_value(cfg, &settings[i], v, errbuf, errlen);
    if (rc)
      return rc;
  }
  int out = 1;
  for (int i = 1; i < *argc; i++) {
    const char *arg = argv[i];
    const setting_t *match = NULL;
    const char *value = NULL;
    int consumed = 0;
    if (strncmp(arg, "--", 2) == 0) {
      for (size_t k = 0; k < NSETTINGS && !match; k++) {
        char flag[64];
        flag_name(settings[k].env, flag, sizeof flag);
        size_t flen = strlen(flag);
        if (strncmp(arg, flag, flen) == 0 && (arg[flen] == '\0' || arg[flen] == '=')) {
          match = &settings[k];
          if (arg[flen] == '=') {
            value = arg + flen + 1;
          } else if (i + 1 < *argc) {
            value = argv[i + 1];
            consumed = 1;
          } else {
            snprintf(errbuf, errlen, "%s: flag %s needs a value", settings[k].env, flag);
            return OP_ECONFIG;
          }
        }
      }
    }
    if (match == NULL) {
      argv[out++] = argv[i];
      continue;
    }
    int rc = set_value(cfg, match, value, errbuf, errlen);
    if (rc)
      return rc;
    i += consumed;
  }
  argv[out] = NULL;
  *argc = out;

  op_log_level_t level;
  if (op_log_parse_level(cfg->log_level, &level)) {
    snprintf(errbuf, errlen, "LOG_LEVEL: '%s' is not one of debug, info, warn, error",
             cfg->log_level);
    return OP_ECONFIG;
  }
  op_log_set_level(level);
  double rate;
  if (op_config_parse_rate(cfg->payment_failure_rate, &rate)) {
    snprintf(errbuf, errlen, "PAYMENT_FAILURE_RATE: '%s' is not a number from 0.0 to 1.0",
             cfg->payment_failure_rate);
    return OP_ECONFIG;
  }
  return 0;
}

int op_config_parse_rate(const char *s, double *out) {
  /* strtod alone would take leading spaces, "nan", "inf" and hex floats. */
  if (s == NULL || !(isdigit((unsigned char)s[0]) || s[0] == '.'))
    return OP_EINVAL;
  char *end;
  errno = 0;
  double v = strtod(s, &end);
  if (errno || *end != '\0' || strchr(s, 'x') || strchr(s, 'X') || !isfinite(v) || v < 0.0 ||
      v > 1.0)
    return OP_EINVAL;
  *out = v;
  return 0;
}

void op_config_free(op_config_t *cfg) {
  for (size_t i = 0; i < NSETTINGS; i++) {
    if (settings[i].type != T_INT) {
      free(*str_field(cfg, &settings[i]));
      *str_field(cfg, &settings[i]) = NULL;
    }
  }
}

void op_config_mask_url(const char *url, char *out, size_t outlen) {
  const char *scheme_end = strstr(url, "://");
  const char *at = scheme_end ? strchr(scheme_end + 3, '@') : NULL;
  const char *colon = at ? memchr(scheme_end + 3, ':', (size_t)(at - scheme_end - 3)) : NULL;
  if (colon == NULL) {
    snprintf(out, outlen, "%s", url);
    return;
  }
  snprintf(out, outlen, "%.*s****%s", (int)(colon + 1 - url), url, at);
}

void op_config_print(const op_config_t *cfg, FILE *out) {
  for (size_t i = 0; i < NSETTINGS; i++) {
    const setting_t *s = &settings[i];
    if (s->type == T_INT) {
      fprintf(out, "%s=%lld\n", s->env, (long long)*int_field((op_config_t *)cfg, s));
      continue;
    }
    const char *v = *str_field((op_config_t *)cfg, s);
    if (s->secret) {
      fprintf(out, "%s=%s\n", s->env, *v ? "****" : "");
    } else if (s->type == T_URL) {
      char masked[1024];
      op_config_mask_url(v, masked, sizeof masked);
      fprintf(out, "%s=%s\n", s->env, masked);
    } else {
      fprintf(out, "%s=%s\n", s->env, v);
    }
  }
}

void op_config_usage(FILE *out) {
  fprintf(out, "Settings (environment variable, or the flag beside it):\n");
  for (size_t i = 0; i < NSETTINGS; i++) {
    char flag[64];
    flag_name(settings[i].env, flag, sizeof flag);
    fprintf(out, "  %-32s %-34s %s", settings[i].env, flag, settings[i].help);
    if (*settings[i].def && !settings[i].secret)
      fprintf(out, " (default %s)", settings[i].def);
    fputc('\n', out);
  }
}

int op_config_embedded_kafka(const op_config_t *cfg) {
  return cfg->kafka_brokers == NULL || cfg->kafka_brokers[0] == '\0';
}
