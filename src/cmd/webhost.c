#include "cmd/webhost.h"

#include <limits.h>

#include "core/log.h"
#include "web/session.h"

op_web_static_t *op_webhost_setup(op_host_t *host, const char *argv0, int warn_missing, int *rc) {
  *rc = 0;
  if (op_web_session_routes(host->router, &host->cfg) != 0) {
    op_log_error(host->name, "cannot add the session routes");
    *rc = 1;
    return NULL;
  }
  char dir[PATH_MAX + 64];
  if (op_web_find_dir(host->cfg.web_dir, argv0, dir, sizeof dir) != 0) {
    if (warn_missing)
      op_log_warn(host->name, "no web directory %s (WEB_DIR): the dashboard is not served",
                  host->cfg.web_dir);
    else
      op_log_info(host->name, "no web directory %s (WEB_DIR): the dashboard is not served",
                  host->cfg.web_dir);
    return NULL;
  }
  char err[256];
  op_web_static_t *web = op_web_static_load(dir, host->router, err, sizeof err);
  if (web == NULL) {
    op_log_error(host->name, "the dashboard: %s", err);
    *rc = 1;
    return NULL;
  }
  op_log_info(host->name, "serving the dashboard from %s (%zu files)", dir,
              op_web_static_count(web));
  return web;
}
