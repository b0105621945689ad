#include "store/loops.h"

#include <stdio.h>

op_store_t *op_store_loops_get(op_store_loops_t *set, unsigned index, char *errbuf, size_t errlen) {
  if (index >= OP_STORE_LOOPS_MAX) {
    snprintf(errbuf, errlen, "more than %d HTTP loops", OP_STORE_LOOPS_MAX);
    return NULL;
  }
  if (set->stores[index] == NULL)
    set->stores[index] = op_store_open(set->url, errbuf, errlen);
  return set->stores[index];
}

void op_store_loops_close(op_store_loops_t *set) {
  for (size_t i = 0; i < OP_STORE_LOOPS_MAX; i++) {
    if (set->stores[i])
      op_store_close(set->stores[i]);
    set->stores[i] = NULL;
  }
}
