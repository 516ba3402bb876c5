// Compiled as the index layer: including the layers below it works (the control
// case of the layering tests).
#include "format/kvc_file.h"
#include "index/index.h"
#include "kvc/cache.h"
