/*
 * One error convention for the whole project: functions return 0 on success
 * or a negative OP_E* code from the table below. Constructors return NULL and
 * fill an errbuf the caller passed. Library errors are translated into these
 * codes where they enter our code.
 */
#ifndef OP_CORE_ERR_H
#define OP_CORE_ERR_H

#define OP_ERRNO_MAP(XX)                                                                           \
  XX(EINVAL, "invalid argument")                                                                   \
  XX(ENOMEM, "out of memory")                                                                      \
  XX(EIO, "input/output error")                                                                    \
  XX(EAGAIN, "resource temporarily unavailable")                                                   \
  XX(ENOENT, "no such entry")                                                                      \
  XX(EEXIST, "entry already exists")                                                               \
  XX(ECONFLICT, "conflicting state")                                                               \
  XX(ETIMEDOUT, "operation timed out")                                                             \
  XX(ECLOSED, "handle is closed")                                                                  \
  XX(ERANGE, "value out of range")                                                                 \
  XX(EPROTO, "protocol error")                                                                     \
  XX(EAUTH, "authentication failed")                                                               \
  XX(EDB, "database error")                                                                        \
  XX(EDBDOWN, "database unavailable")                                                              \
  XX(EKAFKA, "kafka error")                                                                        \
  XX(ECONFIG, "configuration error")                                                               \
  XX(EFULL, "queue is full")                                                                       \
  XX(ETOOBIG, "input too large")

enum {
  OP__EBASE = 0,
#define XX(code, msg) OP__##code,
  OP_ERRNO_MAP(XX)
#undef XX
};

enum {
  OP_OK = 0,
#define XX(code, msg) OP_##code = -OP__##code,
  OP_ERRNO_MAP(XX)
#undef XX
};

/* Returns a static description of an OP_E* code (or "unknown error"). */
const char *op_strerror(int err);

/* Returns the symbolic name of an OP_E* code, e.g. "EINVAL". */
const char *op_err_name(int err);

#endif
