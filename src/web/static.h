/*
 * op_web_static: the dashboard's files (web/), served from memory.
 *
 * At start the directory is walked once and every regular file is read into
 * memory with its content type; one exact GET route is registered per file
 * ("/app.css", "/js/main.js", ...) and "/" answers index.html. Only those
 * paths exist, so no request can reach another file (no traversal to guard
 * against), and editing a file needs a restart. Responses carry
 * Cache-Control: no-cache and a strong ETag (If-None-Match -> 304).
 */
#ifndef OP_WEB_STATIC_H
#define OP_WEB_STATIC_H

#include <stddef.h>

#include "http/http.h"

typedef struct op_web_static_s op_web_static_t;

/* Limits: files larger than this, or more files than that, are refused. */
#define OP_WEB_FILE_MAX (4 * 1024 * 1024)
#define OP_WEB_FILES_MAX 256

/*
 * Loads every regular file under dir (hidden names, and names that are not
 * plain URL path characters, are skipped) and adds their routes to router.
 * Returns the set (the router borrows it: free it only after the router), or
 * NULL with a one-line reason in errbuf. Runs on: any thread, before start.
 */
op_web_static_t *op_web_static_load(const char *dir, op_http_router_t *router, char *errbuf,
                                    size_t errlen);

/* Number of files loaded. */
size_t op_web_static_count(const op_web_static_t *web);

/* The content type served for a file name (by its extension). */
const char *op_web_content_type(const char *name);

/* True when name is a file name the module serves: [A-Za-z0-9._-], not
 * starting with a dot, at most 128 bytes. */
int op_web_name_ok(const char *name);

void op_web_static_free(op_web_static_t *web);

/*
 * Finds the web directory named by setting (WEB_DIR): as given when it is
 * absolute or exists from the working directory; else looked up from the
 * running binary's directory upwards (build/orderpulse finds ../web), so a
 * command run from anywhere still has its dashboard. Writes it to out;
 * returns 0, or -1 when there is none.
 */
int op_web_find_dir(const char *setting, const char *argv0, char *out, size_t len);

#endif
