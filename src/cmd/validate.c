/* orderpulse validate: checks event files against the orders.events contract. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd/cmd.h"
#include "contracts/validate.h"
#include "core/buf.h"

static int read_all(const char *path, op_buf_t *out) {
  FILE *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "rb");
  if (f == NULL)
    return -1;
  char chunk[65536];
  size_t n;
  while ((n = fread(chunk, 1, sizeof chunk, f)) > 0)
    op_buf_append(out, chunk, n);
  int bad = ferror(f);
  if (f != stdin)
    fclose(f);
  return bad ? -1 : 0;
}

static void report(const char *file, const op_contract_error_t *err) {
  json_t *line = err ? json_pack("{s:s, s:b, s:s, s:s}", "file", file, "valid", 0, "reason",
                                 err->reason, "message", err->message)
                     : json_pack("{s:s, s:b}", "file", file, "valid", 1);
  char *text = json_dumps(line, JSON_COMPACT | JSON_PRESERVE_ORDER);
  puts(text);
  free(text);
  json_decref(line);
}

static int run(int argc, char **argv) {
  if (op_cmd_wants_help(argc, argv) || argc < 2) {
    fprintf(argc < 2 ? stderr : stdout,
            "usage: orderpulse validate [--topic orders.events] FILE... (- for stdin)\n\n"
            "Prints one JSON line per file: {\"file\",\"valid\"} and, when invalid, the\n"
            "reason token and a message. Exit 0 if all are valid, 1 if any is not.\n");
    return argc < 2 ? 2 : 0;
  }
  int first = 1;
  if (strcmp(argv[1], "--topic") == 0) {
    if (argc < 3 || strcmp(argv[2], "orders.events") != 0) {
      fprintf(stderr, "orderpulse validate: --topic supports orders.events\n");
      return 2;
    }
    first = 3;
  }
  int invalid = 0;
  for (int i = first; i < argc; i++) {
    op_buf_t data = OP_BUF_INIT;
    if (read_all(argv[i], &data) != 0) {
      fprintf(stderr, "orderpulse validate: cannot read %s\n", argv[i]);
      op_buf_free(&data);
      return 2;
    }
    op_order_event_t ev;
    op_contract_error_t err;
    if (op_contract_parse_order_event(data.data, data.len, &ev, &err) == 0) {
      report(argv[i], NULL);
      op_order_event_clear(&ev);
    } else {
      report(argv[i], &err);
      invalid = 1;
    }
    op_buf_free(&data);
  }
  return invalid;
}

const op_cmd_t op_cmd_validate = {"validate", "check event files against the contract", run};
