#include "tiers/redis_command.h"

#include <cstring>

namespace kvc::tiers {
namespace {

// "<lead><n>\r\n" ("$5\r\n", "*3\r\n"), built by appending.
std::string framing(char lead, std::size_t n) {
  std::string s(1, lead);
  s += std::to_string(n);
  s += "\r\n";
  return s;
}

}  // namespace

RedisCommand::RedisCommand(std::initializer_list<std::string_view> words) {
  for (auto w : words) arg(w);
}

void RedisCommand::add_owned_piece(std::string_view s) {
  // Consecutive copied bytes stay one piece: text_ grows by appending only.
  if (!pieces_.empty() && pieces_.back().owned && pieces_.back().off + pieces_.back().len == text_.size()) {
    text_.append(s);
    pieces_.back().len += s.size();
    return;
  }
  pieces_.push_back({true, text_.size(), nullptr, s.size()});
  text_.append(s);
}

void RedisCommand::add_external_piece(std::span<const std::byte> s) {
  if (s.empty()) return;
  pieces_.push_back({false, 0, s.data(), s.size()});
}

RedisCommand& RedisCommand::arg(std::string_view s) {
  add_owned_piece(framing('$', s.size()));
  add_owned_piece(s);
  add_owned_piece("\r\n");
  args_.push_back(s.size());
  header_ = framing('*', args_.size());
  return *this;
}

RedisCommand& RedisCommand::arg(std::uint64_t n) { return arg(std::string_view(std::to_string(n))); }

RedisCommand& RedisCommand::arg_ref(std::span<const std::byte> a) { return arg_ref(a, {}); }

RedisCommand& RedisCommand::arg_ref(std::span<const std::byte> a, std::span<const std::byte> b) {
  const std::size_t len = a.size() + b.size();
  add_owned_piece(framing('$', len));
  add_external_piece(a);
  add_external_piece(b);
  add_owned_piece("\r\n");
  args_.push_back(len);
  header_ = framing('*', args_.size());
  return *this;
}

std::string_view RedisCommand::name() const {
  if (args_.empty()) return {};
  // The first argument was copied: "$n\r\n" then the word.
  const std::string_view t(text_);
  const auto start = t.find("\r\n") + 2;
  return t.substr(start, args_.front());
}

std::size_t RedisCommand::encoded_size() const {
  std::size_t n = header_.size();
  for (const auto& p : pieces_) n += p.len;
  return n;
}

void RedisCommand::encode(std::vector<iovec>& iov) const {
  iov.push_back({const_cast<char*>(header_.data()), header_.size()});
  for (const auto& p : pieces_) {
    if (p.owned)
      iov.push_back({const_cast<char*>(text_.data() + p.off), p.len});
    else
      iov.push_back({const_cast<std::byte*>(p.ext), p.len});
  }
}

}  // namespace kvc::tiers
