/* The C API compiled as C11 (-std=c11 -pedantic): a round trip on a disk tier in
 * a temp dir and the error paths a C caller meets — NULL arguments, an unknown
 * enum value, a key not found, a released lease, a closed cache. Exit status 0
 * when every check held; each failed check is printed. */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "kvc/kvc.h"

static int failures = 0;

#define CHECK(cond)                                                                        \
  do {                                                                                     \
    if (!(cond)) {                                                                         \
      fprintf(stderr, "%s:%d: CHECK(%s) failed; last error: %s\n", __FILE__, __LINE__,     \
              #cond, kvc_last_error());                                                    \
      ++failures;                                                                          \
    }                                                                                      \
  } while (0)

static int remove_dir(const char* dir) {
  char cmd[4200];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
  return system(cmd);
}

int main(void) {
  char dir[] = "/tmp/kvc-capi-c-XXXXXX";
  if (!mkdtemp(dir)) {
    perror("mkdtemp");
    return 2;
  }

  kvc_tier_options tier = {KVC_TIER_DISK, dir, 16u << 20, KVC_POLICY_WRITE_THROUGH, -1};
  kvc_cache_options opts = kvc_cache_default_options();
  opts.tiers = &tier;
  opts.n_tiers = 1;
  opts.min_tokens = opts.cold_min_tokens = 4;
  opts.boundary_align_tokens = 4;

  kvc_cache* cache = NULL;
  tier.kind = (kvc_tier_kind)9;
  CHECK(kvc_cache_open(&opts, &cache) == KVC_ERR_INVALID_ARGUMENT);
  CHECK(strstr(kvc_last_error(), "tiers[0].kind = 9") != NULL);
  CHECK(cache == NULL);
  tier.kind = KVC_TIER_DISK;
  CHECK(kvc_cache_open(NULL, &cache) == KVC_ERR_INVALID_ARGUMENT);
  CHECK(kvc_cache_open(&opts, &cache) == KVC_OK);
  if (!cache) return remove_dir(dir), 1;

  kvc_namespace ns;
  memset(&ns, 0, sizeof ns);
  ns.fingerprint[0] = 1;
  ns.quant = kvc_quant_byte("q8_0");
  uint32_t tokens[10] = {5, 6, 7, 8, 9, 10, 11, 12, 13, 14};
  unsigned char bytes[3000];
  for (size_t i = 0; i < sizeof bytes; ++i) bytes[i] = (unsigned char)(i * 7);

  kvc_save_params p = kvc_save_default_params();
  p.ns = ns;
  p.tokens = tokens;
  p.n_tokens = 8;
  p.payload = bytes;
  p.payload_size = sizeof bytes;
  p.reason = KVC_SAVE_COLD;
  kvc_key key;
  CHECK(kvc_cache_save(cache, &p, &key) == KVC_OK);
  CHECK(strcmp(kvc_last_error(), "") == 0);
  p.reason = (kvc_save_reason)42;
  CHECK(kvc_cache_save(cache, &p, NULL) == KVC_ERR_INVALID_ARGUMENT);
  CHECK(strstr(kvc_last_error(), "params.reason = 42") != NULL);

  /* Found by a longer prompt, loaded, verified. */
  kvc_lease* lease = NULL;
  kvc_prefix_match match;
  CHECK(kvc_cache_longest_prefix(cache, &ns, tokens, 10, 1, &lease, &match) == KVC_OK);
  CHECK(match.length == 8);
  kvc_payload* payload = NULL;
  CHECK(kvc_lease_load(lease, &payload) == KVC_OK);
  CHECK(kvc_payload_size(payload) == sizeof bytes);
  CHECK(payload && memcmp(kvc_payload_data(payload), bytes, sizeof bytes) == 0);
  kvc_payload_free(payload);

  /* A released lease. */
  CHECK(kvc_lease_release(lease) == KVC_OK);
  CHECK(kvc_lease_load(lease, &payload) == KVC_ERR_RELEASED);
  CHECK(payload == NULL);
  kvc_lease_free(lease);

  /* A key not found. */
  kvc_key other;
  CHECK(kvc_key_derive(&ns, tokens, 9, &other) == KVC_OK);
  CHECK(kvc_cache_checkout(cache, &other, &lease) == KVC_ERR_NOT_FOUND);
  CHECK(lease == NULL);
  CHECK(kvc_cache_checkout(cache, NULL, &lease) == KVC_ERR_INVALID_ARGUMENT);
  CHECK(strstr(kvc_last_error(), "key is NULL") != NULL);

  kvc_stats stats;
  CHECK(kvc_cache_stats(cache, &stats) == KVC_OK);
  CHECK(stats.saves_cold == 1 && stats.hits_longest_prefix == 1 && stats.n_tiers == 1);

  /* A closed cache. */
  CHECK(kvc_cache_close(cache) == KVC_OK);
  CHECK(kvc_cache_stats(cache, &stats) == KVC_ERR_CLOSED);
  CHECK(strcmp(kvc_status_name(KVC_ERR_CLOSED), "closed") == 0);
  kvc_cache_free(cache);

  remove_dir(dir);
  if (failures) fprintf(stderr, "%d check(s) failed\n", failures);
  else printf("kvc C API test (C11): all checks passed\n");
  return failures ? 1 : 0;
}
