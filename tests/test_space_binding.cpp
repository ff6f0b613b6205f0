// SpaceBinding and SpaceRef (swim/mem/integrations/space_binding.hpp), without any
// framework: counters, the process-wide default, errors, the leak report, frees
// after the binding is gone, and many threads allocating through copies of one
// reference (TSan).
#include <gtest/gtest.h>

#include <chrono>
#include <cstddef>
#include <cstring>
#include <new>
#include <optional>
#include <thread>
#include <utility>
#include <vector>

#include "swim/mem/holds/process_hold.hpp"
#include "swim/mem/integrations/space_binding.hpp"
#include "swim/mem/sources.hpp"
#include "support/leak_capture.hpp"

namespace {

using namespace swim::mem;
using Pages = SourceHeap<OsPages, concurrent>;
using swim::mem::testing::LeakCapture;


TEST(SpaceBinding, CountsWhatGoesThroughIt) {
  Pages pages;
  Pool<Pages, concurrent> pool(pages, 64 << 10);
  SpaceBinding binding(pool, "pool");
  EXPECT_STREQ(binding.name(), "pool");
  const SpaceRef ref = binding.ref();
  void* a = ref.allocate(100, 64);
  void* b = ref.allocate(0, 8);  // zero takes one byte: a distinct pointer
  EXPECT_NE(a, b);
  EXPECT_EQ(reinterpret_cast<std::uintptr_t>(a) % 64, 0u);
  EXPECT_EQ(pool.stats().live, 2u);
  SpaceStats s = binding.stats();
  EXPECT_EQ(s.allocations, 2u);
  EXPECT_EQ(s.live, 2u);
  EXPECT_EQ(s.bytes_in_use, 101u);
  ref.deallocate(a, 100);
  ref.deallocate(b, 0);
  ref.deallocate(nullptr, 5);  // nothing
  s = ref.stats();
  EXPECT_EQ(s.deallocations, 2u);
  EXPECT_EQ(s.live, 0u);
  EXPECT_EQ(s.bytes_in_use, 0u);
  EXPECT_EQ(s.peak_bytes, 101u);
  EXPECT_EQ(pool.stats().live, 0u);
}

TEST(SpaceBinding, DefaultReferencesShareTheProcessBinding) {
  const SpaceRef a, b;
  EXPECT_TRUE(a == b);
  EXPECT_TRUE(a == default_space_binding());
  EXPECT_TRUE(a.alive());
  const std::size_t before = process_hold_stats().live;
  const std::size_t counted = a.stats().live;
  void* p = a.allocate(5000, 64);
  EXPECT_EQ(b.stats().live, counted + 1);
  EXPECT_GE(process_hold_stats().live, before);
  b.deallocate(p, 5000);
  EXPECT_EQ(a.stats().live, counted);
}

TEST(SpaceBinding, BadInputThrowsAndChangesNothing) {
  alignas(64) static std::byte region[4096];
  Pack<> pack(Block{region, sizeof region});
  SpaceBinding binding(pack);
  const SpaceRef ref = binding.ref();
  try {
    (void)ref.allocate(8, 3);
    ADD_FAILURE() << "an alignment of 3 was accepted";
  } catch (const MemoryError& e) {
    EXPECT_EQ(e.code(), Error::misaligned);
  }
  EXPECT_THROW((void)ref.allocate(1 << 20, 8), OutOfMemory) << "more than the Pack: exhaustion";
  void* most = ref.allocate(3000, 8);
  EXPECT_THROW((void)ref.allocate(3000, 8), std::bad_alloc);
  EXPECT_EQ(binding.stats().failed, 3u);
  EXPECT_EQ(binding.stats().live, 1u);
  EXPECT_EQ(pack.stats().live, 1u);
  LeakCapture leaks;
  int on_stack = 0;
  ref.deallocate(&on_stack, sizeof on_stack);  // refused by the Pack: reported, not counted away
  EXPECT_EQ(LeakCapture::reports, 1);
  EXPECT_STREQ(LeakCapture::last.allocator, "SpaceBinding: free refused");
  EXPECT_EQ(binding.stats().live, 1u) << "a refused free changes no counter";
  EXPECT_EQ(binding.stats().bytes_in_use, 3000u);
  EXPECT_EQ(binding.stats().deallocations, 0u);
  ref.deallocate(most, 3000);
  EXPECT_EQ(pack.stats().live, 0u);
}

TEST(SpaceBinding, AFreeThroughAnotherBindingIsRefusedAndCountsNothing) {
  Pages pages;
  Pool<Pages, concurrent> one(pages, 64 << 10), two(pages, 64 << 10);
  SpaceBinding first(one, "one"), second(two, "two");
  void* p = first.ref().allocate(1024, 64);
  LeakCapture leaks;
  second.ref().deallocate(p, 1024);  // not two's block
  EXPECT_EQ(LeakCapture::reports, 1);
  EXPECT_EQ(second.stats().live, 0u);
  EXPECT_EQ(second.stats().deallocations, 0u);
  EXPECT_EQ(first.stats().live, 1u);
  EXPECT_EQ(one.stats().live, 1u) << "the block is still the first pool's";
  first.ref().deallocate(p, 1024);
  EXPECT_EQ(first.stats().live, 0u);
  EXPECT_EQ(one.stats().live, 0u);
}

TEST(SpaceBinding, ADefaultBindingScopeRedirectsDefaultReferencesOnItsThread) {
  Pages pages;
  Pool<Pages, concurrent> pool(pages, 64 << 10);
  SpaceBinding outer(pool, "outer");
  SizeClasses<Pages> classes(pages);
  SpaceBinding inner(classes, "inner");
  EXPECT_TRUE(SpaceRef() == default_space_binding());
  {
    DefaultBindingScope a(outer);
    EXPECT_TRUE(SpaceRef() == outer.ref());
    {
      DefaultBindingScope b(inner);
      void* p = SpaceRef().allocate(100, 64);
      EXPECT_EQ(classes.stats().live, 1u);
      bool other_thread_default = false;
      std::thread([&] { other_thread_default = SpaceRef() == default_space_binding() &&
                                               !(SpaceRef() == inner.ref()); })
          .join();
      EXPECT_TRUE(other_thread_default) << "a scope is its thread's alone";
      SpaceRef().deallocate(p, 100);
    }
    EXPECT_TRUE(SpaceRef() == outer.ref());
    void* q = SpaceRef().allocate(100, 64);
    EXPECT_EQ(pool.stats().live, 1u);
    outer.ref().deallocate(q, 100);
  }
  EXPECT_FALSE(SpaceRef() == outer.ref());
  EXPECT_EQ(classes.stats().live, 0u);
  EXPECT_EQ(pool.stats().live, 0u);
}

TEST(SpaceBinding, OutlivedByItsReferences) {
  Pages pages;
  Pool<Pages, concurrent> pool(pages, 64 << 10);
  LeakCapture leaks;
  std::optional<SpaceRef> ref;
  void* kept = nullptr;
  {
    SpaceBinding binding(pool, "scoped");
    ref.emplace(binding.ref());
    kept = ref->allocate(64, 16);
    void* freed = ref->allocate(64, 16);
    ref->deallocate(freed, 64);
  }
  ASSERT_EQ(LeakCapture::reports, 1) << "one allocation outlived the binding";
  EXPECT_STREQ(LeakCapture::last.allocator, "SpaceBinding");
  EXPECT_EQ(LeakCapture::last.stats.live, 1u);
  EXPECT_EQ(LeakCapture::last.stats.bytes_in_use, 64u);
  EXPECT_FALSE(ref->alive());
  try {
    (void)ref->allocate(8, 8);
    ADD_FAILURE() << "allocated through a binding that is gone";
  } catch (const MemoryError& e) {
    EXPECT_EQ(e.code(), Error::cleared);
  }
  ref->deallocate(kept, 64);  // orphaned: counted, the pool untouched
  EXPECT_EQ(ref->stats().orphaned, 1u);
  EXPECT_EQ(ref->stats().live, 0u);
  EXPECT_EQ(pool.stats().live, 1u);
  ref.reset();  // the last reference frees the control block (ASan: no leak)
  ASSERT_EQ(pages.stats().live, 1u);
  // Give the orphan back by hand, so that the pool ends empty.
  EXPECT_EQ(pool.try_deallocate(Block{kept, 64}), Error::none);
}

/// A heap-like allocator whose allocation waits until released: a call that is
/// under way when its binding ends.
struct SlowAllocator {
  Pages* pages;
  std::atomic<bool> entered{false}, go{false};
  Result<Block> try_allocate(Layout l) {
    entered = true;
    while (!go) std::this_thread::yield();
    return pages->try_allocate(l);
  }
  Error try_deallocate(Block b) { return pages->try_deallocate(b); }
};

TEST(SpaceBinding, ItsEndWaitsForCallsUnderWayAndReportsWhatTheyMade) {
  Pages pages;
  SlowAllocator slow{&pages};
  LeakCapture leaks;
  std::optional<SpaceBinding> binding(std::in_place, slow, "slow");
  const SpaceRef ref = binding->ref();
  void* made = nullptr;
  std::thread caller([&] { made = ref.allocate(4096, 64); });
  while (!slow.entered) std::this_thread::yield();
  std::thread ender([&] { binding.reset(); });  // must wait for the call under way
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  EXPECT_EQ(LeakCapture::reports, 0) << "the binding ended while a call was in its allocator";
  slow.go = true;
  caller.join();
  ender.join();
  ASSERT_NE(made, nullptr);
  ASSERT_EQ(LeakCapture::reports, 1) << "the allocation made during the end is reported";
  EXPECT_EQ(LeakCapture::last.stats.live, 1u);
  EXPECT_THROW((void)ref.allocate(8, 8), MemoryError);
  ref.deallocate(made, 4096);  // orphaned: the allocator is not touched
  EXPECT_EQ(ref.stats().orphaned, 1u);
  EXPECT_EQ(pages.try_deallocate(Block{made, 4096}), Error::none);  // (by hand, for the test)
}

TEST(SpaceBinding, TheProcessBindingValidatesWhatItIsGivenBack) {
  const SpaceRef ref;  // the process-wide binding
  auto* p = static_cast<unsigned char*>(ref.allocate(256, 64));
  std::memset(p, 0xff, 256);
  LeakCapture leaks;
  ref.deallocate(p + 64, 64);   // inside an object whose bytes look like a freed tag
  ref.deallocate(p + 128, 64);
  EXPECT_EQ(LeakCapture::reports, 2) << "refused, not followed";
  EXPECT_EQ(try_free_checked(p + 64), Error::foreign_pointer);
  int on_stack[4] = {};
  EXPECT_EQ(try_free_checked(&on_stack[2]), Error::foreign_pointer);
  ref.deallocate(p, 256);
  EXPECT_EQ(LeakCapture::reports, 2);
  EXPECT_EQ(try_free_checked(p), Error::double_free);
}

TEST(SpaceBinding, ManyThreadsThroughCopiesOfOneReference) {
  Pages pages;
  SizeClasses<Pages> classes(pages);
  SpaceBinding binding(HoldRef::of(classes), "classes");
  constexpr int kThreads = 4, kRounds = 3000;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([ref = binding.ref(), t] {
      std::vector<std::pair<void*, std::size_t>> mine;
      for (int i = 0; i < kRounds; ++i) {
        const SpaceRef copy = ref;  // a framework copies its space objects freely
        const std::size_t bytes = 16 + static_cast<std::size_t>((i + t) % 40) * 8;
        mine.emplace_back(copy.allocate(bytes, 16), bytes);
        if (i % 3 == 2) {
          copy.deallocate(mine.back().first, mine.back().second);
          mine.pop_back();
        }
      }
      for (const auto& [p, bytes] : mine) ref.deallocate(p, bytes);
    });
  }
  for (std::thread& th : threads) th.join();
  const SpaceStats s = binding.stats();
  EXPECT_EQ(s.allocations, std::size_t{kThreads} * kRounds);
  EXPECT_EQ(s.deallocations, s.allocations);
  EXPECT_EQ(s.live, 0u);
  EXPECT_EQ(s.bytes_in_use, 0u);
  EXPECT_EQ(classes.stats().live, 0u);
}

}  // namespace
