#include "core/err.h"

const char *op_strerror(int err) {
  switch (err) {
    case OP_OK:
      return "success";
#define XX(code, msg)                                                                              \
  case OP_##code:                                                                                  \
    return msg;
      OP_ERRNO_MAP(XX)
#undef XX
  }
  return "unknown error";
}

const char *op_err_name(int err) {
  switch (err) {
    case OP_OK:
      return "OK";
#define XX(code, msg)                                                                              \
  case OP_##code:                                                                                  \
    return #code;
      OP_ERRNO_MAP(XX)
#undef XX
  }
  return "EUNKNOWN";
}
