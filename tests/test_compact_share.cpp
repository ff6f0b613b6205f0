// Parallel compaction (residents/compact_share.hpp): try_compact_share moves a
// thread's share of an array of leases from one hold into another, each lease as
// one transaction; release_compacted gives the old hold's empty hunks back.
// Argument checks, shares that cover an array exactly once, what is skipped, a
// fresh hold that runs out part way and a second round, retryable errors (a
// borrowed Hard), a shared lease's stub left in the old hold until its other Hards
// follow, two Hards of one object moved by two threads at once, and the release for
// a Pool and a SizeClasses hold. The same functions on
// many threads, and in kernels: tests/test_device_compaction.cpp and
// device/lease_workers/compaction.hpp.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <thread>
#include <type_traits>
#include <vector>

#include "support/arena.hpp"
#include "swim/mem.hpp"

namespace swim::mem {
namespace {

using testing::Arena;
using Heap = ExtentHeap<concurrent>;
using Classes = SizeClasses<Heap, concurrent, true>;
using HeapPool = Pool<Heap, concurrent, true>;
using BoxU = Raw<Box<std::uint64_t>>;
using BufU = Raw<Buf<std::uint32_t>>;
using HardU = Hard<Box<std::uint64_t>>;

constexpr std::size_t kRegion = 4 << 20;
constexpr std::size_t kGranule = 1024;

std::uint64_t value_of(std::size_t i) { return 0x5eed0000ull + i * 977; }

/// Two holds of type Hold over heaps of their own, and leases made in the first.
template <class Hold>
struct TwoHolds {
  TwoHolds() : old_heap(old_mem.block(), kGranule), fresh_heap(fresh_mem.block(), kGranule) {
    make(old_hold, old_heap);
    make(fresh_hold, fresh_heap);
  }
  static void make(std::optional<Hold>& h, Heap& heap) {
    if constexpr (std::is_same_v<Hold, HeapPool>) {
      h.emplace(heap, 1024);
    } else {
      h.emplace(heap);
    }
  }
  HoldRef old() { return HoldRef::of(*old_hold); }
  HoldRef fresh() { return HoldRef::of(*fresh_hold); }

  /// n boxes in the old hold, every other one freed again (the array keeps nulls).
  std::vector<BoxU> boxes(std::size_t n) {
    std::vector<BoxU> v(n);
    for (std::size_t i = 0; i < n; ++i) v[i] = BoxU::try_new(old(), value_of(i)).take();
    for (std::size_t i = 1; i < n; i += 2) v[i].reset();
    return v;
  }

  Arena old_mem{kRegion};
  Arena fresh_mem{kRegion};
  Heap old_heap;
  Heap fresh_heap;
  std::optional<Hold> old_hold;  // (destroyed before the heaps)
  std::optional<Hold> fresh_hold;

  ~TwoHolds() {
    fresh_hold.reset();
    old_hold.reset();
  }
};

template <class Hold>
class CompactShare : public ::testing::Test {};
using Holds = ::testing::Types<Classes, HeapPool>;
TYPED_TEST_SUITE(CompactShare, Holds);

TYPED_TEST(CompactShare, RefusesBadArgumentsAndTouchesNothing) {
  TwoHolds<TypeParam> h;
  std::vector<BoxU> v = h.boxes(4);
  const Stats before = h.old_hold->stats();
  const auto refused = [&](CompactShareReport r) {
    EXPECT_EQ(r.error, Error::invalid_argument);
    EXPECT_EQ(r.moved + r.stayed + r.skipped + r.retried, 0u);
  };
  refused(try_compact_share(v.data(), v.size(), 0, 0, h.old(), h.fresh()));
  refused(try_compact_share(v.data(), v.size(), 3, 3, h.old(), h.fresh()));
  refused(try_compact_share(v.data(), v.size(), 0, 1, HoldRef(), h.fresh()));
  refused(try_compact_share(v.data(), v.size(), 0, 1, h.old(), HoldRef()));
  refused(try_compact_share(v.data(), v.size(), 0, 1, h.old(), h.old()));
  refused(try_compact_share(static_cast<BoxU*>(nullptr), 2, 0, 1, h.old(), h.fresh()));
  EXPECT_EQ(try_compact_share(static_cast<BoxU*>(nullptr), 0, 0, 1, h.old(), h.fresh()).error,
            Error::none);
  EXPECT_EQ(h.old_hold->stats().live, before.live);
  EXPECT_EQ(h.fresh_hold->stats().live, 0u);
  for (std::size_t i = 0; i < v.size(); i += 2) EXPECT_EQ(v[i].hold(), h.old());
}

// Shares t = 0..threads-1 together cover every lease once, whatever the count.
TYPED_TEST(CompactShare, SharesCoverTheArrayExactlyOnce) {
  for (std::size_t threads : {1u, 3u, 7u, 64u}) {
    TwoHolds<TypeParam> h;
    std::vector<BoxU> v = h.boxes(37);
    const Stats before = h.old_hold->stats();
    std::size_t moved = 0, skipped = 0;
    for (std::size_t t = 0; t < threads; ++t) {
      const CompactShareReport r =
          try_compact_share(v.data(), v.size(), t, threads, h.old(), h.fresh());
      EXPECT_EQ(r.error, Error::none);
      EXPECT_EQ(r.stayed, 0u);
      moved += r.moved;
      skipped += r.skipped;
    }
    EXPECT_EQ(moved, 19u) << threads;    // the even slots
    EXPECT_EQ(skipped, 18u) << threads;  // the freed odd ones
    for (std::size_t i = 0; i < v.size(); ++i) {
      if (i % 2 == 1) {
        EXPECT_FALSE(v[i]);
        continue;
      }
      ASSERT_TRUE(v[i]);
      EXPECT_EQ(v[i].hold(), h.fresh());
      EXPECT_EQ(*v[i], value_of(i));
    }
    EXPECT_EQ(h.old_hold->stats().live, 0u);
    EXPECT_EQ(h.old_hold->stats().bytes_in_use, 0u);
    EXPECT_EQ(h.fresh_hold->stats().live, before.live);
    EXPECT_EQ(h.fresh_hold->stats().bytes_in_use, before.bytes_in_use);
  }
}

// Leases of a third hold are skipped; a second round with the same arguments
// finds nothing left to do.
TYPED_TEST(CompactShare, LeavesOtherHoldsAloneAndIsIdempotent) {
  TwoHolds<TypeParam> h;
  Arena third_mem(1 << 20);
  Heap third_heap(third_mem.block(), kGranule);
  std::optional<TypeParam> third;
  TwoHolds<TypeParam>::make(third, third_heap);
  std::vector<BoxU> v = h.boxes(6);
  v[1] = BoxU::try_new(HoldRef::of(*third), 77u).take();
  CompactShareReport r = try_compact_share(v.data(), v.size(), 0, 1, h.old(), h.fresh());
  EXPECT_EQ(r.error, Error::none);
  EXPECT_EQ(r.moved, 3u);
  EXPECT_EQ(r.skipped, 3u);
  EXPECT_EQ(v[1].hold(), HoldRef::of(*third));
  EXPECT_EQ(*v[1], 77u);
  r = try_compact_share(v.data(), v.size(), 0, 1, h.old(), h.fresh());
  EXPECT_EQ(r.moved, 0u);
  EXPECT_EQ(r.skipped, 6u);
  v.clear();
  third.reset();
}

// A fresh hold whose heap runs out part way: the share stops at the first lease it
// cannot move; moved leases are in the fresh hold, the rest intact in the old one,
// nothing lost or doubled. With room again, a second round finishes the job.
TYPED_TEST(CompactShare, OutOfMemoryPartWayThenASecondRoundFinishes) {
  TwoHolds<TypeParam> h;
  constexpr std::size_t n = 64;
  std::vector<BufU> v(n);
  for (std::size_t i = 0; i < n; ++i) {
    v[i] = BufU::try_filled(h.old(), 200 + i % 50, static_cast<std::uint32_t>(i)).take();
  }
  const Stats before = h.old_hold->stats();
  // Ballast: the fresh heap keeps room for one 64 KiB class hunk (SizeClasses) or
  // 64 one-KiB hunks (Pool), less than the 64 Bufs of about 1 KiB need.
  const std::size_t room = 64 * 1024;
  const Result<Block> ballast =
      h.fresh_heap.try_allocate(Layout{h.fresh_heap.capacity() - room, kGranule});
  ASSERT_TRUE(ballast.ok());

  CompactShareReport r = try_compact_share(v.data(), n, 0, 1, h.old(), h.fresh(), 4);
  EXPECT_EQ(r.error, Error::out_of_memory);
  EXPECT_GT(r.moved, 0u);
  EXPECT_GT(r.stayed, 0u);
  EXPECT_EQ(r.moved + r.stayed, n);
  std::size_t in_fresh = 0;
  for (std::size_t i = 0; i < n; ++i) {
    ASSERT_TRUE(v[i]);
    // A share stops at its first failure: the moved ones come first.
    EXPECT_EQ(v[i].hold(), i < r.moved ? h.fresh() : h.old()) << i;
    in_fresh += v[i].hold() == h.fresh();
    ASSERT_EQ(v[i].size(), 200 + i % 50);
    EXPECT_EQ(v[i].capacity(), 200 + i % 50);
    for (std::size_t e = 0; e < v[i].size(); ++e) ASSERT_EQ(v[i][e], i);
  }
  EXPECT_EQ(in_fresh, r.moved);
  EXPECT_EQ(h.old_hold->stats().live + h.fresh_hold->stats().live, before.live);
  EXPECT_EQ(h.old_hold->stats().bytes_in_use + h.fresh_hold->stats().bytes_in_use,
            before.bytes_in_use);

  // Between rounds the old hold may already give back what emptied.
  const CompactRelease mid = release_compacted(*h.old_hold);
  EXPECT_EQ(mid.live, r.stayed);
  EXPECT_GT(mid.hunks_kept, 0u);

  ASSERT_EQ(h.fresh_heap.try_deallocate(*ballast), Error::none);
  r = try_compact_share(v.data(), n, 0, 1, h.old(), h.fresh(), 4);
  EXPECT_EQ(r.error, Error::none);
  EXPECT_EQ(r.moved, n - in_fresh);
  EXPECT_EQ(r.skipped, in_fresh);
  for (std::size_t i = 0; i < n; ++i) {
    EXPECT_EQ(v[i].hold(), h.fresh());
    for (std::size_t e = 0; e < v[i].size(); ++e) ASSERT_EQ(v[i][e], i);
  }
  const CompactRelease done = release_compacted(*h.old_hold);
  EXPECT_EQ(done.live, 0u);
  EXPECT_EQ(done.hunks_kept, 0u);
  EXPECT_EQ(h.old_hold->reserved_bytes(), 0u);
  EXPECT_EQ(h.old_heap.stats().live, 0u) << "every hunk went back to the heap";
  EXPECT_EQ(h.fresh_hold->stats().live, before.live);
  EXPECT_EQ(h.fresh_hold->stats().bytes_in_use, before.bytes_in_use);
}

// release_compacted gives back every hunk with nothing live, the Pool's head
// included, and keeps (and reports) those with objects.
TYPED_TEST(CompactShare, ReleaseGivesBackEmptyHunksAndKeepsLiveOnes) {
  TwoHolds<TypeParam> h;
  std::vector<BufU> v(40);
  for (std::size_t i = 0; i < v.size(); ++i) {
    v[i] = BufU::try_filled(h.old(), 250, 1u).take();  // about 1 KiB each
  }
  const std::size_t hunks = h.old_hold->hunk_count();
  const std::size_t bytes = h.old_hold->reserved_bytes();
  ASSERT_GT(hunks, 0u);
  CompactRelease r = release_compacted(*h.old_hold);  // everything live: nothing goes
  EXPECT_EQ(r.hunks_released, 0u);
  EXPECT_EQ(r.bytes_released, 0u);
  EXPECT_EQ(r.hunks_kept, hunks);
  EXPECT_EQ(r.live, v.size());
  for (std::size_t i = 0; i + 1 < v.size(); ++i) v[i].reset();
  r = release_compacted(*h.old_hold);
  EXPECT_EQ(r.live, 1u);
  EXPECT_EQ(r.hunks_kept, 1u);
  EXPECT_EQ(r.hunks_released, hunks - 1);
  EXPECT_EQ(r.bytes_released, bytes - h.old_hold->reserved_bytes());
  EXPECT_EQ(h.old_heap.stats().live, 1u);
  v.back().reset();
  r = release_compacted(*h.old_hold);
  EXPECT_EQ(r.live, 0u);
  EXPECT_EQ(r.hunks_kept, 0u);
  EXPECT_EQ(r.hunks_released, 1u);
  EXPECT_EQ(h.old_heap.stats().live, 0u);
  // The old hold still works afterwards.
  BoxU again = BoxU::try_new(h.old(), 3u).take();
  EXPECT_EQ(*again, 3u);
}

// A Hard borrowed by someone else cannot relocate: the error is retryable, retried
// `retries` times, and the lease stays; once the borrow ends a round moves it.
TYPED_TEST(CompactShare, BorrowedHardIsRetriedThenLeftForALaterRound) {
  TwoHolds<TypeParam> h;
  std::vector<HardU> v(1);
  v[0] = HardU::try_new(h.old(), 41u).take();
  {
    Result<Ref<Box<std::uint64_t>>> pin = v[0].try_ref();
    ASSERT_TRUE(pin.ok());
    const CompactShareReport r = try_compact_share(v.data(), 1, 0, 1, h.old(), h.fresh(), 3);
    EXPECT_TRUE(is_retryable(r.error)) << to_string(r.error);
    EXPECT_EQ(r.retried, 3u);
    EXPECT_EQ(r.stayed, 1u);
    EXPECT_EQ(v[0].hold(), h.old());
    EXPECT_EQ(**pin, 41u);
  }
  const CompactShareReport r = try_compact_share(v.data(), 1, 0, 1, h.old(), h.fresh(), 3);
  EXPECT_EQ(r.error, Error::none);
  EXPECT_EQ(r.moved, 1u);
  EXPECT_EQ(v[0].hold(), h.fresh());
  EXPECT_EQ(*v[0].try_ref().take(), 41u);
  EXPECT_EQ(h.old_hold->stats().live, 0u);
}

// A borrow that ends while the share retries: the lease moves on a later attempt,
// and the share reports it moved, not the error of the attempts before.
TYPED_TEST(CompactShare, ARetryThatSucceedsCountsAsMoved) {
  TwoHolds<TypeParam> h;
  std::vector<HardU> v(2);
  v[0] = HardU::try_new(h.old(), 41u).take();
  v[1] = HardU::try_new(h.old(), 42u).take();
  std::atomic<bool> pinned{false}, pin_ok{false}, compacting{false};
  // The Ref is let go 50 ms after the compaction starts (it was 5 ms after the pin,
  // which a loaded machine could spend before the compaction's first attempt: then
  // nothing was retried). The compaction retries with backoff, 2^20 times at most.
  std::thread holder([&] {
    Result<Ref<Box<std::uint64_t>>> pin = v[0].try_ref();
    pin_ok = pin.ok();
    pinned = true;
    while (!compacting) std::this_thread::yield();
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  });  // (the Ref ends when the thread does)
  while (!pinned) std::this_thread::yield();
  EXPECT_TRUE(pin_ok.load());
  compacting = true;
  const CompactShareReport r =
      try_compact_share(v.data(), 2, 0, 1, h.old(), h.fresh(), 1u << 20);
  holder.join();
  EXPECT_EQ(r.error, Error::none) << to_string(r.error);
  EXPECT_GT(r.retried, 0u) << "the first attempts met the borrow";
  EXPECT_EQ(r.moved, 2u) << "the retried lease and the one after it";
  EXPECT_EQ(r.stayed, 0u);
  EXPECT_EQ(v[0].hold(), h.fresh());
  EXPECT_EQ(v[1].hold(), h.fresh());
}

// A shared object with a Hard outside the array: its relocation leaves a stub in
// the old hold that the other Hard follows; the stub keeps its hunk until that
// Hard refreshes, and then goes too.
TYPED_TEST(CompactShare, SharedStubStaysUntilOtherHardsFollow) {
  TwoHolds<TypeParam> h;
  std::vector<HardU> v(1);
  v[0] = HardU::try_new(h.old(), 8u).take();
  HardU other = v[0].try_clone().take();
  const CompactShareReport r = try_compact_share(v.data(), 1, 0, 1, h.old(), h.fresh());
  EXPECT_EQ(r.error, Error::none);
  EXPECT_EQ(v[0].hold(), h.fresh());
  EXPECT_EQ(other.hold(), h.old()) << "still on the stub";
  EXPECT_EQ(*other.try_ref().take(), 8u) << "which forwards";
  CompactRelease rel = release_compacted(*h.old_hold);
  EXPECT_EQ(rel.live, 1u);
  EXPECT_EQ(rel.hunks_kept, 1u);
  ASSERT_EQ(other.refresh(), Error::none);
  EXPECT_EQ(other.hold(), h.fresh());
  EXPECT_EQ(other.data(), v[0].data());
  rel = release_compacted(*h.old_hold);
  EXPECT_EQ(rel.live, 0u);
  EXPECT_EQ(rel.hunks_kept, 0u);
  EXPECT_EQ(h.old_heap.stats().live, 0u);
}

// Two Hards of each shared object, in the shares of different threads that move
// them at the same time: the two relocations meet at one copy in the fresh hold
// (one waits for the other, or shares it), and the old hold keeps nothing.
TYPED_TEST(CompactShare, HardsOfOneObjectInDifferentSharesMeetAtOneCopy) {
  constexpr std::size_t pairs = 256;
  constexpr unsigned threads = 4;
  TwoHolds<TypeParam> h;
  std::vector<HardU> v(2 * pairs);
  for (std::size_t k = 0; k < pairs; ++k) {
    v[2 * k] = HardU::try_new(h.old(), value_of(k)).take();
    v[2 * k + 1] = v[2 * k].try_clone().take();  // index 2k + 1: another thread's share
  }
  // Rounds while leases stay: a share may stop only on a retryable error whose
  // bounded retries ran out (timing: the other relocation's thread off its core),
  // and a later round moves what it left.
  std::size_t moved = 0, stayed = 2 * pairs;
  for (unsigned round = 0; round < 8 && stayed != 0; ++round) {
    std::vector<CompactShareReport> reports(threads);
    std::vector<std::thread> pool;
    for (unsigned t = 0; t < threads; ++t) {
      pool.emplace_back([&, t] {
        reports[t] = try_compact_share(v.data(), v.size(), t, threads, h.old(), h.fresh());
      });
    }
    for (std::thread& th : pool) th.join();
    std::size_t left = 0;
    for (const CompactShareReport& r : reports) {
      EXPECT_TRUE(r.error == Error::none || is_retryable(r.error)) << to_string(r.error);
      moved += r.moved;
      left += r.stayed;
    }
    stayed = left;
  }
  EXPECT_EQ(stayed, 0u);
  // A Hard whose twin's relocation is published before its share reaches it
  // already reads as the fresh hold's and is skipped, so each object counts as
  // moved once or twice.
  EXPECT_GE(moved, pairs);
  EXPECT_LE(moved, 2 * pairs);
  for (std::size_t k = 0; k < pairs; ++k) {
    ASSERT_EQ(v[2 * k].hold(), h.fresh());
    ASSERT_EQ(v[2 * k + 1].hold(), h.fresh());
    EXPECT_EQ(v[2 * k].data(), v[2 * k + 1].data()) << "one copy per object";
    EXPECT_EQ(*v[2 * k].try_ref().take(), value_of(k));
  }
  EXPECT_EQ(h.fresh_hold->stats().live, pairs);
  EXPECT_EQ(h.old_hold->stats().live, 0u) << "no stub left: both Hards followed";
  EXPECT_EQ(release_compacted(*h.old_hold).hunks_kept, 0u);
}

}  // namespace
}  // namespace swim::mem
