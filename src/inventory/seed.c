/*
 * Seed files for `orderpulse inventory seed`: CSV or JSON lists of
 * (tenant_id, sku, quantity). Parsing is all-or-nothing: the first bad line
 * is reported and nothing is returned, so the command applies nothing.
 */
#include <ctype.h>
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "inventory/parse.h"

op_inv_seed_format_t op_inv_seed_detect(const char *name, const char *data, size_t len) {
  size_t n = name ? strlen(name) : 0;
  if (n >= 4 && strcasecmp(name + n - 4, ".csv") == 0)
    return OP_INV_SEED_CSV;
  if (n >= 5 && strcasecmp(name + n - 5, ".json") == 0)
    return OP_INV_SEED_JSON;
  for (size_t i = 0; i < len; i++)
    if (!isspace((unsigned char)data[i]))
      return data[i] == '[' ? OP_INV_SEED_JSON : OP_INV_SEED_CSV;
  return OP_INV_SEED_CSV;
}

/* An id: 1..128 bytes, no control characters. Copies it into out (129 bytes). */
static int id_ok(const char *s, size_t len, char *out) {
  if (len < 1 || len > 128)
    return 0;
  for (size_t i = 0; i < len; i++)
    if ((unsigned char)s[i] < 0x20 || s[i] == 0x7F)
      return 0;
  memcpy(out, s, len);
  out[len] = '\0';
  return 1;
}

/* A quantity written in decimal digits only, 0..OP_INV_QTY_MAX. */
static int qty_text_ok(const char *s, size_t len, int64_t *out) {
  if (len < 1 || len > 10)
    return 0;
  int64_t v = 0;
  for (size_t i = 0; i < len; i++) {
    if (s[i] < '0' || s[i] > '9')
      return 0;
    v = v * 10 + (s[i] - '0');
  }
  *out = v;
  return v <= OP_INV_QTY_MAX;
}

static int add_row(op_inv_seed_row_t **rows, size_t *n, size_t *cap, const op_inv_seed_row_t *row,
                   const char *what, char *errbuf, size_t errlen) {
  for (size_t i = 0; i < *n; i++) {
    if (strcmp((*rows)[i].tenant_id, row->tenant_id) == 0 &&
        strcmp((*rows)[i].sku, row->sku) == 0) {
      snprintf(errbuf, errlen, "%s %d: tenant_id %s, sku %s is already set by %s %d", what,
               row->line, row->tenant_id, row->sku, what, (*rows)[i].line);
      return OP_EINVAL;
    }
  }
  if (*n == *cap) {
    size_t ncap = *cap ? *cap * 2 : 64;
    op_inv_seed_row_t *grown = realloc(*rows, ncap * sizeof *grown);
    if (grown == NULL) {
      snprintf(errbuf, errlen, "out of memory");
      return OP_ENOMEM;
    }
    *rows = grown;
    *cap = ncap;
  }
  (*rows)[(*n)++] = *row;
  return 0;
}

/* Trims blanks (and a CR) on both sides of [*s, *s + *len). */
static void trim(const char **s, size_t *len) {
  while (*len && isspace((unsigned char)**s))
    (*s)++, (*len)--;
  while (*len && isspace((unsigned char)(*s)[*len - 1]))
    (*len)--;
}

#define ID_RULE "a non-empty string of at most 128 bytes without control characters"
#define QTY_RULE "an integer from 0 to 1000000000"

static int parse_csv(const char *data, size_t len, op_inv_seed_row_t **rows, size_t *n,
                     char *errbuf, size_t errlen) {
  size_t cap = 0;
  int line = 0, header = 0;
  const char *p = data, *end = data + len;
  while (p < end) {
    const char *eol = memchr(p, '\n', (size_t)(end - p));
    const char *stop = eol ? eol : end;
    const char *s = p;
    size_t slen = (size_t)(stop - p);
    p = eol ? eol + 1 : end;
    line++;
    if (memchr(s, '\0', slen)) {
      snprintf(errbuf, errlen, "line %d: contains a NUL byte", line);
      return OP_EINVAL;
    }
    trim(&s, &slen);
    if (slen == 0)
      continue;
    const char *f[3];
    size_t flen[3];
    int nf = 0;
    const char *q = s, *qend = s + slen;
    while (nf < 4) {
      const char *comma = memchr(q, ',', (size_t)(qend - q));
      const char *fend = comma ? comma : qend;
      if (nf < 3) {
        f[nf] = q;
        flen[nf] = (size_t)(fend - q);
        trim(&f[nf], &flen[nf]);
      }
      nf++;
      if (!comma)
        break;
      q = comma + 1;
    }
    if (!header) {
      if (nf != 3 || flen[0] != 9 || memcmp(f[0], "tenant_id", 9) || flen[1] != 3 ||
          memcmp(f[1], "sku", 3) || flen[2] != 8 || memcmp(f[2], "quantity", 8)) {
        snprintf(errbuf, errlen, "line %d: the header must be tenant_id,sku,quantity", line);
        return OP_EINVAL;
      }
      header = 1;
      continue;
    }
    if (nf != 3) {
      snprintf(errbuf, errlen, "line %d: expected 3 fields (tenant_id,sku,quantity), found %s",
               line, nf > 3 ? "more" : "fewer");
      return OP_EINVAL;
    }
    for (int i = 0; i < 3; i++) {
      if (flen[i] && f[i][0] == '"') {
        snprintf(errbuf, errlen, "line %d: quoted fields are not supported", line);
        return OP_EINVAL;
      }
    }
    op_inv_seed_row_t row = {.line = line};
    if (!id_ok(f[0], flen[0], row.tenant_id)) {
      snprintf(errbuf, errlen, "line %d: tenant_id must be " ID_RULE, line);
      return OP_EINVAL;
    }
    if (!id_ok(f[1], flen[1], row.sku)) {
      snprintf(errbuf, errlen, "line %d: sku must be " ID_RULE, line);
      return OP_EINVAL;
    }
    if (!qty_text_ok(f[2], flen[2], &row.quantity)) {
      snprintf(errbuf, errlen, "line %d: quantity must be " QTY_RULE " (got \"%.*s\")", line,
               (int)(flen[2] > 32 ? 32 : flen[2]), f[2]);
      return OP_EINVAL;
    }
    int rc = add_row(rows, n, &cap, &row, "line", errbuf, errlen);
    if (rc)
      return rc;
  }
  if (!header) {
    snprintf(errbuf, errlen,
             "line 1: the file is empty; the header tenant_id,sku,quantity is required");
    return OP_EINVAL;
  }
  return 0;
}

static int json_entry(json_t *entry, int index, op_inv_seed_row_t *row, char *errbuf,
                      size_t errlen) {
  *row = (op_inv_seed_row_t){.line = index};
  if (!json_is_object(entry)) {
    snprintf(errbuf, errlen, "entry %d: must be an object {\"tenant_id\",\"sku\",\"quantity\"}",
             index);
    return OP_EINVAL;
  }
  const char *key;
  json_t *value;
  json_object_foreach(entry, key, value) {
    if (strcmp(key, "tenant_id") && strcmp(key, "sku") && strcmp(key, "quantity")) {
      snprintf(errbuf, errlen, "entry %d: unknown field \"%.64s\"", index, key);
      return OP_EINVAL;
    }
  }
  static const char *const ids[] = {"tenant_id", "sku"};
  char *outs[] = {row->tenant_id, row->sku};
  for (int i = 0; i < 2; i++) {
    json_t *v = json_object_get(entry, ids[i]);
    if (!json_is_string(v) || !id_ok(json_string_value(v), json_string_length(v), outs[i])) {
      snprintf(errbuf, errlen, "entry %d: %s must be " ID_RULE, index, ids[i]);
      return OP_EINVAL;
    }
  }
  json_t *q = json_object_get(entry, "quantity");
  if (!json_is_integer(q) || json_integer_value(q) < 0 || json_integer_value(q) > OP_INV_QTY_MAX) {
    snprintf(errbuf, errlen, "entry %d: quantity must be " QTY_RULE, index);
    return OP_EINVAL;
  }
  row->quantity = json_integer_value(q);
  return 0;
}

static int parse_json(const char *data, size_t len, op_inv_seed_row_t **rows, size_t *n,
                      char *errbuf, size_t errlen) {
  json_error_t jerr;
  json_t *root = json_loadb(data, len, JSON_REJECT_DUPLICATES, &jerr);
  if (root == NULL) {
    snprintf(errbuf, errlen, "line %d: invalid JSON: %s", jerr.line, jerr.text);
    return OP_EINVAL;
  }
  int rc = 0;
  size_t cap = 0;
  if (!json_is_array(root)) {
    snprintf(errbuf, errlen, "line 1: the document must be an array of entries");
    rc = OP_EINVAL;
  }
  for (size_t i = 0; rc == 0 && i < json_array_size(root); i++) {
    op_inv_seed_row_t row;
    rc = json_entry(json_array_get(root, i), (int)i + 1, &row, errbuf, errlen);
    if (rc == 0)
      rc = add_row(rows, n, &cap, &row, "entry", errbuf, errlen);
  }
  json_decref(root);
  return rc;
}

int op_inv_seed_parse(op_inv_seed_format_t format, const char *data, size_t len,
                      op_inv_seed_row_t **rows, size_t *nrows, char *errbuf, size_t errlen) {
  *rows = NULL;
  *nrows = 0;
  if (format == OP_INV_SEED_AUTO)
    format = op_inv_seed_detect(NULL, data, len);
  int rc = format == OP_INV_SEED_JSON ? parse_json(data, len, rows, nrows, errbuf, errlen)
                                      : parse_csv(data, len, rows, nrows, errbuf, errlen);
  if (rc) {
    free(*rows);
    *rows = NULL;
    *nrows = 0;
  }
  return rc;
}
