/*
 * The shared orders.events samples (tests/contracts/samples/orders.events)
 * through the C API directly: every good/ file parses, and every bad/ file
 * fails with the reason its name starts with (<reason>__<what>.json). The
 * same samples are checked against the JSON Schema, and the validate command
 * against both, by tests/contracts/test_contracts.py; this test needs no
 * binary and runs each sample from a buffer of exactly its size, so that the
 * sanitizers see any read past the end.
 *
 * The samples are found from this file's own path, or from OP_SAMPLES_DIR.
 * Run one test alone: contracts_test_samples <name-pattern>.
 */
#include <dirent.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "contracts/validate.h"
#include "core/err.h"

#define TOPIC_DIR "contracts/samples/orders.events"

/* The samples folder: $OP_SAMPLES_DIR, or tests/<TOPIC_DIR> next to this
 * file's tests/unit/contracts/. Writes it into out. */
static void samples_dir(char *out, size_t outlen) {
  const char *env = getenv("OP_SAMPLES_DIR");
  if (env != NULL && *env) {
    snprintf(out, outlen, "%s", env);
    return;
  }
  const char *self = __FILE__;
  const char *unit = strstr(self, "/unit/contracts/");
  assert_non_null(unit);
  snprintf(out, outlen, "%.*s/%s", (int)(unit - self), self, TOPIC_DIR);
}

/* Reads a whole file into a heap buffer of exactly its size (NULL when
 * empty). Returns the size. */
static size_t read_file(const char *path, char **out) {
  FILE *f = fopen(path, "rb");
  if (f == NULL)
    fail_msg("cannot open %s", path);
  fseek(f, 0, SEEK_END);
  long size = ftell(f);
  fseek(f, 0, SEEK_SET);
  assert_true(size >= 0);
  *out = size > 0 ? malloc((size_t)size) : NULL;
  if (size > 0) {
    assert_non_null(*out);
    assert_int_equal(fread(*out, 1, (size_t)size, f), (size_t)size);
  }
  fclose(f);
  return (size_t)size;
}

static int is_sample(const struct dirent *entry) {
  size_t len = strlen(entry->d_name);
  return len > 5 && strcmp(entry->d_name + len - 5, ".json") == 0;
}

/* Calls check on every sample of kind ("good" or "bad"); returns how many. */
static size_t each_sample(const char *kind,
                          void (*check)(const char *name, const char *data, size_t len)) {
  char dir[4096];
  samples_dir(dir, sizeof dir);
  char folder[4200];
  snprintf(folder, sizeof folder, "%s/%s", dir, kind);
  struct dirent **entries;
  int n = scandir(folder, &entries, is_sample, alphasort);
  if (n < 0)
    fail_msg("cannot list %s", folder);
  for (int i = 0; i < n; i++) {
    char path[8400];
    snprintf(path, sizeof path, "%s/%s", folder, entries[i]->d_name);
    char *data;
    size_t len = read_file(path, &data);
    check(entries[i]->d_name, data, len);
    free(data);
    free(entries[i]);
  }
  free(entries);
  return (size_t)n;
}

static void check_good(const char *name, const char *data, size_t len) {
  op_order_event_t ev;
  op_contract_error_t err;
  if (op_contract_parse_order_event(data, len, &ev, &err) != 0)
    fail_msg("%s: rejected: %s: %s", name, err.reason, err.message);
  assert_non_null(ev.event_id);
  assert_non_null(ev.event_type);
  assert_non_null(ev.order_id);
  assert_non_null(ev.tenant_id);
  assert_non_null(ev.timestamp);
  assert_non_null(ev.status);
  op_order_event_clear(&ev);
}

static void check_bad(const char *name, const char *data, size_t len) {
  const char *sep = strstr(name, "__");
  if (sep == NULL)
    fail_msg("%s: a bad sample's name starts with its reason and \"__\"", name);
  op_order_event_t ev;
  op_contract_error_t err;
  if (op_contract_parse_order_event(data, len, &ev, &err) == 0) {
    op_order_event_clear(&ev);
    fail_msg("%s: accepted", name);
  }
  size_t rlen = (size_t)(sep - name);
  if (strlen(err.reason) != rlen || strncmp(err.reason, name, rlen) != 0)
    fail_msg("%s: reason %s (%s)", name, err.reason, err.message);
  assert_true(strlen(err.message) > 0);
}

static void test_good_samples_pass(void **state) {
  assert_true(each_sample("good", check_good) >= 10);
}

static void test_bad_samples_fail_with_their_reason(void **state) {
  assert_true(each_sample("bad", check_bad) >= 20);
}

int main(int argc, char **argv) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_good_samples_pass),
      cmocka_unit_test(test_bad_samples_fail_with_their_reason),
  };
  if (argc > 1)
    cmocka_set_test_filter(argv[1]);
  return cmocka_run_group_tests(tests, NULL, NULL);
}
