// The conformance suite: the same checks for every allocator and mode. A typed
// test pattern (TYPED_TEST_P); the tests/conformance/*.cpp files each instantiate it
// for some of the allocators (one program, test_conformance, split in translation
// units so that two cores build it together).
//
// What every swim-mem allocator promises (include/swim/mem/heaps/concept.hpp):
// blocks of at least the requested size and alignment that never overlap; errors
// as values; a failed call leaves the allocator exactly as it was; statistics
// that match what was handed out, with a largest_free that one allocation gets
// without asking an upstream; foreign pointers and double frees rejected; a walk
// (physical/region.hpp) that tiles each of its ranges and shows every live block
// live.
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <map>
#include <random>
#include <vector>

#include "factories.hpp"

namespace swim::mem::testing {
namespace {

bool same(const Stats& a, const Stats& b) {
  return a.live == b.live && a.bytes_in_use == b.bytes_in_use && a.bytes_free == b.bytes_free &&
         a.peak_bytes == b.peak_bytes && a.largest_free == b.largest_free;
}

std::byte pattern(std::uint64_t id, std::size_t i) {
  return static_cast<std::byte>((id * 0x9E3779B97F4A7C15ull + i * 31u) >> 56);
}
void fill(const Block& b, std::uint64_t id) {
  for (std::size_t i = 0; i < b.size; ++i) b.begin()[i] = pattern(id, i);
}
bool intact(const Block& b, std::uint64_t id) {
  for (std::size_t i = 0; i < b.size; ++i) {
    if (b.begin()[i] != pattern(id, i)) return false;
  }
  return true;
}

template <class F>
class Conformance : public ::testing::Test {
 protected:
  void SetUp() override {
    if constexpr (requires { F::available(); }) {
      if (!F::available()) GTEST_SKIP() << "no device: this heap's memory is not here";
    }
    f = std::make_unique<F>();
  }

  std::unique_ptr<F> f;
  typename F::Alloc& a() { return f->alloc; }

  // Whether stats().peak_bytes is exactly the high-water mark of what was handed out
  // (a cache's peak also counts the units it holds).
  static constexpr bool exact_peak() {
    if constexpr (requires { F::exact_peak; }) {
      return F::exact_peak;
    } else {
      return true;
    }
  }

  // Whether the allocator can be exhausted here (a Pool over OsPages maps pages
  // until the system refuses: the exhaustion test is skipped for it, and says so).
  static constexpr bool bounded() {
    if constexpr (requires { F::bounded; }) {
      return F::bounded;
    } else {
      return true;
    }
  }

  // Whether the allocator grows from a heap (the factory gives its statistics):
  // a request above largest_free may then be served by asking it.
  static constexpr bool grows() { return requires(const F& x) { x.upstream_stats(); }; }
  Stats upstream() const {
    if constexpr (grows()) {
      return f->upstream_stats();
    } else {
      return Stats{};
    }
  }

  // At a quiescent moment: largest_free <= bytes_free, fragmentation() in [0, 1], a
  // request of largest_free bytes (alignment 1) is served without the upstream, and
  // one of a byte more is not: refused (nothing changed), or served by the upstream.
  void check_largest_free(const char* when) {
    const Stats s = a().stats();
    EXPECT_LE(s.largest_free, s.bytes_free) << when;
    EXPECT_GE(fragmentation(s), 0.0) << when;
    EXPECT_LE(fragmentation(s), 1.0) << when;
    if (s.largest_free != 0) {
      const Stats up = upstream();
      const Result<Block> r = a().try_allocate(Layout{s.largest_free, 1});
      ASSERT_TRUE(r.ok()) << when << ": a request of largest_free = " << s.largest_free
                          << " bytes failed: " << to_string(r.error());
      EXPECT_GE(r->size, s.largest_free) << when;
      EXPECT_EQ(upstream().live, up.live) << when << ": largest_free was served by the upstream";
      ASSERT_EQ(release(*r, false), Error::none) << when;
    }
    const Stats before = a().stats();
    const Stats up = upstream();
    const Result<Block> more = a().try_allocate(Layout{before.largest_free + 1, 1});
    if (more.ok()) {
      EXPECT_TRUE(grows()) << when << ": " << before.largest_free + 1
                           << " bytes were served, above largest_free";
      EXPECT_GT(upstream().live, up.live)
          << when << ": " << before.largest_free + 1
          << " bytes were served without the upstream, above largest_free";
      ASSERT_EQ(release(*more, true), Error::none) << when;
    } else {
      EXPECT_TRUE(same(before, a().stats())) << when;
    }
  }

  // The walk tiles each of its ranges (a range is one run of regions with the same
  // base: offsets from 0, each region where the one before ended, no empty region,
  // no range twice); every block of `live` lies in a live region; some free region
  // holds largest_free. Heaps (untagged: one region per block) show exactly their
  // live blocks: as many live regions as stats().live, their bytes bytes_in_use.
  void check_walk(const std::vector<Block>& live, const char* when) {
    std::vector<Region> regions;
    a().walk([&](const Region& r) { regions.push_back(r); });
    std::vector<const void*> bases;
    std::size_t next = 0, live_regions = 0, live_bytes = 0, largest_free_region = 0;
    for (std::size_t i = 0; i < regions.size(); ++i) {
      const Region& r = regions[i];
      EXPECT_NE(r.size, 0u) << when << ": region " << i;
      if (i == 0 || r.base != regions[i - 1].base) {
        EXPECT_EQ(std::find(bases.begin(), bases.end(), r.base), bases.end())
            << when << ": range " << r.base << " walked twice";
        bases.push_back(r.base);
        next = 0;
      }
      EXPECT_EQ(r.offset, next) << when << ": region " << i << " leaves a gap or overlaps";
      next = r.offset + r.size;
      if (r.kind == RegionKind::live) {
        ++live_regions;
        live_bytes += r.size;
      }
      if (r.kind == RegionKind::free) largest_free_region = std::max(largest_free_region, r.size);
    }
    const Stats s = a().stats();
    EXPECT_GE(largest_free_region, s.largest_free) << when;
    for (const Block& b : live) {
      if (b.size == 0) continue;
      const bool inside = std::any_of(regions.begin(), regions.end(), [&](const Region& r) {
        return r.kind == RegionKind::live && b.address() >= r.address() &&
               b.address() + b.size <= r.address() + r.size;
      });
      EXPECT_TRUE(inside) << when << ": the live block at " << b.ptr << " is in no live region";
    }
    if constexpr (!F::tagged) {
      EXPECT_EQ(live_regions, s.live) << when;
      EXPECT_EQ(live_bytes, s.bytes_in_use) << when;
    }
  }

  // Free through the allocator, or (tagged holds, every other call) through the tag.
  Error release(const Block& b, bool via_tag) {
    if constexpr (F::tagged) {
      if (via_tag) return hold_deallocate(b);
    }
    (void)via_tag;
    return a().try_deallocate(b);
  }

  // Free blocks 0, 2, 4, ... (every fourth through the tag when `via_tags`); returns
  // the others, still live.
  std::vector<Block> release_every_other(const std::vector<Block>& blocks, bool via_tags) {
    std::vector<Block> kept;
    for (std::size_t i = 0; i < blocks.size(); ++i) {
      if (i % 2 == 0) {
        EXPECT_EQ(release(blocks[i], via_tags && i % 4 == 0), Error::none) << "block " << i;
      } else {
        kept.push_back(blocks[i]);
      }
    }
    return kept;
  }
};

class FactoryNames {
 public:
  template <class F>
  static std::string GetName(int) {
    if constexpr (requires { F::name(); }) {
      return F::name();
    } else {
      return F::name;
    }
  }
};
TYPED_TEST_SUITE_P(Conformance);


TYPED_TEST_P(Conformance, StartsEmpty) {
  const Stats s = this->a().stats();
  EXPECT_EQ(s.live, 0u);
  EXPECT_EQ(s.bytes_in_use, 0u);
  if (this->exact_peak()) {
    EXPECT_EQ(s.peak_bytes, 0u);
  }
  if constexpr (requires { this->a().init_error(); }) {
    EXPECT_EQ(this->a().init_error(), Error::none);
  }
}

TYPED_TEST_P(Conformance, ZeroSize) {
  const Stats before = this->a().stats();
  for (std::size_t align : {std::size_t(1), std::size_t(8), std::size_t(64)}) {
    const Result<Block> r = this->a().try_allocate(Layout{0, align});
    ASSERT_TRUE(r.ok()) << to_string(r.error());
    EXPECT_EQ(r->size, 0u);
    EXPECT_NE(r->ptr, nullptr);
    EXPECT_EQ(this->a().stats().live, before.live + (TypeParam::zero_counts ? 1 : 0));
    EXPECT_EQ(this->a().stats().bytes_in_use, before.bytes_in_use);
    EXPECT_EQ(this->release(*r, align == 8), Error::none);
  }
  EXPECT_EQ(this->a().stats().live, before.live);
}

TYPED_TEST_P(Conformance, Alignments1To4096) {
  const std::size_t max_align = this->f->max_align();
  for (std::size_t align = 1; align <= 4096; align *= 2) {
    const Stats before = this->a().stats();
    const Result<Block> r = this->a().try_allocate(Layout{24, align});
    if (align > max_align) {
      ASSERT_FALSE(r.ok()) << "alignment " << align << " above the guarantee " << max_align;
      EXPECT_EQ(r.error(), Error::misaligned);
      EXPECT_TRUE(same(before, this->a().stats()));
      continue;
    }
    ASSERT_TRUE(r.ok()) << "align " << align << ": " << to_string(r.error());
    EXPECT_EQ(r->address() % align, 0u) << "align " << align;
    EXPECT_GE(r->size, 24u);
    fill(*r, align);
    EXPECT_TRUE(intact(*r, align));
    EXPECT_EQ(this->release(*r, (align & 1) != 0), Error::none);
  }
  EXPECT_EQ(this->a().stats().live, 0u);
}

TYPED_TEST_P(Conformance, BadLayoutsAreRejected) {
  EXPECT_EQ(Layout::from_size_align(16, 3).error(), Error::misaligned);
  const Stats before = this->a().stats();
  // A Layout built by hand can carry any alignment: not a power of two is refused.
  for (const std::size_t align : {std::size_t(0), std::size_t(3), std::size_t(24),
                                  std::size_t(1) << 63 | 1}) {
    EXPECT_EQ(this->a().try_allocate(Layout{16, align}).error(), Error::misaligned) << align;
    EXPECT_EQ(this->a().try_allocate(Layout{0, align}).error(), Error::misaligned) << align;
  }
  const Result<Block> huge = this->a().try_allocate(Layout{std::size_t(1) << 62, 8});
  ASSERT_FALSE(huge.ok());
  EXPECT_EQ(huge.error(), Error::oversized);
  if (this->bounded()) {  // (an unbounded one may well serve it)
    const Result<Block> big = this->a().try_allocate(Layout{this->f->max_size() * 1024, 8});
    ASSERT_FALSE(big.ok());
    EXPECT_TRUE(big.error() == Error::oversized || big.error() == Error::out_of_memory)
        << to_string(big.error());
  }
  EXPECT_TRUE(same(before, this->a().stats()));
  // Resizing to such a layout is refused too, and changes nothing.
  if constexpr (TypeParam::tagged) {
    const Result<Block> b = this->a().try_allocate(Layout{64, 8});
    ASSERT_TRUE(b.ok());
    const Stats with_b = this->a().stats();
    EXPECT_EQ(hold_resize(*b, Layout{32, 0}).error(), Error::misaligned);
    EXPECT_EQ(hold_resize(*b, Layout{32, 3}).error(), Error::misaligned);
    EXPECT_EQ(this->a().try_resize(*b, Layout{32, 0}).error(), Error::misaligned);
    EXPECT_TRUE(same(with_b, this->a().stats()));
    EXPECT_EQ(this->a().try_deallocate(*b), Error::none);
  }
}

TYPED_TEST_P(Conformance, LiveBlocksNeverOverlap) {
  std::mt19937_64 rng(7);
  std::vector<std::pair<Block, std::uint64_t>> live;
  const std::size_t max = std::min<std::size_t>(this->f->max_size(), 400);
  for (std::uint64_t id = 1; id <= 300; ++id) {
    const std::size_t size = 1 + rng() % max;
    const std::size_t align = std::size_t(1) << (rng() % 7);
    const Result<Block> r = this->a().try_allocate(Layout{size, align});
    if (!r) {
      EXPECT_EQ(r.error(), Error::out_of_memory);
      break;
    }
    ASSERT_GE(r->size, size);
    fill(*r, id);
    live.emplace_back(*r, id);
  }
  ASSERT_GT(live.size(), 10u);
  std::vector<Block> sorted;
  for (auto& [b, id] : live) {
    EXPECT_TRUE(intact(b, id)) << "block " << id << " was overwritten";
    sorted.push_back(b);
  }
  std::sort(sorted.begin(), sorted.end(),
            [](const Block& x, const Block& y) { return x.address() < y.address(); });
  for (std::size_t i = 1; i < sorted.size(); ++i) {
    EXPECT_LE(sorted[i - 1].address() + sorted[i - 1].size, sorted[i].address());
  }
  for (std::size_t i = 0; i < live.size(); ++i) {
    EXPECT_EQ(this->release(live[i].first, i % 2 == 0), Error::none);
  }
  EXPECT_EQ(this->a().stats().live, 0u);
  EXPECT_EQ(this->a().stats().bytes_in_use, 0u);
}

TYPED_TEST_P(Conformance, ExhaustionIsAnErrorAndRecoverable) {
  if (!this->bounded()) GTEST_SKIP() << "this allocator's memory only ends with the system's";
  const Layout layout{256, 8};
  std::vector<Block> blocks;
  Result<Block> r = this->a().try_allocate(layout);
  while (r.ok()) {
    blocks.push_back(*r);
    ASSERT_LT(blocks.size(), 1u << 20) << "never exhausted";
    r = this->a().try_allocate(layout);
  }
  EXPECT_EQ(r.error(), Error::out_of_memory);
  ASSERT_GT(blocks.size(), 4u);
  // A failed allocation changes nothing, however often it is tried.
  const Stats full = this->a().stats();
  for (int i = 0; i < 3; ++i) EXPECT_FALSE(this->a().try_allocate(layout).ok());
  EXPECT_TRUE(same(full, this->a().stats()));
  // Free every other block, then the space is usable again.
  const std::vector<Block> kept = this->release_every_other(blocks, true);
  for (const Block& b : kept) ASSERT_EQ(this->release(b, false), Error::none);
  EXPECT_EQ(this->a().stats().live, 0u);
  std::size_t again = 0;
  for (; again < blocks.size(); ++again) {
    const Result<Block> x = this->a().try_allocate(layout);
    ASSERT_TRUE(x.ok()) << "after freeing everything, allocation " << again << " failed with "
                        << to_string(x.error());
    blocks[again] = *x;
  }
  for (std::size_t i = 0; i < again; ++i) ASSERT_EQ(this->release(blocks[i], true), Error::none);
  EXPECT_EQ(this->a().stats().live, 0u);
}

// Random allocate/free sequences checked against a reference model: which blocks
// are live, their contents, and what the statistics must say.
TYPED_TEST_P(Conformance, RandomSequencesMatchReferenceModel) {
  for (std::uint64_t seed : {1u, 2u, 3u}) {
    std::mt19937_64 rng(seed);
    std::map<std::uint64_t, Block> model;  // id -> block
    std::size_t model_bytes = 0, peak = this->a().stats().peak_bytes;
    const std::size_t max = std::min<std::size_t>(this->f->max_size(), 1000);
    std::uint64_t next_id = 1;
    for (int step = 0; step < 4000; ++step) {
      const bool alloc = model.empty() || rng() % 100 < 55;
      if (alloc) {
        const Stats before = this->a().stats();
        const std::size_t size = rng() % 5 == 0 ? 0 : 1 + rng() % max;
        const Layout layout{size, std::size_t(1) << (rng() % 5)};
        const Result<Block> r = this->a().try_allocate(layout);
        if (!r) {
          ASSERT_EQ(r.error(), Error::out_of_memory) << "seed " << seed << " step " << step;
          ASSERT_TRUE(same(before, this->a().stats()));
          continue;
        }
        ASSERT_EQ(r->address() % layout.align, 0u);
        ASSERT_GE(r->size, size);
        fill(*r, next_id);
        model.emplace(next_id++, *r);
        model_bytes += r->size;
        peak = std::max(peak, model_bytes);
      } else {
        auto it = model.begin();
        std::advance(it, static_cast<long>(rng() % model.size()));
        ASSERT_TRUE(intact(it->second, it->first)) << "seed " << seed << " step " << step;
        ASSERT_EQ(this->release(it->second, rng() % 2 == 0), Error::none);
        model_bytes -= it->second.size;
        model.erase(it);
      }
      const Stats s = this->a().stats();
      std::size_t counted = 0;
      for (auto& [id, b] : model) counted += (b.size != 0 || TypeParam::zero_counts) ? 1 : 0;
      ASSERT_EQ(s.live, counted) << "seed " << seed << " step " << step;
      ASSERT_EQ(s.bytes_in_use, model_bytes) << "seed " << seed << " step " << step;
      if (this->exact_peak()) {
        ASSERT_EQ(s.peak_bytes, peak);
      } else {
        ASSERT_GE(s.peak_bytes, peak);
      }
    }
    for (auto& [id, b] : model) {
      ASSERT_TRUE(intact(b, id));
      ASSERT_EQ(this->release(b, false), Error::none);
    }
    EXPECT_EQ(this->a().stats().live, 0u);
    EXPECT_EQ(this->a().stats().bytes_in_use, 0u);
  }
}

TYPED_TEST_P(Conformance, DoubleFreeIsDetected) {
  const Result<Block> keep = this->a().try_allocate(Layout{64, 8});
  const Result<Block> r = this->a().try_allocate(Layout{64, 8});
  ASSERT_TRUE(keep.ok() && r.ok());
  ASSERT_EQ(this->release(*r, false), Error::none);
  const Stats before = this->a().stats();
  EXPECT_EQ(this->release(*r, false), Error::double_free);
  EXPECT_EQ(this->release(*r, true), Error::double_free);
  EXPECT_TRUE(same(before, this->a().stats()));
  ASSERT_EQ(this->release(*keep, false), Error::none);
  EXPECT_EQ(this->release(*keep, false), Error::double_free);
  EXPECT_EQ(this->a().stats().live, 0u);
}

TYPED_TEST_P(Conformance, ForeignPointersAreRejected) {
  const Result<Block> mine = this->a().try_allocate(Layout{64, 8});
  const Result<Block> theirs = this->f->other.try_allocate(Layout{64, 8});
  ASSERT_TRUE(mine.ok() && theirs.ok());
  const Stats before = this->a().stats();
  const Stats other_before = this->f->other.stats();
  EXPECT_EQ(this->a().try_deallocate(*theirs), Error::foreign_pointer);
  // A pointer into our own block, but not at its start (the word in front of it
  // is user data, here all ones, which no tag can be).
  for (std::size_t i = 0; i < mine->size; ++i) mine->begin()[i] = std::byte{0xFF};
  EXPECT_EQ(this->a().try_deallocate(Block{mine->begin() + 8, 8}), Error::foreign_pointer);
  EXPECT_TRUE(same(before, this->a().stats()));
  EXPECT_TRUE(same(other_before, this->f->other.stats()));
  EXPECT_EQ(this->f->other.try_deallocate(*theirs), Error::none);
  EXPECT_EQ(this->a().try_deallocate(*mine), Error::none);
}

// A pointer whose preceding word looks like a tag (of any kind, naming memory that
// is no control block) is foreign, and nothing is followed or changed. Tagged
// holds also answer so through HoldRef::try_deallocate.
TYPED_TEST_P(Conformance, ForgedTagsAreRejected) {
  const Result<Block> mine = this->a().try_allocate(Layout{256, 8});
  ASSERT_TRUE(mine.ok());
  const Stats before = this->a().stats();
  alignas(64) static std::uint64_t not_a_control_block[8] = {};
  alignas(64) std::uint64_t stack[8] = {};
  auto* inside = static_cast<std::uint64_t*>(mine->ptr);
  for (std::uint64_t kind = 0; kind < 64; ++kind) {
    for (const std::uint64_t base :
         {std::uint64_t(0), std::uint64_t(0x1000), ~std::uint64_t(63),
          static_cast<std::uint64_t>(reinterpret_cast<std::uintptr_t>(&not_a_control_block))}) {
      stack[3] = base | kind;
      inside[3] = base | kind;
      for (const Block b : {Block{&stack[4], 8}, Block{&inside[4], 8}}) {
        EXPECT_EQ(this->a().try_deallocate(b), Error::foreign_pointer) << (base | kind);
        if constexpr (TypeParam::tagged) {
          EXPECT_EQ(HoldRef::of(this->a()).try_deallocate(b), Error::foreign_pointer)
              << (base | kind);
        }
      }
    }
  }
  EXPECT_TRUE(same(before, this->a().stats()));
  EXPECT_EQ(this->a().try_deallocate(*mine), Error::none);
}

TYPED_TEST_P(Conformance, StatisticsStayConsistent) {
  std::vector<Block> blocks;
  std::size_t sum = 0;
  for (int i = 0; i < 20; ++i) {
    const Result<Block> r = this->a().try_allocate(Layout{static_cast<std::size_t>(16 + i * 8), 8});
    ASSERT_TRUE(r.ok());
    blocks.push_back(*r);
    sum += r->size;
    const Stats s = this->a().stats();
    EXPECT_EQ(s.live, blocks.size());
    EXPECT_EQ(s.bytes_in_use, sum);
    EXPECT_GE(s.peak_bytes, s.bytes_in_use);
  }
  const std::size_t peak = this->a().stats().peak_bytes;
  if (this->exact_peak()) {
    EXPECT_EQ(peak, sum);
  } else {
    EXPECT_GE(peak, sum);
  }
  while (!blocks.empty()) {
    sum -= blocks.back().size;
    ASSERT_EQ(this->release(blocks.back(), blocks.size() % 2 == 0), Error::none);
    blocks.pop_back();
    EXPECT_EQ(this->a().stats().bytes_in_use, sum);
    EXPECT_EQ(this->a().stats().peak_bytes, peak);
  }
  EXPECT_EQ(this->a().stats().live, 0u);
}

// largest_free along a life: fresh, with blocks, with every other block freed (the
// free memory in pieces), and empty again.
TYPED_TEST_P(Conformance, LargestFreeIsServedAndNoMore) {
  this->check_largest_free("fresh");
  std::vector<Block> blocks;
  for (int i = 0; i < 64; ++i) {
    const Result<Block> r = this->a().try_allocate(Layout{256, 8});
    if (!r) break;
    blocks.push_back(*r);
  }
  ASSERT_GT(blocks.size(), 8u);
  this->check_largest_free("with blocks");
  const std::vector<Block> kept = this->release_every_other(blocks, true);
  this->check_largest_free("every other block freed");
  for (const Block& b : kept) ASSERT_EQ(this->release(b, false), Error::none);
  EXPECT_EQ(this->a().stats().live, 0u);
  this->check_largest_free("all freed");
}

TYPED_TEST_P(Conformance, WalkTilesItsRangesAndShowsLiveBlocks) {
  this->check_walk({}, "fresh");
  std::vector<Block> blocks;
  std::mt19937_64 rng(11);
  const std::size_t max = std::min<std::size_t>(this->f->max_size(), 2000);
  for (int i = 0; i < 60; ++i) {
    const Result<Block> r =
        this->a().try_allocate(Layout{1 + rng() % max, std::size_t(1) << (rng() % 5)});
    if (!r) break;
    blocks.push_back(*r);
  }
  ASSERT_GT(blocks.size(), 8u);
  this->check_walk(blocks, "with blocks");
  const std::vector<Block> kept = this->release_every_other(blocks, false);
  this->check_walk(kept, "every other block freed");
  for (const Block& b : kept) ASSERT_EQ(this->release(b, false), Error::none);
  this->check_walk({}, "all freed");
}

REGISTER_TYPED_TEST_SUITE_P(Conformance,
    StartsEmpty,
    ZeroSize,
    Alignments1To4096,
    BadLayoutsAreRejected,
    LiveBlocksNeverOverlap,
    ExhaustionIsAnErrorAndRecoverable,
    RandomSequencesMatchReferenceModel,
    DoubleFreeIsDetected,
    ForeignPointersAreRejected,
    ForgedTagsAreRejected,
    StatisticsStayConsistent,
    LargestFreeIsServedAndNoMore,
    WalkTilesItsRangesAndShowsLiveBlocks);

}  // namespace
}  // namespace swim::mem::testing
