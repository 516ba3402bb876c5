// The contracts of the public handle types of kvc/cache.h and kvc/lease.h:
// Lease, SaveTicket and LoadedRow, as a user of the installed headers sees them.
#include <gtest/gtest.h>

#include <numeric>

#include "kvc/cache.h"
#include "support/temp_dir.h"

namespace kvc {
namespace {

using testing::TempDir;

KeyNamespace ns() {
  KeyNamespace n;
  n.fingerprint.fill(9);
  n.ctx_hash.fill(4);
  return n;
}

std::vector<std::uint32_t> tokens(std::size_t n) {
  std::vector<std::uint32_t> t(n);
  std::iota(t.begin(), t.end(), 100);
  return t;
}

std::unique_ptr<Cache> open_disk(const std::string& dir) {
  CacheOptions o;
  o.tiers.push_back({TierKind::kDisk, dir, 1 << 20});
  o.policy.min_tokens = o.policy.cold_min_tokens = 8;
  auto c = Cache::open(o);
  EXPECT_TRUE(c.ok()) << c.status().to_string();
  return c.ok() ? std::move(c.value()) : nullptr;
}

Key save(Cache& c, std::span<const std::byte> bytes, std::size_t n_tokens) {
  SaveRequest r;
  r.ns = ns();
  r.tokens = tokens(n_tokens);
  r.reason = SaveReason::kFinish;
  r.payload = ByteBuffer::copy_of(bytes);
  r.next_token_logits = {1.5f, 2.5f};
  auto k = c.save(std::move(r), std::chrono::seconds(10));
  EXPECT_TRUE(k.ok()) << k.status().to_string();
  return k.ok() ? *k : Key{};
}

TEST(PublicTypes, LoadedRowOutlivesItsLeaseAndTheRow) {
  TempDir dir;
  auto c = open_disk(dir.path());
  ASSERT_NE(c, nullptr);
  std::vector<std::byte> bytes(4096);
  for (std::size_t i = 0; i < bytes.size(); ++i) bytes[i] = std::byte(static_cast<std::uint8_t>(i * 13));
  const Key key = save(*c, bytes, 32);

  auto lease = c->checkout(key);
  ASSERT_TRUE(lease.ok());
  EXPECT_EQ(lease->row().key, key);
  EXPECT_EQ(lease->row().header.save_reason, SaveReason::kFinish);
  EXPECT_EQ(lease->tiers(), tier_bit(0));
  auto row = c->load(*lease);
  ASSERT_TRUE(row.ok()) << row.status().to_string();
  LoadedRow copy = *row;  // copies share the bytes

  lease->release();
  lease->release();  // idempotent
  EXPECT_FALSE(*lease);
  EXPECT_EQ(lease->tiers(), 0);
  ASSERT_TRUE(c->remove(key).ok());  // no lease left: the row and its file go
  EXPECT_EQ(c->checkout(key).status().code(), Code::kNotFound);

  for (const LoadedRow* r : {&*row, &copy}) {
    ASSERT_EQ(r->payload().size(), bytes.size());
    EXPECT_TRUE(std::equal(bytes.begin(), bytes.end(), r->payload().begin()));
    EXPECT_EQ(r->meta().tokens, tokens(32));
    EXPECT_EQ(r->meta().next_token_logits, (std::vector<float>{1.5f, 2.5f}));
    EXPECT_EQ(r->meta().key(), key);
    EXPECT_EQ(r->tier(), TierKind::kDisk);
    EXPECT_EQ(r->tier_name(), "disk");
    EXPECT_FALSE(r->promoted());
  }
}

TEST(PublicTypes, MovedLeaseKeepsTheRowLeased) {
  TempDir dir;
  auto c = open_disk(dir.path());
  ASSERT_NE(c, nullptr);
  const Key key = save(*c, std::vector<std::byte>(64), 16);
  auto lease = c->checkout(key);
  ASSERT_TRUE(lease.ok());
  Lease moved = std::move(*lease);
  EXPECT_FALSE(*lease);
  ASSERT_TRUE(moved);
  EXPECT_EQ(c->remove(key).code(), Code::kBusy);  // still leased through `moved`
  moved = Lease();                                // move-assigning releases
  EXPECT_TRUE(c->remove(key).ok());
}

TEST(PublicTypes, SaveTicketIsEmptyOnceMovedOrUsed) {
  TempDir dir;
  auto c = open_disk(dir.path());
  ASSERT_NE(c, nullptr);
  EXPECT_FALSE(SaveTicket());
  auto ticket = c->reserve_save(ns(), tokens(20));
  ASSERT_TRUE(ticket.ok());
  ASSERT_TRUE(*ticket);
  const Key key = ticket->key();
  EXPECT_EQ(key, derive_key(ns(), tokens(20)));
  EXPECT_EQ(c->checkout(key).status().code(), Code::kBusy);  // reserved: writing

  SaveTicket held = std::move(*ticket);
  EXPECT_FALSE(*ticket);
  EXPECT_TRUE(held);
  SaveRequest r;
  r.ns = ns();
  r.tokens = tokens(20);
  r.payload = ByteBuffer::copy_of(std::vector<std::byte>(32));
  EXPECT_EQ(c->save(SaveTicket(), SaveRequest{}, std::chrono::seconds(1)).status().code(), Code::kInvalidArgument);
  auto saved = c->save(std::move(held), std::move(r), std::chrono::seconds(10));
  ASSERT_TRUE(saved.ok()) << saved.status().to_string();
  EXPECT_EQ(*saved, key);
  EXPECT_TRUE(c->checkout(key).ok());

  // An unused ticket cancels its reservation when destroyed.
  {
    auto unused = c->reserve_save(ns(), tokens(24));
    ASSERT_TRUE(unused.ok());
  }
  EXPECT_EQ(c->checkout(derive_key(ns(), tokens(24))).status().code(), Code::kNotFound);
}

}  // namespace
}  // namespace kvc
