// A Pack with relative tags and region (Pack<concurrent, relative_address>) placed
// in one memfd mapped twice at different addresses, with leases whose addresses are
// relative (Raw<..., relative_address>) placed there too: a structure built through
// one mapping is read, grown, relocated (stowed), and freed through the other, by a
// forked child through a third mapping, and by threads of both at once. What an MPI
// shared window needs for leases and residents (integrations/mpi/node_pack.hpp),
// proved without MPI.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cstdint>
#include <cstring>
#include <new>
#include <string>
#include <thread>
#include <vector>

#include "support/two_mappings.hpp"
#include "swim/mem.hpp"

namespace swim::mem {
namespace {

using testing::TwoMappings;
using RPack = Pack<concurrent, relative_address>;
template <class R>
using RRaw = Raw<R, relative_address>;

struct RNode {
  std::int64_t key = 0;
  RRaw<Box<RNode>> left, right;
};

// What the tests keep in the shared memory, at its start.
struct Shared {
  RRaw<Buf<std::int64_t>> numbers;
  RRaw<String<>> text;
  RRaw<Box<RNode>> tree;
};

}  // namespace
}  // namespace swim::mem

template <>
struct swim::mem::stow_traits<swim::mem::RNode>
    : stow_members<swim::mem::RNode, &swim::mem::RNode::key, &swim::mem::RNode::left,
                   &swim::mem::RNode::right> {};

namespace swim::mem {
namespace {

constexpr std::size_t shared_room = 256;
constexpr std::size_t pack_room = (sizeof(RPack) + 63) / 64 * 64;
constexpr std::size_t region_at = shared_room + pack_room;
constexpr std::size_t scratch = 4096;  // the end of the file: the tests' own notes

// Through mapping `base`: the Shared structure and the Pack.
Shared& shared_at(std::byte* base) { return *reinterpret_cast<Shared*>(base); }
RPack& pack_at(std::byte* base) { return *reinterpret_cast<RPack*>(base + shared_room); }

// Make both, once, through one mapping.
void place(std::byte* base) {
  new (base) Shared{};
  new (base + shared_room) RPack(Block{base + region_at, TwoMappings::bytes - region_at - scratch});
}

RRaw<Box<RNode>> tree_of(HoldRef hold, std::int64_t lo, std::int64_t hi) {
  if (lo >= hi) return {};
  const std::int64_t mid = lo + (hi - lo) / 2;
  RRaw<Box<RNode>> t = RRaw<Box<RNode>>::try_new(hold).take();
  t->key = mid;
  t->left = tree_of(hold, lo, mid);
  t->right = tree_of(hold, mid + 1, hi);
  return t;
}
std::int64_t checked_count(const RRaw<Box<RNode>>& t, std::int64_t lo, std::int64_t hi,
                           const std::byte* lo_addr, const std::byte* hi_addr) {
  if (lo >= hi) return t ? -1000000 : 0;
  if (!t) return -1000000;
  const auto* at = reinterpret_cast<const std::byte*>(t.data());
  if (at < lo_addr || at >= hi_addr) return -1000000;  // an address of this mapping
  const std::int64_t mid = lo + (hi - lo) / 2;
  if (t->key != mid) return -1000000;
  return 1 + checked_count(t->left, lo, mid, lo_addr, hi_addr) +
         checked_count(t->right, mid + 1, hi, lo_addr, hi_addr);
}

bool within(const void* p, const std::byte* base) {
  const auto* b = static_cast<const std::byte*>(p);
  return b >= base && b < base + TwoMappings::bytes;
}

TEST(RelativePack, RelativeTagsNameTheSamePackInEveryMapping) {
  TwoMappings m;
  ASSERT_TRUE(m.ok());
  place(m.a);
  RPack& pa = pack_at(m.a);
  RPack& pb = pack_at(m.b);
  const Result<Block> x = HoldRef::of(pa).try_allocate(Layout{40, 8});
  ASSERT_TRUE(x);
  void* xb = m.in_b(x->ptr);
  EXPECT_EQ(HoldRef::owner_of(x->ptr), HoldRef::of(pa));
  EXPECT_EQ(HoldRef::owner_of(xb), HoldRef::of(pb)) << "through b, b's own address of the Pack";
  EXPECT_EQ(detail::peek_tag(x->ptr), detail::peek_tag(xb)) << "one tag, valid in both";
  // Any mapping frees, through the tag or its own HoldRef; the other's address of the
  // object is foreign to it; a second free is a double free through either.
  EXPECT_EQ(HoldRef::of(pa).try_deallocate(Block{xb, 40}), Error::foreign_pointer);
  EXPECT_EQ(hold_deallocate(Block{xb, 40}), Error::none);
  EXPECT_EQ(HoldRef::of(pa).try_deallocate(*x), Error::double_free);
  EXPECT_EQ(hold_deallocate(*x), Error::double_free);
  EXPECT_EQ(pa.stats().live, 0u);
  // Zero-size objects and in-place resizes, across mappings.
  const Result<Block> z = HoldRef::of(pb).try_allocate(Layout{0, 8});
  ASSERT_TRUE(z);
  EXPECT_TRUE(within(z->ptr, m.b));
  EXPECT_EQ(pa.stats().live, 1u);
  EXPECT_EQ(hold_deallocate(Block{m.in_a(z->ptr), 0}), Error::none);
  const Result<Block> y = HoldRef::of(pb).try_allocate(Layout{16, 8});
  ASSERT_TRUE(y);
  const Result<Block> grown = hold_resize(Block{m.in_a(y->ptr), 16}, Layout{64, 8});
  ASSERT_TRUE(grown);
  EXPECT_EQ(grown->ptr, m.in_a(y->ptr));
  EXPECT_EQ(hold_deallocate(Block{y->ptr, 64}), Error::none);
  EXPECT_EQ(pb.stats().live, 0u);
  pa.~RPack();
}

TEST(RelativePack, AStructureBuiltThroughOneMappingIsReadGrownRelocatedAndFreedThroughTheOther) {
  TwoMappings m;
  ASSERT_TRUE(m.ok());
  place(m.a);
  Shared& sa = shared_at(m.a);
  Shared& sb = shared_at(m.b);
  const HoldRef ha = HoldRef::of(pack_at(m.a));
  const HoldRef hb = HoldRef::of(pack_at(m.b));

  // Built through a.
  std::vector<std::int64_t> model;
  for (std::int64_t i = 0; i < 100; ++i) model.push_back(i * i);
  sa.numbers = RRaw<Buf<std::int64_t>>::try_from(ha, model.data(), model.size()).take();
  sa.text = RRaw<String<>>::try_from(ha, "built through a").take();
  sa.tree = tree_of(ha, 0, 500);
  EXPECT_TRUE(within(sa.numbers.data(), m.a));

  // Read through b: b's addresses, the same contents.
  ASSERT_EQ(sb.numbers.size(), model.size());
  EXPECT_TRUE(within(sb.numbers.data(), m.b));
  for (std::size_t i = 0; i < model.size(); ++i) EXPECT_EQ(sb.numbers.data()[i], model[i]);
  EXPECT_EQ(std::string(sb.text.view().ptr, sb.text.view().len), "built through a");
  EXPECT_EQ(checked_count(sb.tree, 0, 500, m.b, m.b + TwoMappings::bytes), 500);
  EXPECT_EQ(sb.numbers.hold(), hb);

  // Grown through b (the Buf moves to a new object of the shared Pack), read through a.
  for (std::int64_t i = 100; i < 5000; ++i) {
    ASSERT_EQ(sb.numbers.try_push(i * i), Error::none);
    model.push_back(i * i);
  }
  ASSERT_EQ(sb.text.try_append(", grown through b"), Error::none);
  ASSERT_EQ(sa.numbers.size(), model.size());
  for (std::size_t i = 0; i < model.size(); ++i) ASSERT_EQ(sa.numbers.data()[i], model[i]);
  EXPECT_EQ(std::string(sa.text.view().ptr, sa.text.view().len),
            "built through a, grown through b");

  // Relocated through b: stowed into the same shared Pack (a copy, then the old
  // objects freed), the handles in shared memory replaced.
  const void* old = sa.numbers.data();
  Result<RRaw<Buf<std::int64_t>>> moved = try_stow(sb.numbers, hb);
  ASSERT_TRUE(moved) << to_string(moved.error());
  sb.numbers = moved.take();
  EXPECT_NE(sa.numbers.data(), old);
  for (std::size_t i = 0; i < model.size(); ++i) ASSERT_EQ(sa.numbers.data()[i], model[i]);
  Result<RRaw<Box<RNode>>> tree = try_stow(sb.tree, hb);
  ASSERT_TRUE(tree);
  sb.tree = tree.take();
  EXPECT_EQ(checked_count(sa.tree, 0, 500, m.a, m.a + TwoMappings::bytes), 500);
  // Half of the tree freed through a, the rest through b.
  sa.tree->left.reset();
  EXPECT_EQ(checked_count(sb.tree->right, 251, 500, m.b, m.b + TwoMappings::bytes), 249);

  // Everything freed through b: the Pack, seen through a, is empty.
  sb.numbers.reset();
  sb.text.reset();
  sb.tree.reset();
  EXPECT_EQ(pack_at(m.a).stats().live, 0u);
  EXPECT_EQ(pack_at(m.a).stats().bytes_in_use, 0u);
  sa.~Shared();
  pack_at(m.a).~RPack();
}

// ThreadSanitizer tracks synchronisation by virtual address: a free through one
// mapping (a release CAS on the Pack's state at that mapping's address) and the next
// allocation of the same bytes through the other (an acquire CAS at the other
// address) are not linked for it, so it reports the reuse as a race although the
// CASes order it. Under TSan the threads below therefore keep to one mapping for
// the Pack (still freeing each other's objects); the other builds cross mappings.
#if defined(__SANITIZE_THREAD__)
constexpr bool under_tsan = true;
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
constexpr bool under_tsan = true;
#else
constexpr bool under_tsan = false;
#endif
#else
constexpr bool under_tsan = false;
#endif

// Threads allocating through both mappings at once and freeing each other's objects
// through the other mapping (lock-free: one CAS each).
TEST(RelativePack, ThreadsOnTwoMappingsFreeEachOthersObjects) {
  TwoMappings m;
  ASSERT_TRUE(m.ok());
  place(m.a);
  std::atomic<int> failures{0};
  auto worker = [&](std::byte* mine, std::byte* other, unsigned seed) {
    const HoldRef h = HoldRef::of(pack_at(mine));
    std::vector<Block> held;
    unsigned x = seed;
    for (int i = 0; i < 20000; ++i) {
      x = x * 1103515245u + 12345u;
      if (held.size() < 32 && (x >> 16) % 3 != 0) {
        const Result<Block> b = h.try_allocate(Layout{8 + (x >> 20) % 120, 8});
        if (b) {
          std::memset(b->ptr, static_cast<int>(seed), b->size);
          held.push_back(*b);
        }
      } else if (!held.empty()) {
        Block b = held.back();
        held.pop_back();
        // Freed through the other mapping's address of it.
        b.ptr = other + (static_cast<std::byte*>(b.ptr) - mine);
        if (hold_deallocate(b) != Error::none) failures.fetch_add(1);
      }
    }
    for (Block b : held) {
      if (hold_deallocate(b) != Error::none) failures.fetch_add(1);
    }
  };
  std::byte* const second = under_tsan ? m.a : m.b;
  std::thread t1(worker, m.a, second, 1u), t2(worker, second, m.a, 2u), t3(worker, m.a, second, 3u);
  worker(second, m.a, 4u);
  t1.join();
  t2.join();
  t3.join();
  EXPECT_EQ(failures.load(), 0);
  EXPECT_EQ(pack_at(m.b).stats().live, 0u);
  pack_at(m.a).~RPack();
}

// A forked child maps the file a third time, grows the Buf and adds to the tree; the
// parent reads what it did.
TEST(RelativePack, AForkedChildGrowsTheStructureTheParentReads) {
  TwoMappings m;
  ASSERT_TRUE(m.ok());
  place(m.a);
  Shared& sa = shared_at(m.a);
  const HoldRef ha = HoldRef::of(pack_at(m.a));
  sa.numbers = RRaw<Buf<std::int64_t>>::try_empty(ha).take();
  for (std::int64_t i = 0; i < 10; ++i) ASSERT_EQ(sa.numbers.try_push(i), Error::none);
  sa.tree = tree_of(ha, 0, 10);
  const pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    munmap(m.a, TwoMappings::bytes);  // only the child's own mapping from here on
    munmap(m.b, TwoMappings::bytes);
    std::byte* c = m.map();
    int bad = c == nullptr ? 1 : 0;
    if (c != nullptr) {
      Shared& sc = shared_at(c);
      for (std::int64_t i = 10; i < 3000 && bad == 0; ++i) {
        if (sc.numbers.try_push(i) != Error::none) bad = 2;
      }
      for (std::size_t i = 0; i < sc.numbers.size() && bad == 0; ++i) {
        if (sc.numbers.data()[i] != static_cast<std::int64_t>(i)) bad = 3;
      }
      RRaw<Box<RNode>>* at = &sc.tree;
      while (*at) at = &(*at)->right;
      *at = tree_of(HoldRef::of(pack_at(c)), 10, 20);
      if (!*at) bad = 4;
    }
    _exit(bad);
  }
  int status = 0;
  ASSERT_EQ(waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFEXITED(status));
  ASSERT_EQ(WEXITSTATUS(status), 0);
  ASSERT_EQ(sa.numbers.size(), 3000u);
  for (std::size_t i = 0; i < 3000; ++i) ASSERT_EQ(sa.numbers.data()[i], static_cast<std::int64_t>(i));
  EXPECT_TRUE(within(sa.numbers.data(), m.a));
  std::int64_t nodes = 0;
  std::vector<const RRaw<Box<RNode>>*> todo{&sa.tree};
  while (!todo.empty()) {
    const RRaw<Box<RNode>>* t = todo.back();
    todo.pop_back();
    if (!*t) continue;
    ++nodes;
    todo.push_back(&(*t)->left);
    todo.push_back(&(*t)->right);
  }
  EXPECT_EQ(nodes, 20);
  sa.numbers.reset();
  sa.tree.reset();
  EXPECT_EQ(pack_at(m.a).stats().live, 0u);
  pack_at(m.a).~RPack();
}

}  // namespace
}  // namespace swim::mem
