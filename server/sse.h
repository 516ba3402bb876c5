// Server-sent events: the event framing, and the channel that carries generated
// text from the engine's scheduler thread (on_text, which must not block) to the
// HTTP thread that writes the stream. Cancelling the channel makes on_text return
// false, which cancels the request in the engine.
#pragma once

#include <chrono>
#include <condition_variable>
#include <mutex>
#include <string>
#include <string_view>

namespace kvc::server {

// "data: <payload>\n\n"
std::string sse_event(std::string_view payload);
inline constexpr std::string_view kSseDone = "data: [DONE]\n\n";

class PieceChannel {
 public:
  // Producer side. Returns false once the consumer has cancelled.
  bool push(std::string_view piece);
  // No more pieces will come.
  void finish();

  struct Batch {
    std::string text;       // pieces pushed since the last pop, concatenated
    bool finished = false;  // finish() was called and everything is drained
  };
  // Consumer side: waits up to `timeout` for text or the finish.
  Batch pop(std::chrono::milliseconds timeout);
  void cancel();
  bool cancelled() const;

 private:
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::string pending_;
  bool finished_ = false;
  bool cancelled_ = false;
};

}  // namespace kvc::server
