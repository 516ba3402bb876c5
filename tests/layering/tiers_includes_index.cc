// Compiled as the tier layer: tiers sit beside the index, not above it, so the
// index's headers must be out of reach.
#include "tiers/tier.h"
#include "index/index.h"
