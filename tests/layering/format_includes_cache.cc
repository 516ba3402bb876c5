// Compiled as the format layer (kvc_format's include directories): reaching up to
// the cache layer must not compile (tests/layering/layering_test.sh).
#include "format/kvc_file.h"
#include "cache/counters.h"
