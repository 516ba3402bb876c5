// Compiled as a user of kvc_cache (its public include directories): the public
// headers work, a private header of src/ is out of reach.
#include "kvc/cache.h"
#include "index/index.h"
