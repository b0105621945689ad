#include "cmd/demo.h"

#include <curl/curl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "auth/auth.h"
#include "core/clock.h"
#include "core/id.h"
#include "core/log.h"

#define TOKEN_TTL_S OP_DEMO_TOKEN_TTL_S
#define DEMO_STOCK 500
#define BURST_MAX 50 /* orders sent back to back at most, after a pause */

typedef struct demo_user_s {
  const char *tenant, *user, *role, *email, *name;
} demo_user_t;

/* The Cashiers are in the default NOTIFY_RECIPIENT_ROLES, so every demo user
 * is told when an order is paid. */
static const demo_user_t users[] = {
    {"t_acme", "u_acme_owner", "Owner", "owner@acme.example", "Acme Owner"},
    {"t_acme", "u_acme_staff", "Cashier", "cashier@acme.example", "Acme Cashier"},
    {"t_globex", "u_globex_owner", "Owner", "owner@globex.example", "Globex Owner"},
    {"t_globex", "u_globex_staff", "Cashier", "cashier@globex.example", "Globex Cashier"},
};
#define NUSERS (sizeof users / sizeof users[0])

static const struct {
  const char *sku, *price;
} catalogue[] = {
    {"sku_tee", "19.90"},   {"sku_mug", "12.50"},  {"sku_cap", "15.00"},
    {"sku_poster", "9.99"}, {"sku_socks", "7.25"}, {"sku_hoodie", "49.00"},
};
#define NSKUS (sizeof catalogue / sizeof catalogue[0])

struct op_demo_s {
  pthread_t thread;
  int port;
  double rate;
  atomic_int stop;
  char *tokens[NUSERS];
};

static char *sign(const op_config_t *cfg, const demo_user_t *u) {
  op_auth_claims_t c;
  memset(&c, 0, sizeof c);
  snprintf(c.sub, sizeof c.sub, "%s", u->user);
  snprintf(c.tenant_id, sizeof c.tenant_id, "%s", u->tenant);
  snprintf(c.roles[0], sizeof c.roles[0], "%s", u->role);
  c.nroles = 1;
  c.exp = op_now_ms() / 1000 + TOKEN_TTL_S;
  char *tok = NULL;
  if (op_auth_sign(cfg->jwt_secret, strlen(cfg->jwt_secret), &c, &tok) != 0)
    return NULL;
  return tok;
}

int op_demo_print_users(const op_config_t *cfg, FILE *out) {
  for (size_t i = 0; i < NUSERS; i++) {
    char *tok = sign(cfg, &users[i]);
    if (tok == NULL)
      return -1;
    fprintf(out, "demo user: tenant=%s user=%s roles=%s token=%s\n", users[i].tenant, users[i].user,
            users[i].role, tok);
    free(tok);
  }
  fflush(out);
  return 0;
}

static size_t discard(char *ptr, size_t size, size_t nmemb, void *ud) {
  (void)ptr;
  (void)ud;
  return size * nmemb;
}

/* One request; returns the HTTP status, or 0 when there was no answer. */
static long request(CURL *curl, const char *method, const char *url, const char *token,
                    const char *body, const char *idem_key) {
  char auth[2048], idem[128];
  struct curl_slist *h = NULL;
  snprintf(auth, sizeof auth, "Authorization: Bearer %s", token);
  h = curl_slist_append(h, auth);
  h = curl_slist_append(h, "Content-Type: application/json");
  if (idem_key) {
    snprintf(idem, sizeof idem, "Idempotency-Key: %s", idem_key);
    h = curl_slist_append(h, idem);
  }
  curl_easy_setopt(curl, CURLOPT_URL, url);
  curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, method);
  curl_easy_setopt(curl, CURLOPT_HTTPHEADER, h);
  curl_easy_setopt(curl, CURLOPT_POSTFIELDS, body);
  curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, discard);
  curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, 10000L);
  curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
  long status = 0;
  if (curl_easy_perform(curl) == CURLE_OK)
    curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
  curl_slist_free_all(h);
  return status;
}

static uint32_t rnd(void) {
  uint32_t v;
  op_random_bytes((unsigned char *)&v, sizeof v);
  return v;
}

/* Notify's directory entry of each demo user, through its tenant owner; a
 * 409 is a user seeded by an earlier run. */
static void seed_users(op_demo_t *d, CURL *curl) {
  char url[128], body[512];
  snprintf(url, sizeof url, "http://127.0.0.1:%d/api/users", d->port);
  for (size_t u = 0; u < NUSERS && !atomic_load(&d->stop); u++) {
    size_t owner = u;
    while (strcmp(users[owner].role, "Owner") != 0 || strcmp(users[owner].tenant, users[u].tenant))
      owner = (owner + 1) % NUSERS;
    snprintf(body, sizeof body,
             "{\"user_id\":\"%s\",\"email\":\"%s\",\"display_name\":\"%s\","
             "\"roles\":[\"%s\"]}",
             users[u].user, users[u].email, users[u].name, users[u].role);
    long st = request(curl, "POST", url, d->tokens[owner], body, NULL);
    if (st != 201 && st != 409)
      op_log_warn("demo", "adding the user %s/%s answered %ld", users[u].tenant, users[u].user, st);
  }
}

/* Stock for every sku of each tenant that has none yet (an owner's PUT). */
static void seed_stock(op_demo_t *d, CURL *curl) {
  char url[256], body[64];
  for (size_t u = 0; u < NUSERS; u++) {
    if (strcmp(users[u].role, "Owner") != 0)
      continue;
    for (size_t s = 0; s < NSKUS && !atomic_load(&d->stop); s++) {
      snprintf(url, sizeof url, "http://127.0.0.1:%d/api/inventory/%s", d->port, catalogue[s].sku);
      if (request(curl, "GET", url, d->tokens[u], NULL, NULL) == 200)
        continue;
      snprintf(body, sizeof body, "{\"quantity\":%d}", DEMO_STOCK);
      long st = request(curl, "PUT", url, d->tokens[u], body, NULL);
      if (st != 200)
        op_log_warn("demo", "setting the stock of %s/%s answered %ld", users[u].tenant,
                    catalogue[s].sku, st);
    }
  }
}

static void place_order(op_demo_t *d, CURL *curl, uint64_t n) {
  char body[1024], url[128], key[64];
  size_t len = (size_t)snprintf(body, sizeof body,
                                "{\"currency\":\"EUR\",\"reference\":\"SIM-%llu\","
                                "\"line_items\":[",
                                (unsigned long long)n);
  unsigned items = 1 + rnd() % 3;
  for (unsigned i = 0; i < items; i++) {
    size_t s = (rnd() % NSKUS + i) % NSKUS; /* distinct skus within an order */
    len += (size_t)snprintf(body + len, sizeof body - len,
                            "%s{\"sku\":\"%s\",\"qty\":%u,\"unit_price\":\"%s\"}", i ? "," : "",
                            catalogue[s].sku, 1 + rnd() % 3, catalogue[s].price);
  }
  snprintf(body + len, sizeof body - len, "]}");
  snprintf(url, sizeof url, "http://127.0.0.1:%d/api/orders", d->port);
  snprintf(key, sizeof key, "sim-%08x%08x", rnd(), rnd());
  long st = request(curl, "POST", url, d->tokens[rnd() % NUSERS], body, key);
  if (st != 201)
    op_log_warn("demo", "a simulated order was answered %ld", st);
}

static void *run(void *arg) {
  op_demo_t *d = arg;
  pthread_setname_np(pthread_self(), "op-simulate");
  CURL *curl = curl_easy_init();
  if (curl == NULL) {
    op_log_error("demo", "cannot create an HTTP client");
    return NULL;
  }
  seed_users(d, curl);
  seed_stock(d, curl);
  uint64_t start = op_mono_ns(), placed = 0;
  while (d->rate > 0 && !atomic_load(&d->stop)) {
    /* The orders due by now, at most a burst: a slow answer is not made up
     * for by a flood afterwards. */
    double due = (double)(op_mono_ns() - start) / 1e9 * d->rate;
    if ((double)placed + BURST_MAX < due)
      placed = (uint64_t)due - BURST_MAX;
    if ((double)placed < due) {
      place_order(d, curl, ++placed);
      continue;
    }
    struct timespec ts = {0, 5 * 1000 * 1000};
    nanosleep(&ts, NULL); /* pacing: the next order is due in the future */
  }
  curl_easy_cleanup(curl);
  return NULL;
}

op_demo_t *op_demo_start(const op_config_t *cfg, int port, double rate) {
  op_demo_t *d = calloc(1, sizeof *d);
  if (d == NULL)
    return NULL;
  d->port = port;
  d->rate = rate;
  for (size_t i = 0; i < NUSERS; i++) {
    if ((d->tokens[i] = sign(cfg, &users[i])) == NULL) {
      op_demo_stop(d);
      return NULL;
    }
  }
  if (pthread_create(&d->thread, NULL, run, d) != 0) {
    op_log_error("demo", "cannot start the demo client");
    d->thread = 0;
    op_demo_stop(d);
    return NULL;
  }
  return d;
}

void op_demo_stop(op_demo_t *d) {
  if (d == NULL)
    return;
  atomic_store(&d->stop, 1);
  if (d->thread)
    pthread_join(d->thread, NULL);
  for (size_t i = 0; i < NUSERS; i++)
    free(d->tokens[i]);
  free(d);
}

size_t op_demo_user_count(void) {
  return NUSERS;
}

void op_demo_user(size_t i, const char **tenant, const char **user, const char **role) {
  *tenant = users[i].tenant;
  *user = users[i].user;
  *role = users[i].role;
}

char *op_demo_sign(const op_config_t *cfg, size_t i) {
  return i < NUSERS ? sign(cfg, &users[i]) : NULL;
}
