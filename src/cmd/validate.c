/*
 * orderpulse validate: checks message values saved in files against the
 * orders.events contract with the same validator the consumers run
 * (src/contracts/validate.h), so that a producer, a test or an operator
 * holding a dead letter can ask "would notify accept this?" without Kafka.
 *
 * Output: one JSON line per input on stdout, in the order given:
 *   {"file":"a.json","valid":true}
 *   {"file":"b.json","valid":false,"reason":"invalid_amount","message":"payload.total_amount …"}
 * Exit code: 0 all valid, 1 some invalid, 2 bad usage or an input that could
 * not be read (reported on stderr; the other inputs are still checked).
 */
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd/cmd.h"
#include "contracts/validate.h"
#include "core/buf.h"
#include "core/err.h"

#define CMD "validate"
#define DEFAULT_TOPIC "orders.events"

static void usage(FILE *out) {
  fprintf(out,
          "usage: orderpulse validate [--topic orders.events] FILE...\n"
          "\n"
          "Checks each FILE (- for stdin) as one message value of the topic against its\n"
          "contract, with the validator the consumers use. Prints one JSON line per file:\n"
          "  {\"file\":…,\"valid\":true}\n"
          "  {\"file\":…,\"valid\":false,\"reason\":…,\"message\":…}\n"
          "reason is the token a consumer would put in the DLQ header 'error'.\n"
          "\n"
          "options:\n"
          "  --topic TOPIC  the topic whose contract applies (default and only: %s)\n"
          "  --             every later argument is a file\n"
          "  -h, --help     this text\n"
          "\n"
          "exit: 0 all valid, 1 some invalid, 2 bad usage or an unreadable file\n",
          DEFAULT_TOPIC);
}

/* Reads path ("-": stdin) into out, at most limit bytes: anything longer is
 * too large for the contract anyway, and stopping early keeps a mistaken
 * multi-gigabyte argument cheap. Returns 0, or an errno value. */
static int read_input(const char *path, size_t limit, op_buf_t *out) {
  FILE *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "rb");
  if (f == NULL)
    return errno;
  char chunk[65536];
  int rc = 0;
  while (rc == 0 && out->len < limit) {
    size_t want = limit - out->len < sizeof chunk ? limit - out->len : sizeof chunk;
    size_t n = fread(chunk, 1, want, f);
    if (n == 0)
      break;
    if (op_buf_append(out, chunk, n) != 0)
      rc = ENOMEM;
  }
  if (rc == 0 && ferror(f))
    rc = errno ? errno : EIO;
  if (f != stdin)
    fclose(f);
  return rc;
}

/* A JSON string of a file name. Names are bytes, JSON strings are UTF-8:
 * a name that is not valid UTF-8 is shown with '?' for its non-ASCII bytes. */
static json_t *name_string(const char *name) {
  json_t *s = json_string(name);
  if (s != NULL)
    return s;
  char *copy = strdup(name);
  if (copy == NULL)
    return NULL;
  for (char *p = copy; *p; p++)
    if ((unsigned char)*p >= 0x80)
      *p = '?';
  s = json_string(copy);
  free(copy);
  return s;
}

/* Prints the result line of one input; err is NULL when it is valid.
 * Returns 0, or OP_ENOMEM when the line could not be built. */
static int report(const char *file, const op_contract_error_t *err) {
  json_t *line = json_object();
  int bad = line == NULL || json_object_set_new(line, "file", name_string(file)) != 0 ||
            json_object_set_new(line, "valid", json_boolean(err == NULL)) != 0;
  if (!bad && err != NULL)
    bad = json_object_set_new(line, "reason", json_string(err->reason)) != 0 ||
          json_object_set_new(line, "message", json_string(err->message)) != 0;
  char *text = bad ? NULL : json_dumps(line, JSON_COMPACT | JSON_PRESERVE_ORDER);
  json_decref(line);
  if (text == NULL)
    return OP_ENOMEM;
  puts(text);
  free(text);
  return 0;
}

/* Splits argv into the topic option and the files (borrowed from argv into
 * files, which has room for argc entries). Returns 0, or 2 after printing why. */
static int parse_args(int argc, char **argv, const char **topic, char **files, int *nfiles) {
  int options = 1;
  *nfiles = 0;
  for (int i = 1; i < argc; i++) {
    const char *arg = argv[i];
    if (options && strcmp(arg, "--") == 0) {
      options = 0;
    } else if (options && strcmp(arg, "--topic") == 0) {
      if (i + 1 >= argc) {
        fprintf(stderr, "orderpulse %s: --topic needs a value\n", CMD);
        return 2;
      }
      *topic = argv[++i];
    } else if (options && strncmp(arg, "--topic=", 8) == 0) {
      *topic = arg + 8;
    } else if (options && arg[0] == '-' && arg[1] != '\0') {
      fprintf(stderr, "orderpulse %s: unknown option '%s' (see 'orderpulse %s --help')\n", CMD, arg,
              CMD);
      return 2;
    } else {
      files[(*nfiles)++] = argv[i];
    }
  }
  if (strcmp(*topic, DEFAULT_TOPIC) != 0) {
    fprintf(stderr,
            "orderpulse %s: no C validator for topic '%s'; only %s is checked here "
            "(the other topics' JSON Schemas are in contracts/)\n",
            CMD, *topic, DEFAULT_TOPIC);
    return 2;
  }
  if (*nfiles == 0) {
    fprintf(stderr, "orderpulse %s: no FILE given (see 'orderpulse %s --help')\n", CMD, CMD);
    return 2;
  }
  return 0;
}

/* Checks one input and prints its line. Returns 0 valid, 1 invalid, 2 unreadable. */
static int check_one(const char *path) {
  op_buf_t data = OP_BUF_INIT;
  int rc = read_input(path, (size_t)OP_CONTRACT_MAX_BYTES + 1, &data);
  if (rc != 0) {
    fprintf(stderr, "orderpulse %s: cannot read %s: %s\n", CMD, path, strerror(rc));
    op_buf_free(&data);
    return 2;
  }
  op_order_event_t ev;
  op_contract_error_t err;
  int valid = op_contract_parse_order_event(data.data, data.len, &ev, &err) == 0;
  if (valid)
    op_order_event_clear(&ev);
  op_buf_free(&data);
  if (report(path, valid ? NULL : &err) != 0) {
    fprintf(stderr, "orderpulse %s: out of memory\n", CMD);
    return 2;
  }
  return valid ? 0 : 1;
}

/* The command: see the file comment for the output and the exit codes.
 * Runs on: the main thread; reads the files one at a time. */
static int run(int argc, char **argv) {
  if (op_cmd_wants_help(argc, argv)) {
    usage(stdout);
    return 0;
  }
  const char *topic = DEFAULT_TOPIC;
  char **files = calloc((size_t)argc, sizeof *files);
  if (files == NULL) {
    fprintf(stderr, "orderpulse %s: out of memory\n", CMD);
    return 2;
  }
  int nfiles;
  int status = parse_args(argc, argv, &topic, files, &nfiles);
  if (status == 0) {
    /* An unreadable file does not stop the others: each is checked, the
     * worst outcome is the exit code. */
    for (int i = 0; i < nfiles; i++) {
      int rc = check_one(files[i]);
      status = rc > status ? rc : status;
    }
  }
  free(files);
  if (fflush(stdout) != 0) {
    fprintf(stderr, "orderpulse %s: cannot write the results: %s\n", CMD, strerror(errno));
    return 2;
  }
  return status;
}

const op_cmd_t op_cmd_validate = {CMD, "check event files against the orders.events contract", run};
