/* libkvc.so is the C API (libkvc_capi.a, linked whole) and the layers below it;
 * cmake/kvc_shared.map exports only the kvc_* functions of include/kvc/kvc.h. */
#include "kvc/kvc.h"
