/*
 * Money as exact decimals (DESIGN.md §3: "never a float"). A value is an
 * integer count of ten-thousandths, held in 128 bits so that the contract's
 * largest amount (15 integer digits, 4 decimals) times a quantity, or summed
 * over many orders, cannot overflow before it is checked.
 *
 * Written here rather than taken from a library: Debian's decimal libraries
 * (libmpdec) bring arbitrary precision and contexts for what is four
 * operations on one fixed scale.
 */
#ifndef OP_CORE_DECIMAL_H
#define OP_CORE_DECIMAL_H

#include <stddef.h>
#include <stdint.h>

typedef __int128 op_dec_t;

#define OP_DEC_SCALE 10000 /* 4 decimals */
#define OP_DEC_MAX_LEN 48  /* buffer size for op_dec_format */

/* Parses the contract's decimal: an optional '-', 1 to 15 integer digits,
 * optionally '.' and 1 to 4 decimals. Returns 0, or OP_EINVAL. */
int op_dec_parse(const char *s, op_dec_t *out);

/* The same for len bytes at s (not necessarily NUL-terminated). */
int op_dec_parse_n(const char *s, size_t len, op_dec_t *out);

/* True when v fits the contract (at most 15 integer digits). */
int op_dec_in_range(op_dec_t v);

/* a * n, or OP_ERANGE when the result leaves the contract's range. */
int op_dec_mul_int(op_dec_t a, int64_t n, op_dec_t *out);

/* a + b, or OP_ERANGE when the result leaves the contract's range. */
int op_dec_add(op_dec_t a, op_dec_t b, op_dec_t *out);

/* Formats v with its decimals trimmed of trailing zeros but at least two
 * ("129.9" -> "129.90", "1.2345" stays). out holds OP_DEC_MAX_LEN bytes.
 * Returns out. */
char *op_dec_format(op_dec_t v, char *out);

#endif
