// try_malloc / try_free (include/swim/mem/holds/process_hold.hpp): the process-wide
// SizeClasses hold and its per-thread caches.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <cstring>
#include <mutex>
#include <random>
#include <thread>
#include <vector>

#include "swim/mem.hpp"

namespace swim::mem::testing {
namespace {

TEST(ProcessHold, AnySizeLikeMalloc) {
  std::vector<Block> got;
  for (std::size_t n : {0, 1, 8, 24, 100, 1000, 4096, 32760, 32761, 100000, 1 << 20}) {
    const Result<Block> b = try_malloc(n);
    ASSERT_TRUE(b.ok()) << n;
    EXPECT_GE(b->size, n == 0 ? 1 : n);
    EXPECT_EQ(b->address() % 16, 0u);
    std::memset(b->ptr, static_cast<int>(n & 0xFF), b->size);
    EXPECT_EQ(HoldRef::owner_of(b->ptr), process_hold());
    got.push_back(*b);
  }
  const Block wide = *try_malloc(100, 4096);
  EXPECT_EQ(wide.address() % 4096, 0u);
  for (const Block& b : got) EXPECT_EQ(try_free(b.ptr), Error::none);
  EXPECT_EQ(try_free(wide.ptr), Error::none);
  EXPECT_EQ(try_free(nullptr), Error::none);
  EXPECT_EQ(try_malloc(8, 3).error(), Error::misaligned);
}

TEST(ProcessHold, MisuseIsReported) {
  const Block a = *try_malloc(40);
  ASSERT_EQ(try_free(a.ptr), Error::none);
  EXPECT_EQ(try_free(a.ptr), Error::double_free) << "cached, and still seen";
  // (A large object's pages go back to the OS at its free: a second free of one
  // reads unmapped memory. Documented in process_hold.hpp, not tested.)
  alignas(64) static std::byte region[1 << 16];
  Pack<> pack(Block{region, sizeof region});
  const Block other = *pack.try_allocate(Layout{32, 8});
  EXPECT_EQ(try_free(other.ptr), Error::foreign_pointer) << "another hold's object";
  EXPECT_EQ(pack.stats().live, 1u);
  EXPECT_EQ(hold_deallocate(other), Error::none);
}

TEST(ProcessHold, ACachedObjectIsReusedByItsThread) {
  const Block a = *try_malloc(200);
  ASSERT_EQ(try_free(a.ptr), Error::none);
  const Block b = *try_malloc(200);
  EXPECT_EQ(b.ptr, a.ptr);
  EXPECT_EQ(try_free(b.ptr), Error::none);
}

TEST(ProcessHold, CacheLineAlignedObjectsAreCachedClassObjects) {
  for (std::size_t align : {32, 64}) {
    const Block a = *try_malloc(200, align);
    EXPECT_EQ(a.address() % align, 0u);
    ASSERT_EQ(try_free(a.ptr), Error::none);
    const Block b = *try_malloc(200, align);
    EXPECT_EQ(b.ptr, a.ptr) << "the thread's cache gave it back (no heap block each time)";
    ASSERT_EQ(try_free(b.ptr), Error::none);
    EXPECT_EQ(try_free(b.ptr), Error::double_free);
  }
}

TEST(ProcessHold, ThreadsFreeEachOthersObjectsAndExitWithoutLoss) {
  flush_thread_cache();
  const std::size_t live_before = process_hold_stats().live;
  std::mutex m;
  std::vector<std::pair<void*, std::uint64_t>> handed;
  std::atomic<int> bad{0};
  std::vector<std::thread> ts;
  for (unsigned t = 0; t < 4; ++t) {
    ts.emplace_back([&, t] {
      std::mt19937_64 rng(t + 7);
      std::vector<std::pair<void*, std::uint64_t>> mine;
      for (int r = 0; r < 20000; ++r) {
        const unsigned op = static_cast<unsigned>(rng() % 10);
        if (op < 5 || mine.empty()) {
          const std::size_t n = rng() % 16 == 0 ? 40000 : 8 + rng() % 1000;
          const Result<Block> b = try_malloc(n);
          if (!b) {
            ++bad;
            continue;
          }
          const std::uint64_t v = rng();
          std::memcpy(b->ptr, &v, 8);
          mine.emplace_back(b->ptr, v);
        } else if (op < 7) {
          std::lock_guard<std::mutex> g(m);
          handed.push_back(mine.back());
          mine.pop_back();
        } else {
          std::pair<void*, std::uint64_t> x;
          {
            std::lock_guard<std::mutex> g(m);
            if (!handed.empty() && rng() % 2 == 0) {
              x = handed.back();
              handed.pop_back();
            } else {
              x = mine.back();
              mine.pop_back();
            }
          }
          std::uint64_t v = 0;
          std::memcpy(&v, x.first, 8);
          if (v != x.second) ++bad;
          if (try_free(x.first) != Error::none) ++bad;
        }
      }
      for (auto& x : mine) {
        if (try_free(x.first) != Error::none) ++bad;
      }
    });  // the thread's cache goes back at exit
  }
  for (auto& t : ts) t.join();
  for (auto& x : handed) {
    if (try_free(x.first) != Error::none) ++bad;
  }
  flush_thread_cache();
  EXPECT_EQ(bad.load(), 0);
  EXPECT_EQ(process_hold_stats().live, live_before) << "every thread's cache came back";
}

TEST(ProcessHold, EveryRequestGetsItsClassCapacity) {
  using Table = detail::SizeClassTable;
  for (std::size_t n = 1; n <= Table::max_object; n += (n < 4096 ? 1 : 61)) {
    for (std::size_t align : {1, 8, 16}) {
      const Result<Block> b = try_malloc(n, align);
      ASSERT_TRUE(b) << n;
      ASSERT_EQ(b->size, Table::stride(Table::of_object(n)) - 8) << n;
      ASSERT_EQ(b->address() % 16, 0u) << n;
      static_cast<unsigned char*>(b->ptr)[n - 1] = 0x42;
      ASSERT_EQ(try_free(b->ptr), Error::none) << n;
    }
  }
  EXPECT_EQ(try_malloc(8, 0).error(), Error::misaligned);
  EXPECT_EQ(try_malloc(2000, 0).error(), Error::misaligned);
  EXPECT_EQ(try_malloc(8, 24).error(), Error::misaligned);
}

TEST(ProcessHold, AThreadThatOnlyFreesGivesItsCacheBackAtExit) {
  flush_thread_cache();
  const std::size_t live_before = process_hold_stats().live;
  std::vector<void*> objects;
  for (int i = 0; i < 100; ++i) objects.push_back(try_malloc(64 + static_cast<std::size_t>(i))->ptr);
  std::thread freer([&] {
    for (void* p : objects) EXPECT_EQ(try_free(p), Error::none);
    EXPECT_EQ(try_free(objects[0]), Error::double_free);
  });
  freer.join();
  flush_thread_cache();
  EXPECT_EQ(process_hold_stats().live, live_before) << "the freeing thread's cache came back at its exit";
}

// A consumer's full cache hands batches over; a producer's empty cache takes them.
TEST(ProcessHold, ObjectsFreedByOneThreadServeAnother) {
  trim_process_hold();  // (nothing waits from earlier tests)
  flush_thread_cache();
  const std::size_t live_before = process_hold_stats().live;
  std::vector<void*> made;
  for (int i = 0; i < 4096; ++i) made.push_back(try_malloc(200)->ptr);
  std::thread([&] {
    for (void* p : made) EXPECT_EQ(try_free(p), Error::none);
  }).join();
  EXPECT_EQ(process_hold_stats().live, live_before);
  // Waiting between threads: at most 64 batches of 16 per class (the rest went
  // back to their hunks). The hold itself still counts them as live.
  const std::size_t waiting = process_hold().stats().live - process_hold_stats().live;
  EXPECT_GT(waiting, 0u);
  EXPECT_LE(waiting, 64u * 16u);
  // This thread's next allocations take those batches: freed objects come back.
  std::vector<void*> again;
  std::size_t reused = 0;
  for (int i = 0; i < 64; ++i) {
    again.push_back(try_malloc(200)->ptr);
    reused += std::count(made.begin(), made.end(), again.back()) != 0 ? 1 : 0;
  }
  EXPECT_EQ(reused, 64u);
  for (void* p : again) EXPECT_EQ(try_free(p), Error::none);
  flush_thread_cache();
  EXPECT_EQ(process_hold_stats().live, live_before);
}

TEST(ProcessHold, TrimTakesBackWhatWaitsBetweenThreads) {
  std::vector<void*> made;
  for (int i = 0; i < 1000; ++i) made.push_back(try_malloc(96)->ptr);
  std::thread([&] {
    for (void* p : made) EXPECT_EQ(try_free(p), Error::none);
  }).join();
  flush_thread_cache();
  EXPECT_GT(process_hold().stats().live, process_hold_stats().live);
  trim_process_hold();
  EXPECT_EQ(process_hold().stats().live, process_hold_stats().live) << "nothing waits after a trim";
}

// Resident memory follows live bytes: once everything is freed, flushed and
// trimmed, the hold holds nothing (every hunk unmapped, nothing waits).
TEST(ProcessHold, FreeingEverythingLeavesNothingHeldAfterTrim) {
  flush_thread_cache();
  trim_process_hold();
  ASSERT_EQ(process_hold().stats().live, 0u) << "an earlier test left objects";
  std::vector<void*> live;
  std::mt19937_64 rng(3);
  for (int i = 0; i < 20000; ++i) live.push_back(try_malloc(16 + rng() % 4081)->ptr);
  EXPECT_GT(process_hold().stats().bytes_in_use, 20000u * 16u);
  std::thread([&] {  // half freed by another thread, which exits
    for (std::size_t i = 0; i < live.size(); i += 2) EXPECT_EQ(try_free(live[i]), Error::none);
  }).join();
  for (std::size_t i = 1; i < live.size(); i += 2) EXPECT_EQ(try_free(live[i]), Error::none);
  flush_thread_cache();
  EXPECT_GT(trim_process_hold(), 0u);
  const Stats s = process_hold().stats();
  EXPECT_EQ(s.live, 0u);
  EXPECT_EQ(s.bytes_in_use, 0u);
  EXPECT_EQ(s.bytes_free, 0u) << "a hunk stayed mapped";
}

TEST(ProcessHold, LeasesLiveInIt) {
  Raw<String<>> s = Raw<String<>>::try_from(process_hold(), "process").take();
  ASSERT_EQ(s.try_append(" hold"), Error::none);
  EXPECT_EQ(std::string(s.data(), s.size()), "process hold");
}

}  // namespace
}  // namespace swim::mem::testing
