#include "engine/llama_handles.h"

#include <log.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>

namespace kvc::engine {
namespace {

std::mutex g_log_mu;
std::string g_last_error;
ggml_log_level g_last_level = GGML_LOG_LEVEL_NONE;
bool g_log_all = false;

// CONT continues the previous record whatever its level, and is numerically above
// ERROR: filter by the level of the record it continues, never with a plain >=.
void log_callback(ggml_log_level level, const char* text, void* /*user*/) {
  std::lock_guard lock(g_log_mu);
  if (level != GGML_LOG_LEVEL_CONT) {
    g_last_level = level;
    if (level == GGML_LOG_LEVEL_ERROR) g_last_error.clear();
  }
  if (g_last_level == GGML_LOG_LEVEL_ERROR) {
    if (g_last_error.size() < 4096) g_last_error += text;
  }
  if (g_log_all || g_last_level == GGML_LOG_LEVEL_ERROR) std::fputs(text, stderr);
}

}  // namespace

void init_llama_backend() {
  static std::once_flag once;
  std::call_once(once, [] {
    const char* v = std::getenv("KVC_LLAMA_LOG");
    g_log_all = v != nullptr && std::strcmp(v, "1") == 0;
    llama_log_set(log_callback, nullptr);
    // llama.cpp's common library (chat, grammars, sampler) logs through its own
    // logger: errors only, unless KVC_LLAMA_LOG=1.
    common_log_set_verbosity_thold(g_log_all ? LOG_DEFAULT_LLAMA : LOG_LEVEL_ERROR);
    llama_backend_init();
  });
}

std::string last_llama_error() {
  std::lock_guard lock(g_log_mu);
  std::string s = g_last_error;
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
  return s;
}

}  // namespace kvc::engine
