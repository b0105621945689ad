#include "web/static.h"

#include <dirent.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/err.h"

#define MAX_DEPTH 4 /* web/js/lib/x.js is deep enough; bounds the walk */
#define PATH_MAX_LEN 512

typedef struct file_s {
  char *url; /* "/js/main.js" */
  const char *type;
  char *body;
  size_t len;
  char etag[24]; /* "\"<16 hex>\"" */
} file_t;

struct op_web_static_s {
  file_t files[OP_WEB_FILES_MAX];
  size_t n;
};

static const struct {
  const char *ext, *type;
} types[] = {
    {".html", "text/html; charset=utf-8"},
    {".css", "text/css; charset=utf-8"},
    {".js", "text/javascript; charset=utf-8"},
    {".mjs", "text/javascript; charset=utf-8"},
    {".json", "application/json"},
    {".svg", "image/svg+xml"},
    {".png", "image/png"},
    {".ico", "image/x-icon"},
    {".txt", "text/plain; charset=utf-8"},
    {".webmanifest", "application/manifest+json"},
};

const char *op_web_content_type(const char *name) {
  const char *dot = strrchr(name, '.');
  for (size_t i = 0; dot && i < sizeof types / sizeof types[0]; i++)
    if (strcmp(dot, types[i].ext) == 0)
      return types[i].type;
  return "application/octet-stream";
}

int op_web_name_ok(const char *name) {
  size_t len = strlen(name);
  if (len == 0 || len > 128 || name[0] == '.')
    return 0;
  for (const char *p = name; *p; p++) {
    char c = *p;
    if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
          c == '_' || c == '-'))
      return 0;
  }
  return 1;
}

/* FNV-1a 64: an ETag only has to change when the bytes do. */
static void make_etag(file_t *f) {
  uint64_t h = 1469598103934665603ULL;
  for (size_t i = 0; i < f->len; i++) {
    h ^= (unsigned char)f->body[i];
    h *= 1099511628211ULL;
  }
  snprintf(f->etag, sizeof f->etag, "\"%016llx\"", (unsigned long long)h);
}

static void serve(op_http_req_t *req, void *ud) {
  const file_t *f = ud;
  op_http_resp_header(req, "Cache-Control", "no-cache");
  op_http_resp_header(req, "ETag", f->etag);
  op_http_resp_header(req, "X-Content-Type-Options", "nosniff");
  const char *inm = op_http_req_header(req, "if-none-match");
  if (inm && strcmp(inm, f->etag) == 0) {
    op_http_respond(req, 304, NULL, NULL, 0);
    return;
  }
  op_http_respond(req, 200, f->type, f->body, f->len);
}

static int read_file(const char *path, file_t *f, char *errbuf, size_t errlen) {
  FILE *fp = fopen(path, "rb");
  struct stat st;
  if (fp == NULL || fstat(fileno(fp), &st) != 0) {
    snprintf(errbuf, errlen, "cannot read %s", path);
    if (fp)
      fclose(fp);
    return OP_EIO;
  }
  if (st.st_size > OP_WEB_FILE_MAX) {
    snprintf(errbuf, errlen, "%s is larger than %d bytes", path, OP_WEB_FILE_MAX);
    fclose(fp);
    return OP_ERANGE;
  }
  f->len = (size_t)st.st_size;
  f->body = malloc(f->len ? f->len : 1);
  int rc = f->body && fread(f->body, 1, f->len, fp) == f->len ? 0 : OP_EIO;
  fclose(fp);
  if (rc)
    snprintf(errbuf, errlen, "cannot read %s", path);
  return rc;
}

/* Loads dir/rel (rel "" at the top) into web, depth first. */
static int walk(op_web_static_t *web, const char *dir, const char *rel, int depth, char *errbuf,
                size_t errlen) {
  char path[PATH_MAX_LEN];
  snprintf(path, sizeof path, "%s%s", dir, rel);
  DIR *d = opendir(path);
  if (d == NULL) {
    snprintf(errbuf, errlen, "cannot open the web directory %s", path);
    return OP_ENOENT;
  }
  int rc = 0;
  struct dirent *e;
  while (rc == 0 && (e = readdir(d)) != NULL) {
    if (!op_web_name_ok(e->d_name))
      continue; /* hidden files, editors' leftovers with odd names */
    char child_rel[PATH_MAX_LEN], child[PATH_MAX_LEN * 2];
    snprintf(child_rel, sizeof child_rel, "%s/%s", rel, e->d_name);
    snprintf(child, sizeof child, "%s%s", dir, child_rel);
    struct stat st;
    if (stat(child, &st) != 0)
      continue;
    if (S_ISDIR(st.st_mode)) {
      if (depth < MAX_DEPTH)
        rc = walk(web, dir, child_rel, depth + 1, errbuf, errlen);
      continue;
    }
    if (!S_ISREG(st.st_mode))
      continue;
    if (web->n == OP_WEB_FILES_MAX) {
      snprintf(errbuf, errlen, "more than %d files under %s", OP_WEB_FILES_MAX, dir);
      rc = OP_ERANGE;
      break;
    }
    file_t *f = &web->files[web->n];
    if ((f->url = strdup(child_rel)) == NULL) {
      rc = OP_ENOMEM;
      break;
    }
    web->n++;
    f->type = op_web_content_type(e->d_name);
    if ((rc = read_file(child, f, errbuf, errlen)) == 0)
      make_etag(f);
  }
  closedir(d);
  return rc;
}

op_web_static_t *op_web_static_load(const char *dir, op_http_router_t *router, char *errbuf,
                                    size_t errlen) {
  op_web_static_t *web = calloc(1, sizeof *web);
  if (web == NULL) {
    snprintf(errbuf, errlen, "out of memory");
    return NULL;
  }
  int rc = walk(web, dir, "", 0, errbuf, errlen);
  for (size_t i = 0; rc == 0 && i < web->n; i++) {
    file_t *f = &web->files[i];
    rc = op_http_route(router, "GET", f->url, serve, f);
    if (rc == 0 && strcmp(f->url, "/index.html") == 0)
      rc = op_http_route(router, "GET", "/", serve, f);
    if (rc)
      snprintf(errbuf, errlen, "cannot add the route %s", f->url);
  }
  if (rc) {
    op_web_static_free(web);
    return NULL;
  }
  return web;
}

size_t op_web_static_count(const op_web_static_t *web) {
  return web ? web->n : 0;
}

void op_web_static_free(op_web_static_t *web) {
  if (web == NULL)
    return;
  for (size_t i = 0; i < web->n; i++) {
    free(web->files[i].url);
    free(web->files[i].body);
  }
  free(web);
}

static int is_dir(const char *path) {
  struct stat st;
  return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

int op_web_find_dir(const char *setting, const char *argv0, char *out, size_t len) {
  if (setting[0] == '/' || is_dir(setting)) {
    snprintf(out, len, "%s", setting);
    return is_dir(out) ? 0 : -1;
  }
  char exe[PATH_MAX];
  ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
  if (n <= 0) {
    if (argv0 == NULL || realpath(argv0, exe) == NULL)
      return -1;
  } else {
    exe[n] = '\0';
  }
  for (int up = 0; up < 4; up++) {
    char *slash = strrchr(exe, '/');
    if (slash == NULL)
      break;
    *slash = '\0';
    snprintf(out, len, "%s/%s", exe[0] ? exe : "", setting);
    if (is_dir(out))
      return 0;
  }
  return -1;
}
