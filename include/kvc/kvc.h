/*
 * kvc.h — the C API of the kvc cache: a persistent, tiered, token-exact store of
 * KV-state payloads keyed by (model namespace, token prefix). For callers that
 * cannot use C++: C programs, Erlang NIFs, Python ctypes, other runtimes.
 *
 * C11, no C++ in any signature. Link with libkvc.so (pkg-config kvc) or with the
 * static libraries (CMake: find_package(kvc) + kvc::kvc, linked by a C++ linker).
 *
 * Conventions (every function follows them unless its comment says otherwise):
 *  - A function returns kvc_status. KVC_OK is 0; on an error the calling thread's
 *    last-error message (kvc_last_error) names what was wrong — the argument,
 *    setting, key or file — and what to do. A successful call clears it.
 *  - Out-parameters are written only on KVC_OK (out-handles are set to NULL on an
 *    error, so freeing them is always safe).
 *  - A NULL pointer where a value is required is KVC_ERR_INVALID_ARGUMENT, never a
 *    crash; so is an enum value outside its list and a size that does not fit.
 *  - No function throws or aborts: C++ exceptions are caught at the boundary and
 *    returned as KVC_ERR_OUT_OF_MEMORY or KVC_ERR_INTERNAL.
 *  - Handles (kvc_cache, kvc_lease, kvc_payload) are opaque and owned by the
 *    caller from the moment a function returns one until the matching *_free.
 *
 * Threading: a kvc_cache may be used from any number of threads at once (close
 * included); kvc_cache_free must be the last call on it. A kvc_lease is used by
 * one thread at a time (hand it over freely). A kvc_payload is immutable: read it
 * from any thread, free it once.
 */
#ifndef KVC_KVC_H
#define KVC_KVC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#if defined(__GNUC__)
#define KVC_API __attribute__((visibility("default")))
#else
#define KVC_API
#endif

#ifdef __cplusplus
extern "C" {
#endif

/* Version of this header's API. Grows when functions or fields are added. */
#define KVC_C_API_VERSION 1

/* ------------------------------------------------------------------------ */
/* Errors                                                                   */
/* ------------------------------------------------------------------------ */

typedef enum kvc_status {
  KVC_OK = 0,
  KVC_ERR_NOT_FOUND = 1,          /* no such key or row; a lookup that missed */
  KVC_ERR_ALREADY_PRESENT = 2,    /* a save found the key already stored (a duplicate) */
  KVC_ERR_CONFLICT = 3,           /* another writer holds the key right now */
  KVC_ERR_QUOTA_EXCEEDED = 4,     /* no tier can fit the save, even after eviction */
  KVC_ERR_CORRUPT = 5,            /* a file failed validation (it was dropped) */
  KVC_ERR_IO = 6,                 /* the OS refused an operation */
  KVC_ERR_NO_SPACE = 7,           /* ENOSPC / EDQUOT */
  KVC_ERR_INVALID_ARGUMENT = 8,   /* bad argument or option */
  KVC_ERR_TIMEOUT = 9,            /* a deadline passed */
  KVC_ERR_BUSY = 10,              /* the row is leased or being written */
  KVC_ERR_DROPPED = 11,           /* a save was dropped (saves disabled, queue full, too short) */
  KVC_ERR_UNAVAILABLE = 12,       /* a source or tier is not reachable */
  KVC_ERR_CANCELLED = 13,         /* the operation was abandoned (shutdown) */
  KVC_ERR_EXISTS = 14,            /* the target path exists */
  KVC_ERR_PERMISSION_DENIED = 15, /* EACCES / EPERM */
  KVC_ERR_CLOSED = 100,           /* the cache was closed (kvc_cache_close) */
  KVC_ERR_RELEASED = 101,         /* the lease was released (kvc_lease_release) */
  KVC_ERR_OUT_OF_MEMORY = 102,    /* an allocation failed */
  KVC_ERR_INTERNAL = 103          /* an unexpected failure inside kvc (a bug: please report) */
} kvc_status;

/* The calling thread's message for the last failed kvc call, "" after a
 * successful one. Never NULL. Valid until the thread's next kvc call; copy it to
 * keep it. Thread-safe (each thread has its own). */
KVC_API const char* kvc_last_error(void);

/* A constant name for a status ("ok", "not_found", …; "unknown" for others).
 * Thread-safe; the string is static. */
KVC_API const char* kvc_status_name(kvc_status status);

/* ------------------------------------------------------------------------ */
/* Keys                                                                     */
/* ------------------------------------------------------------------------ */

#define KVC_DIGEST_BYTES 32
#define KVC_KEY_HEX_CHARS 64 /* a key in hex, without the terminating NUL */

/* Everything a row's key depends on except the tokens: two rows can share KV
 * state only when their namespaces are equal. */
typedef struct kvc_namespace {
  uint8_t fingerprint[KVC_DIGEST_BYTES]; /* the model's effective fingerprint */
  uint8_t quant;                         /* quant byte (kvc_quant_byte) */
  uint8_t ctx_hash[KVC_DIGEST_BYTES];    /* hash of the context parameters */
} kvc_namespace;

typedef struct kvc_key {
  uint8_t bytes[KVC_DIGEST_BYTES]; /* SHA-256(fingerprint ‖ quant ‖ ctx_hash ‖ u32le tokens…) */
} kvc_key;

/* The key of `ns` + the first `n_tokens` of `tokens` (tokens may be NULL when
 * n_tokens is 0). Pure; thread-safe. */
KVC_API kvc_status kvc_key_derive(const kvc_namespace* ns, const uint32_t* tokens, size_t n_tokens,
                                  kvc_key* out_key);

/* Writes the 64 lowercase hex characters of `key` and a NUL to `out`, which
 * must hold `out_size` ≥ KVC_KEY_HEX_CHARS + 1 bytes. Thread-safe. */
KVC_API kvc_status kvc_key_to_hex(const kvc_key* key, char* out, size_t out_size);

/* Parses exactly 64 hex characters (either case, NUL-terminated). Thread-safe. */
KVC_API kvc_status kvc_key_from_hex(const char* hex, kvc_key* out_key);

/* The quant byte of a ggml type name ("f16", "q8_0", …); 255 ("other") for a
 * name not in the table or NULL. Thread-safe. */
KVC_API uint8_t kvc_quant_byte(const char* name);

/* ------------------------------------------------------------------------ */
/* Opening and closing a cache                                              */
/* ------------------------------------------------------------------------ */

typedef struct kvc_cache kvc_cache;

typedef enum kvc_tier_kind {
  KVC_TIER_RAM = 0,      /* process memory; lost at exit */
  KVC_TIER_RAM_FILE = 1, /* files in a RAM-backed directory (e.g. /dev/shm): survive the process */
  KVC_TIER_DISK = 2      /* files in a directory on disk: survive restarts */
} kvc_tier_kind;

typedef enum kvc_tier_policy {
  KVC_POLICY_WRITE_THROUGH = 0, /* every save that landed above is copied here too */
  KVC_POLICY_ON_EVICT = 1       /* rows arrive only when the tier above evicts them */
} kvc_tier_policy;

typedef struct kvc_tier_options {
  kvc_tier_kind kind;
  const char* dir;        /* RAM_FILE and DISK: directory (created if missing); NULL for RAM */
  uint64_t quota_bytes;   /* > 0 */
  kvc_tier_policy policy; /* ignored for the first (fastest) tier */
  int64_t min_tokens;     /* rows shorter than this never enter; < 0: default (RAM 1, files: min_tokens) */
} kvc_tier_options;

typedef struct kvc_cache_options {
  /* The hierarchy, fastest first, at most one of each kind, in the order RAM,
   * RAM_FILE, DISK. The array is read during kvc_cache_open only. */
  const kvc_tier_options* tiers;
  size_t n_tiers;
  /* Save policy (the engine's gates; the cache itself uses min_tokens for the
   * file tiers' default and boundary_align_tokens for longest_prefix). */
  bool saves_enabled;            /* false: every save is KVC_ERR_DROPPED */
  int64_t min_tokens;            /* default 512 */
  int64_t cold_min_tokens;       /* default 512, ≥ min_tokens */
  int64_t cold_max_tokens;       /* default 30000, ≥ cold_min_tokens */
  int64_t continued_interval;    /* default 2048, > 0 */
  int64_t boundary_trim_tokens;  /* default 32, ≥ 0 */
  int64_t boundary_align_tokens; /* default 2048, > 0: the stride of longest_prefix */
  int writer_threads;            /* background writers; default 2, ≥ 1 */
  unsigned file_mode;            /* mode of created files; default 0600 */
  bool watch_directories;        /* pick up rows published by sibling processes; default true */
} kvc_cache_options;

/* The defaults above, with no tiers. Thread-safe. */
KVC_API kvc_cache_options kvc_cache_default_options(void);

/* Validates `options` (the error names the offending setting, e.g. "tiers[1].dir"),
 * creates directories, scans the file tiers for rows saved before and starts the
 * background writers. On KVC_OK `*out_cache` is a new handle the caller owns
 * (free it with kvc_cache_free). Thread-safe. */
KVC_API kvc_status kvc_cache_open(const kvc_cache_options* options, kvc_cache** out_cache);

/* Closes the cache: waits for calls in progress on other threads, releases every
 * lease still held (their handles then answer KVC_ERR_CLOSED), drains queued
 * saves (up to 30 s) and stops the background threads. The handle stays valid:
 * every later call on it returns KVC_ERR_CLOSED. Closing twice is KVC_ERR_CLOSED.
 * Thread-safe. */
KVC_API kvc_status kvc_cache_close(kvc_cache* cache);

/* Closes the cache if it is open and frees the handle. NULL is a no-op. Must be
 * the last call on `cache`; lease and payload handles stay valid (free them). */
KVC_API void kvc_cache_free(kvc_cache* cache);

/* ------------------------------------------------------------------------ */
/* Saving                                                                   */
/* ------------------------------------------------------------------------ */

typedef enum kvc_save_reason {
  KVC_SAVE_UNKNOWN = 0,
  KVC_SAVE_COLD = 1,      /* after a cold prefill */
  KVC_SAVE_CONTINUED = 2, /* during generation */
  KVC_SAVE_EVICT = 3,     /* when a sequence was given away */
  KVC_SAVE_SHUTDOWN = 4,  /* at shutdown */
  KVC_SAVE_FINISH = 5     /* at the end of a request */
} kvc_save_reason;

typedef enum kvc_fingerprint_mode {
  KVC_FINGERPRINT_SAFE = 0,
  KVC_FINGERPRINT_GGUF_CHUNKED = 1,
  KVC_FINGERPRINT_FAST_UNSAFE = 2
} kvc_fingerprint_mode;

typedef struct kvc_save_params {
  kvc_namespace ns;
  const uint32_t* tokens;   /* the row's tokens; its key is derived from ns + tokens */
  size_t n_tokens;          /* ≥ 1 */
  const void* payload;      /* the KV state: opaque bytes, copied during the call */
  size_t payload_size;      /* ≥ 1 */
  kvc_save_reason reason;
  kvc_fingerprint_mode fingerprint_mode;
  const float* next_token_logits; /* optional (NULL): lets a restore sample without a decode */
  size_t n_next_token_logits;
  const char* prompt_text;   /* optional (NULL), NUL-terminated, for humans */
  const char* reason_detail; /* optional (NULL), NUL-terminated */
  uint8_t quant_bits;
  uint32_t context_size;
  bool background;      /* true: queue the write and return at once (KVC_ERR_DROPPED when full) */
  uint32_t deadline_ms; /* foreground: publish within this (KVC_ERR_TIMEOUT); default 30000 */
} kvc_save_params;

/* Zeroed fields, reason UNKNOWN, fingerprint SAFE, foreground, deadline 30 s. */
KVC_API kvc_save_params kvc_save_default_params(void);

/* Saves a row. Foreground: the row is findable in the fastest tier that takes it
 * when this returns; copies to slower tiers are written in the background
 * (kvc_cache_flush waits for them). All memory `params` points to is read during
 * the call only. KVC_ERR_ALREADY_PRESENT for a duplicate, KVC_ERR_CONFLICT while
 * another writer holds the key, KVC_ERR_DROPPED when saves are disabled or no tier
 * takes rows this short. `out_key` may be NULL. Thread-safe. */
KVC_API kvc_status kvc_cache_save(kvc_cache* cache, const kvc_save_params* params, kvc_key* out_key);

/* Waits until queued background work has finished, or `deadline_ms` passes: the
 * jobs still queued are then dropped and their count stored in `out_dropped`
 * (may be NULL). Thread-safe. */
KVC_API kvc_status kvc_cache_flush(kvc_cache* cache, uint32_t deadline_ms, size_t* out_dropped);

/* ------------------------------------------------------------------------ */
/* Finding and loading                                                      */
/* ------------------------------------------------------------------------ */

/* A hold on one row: while it is held the row is never evicted or removed. */
typedef struct kvc_lease kvc_lease;
/* Verified bytes of a loaded row; independent of the cache and the lease. */
typedef struct kvc_payload kvc_payload;

typedef struct kvc_prefix_match {
  size_t length;     /* tokens of the row that match the prompt */
  size_t row_length; /* tokens in the row (> length: the state must be truncated) */
  bool busy_seen;    /* a candidate was being written (retrying later may hit) */
} kvc_prefix_match;

/* Exact lookup: leases the row of `key`. KVC_ERR_NOT_FOUND when there is none,
 * KVC_ERR_BUSY while it is being written. On KVC_OK the caller owns `*out_lease`
 * (kvc_lease_free). Thread-safe. */
KVC_API kvc_status kvc_cache_checkout(kvc_cache* cache, const kvc_key* key, kvc_lease** out_lease);

/* Longest saved prefix of `tokens` at multiples of boundary_align_tokens (and the
 * whole prompt), at least `min_length` tokens long. KVC_ERR_NOT_FOUND on a miss
 * (`out_match`, when not NULL, still says whether a candidate was busy). On KVC_OK
 * the caller owns `*out_lease`. Thread-safe. */
KVC_API kvc_status kvc_cache_longest_prefix(kvc_cache* cache, const kvc_namespace* ns, const uint32_t* tokens,
                                            size_t n_tokens, size_t min_length, kvc_lease** out_lease,
                                            kvc_prefix_match* out_match);

/* The row sharing the most leading tokens with `tokens` at any length ≥
 * `min_length`. With `allow_truncation` false only rows that are a prefix of the
 * prompt are taken. Otherwise as kvc_cache_longest_prefix. Thread-safe. */
KVC_API kvc_status kvc_cache_any_prefix(kvc_cache* cache, const kvc_namespace* ns, const uint32_t* tokens,
                                        size_t n_tokens, bool allow_truncation, size_t min_length,
                                        kvc_lease** out_lease, kvc_prefix_match* out_match);

/* Counts one miss, for a caller that tried several lookups and all missed.
 * Thread-safe. */
KVC_API kvc_status kvc_cache_note_miss(kvc_cache* cache);

/* The key and token count of the leased row. */
KVC_API kvc_status kvc_lease_key(const kvc_lease* lease, kvc_key* out_key, size_t* out_n_tokens);

/* Reads the leased row from the fastest tier holding it, verifies it (CRC, key)
 * and promotes it into RAM when it came from a slower tier. On KVC_OK the caller
 * owns `*out_payload` (kvc_payload_free). KVC_ERR_NOT_FOUND / KVC_ERR_CORRUPT when
 * no good copy is left (the row is gone from the cache), KVC_ERR_BUSY while its
 * only copy is in transit, other codes for transient I/O trouble. */
KVC_API kvc_status kvc_lease_load(kvc_lease* lease, kvc_payload** out_payload);

/* Releases the row (it may be evicted again). The handle stays valid; later calls
 * with it return KVC_ERR_RELEASED, and releasing twice is KVC_ERR_RELEASED. */
KVC_API kvc_status kvc_lease_release(kvc_lease* lease);

/* Releases the row if still held and frees the handle. NULL is a no-op. May be
 * called before or after the cache is closed or freed. */
KVC_API void kvc_lease_free(kvc_lease* lease);

/* The payload bytes (valid until kvc_payload_free). NULL-safe: 0 / NULL. */
KVC_API const void* kvc_payload_data(const kvc_payload* payload);
KVC_API size_t kvc_payload_size(const kvc_payload* payload);
/* The next-token logits saved with the row (NULL and 0 when none). */
KVC_API const float* kvc_payload_next_token_logits(const kvc_payload* payload, size_t* out_n);
/* The tier that served the load (KVC_TIER_RAM for NULL). */
KVC_API kvc_tier_kind kvc_payload_tier(const kvc_payload* payload);
/* NULL is a no-op. */
KVC_API void kvc_payload_free(kvc_payload* payload);

/* ------------------------------------------------------------------------ */
/* Administration and statistics                                            */
/* ------------------------------------------------------------------------ */

/* Deletes every copy of the row of `key`, pinned or not. KVC_ERR_NOT_FOUND when
 * there is no such row, KVC_ERR_BUSY while it is leased. Thread-safe. */
KVC_API kvc_status kvc_cache_remove(kvc_cache* cache, const kvc_key* key);

/* Evicts every unleased, unpinned copy from every tier; stores the bytes freed in
 * `out_freed_bytes` (may be NULL). Thread-safe. */
KVC_API kvc_status kvc_cache_gc(kvc_cache* cache, uint64_t* out_freed_bytes);

/* Cache-wide counters since open (cache.md §6). */
typedef struct kvc_stats {
  uint64_t hits_exact, hits_resume, hits_longest_prefix, hits_any_prefix, misses;
  uint64_t saves_cold, saves_continued, saves_finish, saves_evict, saves_shutdown;
  uint64_t saves_dropped, duplicate_dropped;
  uint64_t evictions, corrupt_files, vanished_copies, unreadable_copies, restore_failures;
  uint64_t pack_total_ns, load_total_ns, longest_prefix_probes, longest_prefix_ns;
  size_t n_tiers; /* tiers configured (for kvc_cache_tier_stats) */
} kvc_stats;

typedef struct kvc_tier_stats {
  kvc_tier_kind kind;
  uint64_t used_bytes, quota_bytes;
  uint64_t rows; /* copies held */
  uint64_t hits, misses, promotions, demotions, evictions;
  uint64_t bytes_in, bytes_out, errors;
} kvc_tier_stats;

/* A snapshot of the counters. Thread-safe. */
KVC_API kvc_status kvc_cache_stats(kvc_cache* cache, kvc_stats* out_stats);

/* A snapshot of tier `tier` (0 = fastest; < kvc_stats.n_tiers). Thread-safe. */
KVC_API kvc_status kvc_cache_tier_stats(kvc_cache* cache, size_t tier, kvc_tier_stats* out_stats);

#ifdef __cplusplus
}
#endif

#endif /* KVC_KVC_H */
