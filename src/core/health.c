#include "core/health.h"

#include <jansson.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#define MAX_COMPONENTS 16
#define MAX_NUMBERS 8

typedef struct {
  char name[32];
  int critical;
  op_health_state_t state;
  char detail[160];
  struct {
    char key[32];
    long long value;
  } numbers[MAX_NUMBERS];
  int nnumbers;
} component_t;

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static component_t components[MAX_COMPONENTS];
static int ncomponents;

static component_t *find(const char *name) {
  for (int i = 0; i < ncomponents; i++)
    if (strcmp(components[i].name, name) == 0)
      return &components[i];
  return NULL;
}

static component_t *find_or_add(const char *name) {
  component_t *c = find(name);
  if (c || ncomponents == MAX_COMPONENTS)
    return c;
  c = &components[ncomponents++];
  memset(c, 0, sizeof *c);
  snprintf(c->name, sizeof c->name, "%s", name);
  snprintf(c->detail, sizeof c->detail, "starting");
  c->state = OP_HEALTH_DOWN;
  return c;
}

void op_health_register(const char *component, int critical) {
  pthread_mutex_lock(&lock);
  component_t *c = find_or_add(component);
  if (c)
    c->critical = critical;
  pthread_mutex_unlock(&lock);
}

void op_health_set(const char *component, op_health_state_t state, const char *detail) {
  pthread_mutex_lock(&lock);
  component_t *c = find_or_add(component);
  if (c) {
    c->state = state;
    snprintf(c->detail, sizeof c->detail, "%s", detail ? detail : "");
  }
  pthread_mutex_unlock(&lock);
}

void op_health_set_number(const char *component, const char *key, long long value) {
  pthread_mutex_lock(&lock);
  component_t *c = find_or_add(component);
  if (c) {
    int i;
    for (i = 0; i < c->nnumbers; i++)
      if (strcmp(c->numbers[i].key, key) == 0)
        break;
    if (i < MAX_NUMBERS) {
      if (i == c->nnumbers) {
        snprintf(c->numbers[i].key, sizeof c->numbers[i].key, "%s", key);
        c->nnumbers++;
      }
      c->numbers[i].value = value;
    }
  }
  pthread_mutex_unlock(&lock);
}

static op_health_state_t overall_locked(void) {
  op_health_state_t worst = OP_HEALTH_OK;
  for (int i = 0; i < ncomponents; i++) {
    op_health_state_t s = components[i].state;
    if (s == OP_HEALTH_DOWN && !components[i].critical)
      s = OP_HEALTH_DEGRADED;
    if (s > worst)
      worst = s;
  }
  return worst;
}

op_health_state_t op_health_overall(void) {
  pthread_mutex_lock(&lock);
  op_health_state_t s = overall_locked();
  pthread_mutex_unlock(&lock);
  return s;
}

const char *op_health_state_name(op_health_state_t state) {
  switch (state) {
    case OP_HEALTH_OK:
      return "ok";
    case OP_HEALTH_DEGRADED:
      return "degraded";
    default:
      return "down";
  }
}

op_health_state_t op_health_render(op_buf_t *out) {
  pthread_mutex_lock(&lock);
  op_health_state_t overall = overall_locked();
  json_t *root = json_object();
  json_object_set_new(root, "status", json_string(op_health_state_name(overall)));
  for (int i = 0; i < ncomponents; i++) {
    component_t *c = &components[i];
    json_t *obj =
        json_pack("{s:s, s:s}", "status", op_health_state_name(c->state), "detail", c->detail);
    for (int k = 0; obj && k < c->nnumbers; k++)
      json_object_set_new(obj, c->numbers[k].key, json_integer(c->numbers[k].value));
    if (obj)
      json_object_set_new(root, c->name, obj);
  }
  pthread_mutex_unlock(&lock);
  char *text = json_dumps(root, JSON_COMPACT | JSON_PRESERVE_ORDER);
  json_decref(root);
  if (text) {
    op_buf_puts(out, text);
    free(text);
  }
  return overall;
}

void op_health_reset(void) {
  pthread_mutex_lock(&lock);
  ncomponents = 0;
  pthread_mutex_unlock(&lock);
}
