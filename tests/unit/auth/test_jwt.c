/*
 * op_auth_verify, op_auth_sign and op_auth_has_role.
 *
 * Most tokens here are made by hand: base64url of a header and a payload
 * written as JSON text, signed with HMAC from OpenSSL's libcrypto (or not
 * signed at all), so that a test can say exactly what an attacker would
 * send: "alg":"none", HS512 with our secret, an RS256 header, a claim of the
 * wrong type. libcrypto is already loaded in the process as libjwt's
 * backend; HMAC() and the EVP_sha* functions are looked up there with
 * dlsym(), which keeps this test's link line the module's own.
 *
 * Every test is independent and runs at the fixed time NOW.
 * Run one test alone: auth_test_jwt <name-pattern>.
 */
#include <dlfcn.h>
#include <jansson.h>
#include <limits.h>
#include <openssl/evp.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "auth/auth.h"
#include "core/err.h"

#define SECRET "s3cr3t-for-unit-tests-only-0123456789abcdef"
#define NOW INT64_C(1800000000)
#define LEEWAY 30

#define HS256_HEADER "{\"alg\":\"HS256\",\"typ\":\"JWT\"}"

/* ---- Crafting tokens ---------------------------------------------------- */

/* base64url without padding (RFC 7515 2). Caller frees. */
static char *b64url(const void *data, size_t len) {
  static const char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  const unsigned char *in = data;
  char *out = malloc(len / 3 * 4 + 5);
  assert_non_null(out);
  size_t n = 0, i = 0;
  for (; i + 2 < len; i += 3) {
    uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8 | in[i + 2];
    out[n++] = alphabet[v >> 18 & 63];
    out[n++] = alphabet[v >> 12 & 63];
    out[n++] = alphabet[v >> 6 & 63];
    out[n++] = alphabet[v & 63];
  }
  if (len - i == 1) {
    uint32_t v = (uint32_t)in[i] << 16;
    out[n++] = alphabet[v >> 18 & 63];
    out[n++] = alphabet[v >> 12 & 63];
  } else if (len - i == 2) {
    uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8;
    out[n++] = alphabet[v >> 18 & 63];
    out[n++] = alphabet[v >> 12 & 63];
    out[n++] = alphabet[v >> 6 & 63];
  }
  out[n] = '\0';
  return out;
}

typedef unsigned char *(*hmac_fn_t)(const EVP_MD *md, const void *key, int key_len,
                                    const unsigned char *data, size_t data_len, unsigned char *out,
                                    unsigned int *out_len);
typedef const EVP_MD *(*md_fn_t)(void);

/* libcrypto's function called name, from the copy libjwt loaded. */
static void *crypto_symbol(const char *name) {
  void *sym = dlsym(RTLD_DEFAULT, name);
  if (sym == NULL)
    fail_msg("libcrypto symbol %s not found", name);
  return sym;
}

/*
 * "<b64(header)>.<b64(payload)>.<signature>": the signature is the base64url
 * HMAC of the first two segments with the digest md ("EVP_sha256",
 * "EVP_sha384", "EVP_sha512") and key; when md is NULL it is the literal
 * sig instead. Caller frees.
 */
static char *craft(const char *header, const char *payload, const char *md, const char *key,
                   const char *sig) {
  char *h = b64url(header, strlen(header));
  char *p = b64url(payload, strlen(payload));
  size_t signing_len = strlen(h) + 1 + strlen(p);
  char *signing = malloc(signing_len + 1);
  assert_non_null(signing);
  snprintf(signing, signing_len + 1, "%s.%s", h, p);
  char *s;
  if (md != NULL) {
    hmac_fn_t hmac = (hmac_fn_t)crypto_symbol("HMAC");
    md_fn_t digest = (md_fn_t)crypto_symbol(md);
    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned int mac_len = 0;
    assert_non_null(hmac(digest(), key, (int)strlen(key), (const unsigned char *)signing,
                         signing_len, mac, &mac_len));
    s = b64url(mac, mac_len);
  } else {
    s = strdup(sig);
    assert_non_null(s);
  }
  size_t cap = signing_len + 1 + strlen(s) + 1;
  char *token = malloc(cap);
  assert_non_null(token);
  snprintf(token, cap, "%s.%s", signing, s);
  free(h);
  free(p);
  free(signing);
  free(s);
  return token;
}

/* An HS256 token with SECRET over header and payload. Caller frees. */
static char *hs256(const char *header, const char *payload) {
  return craft(header, payload, "EVP_sha256", SECRET, NULL);
}

/*
 * The JSON text of the default claims (sub u_7, tenant t_acme, roles admin
 * and viewer, exp an hour after NOW) with the members of patch (a JSON
 * object text, or NULL) set over them and the members listed in drop
 * (comma-separated names, or NULL) removed. Caller frees.
 */
static char *claims_text(const char *patch, const char *drop) {
  json_t *claims = json_pack("{s:s, s:s, s:[s,s], s:I}", "sub", "u_7", "tenant_id", "t_acme",
                             "roles", "admin", "viewer", "exp", (json_int_t)(NOW + 3600));
  assert_non_null(claims);
  if (patch != NULL) {
    json_error_t err;
    json_t *update = json_loads(patch, JSON_ALLOW_NUL, &err);
    if (update == NULL)
      fail_msg("bad patch in test: %s", err.text);
    assert_int_equal(json_object_update(claims, update), 0);
    json_decref(update);
  }
  if (drop != NULL) {
    char names[256];
    snprintf(names, sizeof names, "%s", drop);
    char *save = NULL;
    for (char *name = strtok_r(names, ",", &save); name; name = strtok_r(NULL, ",", &save))
      json_object_del(claims, name);
  }
  char *text = json_dumps(claims, JSON_COMPACT | JSON_SORT_KEYS);
  assert_non_null(text);
  json_decref(claims);
  return text;
}

/* A correctly signed HS256 token of claims_text(patch, drop). Caller frees. */
static char *token_with(const char *patch, const char *drop) {
  char *payload = claims_text(patch, drop);
  char *token = hs256(HS256_HEADER, payload);
  free(payload);
  return token;
}

/* ---- Checking ----------------------------------------------------------- */

static int verify_at(const char *token, int64_t now, int leeway, op_auth_claims_t *claims,
                     const char **reason) {
  return op_auth_verify(SECRET, strlen(SECRET), token, now, leeway, claims, reason);
}

static int all_zero(const void *p, size_t len) {
  const unsigned char *b = p;
  for (size_t i = 0; i < len; i++)
    if (b[i] != 0)
      return 0;
  return 1;
}

/* Asserts that token is refused at NOW with want as the reason, and that the
 * claims were left zeroed. Frees token. */
static void expect_refused_at(char *token, int64_t now, int leeway, const char *want) {
  op_auth_claims_t claims;
  memset(&claims, 0xAA, sizeof claims);
  const char *reason = "unset";
  int rc = verify_at(token, now, leeway, &claims, &reason);
  if (rc != OP_EAUTH || reason == NULL || strcmp(reason, want) != 0)
    fail_msg("token %s: rc %d reason %s, want OP_EAUTH %s", token, rc, reason ? reason : "(null)",
             want);
  assert_true(all_zero(&claims, sizeof claims));
  free(token);
}

static void expect_refused(char *token, const char *want) {
  expect_refused_at(token, NOW, LEEWAY, want);
}

/* Asserts that token is accepted at now with leeway. Frees token. */
static void expect_accepted_at(char *token, int64_t now, int leeway) {
  op_auth_claims_t claims;
  const char *reason = "unset";
  int rc = verify_at(token, now, leeway, &claims, &reason);
  if (rc != 0)
    fail_msg("token %s: rc %d reason %s, want acceptance", token, rc, reason ? reason : "(null)");
  assert_null(reason);
  free(token);
}

static void expect_accepted(char *token) {
  expect_accepted_at(token, NOW, LEEWAY);
}

/* ---- Accepted tokens ---------------------------------------------------- */

static void test_signed_token_round_trip(void **state) {
  op_auth_claims_t in;
  memset(&in, 0, sizeof in);
  strcpy(in.sub, "u_7");
  strcpy(in.tenant_id, "t_acme");
  strcpy(in.roles[0], "admin");
  strcpy(in.roles[1], "support");
  in.nroles = 2;
  in.exp = NOW + 600;
  char *token = NULL;
  assert_int_equal(op_auth_sign(SECRET, strlen(SECRET), &in, &token), 0);
  assert_non_null(token);

  op_auth_claims_t out;
  const char *reason = "unset";
  assert_int_equal(verify_at(token, NOW, LEEWAY, &out, &reason), 0);
  assert_null(reason);
  assert_string_equal(out.sub, "u_7");
  assert_string_equal(out.tenant_id, "t_acme");
  assert_int_equal(out.nroles, 2);
  assert_string_equal(out.roles[0], "admin");
  assert_string_equal(out.roles[1], "support");
  assert_int_equal(out.exp, NOW + 600);
  assert_true(op_auth_has_role(&out, "admin"));
  assert_true(op_auth_has_role(&out, "support"));
  assert_false(op_auth_has_role(&out, "viewer"));
  free(token);
}

/* A hand-made token verifies too: the crafting here and libjwt agree. */
static void test_crafted_token_all_claims(void **state) {
  char *payload = claims_text("{\"iat\":1799999000,\"iss\":\"orderpulse\",\"jti\":\"x\"}", NULL);
  char *token = hs256(HS256_HEADER, payload);
  free(payload);
  op_auth_claims_t out;
  const char *reason = NULL;
  assert_int_equal(verify_at(token, NOW, LEEWAY, &out, &reason), 0);
  assert_string_equal(out.sub, "u_7");
  assert_string_equal(out.tenant_id, "t_acme");
  assert_int_equal(out.nroles, 2);
  assert_string_equal(out.roles[0], "admin");
  assert_string_equal(out.roles[1], "viewer");
  assert_int_equal(out.exp, NOW + 3600);
  free(token);
}

static void test_header_without_typ_accepted(void **state) {
  char *payload = claims_text(NULL, NULL);
  expect_accepted(hs256("{\"alg\":\"HS256\"}", payload));
  expect_accepted(hs256("{\"typ\":\"JWT\",\"alg\":\"HS256\",\"kid\":\"k1\"}", payload));
  free(payload);
}

static void test_reason_pointer_optional(void **state) {
  char *token = token_with(NULL, NULL);
  op_auth_claims_t out;
  assert_int_equal(verify_at(token, NOW, LEEWAY, &out, NULL), 0);
  assert_int_equal(verify_at(token, NOW + 7200, LEEWAY, &out, NULL), OP_EAUTH);
  free(token);
}

/* ---- The algorithm pin -------------------------------------------------- */

static void test_alg_none_empty_signature(void **state) {
  char *payload = claims_text(NULL, NULL);
  expect_refused(craft("{\"alg\":\"none\",\"typ\":\"JWT\"}", payload, NULL, NULL, ""),
                 "bad_algorithm");
  expect_refused(craft("{\"alg\":\"none\"}", payload, NULL, NULL, ""), "bad_algorithm");
  free(payload);
}

static void test_alg_none_with_signature(void **state) {
  char *payload = claims_text(NULL, NULL);
  /* A signature that is right for the bytes, and one that is not. */
  expect_refused(craft("{\"alg\":\"none\",\"typ\":\"JWT\"}", payload, "EVP_sha256", SECRET, NULL),
                 "bad_algorithm");
  expect_refused(craft("{\"alg\":\"none\"}", payload, NULL, NULL, "c2lnbmF0dXJl"), "bad_algorithm");
  free(payload);
}

static void test_alg_none_two_segments(void **state) {
  char *payload = claims_text(NULL, NULL);
  char *token = craft("{\"alg\":\"none\"}", payload, NULL, NULL, "");
  token[strlen(token) - 1] = '\0'; /* drop the trailing '.' */
  expect_refused(token, "malformed");
  free(payload);
}

static void test_alg_none_spellings(void **state) {
  char *payload = claims_text(NULL, NULL);
  static const char *const headers[] = {"{\"alg\":\"None\"}", "{\"alg\":\"NONE\"}",
                                        "{\"alg\":\"nOnE\"}", "{\"alg\":\"hs256\"}",
                                        "{\"alg\":\"Hs256\"}"};
  for (size_t i = 0; i < sizeof headers / sizeof headers[0]; i++) {
    char *token = craft(headers[i], payload, "EVP_sha256", SECRET, NULL);
    op_auth_claims_t out;
    const char *reason = NULL;
    assert_int_equal(verify_at(token, NOW, LEEWAY, &out, &reason), OP_EAUTH);
    /* libjwt reads these names without regard to case; the pin does not. */
    assert_string_equal(reason, "bad_algorithm");
    free(token);
  }
  free(payload);
}

static void test_hs384_same_secret(void **state) {
  char *payload = claims_text(NULL, NULL);
  expect_refused(craft("{\"alg\":\"HS384\",\"typ\":\"JWT\"}", payload, "EVP_sha384", SECRET, NULL),
                 "bad_algorithm");
  free(payload);
}

static void test_hs512_same_secret(void **state) {
  char *payload = claims_text(NULL, NULL);
  expect_refused(craft("{\"alg\":\"HS512\",\"typ\":\"JWT\"}", payload, "EVP_sha512", SECRET, NULL),
                 "bad_algorithm");
  free(payload);
}

/* The RS256/HS256 confusion: an RS256 header over an HMAC made with the
 * secret, as if the secret were a public key. Also a random signature. */
static void test_rs256_header(void **state) {
  char *payload = claims_text(NULL, NULL);
  expect_refused(craft("{\"alg\":\"RS256\",\"typ\":\"JWT\"}", payload, "EVP_sha256", SECRET, NULL),
                 "bad_algorithm");
  expect_refused(craft("{\"alg\":\"RS256\",\"typ\":\"JWT\"}", payload, NULL, NULL,
                       "bm90LWFuLXJzYS1zaWduYXR1cmU"),
                 "bad_algorithm");
  expect_refused(craft("{\"alg\":\"ES256\"}", payload, NULL, NULL, "AAAA"), "bad_algorithm");
  free(payload);
}

/* With two "alg" members jansson keeps the last, and so does the pin. */
static void test_duplicate_alg_member(void **state) {
  char *payload = claims_text(NULL, NULL);
  expect_refused(hs256("{\"alg\":\"HS256\",\"alg\":\"none\"}", payload), "bad_algorithm");
  expect_refused(hs256("{\"alg\":\"HS256\",\"alg\":\"HS512\"}", payload), "bad_algorithm");
  free(payload);
}

static void test_alg_missing_or_not_a_string(void **state) {
  char *payload = claims_text(NULL, NULL);
  expect_refused(hs256("{\"typ\":\"JWT\"}", payload), "malformed");
  expect_refused(hs256("{\"alg\":256}", payload), "malformed");
  expect_refused(hs256("{\"alg\":null}", payload), "malformed");
  free(payload);
}

/* ---- Signatures --------------------------------------------------------- */

static void test_bad_signature(void **state) {
  char *token = token_with(NULL, NULL);
  /* Change the first signature character: every bit of it is significant
   * (the last character of a 32-byte MAC carries padding bits). */
  char *sig = strrchr(token, '.') + 1;
  sig[0] = sig[0] == 'A' ? 'B' : 'A';
  expect_refused(token, "bad_signature");
}

static void test_wrong_secret(void **state) {
  char *payload = claims_text(NULL, NULL);
  expect_refused(
      craft(HS256_HEADER, payload, "EVP_sha256", "another-secret-of-similar-length!!", NULL),
      "bad_signature");
  expect_refused(craft(HS256_HEADER, payload, "EVP_sha256", "s", NULL), "bad_signature");
  free(payload);
}

static void test_signature_missing(void **state) {
  char *payload = claims_text(NULL, NULL);
  expect_refused(craft(HS256_HEADER, payload, NULL, NULL, ""), "bad_signature");
  free(payload);
}

/* A payload edited after signing: the tenant cannot be changed. */
static void test_payload_swapped(void **state) {
  char *good = token_with(NULL, NULL);
  char *other = token_with("{\"tenant_id\":\"t_other\"}", NULL);
  char *good_sig = strrchr(good, '.');
  char *other_sig = strrchr(other, '.');
  size_t prefix = (size_t)(other_sig - other);
  char *forged = malloc(prefix + strlen(good_sig) + 1);
  assert_non_null(forged);
  memcpy(forged, other, prefix);
  strcpy(forged + prefix, good_sig);
  expect_refused(forged, "bad_signature");
  free(good);
  free(other);
}

/* ---- Structure ---------------------------------------------------------- */

static void test_missing_token(void **state) {
  op_auth_claims_t out;
  const char *reason = NULL;
  assert_int_equal(verify_at(NULL, NOW, LEEWAY, &out, &reason), OP_EAUTH);
  assert_string_equal(reason, "missing_token");
  assert_int_equal(verify_at("", NOW, LEEWAY, &out, &reason), OP_EAUTH);
  assert_string_equal(reason, "missing_token");
}

static void test_truncated_token(void **state) {
  char *token = token_with(NULL, NULL);
  size_t len = strlen(token);
  /* Cut inside the signature: still three segments, wrong MAC. */
  char *cut = strdup(token);
  assert_non_null(cut);
  cut[len - 2] = '\0';
  expect_refused(cut, "bad_signature");
  /* Cut inside the payload: two segments. */
  cut = strdup(token);
  assert_non_null(cut);
  cut[strchr(token, '.') - token + 6] = '\0';
  expect_refused(cut, "malformed");
  /* Only the header. */
  cut = strdup(token);
  assert_non_null(cut);
  cut[strchr(token, '.') - token] = '\0';
  expect_refused(cut, "malformed");
  free(token);
}

static void test_two_segments(void **state) {
  char *token = token_with(NULL, NULL);
  *strrchr(token, '.') = '\0';
  expect_refused(token, "malformed");
}

static void test_four_segments(void **state) {
  char *token = token_with(NULL, NULL);
  size_t len = strlen(token);
  char *longer = malloc(len + 6);
  assert_non_null(longer);
  snprintf(longer, len + 6, "%s.abcd", token);
  expect_refused(longer, "malformed");
  free(token);
}

static void test_garbage(void **state) {
  static const char *const garbage[] = {"!!!.@@@.###",
                                        "abc.def.ghi",
                                        "....",
                                        "a.b.c",
                                        "..",
                                        ".eyJhIjoxfQ.sig",
                                        "eyJhbGciOiJIUzI1NiJ9..sig",
                                        "Bearer abc.def.ghi",
                                        "eyJhbGciOiJIUzI1NiJ9.eyJhIjoxfQ.sig=",
                                        "eyJhbGci OiJIUzI1NiJ9.eyJhIjoxfQ.sig",
                                        "not a token",
                                        "x"};
  for (size_t i = 0; i < sizeof garbage / sizeof garbage[0]; i++) {
    char *token = strdup(garbage[i]);
    assert_non_null(token);
    expect_refused(token, "malformed");
  }
}

/* Segments that are base64url but do not decode to JSON text. */
static void test_segments_not_json(void **state) {
  char *payload = claims_text(NULL, NULL);
  expect_refused(hs256("not json", payload), "malformed");
  expect_refused(hs256("{\"alg\":\"HS256\"", payload), "malformed");
  expect_refused(hs256(HS256_HEADER, "not json"), "malformed");
  expect_refused(hs256(HS256_HEADER, "{\"sub\":"), "malformed");
  free(payload);
}

static void test_header_not_an_object(void **state) {
  char *payload = claims_text(NULL, NULL);
  static const char *const headers[] = {"[]", "[\"HS256\"]", "\"HS256\"", "42", "null", "true"};
  for (size_t i = 0; i < sizeof headers / sizeof headers[0]; i++)
    expect_refused(hs256(headers[i], payload), "malformed");
  free(payload);
}

/* Correctly signed, yet the payload is not a claims object. */
static void test_payload_not_an_object(void **state) {
  static const char *const payloads[] = {"[]", "[1,2]", "\"u_7\"", "42", "null"};
  for (size_t i = 0; i < sizeof payloads / sizeof payloads[0]; i++)
    expect_refused(hs256(HS256_HEADER, payloads[i]), "malformed");
}

static void test_typ_not_jwt(void **state) {
  char *payload = claims_text(NULL, NULL);
  expect_refused(hs256("{\"alg\":\"HS256\",\"typ\":\"at+jwt\"}", payload), "malformed");
  expect_accepted(hs256("{\"alg\":\"HS256\",\"typ\":\"jwt\"}", payload));
  free(payload);
}

/* A correctly signed token padded with an ignored claim to n bytes of
 * filler. Caller frees. */
static char *padded_token(size_t n) {
  char *filler = malloc(n + 1);
  assert_non_null(filler);
  memset(filler, 'x', n);
  filler[n] = '\0';
  json_t *patch = json_pack("{s:s}", "filler", filler);
  char *text = json_dumps(patch, JSON_COMPACT);
  assert_non_null(text);
  json_decref(patch);
  free(filler);
  char *token = token_with(text, NULL);
  free(text);
  return token;
}

/* The longest padded token within OP_AUTH_TOKEN_MAX bytes passes; the next
 * one, as well signed, does not. */
static void test_token_size_limit(void **state) {
  char *base = padded_token(0);
  /* Four base64url characters carry three bytes: start a little short. */
  size_t pad = (OP_AUTH_TOKEN_MAX - strlen(base)) * 3 / 4 - 16;
  free(base);
  char *last_ok = NULL;
  for (;; pad++) {
    char *token = padded_token(pad);
    if (strlen(token) > OP_AUTH_TOKEN_MAX) {
      assert_non_null(last_ok);
      assert_true(strlen(last_ok) > OP_AUTH_TOKEN_MAX - 3);
      expect_accepted(last_ok);
      expect_refused(token, "malformed");
      return;
    }
    free(last_ok);
    last_ok = token;
  }
}

/* ---- Time --------------------------------------------------------------- */

static void test_expired(void **state) {
  char patch[64];
  snprintf(patch, sizeof patch, "{\"exp\":%lld}", (long long)(NOW - LEEWAY - 1));
  expect_refused(token_with(patch, NULL), "expired");
  snprintf(patch, sizeof patch, "{\"exp\":%lld}", (long long)(NOW - 86400));
  expect_refused(token_with(patch, NULL), "expired");
  expect_refused(token_with("{\"exp\":-1}", NULL), "expired");
  expect_refused(token_with("{\"exp\":0}", NULL), "expired");
}

/* RFC 7519: now must be before exp; the leeway moves now back. */
static void test_expiry_boundary_and_leeway(void **state) {
  char patch[64];
  snprintf(patch, sizeof patch, "{\"exp\":%lld}", (long long)(NOW - LEEWAY));
  expect_refused(token_with(patch, NULL), "expired");
  snprintf(patch, sizeof patch, "{\"exp\":%lld}", (long long)(NOW - LEEWAY + 1));
  expect_accepted(token_with(patch, NULL));
  snprintf(patch, sizeof patch, "{\"exp\":%lld}", (long long)(NOW - 1));
  expect_accepted(token_with(patch, NULL));
  expect_refused_at(token_with(patch, NULL), NOW, 0, "expired");
  snprintf(patch, sizeof patch, "{\"exp\":%lld}", (long long)NOW);
  expect_refused_at(token_with(patch, NULL), NOW, 0, "expired");
  expect_refused_at(token_with(patch, NULL), NOW, -5, "expired"); /* negative counts as 0 */
  snprintf(patch, sizeof patch, "{\"exp\":%lld}", (long long)(NOW + 1));
  expect_accepted_at(token_with(patch, NULL), NOW, 0);
  /* A larger leeway from the caller. */
  snprintf(patch, sizeof patch, "{\"exp\":%lld}", (long long)(NOW - 100));
  expect_accepted_at(token_with(patch, NULL), NOW, 120);
}

static void test_exp_extremes(void **state) {
  expect_accepted(token_with("{\"exp\":9223372036854775807}", NULL));
  expect_accepted_at(token_with("{\"exp\":9223372036854775807}", NULL), INT64_MAX, INT_MAX);
  /* No overflow at the ends of the clock, whatever the leeway. */
  expect_accepted_at(token_with(NULL, NULL), INT64_MIN + 5, INT_MAX);
  expect_refused_at(token_with("{\"nbf\":9223372036854775807}", NULL), INT64_MIN, INT_MAX,
                    "not_yet_valid");
  expect_accepted_at(token_with("{\"exp\":9223372036854775807,\"nbf\":9223372036854775807}", NULL),
                     INT64_MAX - 5, INT_MAX);
}

static void test_missing_exp(void **state) {
  expect_refused(token_with(NULL, "exp"), "missing_claim");
  expect_refused(token_with("{\"exp\":null}", NULL), "missing_claim");
}

static void test_exp_wrong_type(void **state) {
  char patch[64];
  snprintf(patch, sizeof patch, "{\"exp\":\"%lld\"}", (long long)(NOW + 3600));
  expect_refused(token_with(patch, NULL), "bad_claim");
  snprintf(patch, sizeof patch, "{\"exp\":%lld.5}", (long long)(NOW + 3600));
  expect_refused(token_with(patch, NULL), "bad_claim");
  expect_refused(token_with("{\"exp\":true}", NULL), "bad_claim");
  expect_refused(token_with("{\"exp\":[1]}", NULL), "bad_claim");
}

static void test_nbf(void **state) {
  char patch[64];
  snprintf(patch, sizeof patch, "{\"nbf\":%lld}", (long long)(NOW + LEEWAY + 1));
  expect_refused(token_with(patch, NULL), "not_yet_valid");
  snprintf(patch, sizeof patch, "{\"nbf\":%lld}", (long long)(NOW + 3000));
  expect_refused(token_with(patch, NULL), "not_yet_valid");
  snprintf(patch, sizeof patch, "{\"nbf\":%lld}", (long long)(NOW + LEEWAY));
  expect_accepted(token_with(patch, NULL));
  snprintf(patch, sizeof patch, "{\"nbf\":%lld}", (long long)(NOW + 1));
  expect_refused_at(token_with(patch, NULL), NOW, 0, "not_yet_valid");
  snprintf(patch, sizeof patch, "{\"nbf\":%lld}", (long long)NOW);
  expect_accepted_at(token_with(patch, NULL), NOW, 0);
  snprintf(patch, sizeof patch, "{\"nbf\":%lld}", (long long)(NOW - 3600));
  expect_accepted(token_with(patch, NULL));
  expect_accepted(token_with("{\"nbf\":null}", NULL));
  expect_refused(token_with("{\"nbf\":\"soon\"}", NULL), "bad_claim");
}

/* ---- Identity claims ---------------------------------------------------- */

static void test_tenant_missing_or_empty(void **state) {
  expect_refused(token_with(NULL, "tenant_id"), "missing_claim");
  expect_refused(token_with("{\"tenant_id\":\"\"}", NULL), "missing_claim");
  expect_refused(token_with("{\"tenant_id\":null}", NULL), "missing_claim");
}

static void test_tenant_wrong_type(void **state) {
  expect_refused(token_with("{\"tenant_id\":42}", NULL), "bad_claim");
  expect_refused(token_with("{\"tenant_id\":[\"t_acme\"]}", NULL), "bad_claim");
  expect_refused(token_with("{\"tenant_id\":{\"id\":\"t_acme\"}}", NULL), "bad_claim");
  expect_refused(token_with("{\"tenant_id\":true}", NULL), "bad_claim");
}

/* A claim named like the tenant but spelled otherwise does not count. */
static void test_tenant_other_spellings(void **state) {
  expect_refused(token_with("{\"tenantId\":\"t_acme\",\"Tenant_id\":\"t_acme\"}", "tenant_id"),
                 "missing_claim");
}

/* Helper: a JSON patch {"<name>":"<len bytes of c>"}. Caller frees. */
static char *long_string_patch(const char *name, size_t len, char c) {
  char *value = malloc(len + 1);
  assert_non_null(value);
  memset(value, c, len);
  value[len] = '\0';
  json_t *patch = json_pack("{s:s}", name, value);
  char *text = json_dumps(patch, JSON_COMPACT);
  assert_non_null(text);
  json_decref(patch);
  free(value);
  return text;
}

static void test_id_lengths(void **state) {
  static const char *const names[] = {"sub", "tenant_id"};
  for (size_t i = 0; i < 2; i++) {
    char *patch = long_string_patch(names[i], OP_AUTH_ID_MAX, 'a');
    char *token = token_with(patch, NULL);
    op_auth_claims_t out;
    assert_int_equal(verify_at(token, NOW, LEEWAY, &out, NULL), 0);
    assert_int_equal(strlen(i == 0 ? out.sub : out.tenant_id), OP_AUTH_ID_MAX);
    free(token);
    free(patch);
    patch = long_string_patch(names[i], OP_AUTH_ID_MAX + 1, 'a');
    expect_refused(token_with(patch, NULL), "bad_claim");
    free(patch);
  }
}

/* The limit counts bytes, as ids do everywhere (DESIGN.md §3). */
static void test_id_length_counts_bytes(void **state) {
  char value[4 * OP_AUTH_ID_MAX];
  value[0] = '\0';
  for (int i = 0; i < OP_AUTH_ID_MAX / 2; i++) /* 64 x U+00E9, 2 bytes each */
    strcat(value, "\xc3\xa9");
  json_t *patch = json_pack("{s:s}", "tenant_id", value);
  char *text = json_dumps(patch, JSON_COMPACT);
  json_decref(patch);
  expect_accepted(token_with(text, NULL));
  free(text);
  value[0] = '\0';
  for (int i = 0; i < 43; i++) /* 43 x U+20AC, 3 bytes each: 129 bytes */
    strcat(value, "\xe2\x82\xac");
  patch = json_pack("{s:s}", "tenant_id", value);
  text = json_dumps(patch, JSON_COMPACT);
  json_decref(patch);
  expect_refused(token_with(text, NULL), "bad_claim");
  free(text);
}

static void test_id_with_nul(void **state) {
  /* jansson refuses U+0000 in the payload when libjwt parses it. */
  expect_refused(token_with("{\"tenant_id\":\"t_acme\\u0000t_other\"}", NULL), "malformed");
}

static void test_sub_rules(void **state) {
  expect_refused(token_with(NULL, "sub"), "missing_claim");
  expect_refused(token_with("{\"sub\":\"\"}", NULL), "missing_claim");
  expect_refused(token_with("{\"sub\":7}", NULL), "bad_claim");
  expect_refused(token_with("{\"sub\":[\"u_7\"]}", NULL), "bad_claim");
}

/* ---- Roles -------------------------------------------------------------- */

static void test_roles_absent_or_empty(void **state) {
  char *token = token_with(NULL, "roles");
  op_auth_claims_t out;
  assert_int_equal(verify_at(token, NOW, LEEWAY, &out, NULL), 0);
  assert_int_equal(out.nroles, 0);
  assert_false(op_auth_has_role(&out, "admin"));
  free(token);
  token = token_with("{\"roles\":[]}", NULL);
  assert_int_equal(verify_at(token, NOW, LEEWAY, &out, NULL), 0);
  assert_int_equal(out.nroles, 0);
  free(token);
  expect_accepted(token_with("{\"roles\":null}", NULL));
}

static void test_roles_not_an_array(void **state) {
  expect_refused(token_with("{\"roles\":\"admin\"}", NULL), "bad_claim");
  expect_refused(token_with("{\"roles\":{\"admin\":true}}", NULL), "bad_claim");
  expect_refused(token_with("{\"roles\":1}", NULL), "bad_claim");
}

static void test_role_items(void **state) {
  expect_refused(token_with("{\"roles\":[\"admin\",7]}", NULL), "bad_claim");
  expect_refused(token_with("{\"roles\":[\"admin\",null]}", NULL), "bad_claim");
  expect_refused(token_with("{\"roles\":[[\"admin\"]]}", NULL), "bad_claim");
  expect_refused(token_with("{\"roles\":[\"\"]}", NULL), "bad_claim");
}

static void test_role_limits(void **state) {
  /* OP_AUTH_ROLES_MAX roles of OP_AUTH_ROLE_MAX bytes: accepted. */
  json_t *roles = json_array();
  char role[OP_AUTH_ROLE_MAX + 2];
  for (int i = 0; i < OP_AUTH_ROLES_MAX; i++) {
    memset(role, 'a' + i, OP_AUTH_ROLE_MAX);
    role[OP_AUTH_ROLE_MAX] = '\0';
    json_array_append_new(roles, json_string(role));
  }
  json_t *patch = json_pack("{s:O}", "roles", roles);
  char *text = json_dumps(patch, JSON_COMPACT);
  char *token = token_with(text, NULL);
  free(text);
  op_auth_claims_t out;
  assert_int_equal(verify_at(token, NOW, LEEWAY, &out, NULL), 0);
  assert_int_equal(out.nroles, OP_AUTH_ROLES_MAX);
  assert_int_equal(strlen(out.roles[OP_AUTH_ROLES_MAX - 1]), OP_AUTH_ROLE_MAX);
  assert_true(op_auth_has_role(&out, role));
  free(token);

  /* One role more. */
  json_array_append_new(roles, json_string("extra"));
  text = json_dumps(patch, JSON_COMPACT);
  expect_refused(token_with(text, NULL), "bad_claim");
  free(text);
  json_decref(patch);
  json_decref(roles);

  /* One byte more. */
  memset(role, 'r', OP_AUTH_ROLE_MAX + 1);
  role[OP_AUTH_ROLE_MAX + 1] = '\0';
  patch = json_pack("{s:[s,s]}", "roles", "admin", role);
  text = json_dumps(patch, JSON_COMPACT);
  json_decref(patch);
  expect_refused(token_with(text, NULL), "bad_claim");
  free(text);
}

static void test_has_role(void **state) {
  op_auth_claims_t claims;
  memset(&claims, 0, sizeof claims);
  strcpy(claims.roles[0], "admin");
  strcpy(claims.roles[1], "viewer");
  claims.nroles = 2;
  assert_true(op_auth_has_role(&claims, "admin"));
  assert_true(op_auth_has_role(&claims, "viewer"));
  assert_false(op_auth_has_role(&claims, "Admin"));
  assert_false(op_auth_has_role(&claims, "adm"));
  assert_false(op_auth_has_role(&claims, "admins"));
  assert_false(op_auth_has_role(&claims, ""));
  assert_false(op_auth_has_role(&claims, NULL));
  assert_false(op_auth_has_role(NULL, "admin"));
  claims.nroles = 0;
  assert_false(op_auth_has_role(&claims, "admin"));
}

/* ---- Claims order and the first failure --------------------------------- */

/* Time is checked before identity: an expired token with a bad tenant is
 * counted as expired. */
static void test_time_checked_first(void **state) {
  expect_refused(token_with("{\"exp\":1,\"tenant_id\":42}", NULL), "expired");
  expect_refused(token_with("{\"exp\":1}", "sub,tenant_id"), "expired");
}

/* ---- Arguments ---------------------------------------------------------- */

static void test_verify_arguments(void **state) {
  char *token = token_with(NULL, NULL);
  op_auth_claims_t out;
  const char *reason = "unset";
  assert_int_equal(op_auth_verify(NULL, 0, token, NOW, LEEWAY, &out, &reason), OP_EINVAL);
  assert_null(reason);
  reason = "unset";
  assert_int_equal(op_auth_verify(SECRET, 0, token, NOW, LEEWAY, &out, &reason), OP_EINVAL);
  assert_null(reason);
  assert_int_equal(op_auth_verify(SECRET, strlen(SECRET), token, NOW, LEEWAY, NULL, &reason),
                   OP_EINVAL);
  /* The secret's length is what is used, not its NUL. */
  assert_int_equal(
      op_auth_verify(SECRET "trailing", strlen(SECRET), token, NOW, LEEWAY, &out, &reason), 0);
  assert_int_equal(op_auth_verify(SECRET, strlen(SECRET) - 1, token, NOW, LEEWAY, &out, &reason),
                   OP_EAUTH);
  assert_string_equal(reason, "bad_signature");
  free(token);
}

/* ---- Signing ------------------------------------------------------------ */

static void valid_claims(op_auth_claims_t *claims) {
  memset(claims, 0, sizeof *claims);
  strcpy(claims->sub, "u_1");
  strcpy(claims->tenant_id, "t_1");
  claims->exp = NOW + 60;
}

static void expect_sign_fails(const op_auth_claims_t *claims) {
  char *token = (char *)"unset";
  assert_int_equal(op_auth_sign(SECRET, strlen(SECRET), claims, &token), OP_EINVAL);
  assert_null(token);
}

static void test_sign_refuses_bad_claims(void **state) {
  op_auth_claims_t claims;
  valid_claims(&claims);
  claims.sub[0] = '\0';
  expect_sign_fails(&claims);
  valid_claims(&claims);
  claims.tenant_id[0] = '\0';
  expect_sign_fails(&claims);
  valid_claims(&claims);
  memset(claims.tenant_id, 't', sizeof claims.tenant_id); /* not NUL-terminated */
  expect_sign_fails(&claims);
  valid_claims(&claims);
  claims.nroles = OP_AUTH_ROLES_MAX + 1;
  expect_sign_fails(&claims);
  valid_claims(&claims);
  claims.nroles = -1;
  expect_sign_fails(&claims);
  valid_claims(&claims);
  claims.nroles = 1; /* an empty role */
  expect_sign_fails(&claims);
  valid_claims(&claims);
  strcpy(claims.sub, "\xff\xfe"); /* not UTF-8 */
  expect_sign_fails(&claims);

  valid_claims(&claims);
  char *token = (char *)"unset";
  assert_int_equal(op_auth_sign(NULL, 0, &claims, &token), OP_EINVAL);
  assert_null(token);
  assert_int_equal(op_auth_sign(SECRET, 0, &claims, &token), OP_EINVAL);
  assert_int_equal(op_auth_sign(SECRET, strlen(SECRET), NULL, &token), OP_EINVAL);
  assert_int_equal(op_auth_sign(SECRET, strlen(SECRET), &claims, NULL), OP_EINVAL);
}

/* The header op_auth_sign writes is exactly HS256/JWT. */
static void test_sign_header(void **state) {
  op_auth_claims_t claims;
  valid_claims(&claims);
  char *token = NULL;
  assert_int_equal(op_auth_sign(SECRET, strlen(SECRET), &claims, &token), 0);
  char *expected = b64url(HS256_HEADER, strlen(HS256_HEADER));
  assert_int_equal(strncmp(token, expected, strlen(expected)), 0);
  assert_int_equal(token[strlen(expected)], '.');
  free(expected);
  /* And the token does not verify under another secret. */
  op_auth_claims_t out;
  const char *reason = NULL;
  assert_int_equal(op_auth_verify("other", 5, token, NOW, LEEWAY, &out, &reason), OP_EAUTH);
  assert_string_equal(reason, "bad_signature");
  free(token);
}

/* ---- Reasons ------------------------------------------------------------ */

static void test_reason_tokens(void **state) {
  static const char *const want[] = {"missing_token", "malformed", "bad_algorithm",
                                     "bad_signature", "expired",   "not_yet_valid",
                                     "missing_claim", "bad_claim"};
  assert_int_equal(op_auth_reasons_len, sizeof want / sizeof want[0]);
  for (size_t i = 0; i < op_auth_reasons_len; i++)
    assert_string_equal(op_auth_reasons[i], want[i]);
}

int main(int argc, char **argv) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_signed_token_round_trip),
      cmocka_unit_test(test_crafted_token_all_claims),
      cmocka_unit_test(test_header_without_typ_accepted),
      cmocka_unit_test(test_reason_pointer_optional),
      cmocka_unit_test(test_alg_none_empty_signature),
      cmocka_unit_test(test_alg_none_with_signature),
      cmocka_unit_test(test_alg_none_two_segments),
      cmocka_unit_test(test_alg_none_spellings),
      cmocka_unit_test(test_hs384_same_secret),
      cmocka_unit_test(test_hs512_same_secret),
      cmocka_unit_test(test_rs256_header),
      cmocka_unit_test(test_duplicate_alg_member),
      cmocka_unit_test(test_alg_missing_or_not_a_string),
      cmocka_unit_test(test_bad_signature),
      cmocka_unit_test(test_wrong_secret),
      cmocka_unit_test(test_signature_missing),
      cmocka_unit_test(test_payload_swapped),
      cmocka_unit_test(test_missing_token),
      cmocka_unit_test(test_truncated_token),
      cmocka_unit_test(test_two_segments),
      cmocka_unit_test(test_four_segments),
      cmocka_unit_test(test_garbage),
      cmocka_unit_test(test_segments_not_json),
      cmocka_unit_test(test_header_not_an_object),
      cmocka_unit_test(test_payload_not_an_object),
      cmocka_unit_test(test_typ_not_jwt),
      cmocka_unit_test(test_token_size_limit),
      cmocka_unit_test(test_expired),
      cmocka_unit_test(test_expiry_boundary_and_leeway),
      cmocka_unit_test(test_exp_extremes),
      cmocka_unit_test(test_missing_exp),
      cmocka_unit_test(test_exp_wrong_type),
      cmocka_unit_test(test_nbf),
      cmocka_unit_test(test_tenant_missing_or_empty),
      cmocka_unit_test(test_tenant_wrong_type),
      cmocka_unit_test(test_tenant_other_spellings),
      cmocka_unit_test(test_id_lengths),
      cmocka_unit_test(test_id_length_counts_bytes),
      cmocka_unit_test(test_id_with_nul),
      cmocka_unit_test(test_sub_rules),
      cmocka_unit_test(test_roles_absent_or_empty),
      cmocka_unit_test(test_roles_not_an_array),
      cmocka_unit_test(test_role_items),
      cmocka_unit_test(test_role_limits),
      cmocka_unit_test(test_has_role),
      cmocka_unit_test(test_time_checked_first),
      cmocka_unit_test(test_verify_arguments),
      cmocka_unit_test(test_sign_refuses_bad_claims),
      cmocka_unit_test(test_sign_header),
      cmocka_unit_test(test_reason_tokens),
  };
  if (argc > 1)
    cmocka_set_test_filter(argv[1]);
  return cmocka_run_group_tests(tests, NULL, NULL);
}
