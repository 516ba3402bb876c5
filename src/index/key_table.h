// KeyTable: the map of one index shard, Key → Entry*, as an open-addressing
// table with the keys inline (linear probing, power-of-two capacity, load factor
// at most 1/2, backward-shift deletion: no tombstones). Keys are SHA-256
// digests, so their first 8 bytes are already a uniform hash.
//
// Not thread-safe: the shard's mutex guards it. Lookups compare 32-byte keys as
// four words, with no call and no modulo — the hot path of every checkout.
#pragma once

#include <cstdint>
#include <cstring>
#include <memory>
#include <utility>
#include <vector>

#include "kvc/key.h"

namespace kvc::index {

struct Entry;

class KeyTable {
 public:
  KeyTable() : slots_(kInitial) {}

  Entry* find(const Key& key) const {
    const Words k = words(key);
    for (std::size_t i = home(k);; i = (i + 1) & mask()) {
      const Slot& s = slots_[i];
      if (s.entry == nullptr) return nullptr;
      if (s.key == k) return s.entry;
    }
  }

  // Inserts or replaces.
  void put(const Key& key, Entry* entry) {
    if (2 * (size_ + 1) > slots_.size()) grow();
    const Words k = words(key);
    for (std::size_t i = home(k);; i = (i + 1) & mask()) {
      Slot& s = slots_[i];
      if (s.entry == nullptr) {
        s = Slot{k, entry};
        ++size_;
        return;
      }
      if (s.key == k) {
        s.entry = entry;
        return;
      }
    }
  }

  // Removes the key if present (backward-shift: the probe chains stay intact).
  bool erase(const Key& key) {
    const Words k = words(key);
    std::size_t i = home(k);
    for (;; i = (i + 1) & mask()) {
      if (slots_[i].entry == nullptr) return false;
      if (slots_[i].key == k) break;
    }
    for (std::size_t j = (i + 1) & mask();; j = (j + 1) & mask()) {
      if (slots_[j].entry == nullptr) break;
      const std::size_t h = home(slots_[j].key);
      // Move j back into the hole at i unless its home lies cyclically in (i, j].
      const bool stays = i <= j ? (i < h && h <= j) : (i < h || h <= j);
      if (stays) continue;
      slots_[i] = slots_[j];
      i = j;
    }
    slots_[i] = Slot{};
    --size_;
    return true;
  }

  std::size_t size() const { return size_; }

  // Iteration over (key, entry) pairs, by value; the table must not change meanwhile.
  class const_iterator {
   public:
    const_iterator(const KeyTable* t, std::size_t i) : t_(t), i_(i) { skip(); }
    std::pair<Key, Entry*> operator*() const {
      Key k;
      std::memcpy(k.bytes.data(), t_->slots_[i_].key.w, sizeof(Words));
      return {k, t_->slots_[i_].entry};
    }
    const_iterator& operator++() {
      ++i_;
      skip();
      return *this;
    }
    bool operator!=(const const_iterator& o) const { return i_ != o.i_; }

   private:
    void skip() {
      while (i_ < t_->slots_.size() && t_->slots_[i_].entry == nullptr) ++i_;
    }
    const KeyTable* t_;
    std::size_t i_;
  };
  const_iterator begin() const { return {this, 0}; }
  const_iterator end() const { return {this, slots_.size()}; }

 private:
  struct Words {
    std::uint64_t w[4];
    friend bool operator==(const Words& a, const Words& b) {
      return ((a.w[0] ^ b.w[0]) | (a.w[1] ^ b.w[1]) | (a.w[2] ^ b.w[2]) | (a.w[3] ^ b.w[3])) == 0;
    }
  };
  struct Slot {
    Words key{};
    Entry* entry = nullptr;
  };
  static constexpr std::size_t kInitial = 16;

  static Words words(const Key& key) {
    Words k;
    std::memcpy(k.w, key.bytes.data(), sizeof(k.w));
    return k;
  }
  std::size_t mask() const { return slots_.size() - 1; }
  // Bytes 16..23 (the shard is chosen by bytes 8..15).
  std::size_t home(const Words& k) const { return static_cast<std::size_t>(k.w[2]) & mask(); }

  void grow() {
    std::vector<Slot> old(slots_.size() * 2);
    old.swap(slots_);
    size_ = 0;
    for (const Slot& s : old) {
      if (s.entry == nullptr) continue;
      for (std::size_t i = home(s.key);; i = (i + 1) & mask()) {
        if (slots_[i].entry == nullptr) {
          slots_[i] = s;
          ++size_;
          break;
        }
      }
    }
  }

  std::vector<Slot> slots_;
  std::size_t size_ = 0;
};

}  // namespace kvc::index
