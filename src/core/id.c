#include "core/id.h"

#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/random.h>

#include "core/clock.h"

void op_random_bytes(unsigned char *raw, size_t bytes) {
  if (getrandom(raw, bytes, 0) == (ssize_t)bytes)
    return;
  /* getrandom does not fail for up to 256 bytes once the pool is seeded; an
   * id needs uniqueness, not secrecy, so mix the clocks rather than fail. */
  uint64_t x = (uint64_t)op_now_ms() * 0x9e3779b97f4a7c15ull ^ op_mono_ns();
  for (size_t i = 0; i < bytes; i++, x = x * 6364136223846793005ull + 1442695040888963407ull)
    raw[i] = (unsigned char)(x >> 56);
}

static void to_hex(const unsigned char *raw, size_t bytes, char *out) {
  static const char digits[] = "0123456789abcdef";
  for (size_t i = 0; i < bytes; i++) {
    out[2 * i] = digits[raw[i] >> 4];
    out[2 * i + 1] = digits[raw[i] & 15];
  }
  out[2 * bytes] = '\0';
}

void op_random_hex(char *out, size_t bytes) {
  unsigned char raw[64];
  if (bytes > sizeof raw)
    bytes = sizeof raw;
  op_random_bytes(raw, bytes);
  to_hex(raw, bytes, out);
}

static void format_uuid(unsigned char b[16], char *out) {
  char hex[33];
  to_hex(b, 16, hex);
  snprintf(out, OP_UUID_LEN + 1, "%.8s-%.4s-%.4s-%.4s-%.12s", hex, hex + 8, hex + 12, hex + 16,
           hex + 20);
}

void op_uuid_v4(char *out) {
  unsigned char b[16];
  op_random_bytes(b, sizeof b);
  b[6] = (unsigned char)((b[6] & 0x0F) | 0x40); /* version 4 */
  b[8] = (unsigned char)((b[8] & 0x3F) | 0x80); /* variant 10 */
  format_uuid(b, out);
}

/* The last (ms, counter) handed out: ids of one process strictly increase
 * (RFC 9562 §6.2, method 1: a 12-bit counter in rand_a, reset each ms to a
 * random start below 2048; when it runs out, the next ms is borrowed). */
static pthread_mutex_t v7_mu = PTHREAD_MUTEX_INITIALIZER;
static uint64_t v7_ms;
static unsigned v7_counter;

void op_uuid_v7(char *out) {
  unsigned char b[16];
  op_random_bytes(b + 6, 10);
  uint64_t now = (uint64_t)op_now_ms();
  pthread_mutex_lock(&v7_mu);
  if (now > v7_ms) {
    v7_ms = now;
    v7_counter = ((unsigned)b[6] << 8 | b[7]) & 0x7FF;
  } else if (++v7_counter > 0xFFF) {
    v7_ms++;
    v7_counter = 0;
  }
  uint64_t ms = v7_ms;
  unsigned counter = v7_counter;
  pthread_mutex_unlock(&v7_mu);
  for (int i = 0; i < 6; i++)
    b[i] = (unsigned char)(ms >> (40 - 8 * i));  /* 48-bit big-endian ms */
  b[6] = (unsigned char)(0x70 | (counter >> 8)); /* version 7, counter high bits */
  b[7] = (unsigned char)(counter & 0xFF);
  b[8] = (unsigned char)((b[8] & 0x3F) | 0x80); /* variant 10 */
  format_uuid(b, out);
}
