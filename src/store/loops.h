/*
 * One store connection per HTTP loop, opened by that loop on first use: a
 * connection belongs to one thread, and a request's handler runs on its
 * loop. The set is closed after the HTTP server stopped.
 */
#ifndef OP_STORE_LOOPS_H
#define OP_STORE_LOOPS_H

#include <stddef.h>

#include "store/store.h"

#define OP_STORE_LOOPS_MAX 64

typedef struct op_store_loops_s {
  const char *url; /* borrowed */
  op_store_t *stores[OP_STORE_LOOPS_MAX];
} op_store_loops_t;

/* The connection of loop number index, opened now if it is not yet; NULL and
 * one line in errbuf when index is past OP_STORE_LOOPS_MAX or the database
 * cannot be opened (the next call tries again). Runs on: that loop. */
op_store_t *op_store_loops_get(op_store_loops_t *set, unsigned index, char *errbuf, size_t errlen);

/* Closes every connection opened. */
void op_store_loops_close(op_store_loops_t *set);

#endif
