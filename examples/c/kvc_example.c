/* kvc_example: the kvc C API from C, against an installed kvc.
 *
 *   kvc_example [DIR]
 *
 * Opens a cache with a RAM tier over a disk tier in DIR (default: a fresh temp
 * dir, removed at the end), saves a payload for a 64-token prompt, finds it by a
 * longer prompt (longest prefix), loads it, checks every byte, and prints the
 * stats. Run it twice with the same DIR: the second run finds the row saved by
 * the first on disk (a restart). Exit status 0 when the row was found and intact.
 */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <kvc/kvc.h>

#define PROMPT_TOKENS 64
#define PAYLOAD_BYTES (256 * 1024)

static int fail(const char* what, kvc_status s) {
  fprintf(stderr, "kvc_example: %s: %s: %s\n", what, kvc_status_name(s), kvc_last_error());
  return 1;
}

static void fill_payload(unsigned char* p, size_t n) {
  for (size_t i = 0; i < n; ++i) p[i] = (unsigned char)((i * 131u) ^ (i >> 8));
}

static int run(const char* dir) {
  kvc_tier_options tiers[2] = {
      {KVC_TIER_RAM, NULL, 64u << 20, KVC_POLICY_WRITE_THROUGH, -1},
      {KVC_TIER_DISK, dir, 256u << 20, KVC_POLICY_WRITE_THROUGH, 16},
  };
  kvc_cache_options opts = kvc_cache_default_options();
  opts.tiers = tiers;
  opts.n_tiers = 2;
  opts.min_tokens = opts.cold_min_tokens = 16;
  opts.boundary_align_tokens = 16; /* longest_prefix probes every 16 tokens */

  kvc_cache* cache = NULL;
  kvc_status s = kvc_cache_open(&opts, &cache);
  if (s != KVC_OK) return fail("open", s);

  kvc_namespace ns;
  memset(&ns, 0, sizeof ns);
  memset(ns.fingerprint, 0x42, sizeof ns.fingerprint); /* the model's fingerprint */
  ns.quant = kvc_quant_byte("f16");
  memset(ns.ctx_hash, 0x17, sizeof ns.ctx_hash); /* the context parameters' hash */

  uint32_t prompt[PROMPT_TOKENS + 10];
  for (size_t i = 0; i < sizeof prompt / sizeof prompt[0]; ++i) prompt[i] = (uint32_t)(1000 + i * 7);

  static unsigned char payload[PAYLOAD_BYTES];
  fill_payload(payload, sizeof payload);

  kvc_save_params p = kvc_save_default_params();
  p.ns = ns;
  p.tokens = prompt;
  p.n_tokens = PROMPT_TOKENS;
  p.payload = payload;
  p.payload_size = sizeof payload;
  p.reason = KVC_SAVE_COLD;
  p.prompt_text = "kvc_example";
  kvc_key key;
  s = kvc_cache_save(cache, &p, &key);
  char hex[KVC_KEY_HEX_CHARS + 1];
  if (s == KVC_OK) {
    kvc_key_to_hex(&key, hex, sizeof hex);
    printf("saved %zu bytes for %d tokens: key %.16s...\n", sizeof payload, PROMPT_TOKENS, hex);
  } else if (s == KVC_ERR_ALREADY_PRESENT) {
    printf("already saved (by an earlier run)\n");
  } else {
    kvc_cache_free(cache);
    return fail("save", s);
  }
  size_t dropped = 0;
  kvc_cache_flush(cache, 30000, &dropped); /* let the copy to disk finish */

  /* A follow-up request: the same 64 tokens and 10 more. */
  kvc_lease* lease = NULL;
  kvc_prefix_match m;
  s = kvc_cache_longest_prefix(cache, &ns, prompt, PROMPT_TOKENS + 10, 1, &lease, &m);
  if (s != KVC_OK) {
    kvc_cache_free(cache);
    return fail("longest_prefix", s);
  }
  printf("longest prefix of a %d-token prompt: %zu tokens\n", PROMPT_TOKENS + 10, m.length);

  kvc_payload* loaded = NULL;
  s = kvc_lease_load(lease, &loaded);
  kvc_lease_free(lease);
  if (s != KVC_OK) {
    kvc_cache_free(cache);
    return fail("load", s);
  }
  const int intact = kvc_payload_size(loaded) == sizeof payload &&
                     memcmp(kvc_payload_data(loaded), payload, sizeof payload) == 0;
  printf("loaded %zu bytes from the %s tier: %s\n", kvc_payload_size(loaded),
         kvc_payload_tier(loaded) == KVC_TIER_RAM ? "ram" : "disk", intact ? "bytes verified" : "BYTES DIFFER");
  kvc_payload_free(loaded);

  kvc_stats st;
  kvc_tier_stats disk;
  if (kvc_cache_stats(cache, &st) == KVC_OK && kvc_cache_tier_stats(cache, 1, &disk) == KVC_OK)
    printf("stats: saves_cold %llu, hits_longest_prefix %llu, disk rows %llu (%llu bytes)\n",
           (unsigned long long)st.saves_cold, (unsigned long long)st.hits_longest_prefix,
           (unsigned long long)disk.rows, (unsigned long long)disk.used_bytes);
  kvc_cache_free(cache);
  return intact && m.length == PROMPT_TOKENS ? 0 : 1;
}

int main(int argc, char** argv) {
  if (argc > 2 || (argc == 2 && argv[1][0] == '-')) {
    fprintf(stderr, "usage: %s [DIR]\n", argv[0]);
    return 2;
  }
  if (argc == 2) return run(argv[1]);
  char dir[] = "/tmp/kvc-example-XXXXXX";
  if (!mkdtemp(dir)) {
    perror("kvc_example: mkdtemp");
    return 1;
  }
  const int rc = run(dir);
  char cmd[64];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
  if (system(cmd) != 0) fprintf(stderr, "kvc_example: could not remove %s\n", dir);
  return rc;
}
