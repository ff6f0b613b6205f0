// A Pool with relative tags and hunk words (Pool<Slab<concurrent, C, relative_address>,
// concurrent, C, relative_address>) placed with its Slab of hunks in one memfd mapped
// twice at different addresses: objects allocated through one mapping are freed,
// resized and validated through the other; leases with relative addresses over it
// grow (through the tag, so through the Pool's relative heap) in either mapping;
// hunks retire and come back across mappings under threads of both; a forked child
// works through a third mapping. What an MPI shared window needs for a growable
// hold (integrations/mpi/node_pool.hpp), proved without MPI.
// The shared leases (Hard, Soft, Ref, Mut with relative_address) over the same Pool:
// counted, borrowed, grown (a relocation: the arc becomes a stub with a forward) and
// stowed through one mapping, followed through the other and by a forked child
// through a mapping of its own; threads of both mappings at once.
#include <gtest/gtest.h>

#include <algorithm>
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
  // 4000 nodes and a Buf that moves as it grows: several hunks, new ones drawn
  // through the tag from b.
  testing::expect_built_read_grown_relocated_and_freed(
      m, [](std::byte* c) { return HoldRef::of(pool_of(c)); }, 3000, 4000);
  EXPECT_GT(pool_of(m.a).hunk_count(), 1u);
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
  const int failures = testing::storm_on_two_mappings(
      m, [](std::byte* c) { return HoldRef::of(pool_of(c)); },
      [](unsigned x) { return std::size_t(8) + (x >> 20) % 2000; }, 64, false);
  EXPECT_EQ(failures, 0);
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
  testing::expect_a_forked_child_grows_what_the_parent_reads(
      m, [](std::byte* c) { return HoldRef::of(pool_of(c)); }, 1000);
  EXPECT_EQ(pool_of(m.a).stats().live, 0u);
  unplace(m.a);
}

// ---- The shared leases with relative addresses --------------------------------------

template <class R>
using RHard = Hard<R, relative_address>;
template <class R>
using RSoft = Soft<R, relative_address>;
template <class R>
using RMut = Mut<R, relative_address>;
using Numbers = Buf<std::int64_t>;

struct ANode {
  std::int64_t key = 0;
  RHard<Box<ANode>> next;
};
// A node whose first member may be a Soft back to the node itself (a ring of one).
struct Ring {
  RSoft<Box<Ring>> back;
  std::int64_t key = 0;
};

}  // namespace
}  // namespace swim::mem

template <>
struct swim::mem::stow_traits<swim::mem::ANode>
    : stow_members<swim::mem::ANode, &swim::mem::ANode::key, &swim::mem::ANode::next> {};

namespace swim::mem {
namespace {

// What these tests keep at the start of the file (in place of Shared).
struct ArcShared {
  RHard<Numbers> numbers;
  RHard<Numbers> keep;  // a second Hard of the same arc, left stale on purpose
  RSoft<Numbers> watch;
  RHard<Box<ANode>> list;
};
static_assert(sizeof(ArcShared) <= shared_room);

ArcShared& arcs_at(std::byte* base) { return *reinterpret_cast<ArcShared*>(base); }
void place_arcs(std::byte* base) {
  place(base);
  shared_at(base).~Shared();
  new (base) ArcShared{};
}
void unplace_arcs(std::byte* base) {
  arcs_at(base).~ArcShared();
  new (base) Shared{};
  unplace(base);
}

// Each test has the file mapped twice, ArcShared at its start and the Pool placed.
class RelativeArc : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(m.ok());
    place_arcs(m.a);
    placed_ = true;
  }
  void TearDown() override {
    if (placed_) unplace_arcs(m.a);
  }
  TwoMappings m;

 private:
  bool placed_ = false;
};

// The Buf's elements are 0, 1, 2, ...: true when `n` of them are, read through a Ref.
template <class L>
bool holds_counting(const L& lease, std::size_t n, const std::byte* base) {
  Result<Ref<Numbers, relative_address>> r = lease.try_ref();
  if (!r || r->size() != n || !within(r->data(), base)) return false;
  for (std::size_t i = 0; i < n; ++i) {
    if ((*r)[i] != static_cast<std::int64_t>(i)) return false;
  }
  return true;
}
// Push n, n+1, ... through a Mut until the Buf holds `to` elements.
Error count_up(RMut<Numbers>& m, std::size_t to) {
  for (std::size_t i = m.size(); i < to; ++i) {
    const Error e = m.try_push(static_cast<std::int64_t>(i));
    if (e != Error::none) return e;
  }
  return Error::none;
}

// A Mut through b grows the Buf while Hards and a Soft of it exist (in the shared
// memory, and on a's stack), so each growth relocates it: the arc becomes a stub
// whose forward must lead, through a, to a's address of the new arc.
TEST_F(RelativeArc, AGrowthThroughOneMappingIsFollowedThroughTheOther) {
  ArcShared& sa = arcs_at(m.a);
  ArcShared& sb = arcs_at(m.b);
  const HoldRef ha = HoldRef::of(pool_of(m.a));
  {
    RMut<Numbers> made = RMut<Numbers>::try_with_capacity(ha, 4).take();
    ASSERT_EQ(count_up(made, 4), Error::none);
    sa.numbers = std::move(made).into_hard();
  }
  sa.keep = sa.numbers.try_clone().take();
  sa.watch = sa.numbers.to_soft().take();
  RHard<Numbers> mine = sb.numbers.try_clone().take();  // private, through b
  EXPECT_TRUE(within(mine.data(), m.b));
  EXPECT_EQ(sa.numbers.hard_count(), 3u);
  EXPECT_TRUE(holds_counting(sb.numbers, 4, m.b));
  EXPECT_EQ(sb.numbers.hold(), HoldRef::of(pool_of(m.b)));

  // A blocker behind the Buf: no growth in place.
  RRaw<Box<std::int64_t>> blocker = RRaw<Box<std::int64_t>>::try_new(ha, 7).take();
  const std::int64_t* first = sa.numbers.data();
  {
    RMut<Numbers> grow = sb.numbers.try_mut().take();
    ASSERT_EQ(count_up(grow, 3000), Error::none);
    EXPECT_TRUE(within(grow.data(), m.b));
  }
  EXPECT_TRUE(sa.numbers.is_relocated());
  EXPECT_EQ(sa.keep.data(), first) << "a stale Hard points at the first stub";
  // Every lease follows the forwards to the resident, in its own mapping.
  EXPECT_TRUE(holds_counting(sa.keep, 3000, m.a));
  EXPECT_TRUE(holds_counting(sa.watch, 3000, m.a));
  EXPECT_TRUE(holds_counting(sb.numbers, 3000, m.b));
  EXPECT_TRUE(holds_counting(mine, 3000, m.b));
  // refresh() moves a lease to the end of its chain, in its mapping.
  ASSERT_EQ(sa.numbers.refresh(), Error::none);
  EXPECT_FALSE(sa.numbers.is_relocated());
  EXPECT_TRUE(within(sa.numbers.data(), m.a));
  ASSERT_EQ(mine.refresh(), Error::none);
  EXPECT_EQ(mine.data(), m.in_b(sa.numbers.data()));

  // The last Hards go through either mapping; the Soft then finds the resident gone,
  // and the last count of any kind frees every block.
  mine.reset();
  sb.keep.reset();
  sb.numbers.reset();
  EXPECT_EQ(sa.watch.try_upgrade().error(), Error::cleared);
  sb.watch.reset();
  blocker.reset();
  EXPECT_EQ(pool_of(m.a).stats().live, 0u) << "every stub and arc freed";
  EXPECT_EQ(pool_of(m.a).stats().bytes_in_use, 0u);
}

// A list of Hard boxes stowed through a (each arc relocates; its old arc forwards),
// while a Hard and a Soft of its nodes are kept through b: they follow the forwards
// through b, and refresh() lands them at b's address of the copies.
TEST_F(RelativeArc, AStowThroughOneMappingIsFollowedThroughTheOther) {
  ArcShared& sa = arcs_at(m.a);
  ArcShared& sb = arcs_at(m.b);
  const HoldRef ha = HoldRef::of(pool_of(m.a));
  constexpr std::int64_t length = 300;
  for (std::int64_t k = length - 1; k >= 0; --k) {
    RMut<Box<ANode>> node = RMut<Box<ANode>>::try_new(ha).take();
    node->key = k;
    node->next = std::move(sa.list);
    sa.list = std::move(node).into_hard();
  }
  RHard<Box<ANode>> head_b = sb.list.try_clone().take();
  RSoft<Box<ANode>> tenth_b;
  {
    Result<Ref<Box<ANode>, relative_address>> at = sb.list.try_ref();
    ASSERT_TRUE(at);
    for (int i = 0; i < 10; ++i) at = (*at)->next.try_ref();
    ASSERT_TRUE(at);
    tenth_b = at->to_soft().take();
  }

  Result<RHard<Box<ANode>>> moved = try_stow(sa.list, ha);
  ASSERT_TRUE(moved) << to_string(moved.error());
  sa.list = moved.take();
  EXPECT_TRUE(head_b.is_relocated());

  // Through b, from the old arcs: every hop lands in b's mapping.
  std::int64_t seen = 0;
  {
    Result<Ref<Box<ANode>, relative_address>> at = head_b.try_ref();
    while (at && seen < length + 1) {
      EXPECT_TRUE(within(at->data(), m.b)) << seen;
      EXPECT_EQ((*at)->key, seen);
      ++seen;
      if (!(*at)->next) break;
      at = (*at)->next.try_ref();
    }
  }
  EXPECT_EQ(seen, length);
  {
    Result<Ref<Box<ANode>, relative_address>> tenth = tenth_b.try_ref();
    ASSERT_TRUE(tenth) << to_string(tenth.error());
    EXPECT_TRUE(within(tenth->data(), m.b));
    EXPECT_EQ((*tenth)->key, 10);
  }
  ASSERT_EQ(head_b.refresh(), Error::none);
  EXPECT_EQ(head_b.data(), m.in_b(sa.list.data()));

  // The copies are the structure now: dropping the list through b leaves the node
  // the Soft watches gone, and every block free.
  head_b.reset();
  sb.list.reset();
  EXPECT_EQ(tenth_b.try_upgrade().error(), Error::cleared);
  tenth_b.reset();
  EXPECT_EQ(pool_of(m.a).stats().live, 0u);
}

// A Soft at the very start of its own node's payload, pointing back at that node: a
// relative distance of 0, which must not read as null (nor leave its count behind).
TEST_F(RelativeArc, ASoftBackToItsOwnNodeIsNotNull) {
  const HoldRef ha = HoldRef::of(pool_of(m.a));
  RHard<Box<Ring>> ring = RHard<Box<Ring>>::try_new(ha).take();
  {
    RMut<Box<Ring>> w = ring.try_mut().take();
    w->key = 42;
    w->back = ring.to_soft().take();
    ASSERT_TRUE(w->back) << "the Soft is in its own payload, at distance 0";
    EXPECT_EQ(static_cast<const void*>(w->back.data()), static_cast<const void*>(w.data()));
  }
  EXPECT_EQ(ring.soft_count(), 1u);
  // Read through b: the same node, through its own Soft.
  {
    Result<Ref<Box<Ring>, relative_address>> r = ring.try_ref();
    ASSERT_TRUE(r);
    const auto* node_b = static_cast<const Ring*>(m.in_b(r->data()));
    Result<Ref<Box<Ring>, relative_address>> back = node_b->back.try_ref();
    ASSERT_TRUE(back) << to_string(back.error());
    EXPECT_TRUE(within(back->data(), m.b));
    EXPECT_EQ((*back)->key, 42);
  }
  ring.reset();  // the last Hard: the node, and with it its Soft, goes
  EXPECT_EQ(pool_of(m.a).stats().live, 0u) << "the self-Soft's count went with the node";
}

// Threads on both mappings clone the shared Hard, read it through Refs, and grow it
// through Muts (relocating while the others hold Hards), each from its own mapping.
TEST_F(RelativeArc, ThreadsOnTwoMappingsShareBorrowAndGrowOneBuf) {
  const HoldRef ha = HoldRef::of(pool_of(m.a));
  arcs_at(m.a).numbers = RMut<Numbers>::try_empty(ha).take().into_hard();
  std::atomic<int> failures{0};
  std::atomic<std::size_t> pushed{0};
  auto worker = [&](std::byte* mine, unsigned seed) {
    ArcShared& s = arcs_at(mine);
    unsigned x = seed;
    for (int i = 0; i < 300; ++i) {
      x = x * 1103515245u + 12345u;
      Result<RHard<Numbers>> h = s.numbers.try_clone();
      if (!h) {
        failures.fetch_add(1);
        continue;
      }
      if ((x >> 16) % 4 == 0) {
        Result<RMut<Numbers>> w = h->try_mut();
        if (!w) continue;  // contended or aliased: another thread borrows it
        // At most 2500 elements: 20 KB, well within a hunk as the Buf doubles.
        const std::size_t to = std::min<std::size_t>(2500, w->size() + 1 + (x >> 20) % 40);
        if (!within(w->data(), mine) || count_up(*w, to) != Error::none) failures.fetch_add(1);
        pushed.store(to, std::memory_order_relaxed);
      } else {
        Result<Ref<Numbers, relative_address>> r = h->try_ref();
        if (!r) continue;
        if (!within(r->data(), mine)) failures.fetch_add(1);
        for (std::size_t k = 0; k < r->size(); k += 7) {
          if ((*r)[k] != static_cast<std::int64_t>(k)) failures.fetch_add(1);
        }
      }
      if ((x >> 12) % 8 == 0 && h->refresh() != Error::none) failures.fetch_add(1);
    }
  };
  std::byte* const second = testing::under_tsan ? m.a : m.b;  // see under_tsan
  std::thread t1(worker, m.a, 1u), t2(worker, second, 2u), t3(worker, m.a, 3u);
  worker(second, 4u);
  t1.join();
  t2.join();
  t3.join();
  EXPECT_EQ(failures.load(), 0);
  EXPECT_GT(pushed.load(), 0u);
  EXPECT_TRUE(holds_counting(arcs_at(m.b).numbers, arcs_at(m.a).numbers.try_ref().take().size(), m.b));
  arcs_at(m.b).numbers.reset();
  EXPECT_EQ(pool_of(m.a).stats().live, 0u) << "every stub went with the last lease";
}

// A forked child unmaps the parent's mappings and maps the file once more: the stale
// Hard it follows forwards a growth through a, then it grows the Buf itself (another
// relocation, the parent's Hards still there); the parent follows the child's forward.
TEST_F(RelativeArc, AForkedChildFollowsAndMakesForwardsThroughItsOwnMapping) {
  ArcShared& sa = arcs_at(m.a);
  const HoldRef ha = HoldRef::of(pool_of(m.a));
  sa.numbers = RMut<Numbers>::try_empty(ha).take().into_hard();
  sa.keep = sa.numbers.try_clone().take();
  {
    RMut<Numbers> w = sa.numbers.try_mut().take();
    ASSERT_EQ(count_up(w, 100), Error::none);
  }
  RRaw<Box<std::int64_t>> blocker = RRaw<Box<std::int64_t>>::try_new(ha, 1).take();
  {
    RMut<Numbers> w = sa.numbers.try_mut().take();
    ASSERT_EQ(count_up(w, 1000), Error::none);
  }
  ASSERT_TRUE(sa.keep.is_relocated());
  const pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    munmap(m.a, TwoMappings::bytes);
    munmap(m.b, TwoMappings::bytes);
    std::byte* c = m.map();
    int bad = c == nullptr ? 1 : 0;
    if (c != nullptr) {
      ArcShared& sc = arcs_at(c);
      if (!holds_counting(sc.keep, 1000, c)) bad = 2;  // through the parent's forward
      Result<RMut<Numbers>> w = sc.numbers.try_mut();
      if (!w || count_up(*w, 3000) != Error::none) bad = 3;
      if (w && !within(w->data(), c)) bad = 4;
      // (the Buf stays within half a hunk as it doubles: at most 3000 elements)
    }
    _exit(bad);
  }
  int status = 0;
  ASSERT_EQ(waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFEXITED(status));
  ASSERT_EQ(WEXITSTATUS(status), 0);
  EXPECT_TRUE(holds_counting(sa.keep, 3000, m.a)) << "two forwards, the second the child's";
  EXPECT_TRUE(holds_counting(sa.numbers, 3000, m.a));
  sa.keep.reset();
  sa.numbers.reset();
  blocker.reset();
  EXPECT_EQ(pool_of(m.a).stats().live, 0u);
}

}  // namespace
}  // namespace swim::mem
