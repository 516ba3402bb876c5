// One Redis command as RESP bytes, built so that a large value is sent from the
// caller's memory: an argument may be made of several spans (a KVC prefix and a
// slice of the payload) that are written back to back with writev, never joined
// into one buffer. Small arguments are copied into the command.
#pragma once

#include <sys/uio.h>

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace kvc::tiers {

class RedisCommand {
 public:
  RedisCommand() = default;
  // A command from words, e.g. RedisCommand({"GET", key}); every word is copied.
  RedisCommand(std::initializer_list<std::string_view> words);

  // A copied argument.
  RedisCommand& arg(std::string_view s);
  RedisCommand& arg(std::uint64_t n);
  // An argument referencing the caller's bytes; they must stay valid and unchanged
  // until the command has been sent. Pieces are concatenated into one argument.
  RedisCommand& arg_ref(std::span<const std::byte> a);
  RedisCommand& arg_ref(std::span<const std::byte> a, std::span<const std::byte> b);

  std::size_t argc() const { return args_.size(); }
  // The first word, upper or lower case as given (for messages).
  std::string_view name() const;
  // Total RESP length.
  std::size_t encoded_size() const;
  // Appends the RESP encoding to `iov`: the copied text lives in this command
  // (which must outlive the iovecs), referenced pieces point at the caller's bytes.
  void encode(std::vector<iovec>& iov) const;

 private:
  struct Piece {
    bool owned;            // text_[off, off+len) or an external span
    std::size_t off;       // into text_ when owned
    const std::byte* ext;  // when !owned
    std::size_t len;
  };
  void add_owned_piece(std::string_view s);
  void add_external_piece(std::span<const std::byte> s);

  std::string header_ = "*0\r\n";  // "*argc\r\n"
  std::string text_;  // copied argument bytes and all "$len\r\n" / "\r\n" framing
  std::vector<Piece> pieces_;
  std::vector<std::size_t> args_;  // length of each argument
};

}  // namespace kvc::tiers
