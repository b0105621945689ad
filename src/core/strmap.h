/*
 * A map from strings (copied) to pointers (borrowed), open addressing with
 * linear probing. Written here because none of the project's dependencies
 * offers one; it is small and used where keys are few and long-lived (tenant
 * ids). Not thread-safe: the owner locks around it when it is shared.
 */
#ifndef OP_CORE_STRMAP_H
#define OP_CORE_STRMAP_H

#include <stddef.h>

typedef struct op_strmap_s {
  struct op_strmap_slot_s *slots;
  size_t cap; /* a power of two, or 0 */
  size_t len;
} op_strmap_t;

#define OP_STRMAP_INIT                                                                             \
  { NULL, 0, 0 }

/* The value for key, or NULL. */
void *op_strmap_get(const op_strmap_t *map, const char *key);

/* Sets key (copied) to value. Returns 0 or OP_ENOMEM. */
int op_strmap_put(op_strmap_t *map, const char *key, void *value);

/* Calls fn on each entry in no particular order. */
void op_strmap_each(const op_strmap_t *map, void (*fn)(const char *key, void *value, void *ud),
                    void *ud);

/* Frees the keys and the table (not the values). */
void op_strmap_free(op_strmap_t *map);

#endif
