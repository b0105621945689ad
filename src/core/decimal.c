#include "core/decimal.h"

#include <string.h>

#include "core/err.h"

/* 10^19: one more than the largest value of 15 integer digits and 4 decimals. */
static const op_dec_t LIMIT = (op_dec_t)10000000000000000000ull;

int op_dec_parse_n(const char *s, size_t len, op_dec_t *out) {
  size_t i = 0, int_digits = 0, frac_digits = 0;
  int neg = 0;
  op_dec_t v = 0;
  if (s == NULL)
    return OP_EINVAL;
  if (i < len && s[i] == '-') {
    neg = 1;
    i++;
  }
  for (; i < len && s[i] >= '0' && s[i] <= '9'; i++, int_digits++)
    v = v * 10 + (s[i] - '0');
  if (int_digits == 0 || int_digits > 15)
    return OP_EINVAL;
  if (i < len && s[i] == '.') {
    for (i++; i < len && s[i] >= '0' && s[i] <= '9'; i++, frac_digits++)
      if (frac_digits < 4)
        v = v * 10 + (s[i] - '0');
    if (frac_digits == 0 || frac_digits > 4)
      return OP_EINVAL;
  }
  if (i != len)
    return OP_EINVAL;
  for (size_t k = frac_digits; k < 4; k++)
    v *= 10;
  *out = neg ? -v : v;
  return 0;
}

int op_dec_parse(const char *s, op_dec_t *out) {
  return op_dec_parse_n(s, s ? strlen(s) : 0, out);
}

int op_dec_in_range(op_dec_t v) {
  return v > -LIMIT && v < LIMIT;
}

int op_dec_mul_int(op_dec_t a, int64_t n, op_dec_t *out) {
  /* |a| < 10^19 and |n| < 2^63 < 10^19: the product fits in 127 bits. */
  if (!op_dec_in_range(a))
    return OP_ERANGE;
  op_dec_t r = a * (op_dec_t)n;
  if (!op_dec_in_range(r))
    return OP_ERANGE;
  *out = r;
  return 0;
}

int op_dec_add(op_dec_t a, op_dec_t b, op_dec_t *out) {
  if (!op_dec_in_range(a) || !op_dec_in_range(b) || !op_dec_in_range(a + b))
    return OP_ERANGE;
  *out = a + b;
  return 0;
}

char *op_dec_format(op_dec_t v, char *out) {
  char digits[48];
  size_t n = 0;
  int neg = v < 0;
  unsigned __int128 u = neg ? (unsigned __int128)(-(v + 1)) + 1 : (unsigned __int128)v;
  do {
    digits[n++] = (char)('0' + (int)(u % 10));
    u /= 10;
  } while (u > 0 || n < 5); /* at least one integer digit and four decimals */
  size_t frac = 4;
  while (frac > 2 && digits[4 - frac] == '0')
    frac--;
  char *p = out;
  if (neg && v != 0)
    *p++ = '-';
  for (size_t i = n; i > 4; i--)
    *p++ = digits[i - 1];
  *p++ = '.';
  for (size_t i = 0; i < frac; i++)
    *p++ = digits[3 - i];
  *p = '\0';
  return out;
}
