// RedisReply: an owned hiredis reply (freed on destruction) and read-only views of
// it. Array elements are borrowed pointers into their top-level reply.
#pragma once

#include <hiredis/hiredis.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string_view>

namespace kvc::tiers {

struct RedisReplyFree {
  void operator()(redisReply* r) const { freeReplyObject(r); }
};

class RedisReply {
 public:
  RedisReply() = default;
  explicit RedisReply(redisReply* r) : r_(r) {}

  const redisReply* get() const { return r_.get(); }
  explicit operator bool() const { return r_ != nullptr; }
  // Hands the reply to a shared owner (e.g. to keep a fetched value's bytes alive).
  std::shared_ptr<const redisReply> share() && { return std::shared_ptr<const redisReply>(r_.release(), RedisReplyFree()); }

 private:
  std::unique_ptr<redisReply, RedisReplyFree> r_;
};

// Views of any reply or element (nullptr-safe: a null reply is none of these).
inline bool reply_is_error(const redisReply* r) { return r != nullptr && r->type == REDIS_REPLY_ERROR; }
inline bool reply_is_nil(const redisReply* r) { return r != nullptr && r->type == REDIS_REPLY_NIL; }
inline bool reply_is_string(const redisReply* r) {
  return r != nullptr && (r->type == REDIS_REPLY_STRING || r->type == REDIS_REPLY_STATUS);
}
inline bool reply_is_array(const redisReply* r) { return r != nullptr && r->type == REDIS_REPLY_ARRAY; }
// The text of a string, status or error reply; empty otherwise.
inline std::string_view reply_str(const redisReply* r) {
  if (r == nullptr || r->str == nullptr) return {};
  if (r->type != REDIS_REPLY_STRING && r->type != REDIS_REPLY_STATUS && r->type != REDIS_REPLY_ERROR) return {};
  return {r->str, r->len};
}
inline std::span<const std::byte> reply_bytes(const redisReply* r) {
  const auto s = reply_str(r);
  return {reinterpret_cast<const std::byte*>(s.data()), s.size()};
}
inline std::optional<long long> reply_integer(const redisReply* r) {
  if (r == nullptr || r->type != REDIS_REPLY_INTEGER) return std::nullopt;
  return r->integer;
}
inline std::span<redisReply* const> reply_elements(const redisReply* r) {
  if (!reply_is_array(r) || r->element == nullptr) return {};
  return {r->element, r->elements};
}
// "+OK".
inline bool reply_is_ok(const redisReply* r) { return r != nullptr && r->type == REDIS_REPLY_STATUS && reply_str(r) == "OK"; }

}  // namespace kvc::tiers
