// A Pool with relative tags and hunk words (Pool<Slab<concurrent, C, relative_address>,
// concurrent, C, relative_address>) placed with its Slab of hunks in one memfd mapped
// twice at different addresses: objects allocated through one mapping are freed,
// resized and validated through the other; leases with relative addresses over it
// grow (through the tag, so through the Pool's relative heap) in either mapping;
// hunks retire and come back across mappings under threads of both; a forked child
// works through a third mapping. What an MPI shared window needs for a growable
// hold (integrations/mpi/node_pool.hpp), proved without MPI.
#include <gtest/gtest.h>

#include <atomic>
#include <cstdint>
#include <cstring>
#include <new>
#include <string>
#include <thread>
#include <vector>

#include "support/relative_structure.hpp"
#include "support/two_mappings.hpp"
#include "swim/mem.hpp"

namespace swim::mem {
namespace {

using testing::RNode;
using testing::RRaw;
using testing::Shared;
using testing::TwoMappings;
using testing::checked_count;
using testing::tree_of;
using testing::within;
using Hunks = Slab<concurrent, true, relative_address>;
using RPool = Pool<Hunks, concurrent, true, relative_address>;

constexpr std::size_t hunk = 64 * 1024;
constexpr std::size_t shared_room = 256;
constexpr std::size_t pool_at = shared_room;
constexpr std::size_t slab_at = pool_at + detail::round64(sizeof(RPool));
constexpr std::size_t hunks_at = slab_at + detail::round64(sizeof(Hunks));
constexpr std::size_t scratch = 4096;  // the end of the file: the tests' own notes

Shared& shared_at(std::byte* base) { return *reinterpret_cast<Shared*>(base); }
RPool& pool_of(std::byte* base) { return *reinterpret_cast<RPool*>(base + pool_at); }
Hunks& hunks_of(std::byte* base) { return *reinterpret_cast<Hunks*>(base + slab_at); }

// Make the Shared structure, the Slab of hunks and the Pool, once, through one mapping.
void place(std::byte* base) {
  new (base) Shared{};
  auto* slab = new (base + slab_at)
      Hunks(Block{base + hunks_at, TwoMappings::bytes - hunks_at - scratch}, hunk);
  new (base + pool_at) RPool(*slab, hunk);
}
void unplace(std::byte* base) {
  shared_at(base).~Shared();
  pool_of(base).~RPool();
  hunks_of(base).~Hunks();
}

TEST(RelativePool, TagsAndHunkWordsNameTheSamePoolInEveryMapping) {
  TwoMappings m;
  ASSERT_TRUE(m.ok());
  place(m.a);
  RPool& pa = pool_of(m.a);
  RPool& pb = pool_of(m.b);
  const Result<Block> x = pa.try_allocate(Layout{40, 8});
  ASSERT_TRUE(x);
  void* xb = m.in_b(x->ptr);
  EXPECT_EQ(HoldRef::owner_of(x->ptr), HoldRef::of(pa));
  EXPECT_EQ(HoldRef::owner_of(xb), HoldRef::of(pb)) << "through b, b's own address of the Pool";
  EXPECT_EQ(detail::peek_tag(x->ptr), detail::peek_tag(xb)) << "one tag, valid in both";
  // The registry (checked frees) is the same list in both mappings; the other
  // mapping's address of an object is foreign to each.
  EXPECT_EQ(pa.try_deallocate(Block{xb, 40}), Error::foreign_pointer);
  EXPECT_EQ(HoldRef::of(pa).try_deallocate(Block{xb, 40}), Error::foreign_pointer);
  EXPECT_EQ(pb.try_deallocate(Block{xb, 40}), Error::none);
  EXPECT_EQ(pa.try_deallocate(*x), Error::double_free);
  EXPECT_EQ(hold_deallocate(Block{xb, 40}), Error::double_free);
  EXPECT_EQ(pa.stats().live, 0u);
  // Through the tag, from either mapping: free, resize, zero-size objects.
  const Result<Block> y = HoldRef::of(pb).try_allocate(Layout{16, 8});
  ASSERT_TRUE(y);
  EXPECT_TRUE(within(y->ptr, m.b));
  const Result<Block> grown = hold_resize(Block{m.in_a(y->ptr), 16}, Layout{64, 8});
  ASSERT_TRUE(grown) << to_string(grown.error());
  EXPECT_EQ(grown->ptr, m.in_a(y->ptr));
  EXPECT_EQ(pb.stats().bytes_in_use, 64u);
  EXPECT_EQ(hold_deallocate(Block{y->ptr, 64}), Error::none);
  const Result<Block> z = HoldRef::of(pb).try_allocate(Layout{0, 8});
  ASSERT_TRUE(z);
  EXPECT_TRUE(within(z->ptr, m.b));
  EXPECT_EQ(pa.stats().live, 1u);
  EXPECT_EQ(hold_deallocate(Block{m.in_a(z->ptr), 0}), Error::none);
  EXPECT_EQ(pb.stats().live, 0u);
  unplace(m.a);
}

TEST(RelativePool, HunksComeFromTheSharedSlabAndGoBackThroughEitherMapping) {
  TwoMappings m;
  ASSERT_TRUE(m.ok());
  place(m.a);
  RPool& pa = pool_of(m.a);
  RPool& pb = pool_of(m.b);
  // Allocate through both mappings (b through the tag: growth goes through the
  // Pool's relative heap reference) until the Slab of hunks is empty.
  std::vector<Block> in_a;  // as addresses of a
  for (int i = 0;; ++i) {
    const Result<Block> r = i % 2 == 0 ? pa.try_allocate(Layout{4000, 64})
                                       : HoldRef::of(pb).try_allocate(Layout{4000, 64});
    if (!r) {
      EXPECT_EQ(r.error(), Error::out_of_memory);
      break;
    }
    EXPECT_EQ(r->address() % 64, 0u);
    in_a.push_back(Block{i % 2 == 0 ? r->ptr : m.in_a(r->ptr), r->size});
    std::memset(in_a.back().ptr, i & 0xFF, 4000);
    ASSERT_LT(in_a.size(), 10000u);
  }
  EXPECT_EQ(hunks_of(m.b).stats().live, hunks_of(m.a).block_count()) << "every hunk in use";
  EXPECT_EQ(pa.hunk_count(), hunks_of(m.a).block_count());
  EXPECT_GT(in_a.size(), 2 * pa.hunk_count());
  for (std::size_t i = 0; i < in_a.size(); ++i) {
    EXPECT_EQ(static_cast<unsigned char*>(m.in_b(in_a[i].ptr))[3999], i & 0xFF);
  }
  // Freed half through each mapping (its Pool's checked free, or the tag); the
  // emptied hunks retire, then trim() through b gives them back to the Slab;
  // exhaustion was recoverable.
  for (std::size_t i = 0; i < in_a.size(); ++i) {
    const bool through_a = i % 2 == 0;
    const Block b = through_a ? in_a[i] : Block{m.in_b(in_a[i].ptr), in_a[i].size};
    if (i % 3 == 0) {
      ASSERT_EQ(hold_deallocate(b), Error::none) << i;
    } else {
      ASSERT_EQ((through_a ? pb : pa).try_deallocate(b), Error::foreign_pointer) << i;
      ASSERT_EQ((through_a ? pa : pb).try_deallocate(b), Error::none) << i;
    }
  }
  EXPECT_EQ(pa.stats().live, 0u);
  pb.trim();
  EXPECT_EQ(hunks_of(m.a).stats().live, 1u) << "only the head hunk stays";
  const Result<Block> again = HoldRef::of(pa).try_allocate(Layout{50000, 64});
  ASSERT_TRUE(again) << to_string(again.error());
  EXPECT_EQ(hold_deallocate(Block{m.in_b(again->ptr), again->size}), Error::none);
  unplace(m.a);
}

TEST(RelativePool, AStructureBuiltThroughOneMappingIsReadGrownRelocatedAndFreedThroughTheOther) {
  TwoMappings m;
  ASSERT_TRUE(m.ok());
  place(m.a);
  Shared& sa = shared_at(m.a);
  Shared& sb = shared_at(m.b);
  const HoldRef ha = HoldRef::of(pool_of(m.a));
  const HoldRef hb = HoldRef::of(pool_of(m.b));

  std::vector<std::int64_t> model;
  for (std::int64_t i = 0; i < 100; ++i) model.push_back(i * i);
  sa.numbers = RRaw<Buf<std::int64_t>>::try_from(ha, model.data(), model.size()).take();
  sa.text = RRaw<String<>>::try_from(ha, "built through a").take();
  sa.tree = tree_of(ha, 0, 4000);  // several hunks
  EXPECT_GT(pool_of(m.a).hunk_count(), 1u);

  // Read through b.
  ASSERT_EQ(sb.numbers.size(), model.size());
  EXPECT_TRUE(within(sb.numbers.data(), m.b));
  for (std::size_t i = 0; i < model.size(); ++i) EXPECT_EQ(sb.numbers.data()[i], model[i]);
  EXPECT_EQ(std::string(sb.text.view().ptr, sb.text.view().len), "built through a");
  EXPECT_EQ(checked_count(sb.tree, 0, 4000, m.b), 4000);
  EXPECT_EQ(sb.numbers.hold(), hb);

  // Grown through b (new objects, new hunks through the tag), read through a.
  for (std::int64_t i = 100; i < 3000; ++i) {
    ASSERT_EQ(sb.numbers.try_push(i * i), Error::none) << i;
    model.push_back(i * i);
  }
  ASSERT_EQ(sb.text.try_append(", grown through b"), Error::none);
  ASSERT_EQ(sa.numbers.size(), model.size());
  for (std::size_t i = 0; i < model.size(); ++i) ASSERT_EQ(sa.numbers.data()[i], model[i]);
  EXPECT_EQ(std::string(sa.text.view().ptr, sa.text.view().len),
            "built through a, grown through b");

  // Relocated through b into the same Pool; half the tree freed through a.
  const void* old = sa.numbers.data();
  Result<RRaw<Buf<std::int64_t>>> moved = try_stow(sb.numbers, hb);
  ASSERT_TRUE(moved) << to_string(moved.error());
  sb.numbers = moved.take();
  EXPECT_NE(sa.numbers.data(), old);
  for (std::size_t i = 0; i < model.size(); ++i) ASSERT_EQ(sa.numbers.data()[i], model[i]);
  Result<RRaw<Box<RNode>>> tree = try_stow(sb.tree, hb);
  ASSERT_TRUE(tree) << to_string(tree.error());
  sb.tree = tree.take();
  EXPECT_EQ(checked_count(sa.tree, 0, 4000, m.a), 4000);
  sa.tree->left.reset();
  EXPECT_EQ(checked_count(sb.tree->right, 2001, 4000, m.b), 1999);

  sb.numbers.reset();
  sb.text.reset();
  sb.tree.reset();
  EXPECT_EQ(pool_of(m.a).stats().live, 0u);
  EXPECT_EQ(pool_of(m.a).stats().bytes_in_use, 0u);
  unplace(m.a);
}

// Threads allocating through both mappings at once and freeing each other's objects
// through the other mapping, with hunks retiring and coming back all the while.
TEST(RelativePool, ThreadsOnTwoMappingsFreeEachOthersObjects) {
  TwoMappings m;
  ASSERT_TRUE(m.ok());
  place(m.a);
  std::atomic<int> failures{0};
  auto worker = [&](std::byte* mine, std::byte* other, unsigned seed) {
    const HoldRef h = HoldRef::of(pool_of(mine));
    std::vector<Block> held;
    unsigned x = seed;
    for (int i = 0; i < 20000; ++i) {
      x = x * 1103515245u + 12345u;
      if (held.size() < 64 && (x >> 16) % 3 != 0) {
        const Result<Block> b = h.try_allocate(Layout{8 + (x >> 20) % 2000, 8});
        if (b) {
          std::memset(b->ptr, static_cast<int>(seed), b->size);
          held.push_back(*b);
        } else if (b.error() != Error::out_of_memory && b.error() != Error::contended) {
          failures.fetch_add(1);
        }
      } else if (!held.empty()) {
        Block b = held[(x >> 8) % held.size()];
        held.erase(held.begin() + static_cast<std::ptrdiff_t>((x >> 8) % held.size()));
        const auto* bytes = static_cast<const unsigned char*>(b.ptr);
        for (std::size_t k = 0; k < b.size; k += 61) {
          if (bytes[k] != static_cast<unsigned char>(seed)) failures.fetch_add(1);
        }
        b.ptr = other + (static_cast<std::byte*>(b.ptr) - mine);  // the other mapping's
        if (hold_deallocate(b) != Error::none) failures.fetch_add(1);
      }
    }
    for (Block b : held) {
      if (hold_deallocate(b) != Error::none) failures.fetch_add(1);
    }
  };
  std::byte* const second = testing::under_tsan ? m.a : m.b;  // see under_tsan
  std::thread t1(worker, m.a, second, 1u), t2(worker, second, m.a, 2u), t3(worker, m.a, second, 3u);
  worker(second, m.a, 4u);
  t1.join();
  t2.join();
  t3.join();
  EXPECT_EQ(failures.load(), 0);
  EXPECT_EQ(pool_of(m.b).stats().live, 0u);
  EXPECT_EQ(pool_of(m.a).stats().bytes_in_use, 0u);
  pool_of(m.a).trim();
  EXPECT_LE(hunks_of(m.a).stats().live, 1u) << "every hunk but the head back in the Slab";
  unplace(m.a);
}

// A forked child maps the file a third time, grows the Buf past a hunk and adds to
// the tree; the parent reads what it did and frees everything.
TEST(RelativePool, AForkedChildGrowsTheStructureTheParentReads) {
  TwoMappings m;
  ASSERT_TRUE(m.ok());
  place(m.a);
  Shared& sa = shared_at(m.a);
  const HoldRef ha = HoldRef::of(pool_of(m.a));
  sa.numbers = RRaw<Buf<std::int64_t>>::try_empty(ha).take();
  for (std::int64_t i = 0; i < 10; ++i) ASSERT_EQ(sa.numbers.try_push(i), Error::none);
  sa.tree = tree_of(ha, 0, 10);
  ASSERT_EQ(testing::grow_in_forked_child(m, [](std::byte* c) { return HoldRef::of(pool_of(c)); }, 1000),
            0);
  ASSERT_EQ(sa.numbers.size(), 3000u);
  for (std::size_t i = 0; i < 3000; ++i) ASSERT_EQ(sa.numbers.data()[i], static_cast<std::int64_t>(i));
  EXPECT_TRUE(within(sa.numbers.data(), m.a));
  const testing::TreeCount count = testing::count_tree(sa.tree, m.a);
  EXPECT_EQ(count.nodes, 1000);
  EXPECT_EQ(count.outside, 0) << "every node at an address of this mapping";
  sa.numbers.reset();
  sa.tree.reset();
  EXPECT_EQ(pool_of(m.a).stats().live, 0u);
  unplace(m.a);
}

}  // namespace
}  // namespace swim::mem
