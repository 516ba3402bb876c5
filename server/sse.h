// Server-sent events: the event framing, and the buffer that carries generated
// text from the engine's scheduler thread (on_text, which must never block) to
// the connection's I/O strand that writes the stream.
#pragma once

#include <mutex>
#include <string>
#include <string_view>

namespace kvc::server {

// "data: <payload>\n\n"
std::string sse_event(std::string_view payload);
inline constexpr std::string_view kSseDone = "data: [DONE]\n\n";
// A comment line: clients ignore it (the server's probe of a half-closed peer).
inline constexpr std::string_view kSseComment = ": keep-alive\n\n";

// Pieces pushed while the writer is busy are concatenated into the next event.
class PieceBuffer {
 public:
  // Producer (any thread). True when no take() is scheduled yet: the caller
  // schedules one.
  bool push(std::string_view piece);
  // Consumer: everything pushed so far; the next push schedules again.
  std::string take();

 private:
  std::mutex mu_;
  std::string pending_;
  bool scheduled_ = false;
};

}  // namespace kvc::server
