// Compiled as a user of kvc_cache: every public header of the cache library
// compiles with the public include directories alone.
#include "kvc/buffer.h"
#include "kvc/cache.h"
#include "kvc/env.h"
#include "kvc/key.h"
#include "kvc/kvc.h"
#include "kvc/lease.h"
#include "kvc/options.h"
#include "kvc/row.h"
#include "kvc/stats.h"
#include "kvc/status.h"
#include "kvc/version.h"
