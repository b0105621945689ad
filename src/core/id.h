/*
 * Identifiers: random hex and UUIDs (RFC 9562). Event ids are UUIDv7, whose
 * first 48 bits are the creation time in ms: ids made one after another sort
 * together, so the dedupe indexes that receive them (notify's event_records)
 * grow at their end instead of dirtying a random page per event.
 * Thread-safe.
 */
#ifndef OP_CORE_ID_H
#define OP_CORE_ID_H

#include <stddef.h>

#define OP_UUID_LEN 36 /* "xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx" */

/* Fills raw with bytes (at most 256) from the kernel's CSPRNG; if it cannot
 * answer (only before the pool is seeded at boot), from the clocks. */
void op_random_bytes(unsigned char *raw, size_t bytes);

/* 2 * bytes lower-case hex digits and a NUL into out (bytes at most 64). */
void op_random_hex(char *out, size_t bytes);

/* A random UUID (version 4) into out (OP_UUID_LEN + 1 bytes). */
void op_uuid_v4(char *out);

/* A time-ordered UUID (version 7) into out (OP_UUID_LEN + 1 bytes). */
void op_uuid_v7(char *out);

#endif
