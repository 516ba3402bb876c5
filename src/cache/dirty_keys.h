// DirtyKeys: a set of keys marked from many threads with no lock shared by all of
// them (cache.md §1: lookups never take a global lock). Used to queue hit counts for
// persistence off the lookup path.
#pragma once

#include <array>
#include <mutex>
#include <unordered_set>
#include <vector>

#include "kvc/key.h"

namespace kvc {

class DirtyKeys {
 public:
  void mark(const Key& key) {
    Shard& s = shards_[key.bytes[31] % kShards];
    std::lock_guard lock(s.mu);
    s.keys.insert(key);
  }
  // Removes and returns every marked key.
  std::vector<Key> take() {
    std::vector<Key> out;
    for (Shard& s : shards_) {
      std::lock_guard lock(s.mu);
      out.insert(out.end(), s.keys.begin(), s.keys.end());
      s.keys.clear();
    }
    return out;
  }

 private:
  static constexpr std::size_t kShards = 32;
  struct Shard {
    std::mutex mu;
    std::unordered_set<Key> keys;
  };
  std::array<Shard, kShards> shards_;
};

}  // namespace kvc
