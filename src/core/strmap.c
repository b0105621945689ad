#include "core/strmap.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"

struct op_strmap_slot_s {
  char *key; /* NULL: empty (entries are never removed) */
  uint64_t hash;
  void *value;
};

/* FNV-1a: short keys, no adversary that could choose them to collide (tenant
 * ids come from verified tokens and stored events). */
static uint64_t hash_of(const char *s) {
  uint64_t h = 1469598103934665603ull;
  for (; *s; s++)
    h = (h ^ (unsigned char)*s) * 1099511628211ull;
  return h;
}

static struct op_strmap_slot_s *find(const op_strmap_t *map, const char *key, uint64_t h) {
  size_t mask = map->cap - 1;
  for (size_t i = h & mask;; i = (i + 1) & mask) {
    struct op_strmap_slot_s *slot = &map->slots[i];
    if (slot->key == NULL || (slot->hash == h && strcmp(slot->key, key) == 0))
      return slot;
  }
}

void *op_strmap_get(const op_strmap_t *map, const char *key) {
  if (map->cap == 0)
    return NULL;
  struct op_strmap_slot_s *slot = find(map, key, hash_of(key));
  return slot->key ? slot->value : NULL;
}

static int grow(op_strmap_t *map) {
  size_t cap = map->cap ? map->cap * 2 : 16;
  struct op_strmap_slot_s *slots = calloc(cap, sizeof *slots);
  if (slots == NULL)
    return OP_ENOMEM;
  op_strmap_t next = {slots, cap, map->len};
  for (size_t i = 0; i < map->cap; i++)
    if (map->slots[i].key)
      *find(&next, map->slots[i].key, map->slots[i].hash) = map->slots[i];
  free(map->slots);
  *map = next;
  return 0;
}

int op_strmap_put(op_strmap_t *map, const char *key, void *value) {
  if ((map->len + 1) * 4 > map->cap * 3 && grow(map))
    return OP_ENOMEM;
  uint64_t h = hash_of(key);
  struct op_strmap_slot_s *slot = find(map, key, h);
  if (slot->key == NULL) {
    if ((slot->key = strdup(key)) == NULL)
      return OP_ENOMEM;
    slot->hash = h;
    map->len++;
  }
  slot->value = value;
  return 0;
}

void op_strmap_each(const op_strmap_t *map, void (*fn)(const char *key, void *value, void *ud),
                    void *ud) {
  for (size_t i = 0; i < map->cap; i++)
    if (map->slots[i].key)
      fn(map->slots[i].key, map->slots[i].value, ud);
}

void op_strmap_free(op_strmap_t *map) {
  for (size_t i = 0; i < map->cap; i++)
    free(map->slots[i].key);
  free(map->slots);
  map->slots = NULL;
  map->cap = map->len = 0;
}
