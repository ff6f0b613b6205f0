// Scopes (the current hold, keeping survivors) and compaction.
#include <gtest/gtest.h>

#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "support/list.hpp"
#include "swim/mem.hpp"

namespace swim::mem {
namespace {

using testing::make_list;
using testing::Node;
using testing::values;

alignas(4096) std::byte g_outer[1 << 16];
alignas(4096) std::byte g_inner[1 << 16];
alignas(4096) std::byte g_pages[4 << 20];

TEST(Scope, MakesItsHoldCurrentAndNests) {
  EXPECT_FALSE(current_hold());
  Pack<> outer(Block{g_outer, sizeof g_outer});
  const HoldRef previous = set_default_hold(HoldRef::of(outer));
  EXPECT_EQ(current_hold(), HoldRef::of(outer));
  {
    Scope<Pack<>> a(Block{g_inner, sizeof g_inner / 2});
    EXPECT_EQ(current_hold(), a.ref());
    EXPECT_EQ(a.outer(), HoldRef::of(outer));
    {
      Scope<Pack<>> b(Block{g_inner + sizeof g_inner / 2, sizeof g_inner / 2});
      EXPECT_EQ(current_hold(), b.ref());
      EXPECT_EQ(b.outer(), a.ref());
    }
    EXPECT_EQ(current_hold(), a.ref());
  }
  EXPECT_EQ(current_hold(), HoldRef::of(outer));
  set_default_hold(previous);
}

// Raw<Box<size_t>> through current_hold(): the objects land in the Scope's Pack.
TEST(Scope, CrateLocalHoldScenario) {
  Scope<Pack<>> scope(Block{g_inner, 4096});
  {
    auto x = Raw<Box<std::size_t>>::try_new(current_hold(), std::size_t{5});
    EXPECT_EQ(scope.hold().stats().live, 1u);
    EXPECT_EQ(scope.hold().stats().bytes_in_use, 8u);
    auto y = Raw<Box<std::size_t>>::try_new(current_hold(), std::size_t{9});
    EXPECT_EQ(scope.hold().stats().bytes_in_use, 16u);
    EXPECT_EQ(**x, 5u);
  }
  EXPECT_EQ(scope.hold().stats().live, 0u);
}

TEST(Scope, KeepsSurvivorsAndReleasesTheRestAtOnce) {
  AddrSpace<> pages(Block{g_pages, sizeof g_pages});
  Pool<AddrSpace<>> home(pages, 64 * 1024);
  const HoldRef previous = set_default_hold(HoldRef::of(home));
  Raw<Box<Node>> kept;
  {
    Scope<Pool<AddrSpace<>>> scratch(pages, 16 * 1024);
    // Lots of scratch data, and one result.
    std::vector<Raw<Box<Node>>> garbage;
    for (int i = 0; i < 50; ++i) garbage.push_back(make_list(current_hold(), 20));
    kept = make_list(current_hold(), 30, 100);
    garbage.clear();
    EXPECT_GT(scratch.hold().hunk_count(), 1u);
    ASSERT_EQ(scratch.try_keep(kept), Error::none);
    EXPECT_EQ(scratch.hold().stats().live, 0u);
  }
  EXPECT_EQ(pages.stats().bytes_in_use, home.reserved_bytes())
      << "only the home pool's hunks are left: the scratch pool's went back";
  EXPECT_EQ(home.stats().live, 30u);
  std::vector<std::uint64_t> expect(30);
  for (int i = 0; i < 30; ++i) expect[i] = 100 + i;
  EXPECT_EQ(values(kept), expect);
  kept = Raw<Box<Node>>{};
  EXPECT_EQ(home.stats().live, 0u);
  set_default_hold(previous);
}

TEST(Scope, EndingWithUnkeptObjectsReportsALeak) {
  static std::vector<std::string> reports;
  reports.clear();
  const leak_handler previous =
      set_leak_handler([](const LeakReport& r) { reports.emplace_back(r.allocator); });
  Pack<> outer(Block{g_outer, sizeof g_outer});
  const HoldRef prev_default = set_default_hold(HoldRef::of(outer));
  Raw<Box<int>> escaped;
  {
    Scope<Pack<>> scope(Block{g_inner, 4096});
    escaped = Raw<Box<int>>::try_new(current_hold(), 1).take();
    escaped.release();  // the object is still live in the scope: a leak
  }
  set_leak_handler(previous);
  set_default_hold(prev_default);
  ASSERT_FALSE(reports.empty());
  EXPECT_EQ(reports.front(), "Scope");
}

// LocalScope: the same with an explicit handle and no thread-local state (the device
// form; tests/test_device_workers.cpp runs it in the device workers too).
TEST(LocalScope, KeepsSurvivorsIntoTheOuterHoldAndEndsWhole) {
  Pack<> outer(Block{g_outer, sizeof g_outer});
  unsigned long long leaks = 0;
  const HoldRef before = current_hold();
  Raw<Box<Node>> kept;
  {
    LocalScope<Pack<single_owner>> scratch(HoldRef::of(outer), &leaks, Block{g_inner, 4096});
    EXPECT_EQ(current_hold(), before) << "no thread-local state";
    Raw<Box<Node>> garbage = make_list(scratch.ref(), 20);
    kept = make_list(scratch.ref(), 5, 100);
    EXPECT_EQ(scratch.hold().stats().live, 25u);
    garbage = {};
    ASSERT_EQ(scratch.try_keep(kept), Error::none);
    EXPECT_EQ(scratch.hold().stats().live, 0u);
    EXPECT_EQ(kept.hold(), HoldRef::of(outer));
  }
  EXPECT_EQ(leaks, 0u);
  EXPECT_EQ(values(kept), (std::vector<std::uint64_t>{100, 101, 102, 103, 104}));
  kept = {};
  EXPECT_EQ(outer.stats().live, 0u);
}

TEST(LocalScope, CountsALeakAndReportsIt) {
  static std::vector<std::string> reports;
  reports.clear();
  const leak_handler previous =
      set_leak_handler([](const LeakReport& r) { reports.emplace_back(r.allocator); });
  unsigned long long leaks = 0;
  {
    LocalScope<Pack<>> scratch(HoldRef{}, &leaks, Block{g_inner, 4096});
    Raw<Box<int>> escaped = Raw<Box<int>>::try_new(scratch.ref(), 1).take();
    EXPECT_EQ(scratch.try_keep(escaped), Error::unsupported) << "no outer hold";
    escaped.release();  // still live in the scope
  }
  set_leak_handler(previous);
  EXPECT_EQ(leaks, 1u);
  ASSERT_FALSE(reports.empty());
  EXPECT_EQ(reports.front(), "Scope");
}

// A scope ended out of order (on the heap, destroyed while an inner one lives) is
// still taken off the thread's stack: current_hold() never reads a dead entry.
TEST(Scope, EndedOutOfOrderIsUnlinked) {
  Pack<> outer(Block{g_outer, sizeof g_outer});
  const HoldRef prev_default = set_default_hold(HoldRef::of(outer));
  auto* heap_scope = new Scope<Pack<>>(Block{g_inner, 4096});
  {
    Scope<Pack<>> inner(Block{g_inner + 4096, 4096});
    EXPECT_EQ(current_hold(), inner.ref());
    delete heap_scope;  // out of order
    EXPECT_EQ(current_hold(), inner.ref());
  }
  EXPECT_EQ(current_hold(), HoldRef::of(outer)) << "back to the default, no dead entry";
  set_default_hold(prev_default);
}

TEST(StowAll, IsAllOrNothing) {
  Pack<> src(Block{g_inner, sizeof g_inner});
  Raw<Box<Node>> a = make_list(HoldRef::of(src), 10);
  Raw<Box<Node>> b = make_list(HoldRef::of(src), 10, 50);
  // Room for a (10 nodes of 24 bytes) but not for b.
  Pack<> small(Block{g_outer, 15 * 24});
  EXPECT_EQ(try_stow_all(HoldRef::of(small), a, b), Error::out_of_memory);
  EXPECT_EQ(small.stats().live, 0u);
  EXPECT_EQ(values(a).size(), 10u);
  EXPECT_EQ(values(b).front(), 50u);
  Pack<> big(Block{g_outer, sizeof g_outer});
  ASSERT_EQ(try_stow_all(HoldRef::of(big), a, b), Error::none);
  EXPECT_EQ(src.stats().live, 0u);
  EXPECT_EQ(big.stats().live, 20u);
  EXPECT_EQ(values(b).back(), 59u);
  a = {};
  b = {};  // before `big` goes (it would report them as leaked)
  EXPECT_EQ(big.stats().live, 0u);
}

TEST(Compaction, RelocatesSurvivorsIntoFreshHunksAndReleasesTheOldOnes) {
  AddrSpace<> pages(Block{g_pages, sizeof g_pages});
  Pool<AddrSpace<>> pool(pages, 16 * 1024);
  // Interleave survivors with garbage so every hunk ends up sparse.
  std::vector<Raw<Box<Node>>> survivors, garbage;
  for (int i = 0; i < 100; ++i) {
    survivors.push_back(make_list(HoldRef::of(pool), 1, 1000 + i));
    garbage.push_back(make_list(HoldRef::of(pool), 9));
  }
  garbage.clear();
  Raw<Box<Node>> roots = make_list(HoldRef::of(pool), 5, 7);
  for (auto& s : survivors) {  // chain the survivors under one root
    Raw<Box<Node>> tail = detail::move(s);
    tail->next = detail::move(roots->next);
    roots->next = detail::move(tail);
  }
  const std::vector<std::uint64_t> before = values(roots);
  const Result<CompactionReport> r = try_compact(pool, roots);
  ASSERT_TRUE(r.ok()) << to_string(r.error());
  EXPECT_EQ(values(roots), before);
  EXPECT_EQ(r->bytes_moved, before.size() * sizeof(Node));
  EXPECT_EQ(r->in_use_after, r->in_use_before);
  EXPECT_GT(r->fragmentation_before, 0.5);
  EXPECT_LT(r->fragmentation_after, 0.02) << "the fragmentation target: at most 2 % after compaction";
  EXPECT_LT(r->reserved_after, r->reserved_before);
  EXPECT_LE(pool.hunk_count(), 2u);
  std::printf("compaction: %zu B moved; fragmentation %.3f -> %.3f; reserved %zu -> %zu B\n",
              r->bytes_moved, r->fragmentation_before, r->fragmentation_after,
              r->reserved_before, r->reserved_after);
  while (roots) roots = detail::move(roots->next);
  EXPECT_EQ(pool.stats().live, 0u);
}

}  // namespace
}  // namespace swim::mem
