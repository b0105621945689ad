/*
 * The dashboard in a service command (notify, order, dev): web/ served at
 * "/" when WEB_DIR is found (web/static.h), and the session routes of the
 * sign-in page (web/session.h). Added to the host's router once per process,
 * outside any service's create(), so that dev, which puts every service on
 * one router, registers them once.
 */
#ifndef OP_CMD_WEBHOST_H
#define OP_CMD_WEBHOST_H

#include "cmd/host.h"
#include "web/static.h"

/* Adds the routes to host's router. A missing web directory is logged once
 * (a warning when warn_missing, else an info line) and the APIs run without
 * the page. Returns the loaded files (NULL when none), to free after the host
 * with op_web_static_free; *rc is 0, or 1 when a route could not be added or
 * a file not read. */
op_web_static_t *op_webhost_setup(op_host_t *host, const char *argv0, int warn_missing, int *rc);

#endif
