// Test support: a structure of relative leases (a Buf, a String and a binary tree)
// for holds placed in memory mapped more than once (tests/test_relative_pack.cpp,
// tests/test_relative_pool.cpp), and a forked child that works on it through a
// mapping of its own.
#pragma once

#include <gtest/gtest.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "support/two_mappings.hpp"
#include "swim/mem.hpp"

namespace swim::mem::testing {

template <class R>
using RRaw = Raw<R, relative_address>;

struct RNode {
  std::int64_t key = 0;
  RRaw<Box<RNode>> left, right;
};

/// What the tests keep in the shared memory, at its start.
struct Shared {
  RRaw<Buf<std::int64_t>> numbers;
  RRaw<String<>> text;
  RRaw<Box<RNode>> tree;
};

}  // namespace swim::mem::testing

template <>
struct swim::mem::stow_traits<swim::mem::testing::RNode>
    : stow_members<swim::mem::testing::RNode, &swim::mem::testing::RNode::key,
                   &swim::mem::testing::RNode::left, &swim::mem::testing::RNode::right> {};

namespace swim::mem::testing {

// ThreadSanitizer tracks synchronisation by virtual address: a free through one
// mapping (a release CAS at that mapping's address) and the next allocation of the
// same bytes through the other (an acquire CAS at the other address) are not linked
// for it, so it reports the reuse as a race although the CASes order it. Under TSan
// threads that share a hold therefore keep to one mapping of it.
#if defined(__SANITIZE_THREAD__)
inline constexpr bool under_tsan = true;
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
inline constexpr bool under_tsan = true;
#else
inline constexpr bool under_tsan = false;
#endif
#else
inline constexpr bool under_tsan = false;
#endif

inline bool within(const void* p, const std::byte* base, std::size_t bytes = TwoMappings::bytes) {
  const auto* b = static_cast<const std::byte*>(p);
  return b >= base && b < base + bytes;
}

/// A balanced tree of the keys [lo, hi) in `hold`.
inline RRaw<Box<RNode>> tree_of(HoldRef hold, std::int64_t lo, std::int64_t hi) {
  if (lo >= hi) return {};
  const std::int64_t mid = lo + (hi - lo) / 2;
  RRaw<Box<RNode>> t = RRaw<Box<RNode>>::try_new(hold).take();
  t->key = mid;
  t->left = tree_of(hold, lo, mid);
  t->right = tree_of(hold, mid + 1, hi);
  return t;
}

/// The nodes of tree_of(lo, hi), each checked for its key and for being at an address
/// of the mapping at `base`; negative if any is wrong.
inline std::int64_t checked_count(const RRaw<Box<RNode>>& t, std::int64_t lo, std::int64_t hi,
                                  const std::byte* base, std::size_t bytes = TwoMappings::bytes) {
  if (lo >= hi) return t ? -1000000 : 0;
  if (!t || !within(t.data(), base, bytes)) return -1000000;
  const std::int64_t mid = lo + (hi - lo) / 2;
  if (t->key != mid) return -1000000;
  return 1 + checked_count(t->left, lo, mid, base, bytes) +
         checked_count(t->right, mid + 1, hi, base, bytes);
}

/// Nodes of any tree, and how many of them are not at an address of the mapping at `base`.
struct TreeCount {
  std::int64_t nodes = 0, outside = 0;
};
inline TreeCount count_tree(const RRaw<Box<RNode>>& root, const std::byte* base,
                            std::size_t bytes = TwoMappings::bytes) {
  TreeCount c;
  std::vector<const RRaw<Box<RNode>>*> todo{&root};
  while (!todo.empty()) {
    const RRaw<Box<RNode>>* t = todo.back();
    todo.pop_back();
    if (!*t) continue;
    ++c.nodes;
    c.outside += within(t->data(), base, bytes) ? 0 : 1;
    todo.push_back(&(*t)->left);
    todo.push_back(&(*t)->right);
  }
  return c;
}

/// Fork a child that unmaps both of `m`'s mappings, maps the file once more, and
/// through that mapping pushes 10..2999 onto the Shared Buf (which holds 0..9),
/// checks it, and hangs tree_of(hold_at(its base), 10, tree_hi) on the rightmost
/// node of the tree. The child's exit status: 0 when all went well.
template <class M, class HoldAt>
int grow_in_forked_child(const M& m, HoldAt hold_at, std::int64_t tree_hi) {
  const pid_t pid = fork();
  if (pid < 0) return -1;
  if (pid == 0) {
    munmap(m.a, M::bytes);  // only the child's own mapping from here on
    munmap(m.b, M::bytes);
    std::byte* c = m.map();
    int bad = c == nullptr ? 1 : 0;
    if (c != nullptr) {
      Shared& sc = *reinterpret_cast<Shared*>(c);
      for (std::int64_t i = 10; i < 3000 && bad == 0; ++i) {
        if (sc.numbers.try_push(i) != Error::none) bad = 2;
      }
      for (std::size_t i = 0; i < sc.numbers.size() && bad == 0; ++i) {
        if (sc.numbers.data()[i] != static_cast<std::int64_t>(i)) bad = 3;
      }
      RRaw<Box<RNode>>* at = &sc.tree;
      while (*at) at = &(*at)->right;
      *at = tree_of(hold_at(c), 10, tree_hi);
      if (!*at) bad = 4;
    }
    _exit(bad);
  }
  int status = 0;
  if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status)) return -2;
  return WEXITSTATUS(status);
}

/// The whole forked-child scenario over the hold at hold_at(base), placed with Shared
/// at m.a: the parent makes the Buf (0..9) and a tree of 10 keys, the child grows
/// them through its own mapping (grow_in_forked_child), the parent reads and checks
/// what the child did at its own addresses, then frees the Buf and the tree.
template <class M, class HoldAt>
void expect_a_forked_child_grows_what_the_parent_reads(const M& m, HoldAt hold_at,
                                                       std::int64_t tree_hi) {
  Shared& sa = *reinterpret_cast<Shared*>(m.a);
  const HoldRef ha = hold_at(m.a);
  sa.numbers = RRaw<Buf<std::int64_t>>::try_empty(ha).take();
  for (std::int64_t i = 0; i < 10; ++i) ASSERT_EQ(sa.numbers.try_push(i), Error::none);
  sa.tree = tree_of(ha, 0, 10);
  ASSERT_EQ(grow_in_forked_child(m, hold_at, tree_hi), 0);
  ASSERT_EQ(sa.numbers.size(), 3000u);
  for (std::size_t i = 0; i < 3000; ++i) ASSERT_EQ(sa.numbers.data()[i], static_cast<std::int64_t>(i));
  EXPECT_TRUE(within(sa.numbers.data(), m.a, M::bytes));
  const TreeCount count = count_tree(sa.tree, m.a, M::bytes);
  EXPECT_EQ(count.nodes, tree_hi);
  EXPECT_EQ(count.outside, 0) << "every node at an address of this mapping";
  sa.numbers.reset();
  sa.tree.reset();
}

/// The scenario both placements share: over the hold at hold_at(base), placed with
/// Shared at m.a, a Buf of `numbers` squares, a String and a tree of `nodes` keys are
/// built through a, read through b (b's addresses, the same contents), grown through
/// b and read through a, relocated (stowed into the same hold) through b and read
/// through a, half the tree freed through a, and the rest through b.
template <class M, class HoldAt>
void expect_built_read_grown_relocated_and_freed(const M& m, HoldAt hold_at, std::int64_t numbers,
                                                 std::int64_t nodes) {
  constexpr std::size_t bytes = M::bytes;
  Shared& sa = *reinterpret_cast<Shared*>(m.a);
  Shared& sb = *reinterpret_cast<Shared*>(m.b);
  const HoldRef ha = hold_at(m.a);
  const HoldRef hb = hold_at(m.b);
  std::vector<std::int64_t> model;
  for (std::int64_t i = 0; i < 100; ++i) model.push_back(i * i);
  sa.numbers = RRaw<Buf<std::int64_t>>::try_from(ha, model.data(), model.size()).take();
  sa.text = RRaw<String<>>::try_from(ha, "built through a").take();
  sa.tree = tree_of(ha, 0, nodes);
  EXPECT_TRUE(within(sa.numbers.data(), m.a, bytes));

  ASSERT_EQ(sb.numbers.size(), model.size());
  EXPECT_TRUE(within(sb.numbers.data(), m.b, bytes));
  for (std::size_t i = 0; i < model.size(); ++i) EXPECT_EQ(sb.numbers.data()[i], model[i]);
  EXPECT_EQ(std::string(sb.text.view().ptr, sb.text.view().len), "built through a");
  EXPECT_EQ(checked_count(sb.tree, 0, nodes, m.b, bytes), nodes);
  EXPECT_EQ(sb.numbers.hold(), hb);

  // Grown through b (new objects of the shared hold, through the tag).
  for (std::int64_t i = 100; i < numbers; ++i) {
    ASSERT_EQ(sb.numbers.try_push(i * i), Error::none) << i;
    model.push_back(i * i);
  }
  ASSERT_EQ(sb.text.try_append(", grown through b"), Error::none);
  ASSERT_EQ(sa.numbers.size(), model.size());
  for (std::size_t i = 0; i < model.size(); ++i) ASSERT_EQ(sa.numbers.data()[i], model[i]);
  EXPECT_EQ(std::string(sa.text.view().ptr, sa.text.view().len),
            "built through a, grown through b");

  // Relocated through b: a copy in the same hold, the old objects freed, the
  // handles in the shared memory replaced.
  const void* old = sa.numbers.data();
  Result<RRaw<Buf<std::int64_t>>> moved = try_stow(sb.numbers, hb);
  ASSERT_TRUE(moved) << to_string(moved.error());
  sb.numbers = moved.take();
  EXPECT_NE(sa.numbers.data(), old);
  for (std::size_t i = 0; i < model.size(); ++i) ASSERT_EQ(sa.numbers.data()[i], model[i]);
  Result<RRaw<Box<RNode>>> tree = try_stow(sb.tree, hb);
  ASSERT_TRUE(tree) << to_string(tree.error());
  sb.tree = tree.take();
  EXPECT_EQ(checked_count(sa.tree, 0, nodes, m.a, bytes), nodes);
  sa.tree->left.reset();
  const std::int64_t mid = nodes / 2;
  EXPECT_EQ(checked_count(sb.tree->right, mid + 1, nodes, m.b, bytes), nodes - mid - 1);

  sb.numbers.reset();
  sb.text.reset();
  sb.tree.reset();
}

/// Four threads allocating through both mappings of `m` at once (through the hold at
/// hold_at(base)), 20,000 steps each, and freeing each other's objects through the
/// other mapping's address: up to `held` objects each, of size_of(random) bytes,
/// filled and checked; freed last-first when `lifo` (a Pack's bytes come back then),
/// else in random order. The number of failures (an unexpected error, a wrong byte).
/// Under TSan every thread keeps to one mapping (see under_tsan).
template <class M, class HoldAt, class SizeOf>
int storm_on_two_mappings(const M& m, HoldAt hold_at, SizeOf size_of, std::size_t held_max,
                          bool lifo) {
  std::atomic<int> failures{0};
  auto worker = [&](std::byte* mine, std::byte* other, unsigned seed) {
    const HoldRef h = hold_at(mine);
    std::vector<Block> held;
    unsigned x = seed;
    for (int i = 0; i < 20000; ++i) {
      x = x * 1103515245u + 12345u;
      if (held.size() < held_max && (x >> 16) % 3 != 0) {
        const std::size_t size = size_of(x);
        const Result<Block> b = h.try_allocate(Layout{size, 8});
        if (b) {
          std::memset(b->ptr, static_cast<int>(seed), size);
          held.push_back(Block{b->ptr, size});
        } else if (b.error() != Error::out_of_memory && b.error() != Error::contended) {
          failures.fetch_add(1);
        }
      } else if (!held.empty()) {
        const std::size_t k = lifo ? held.size() - 1 : (x >> 8) % held.size();
        Block b = held[k];
        held.erase(held.begin() + static_cast<std::ptrdiff_t>(k));
        const auto* bytes = static_cast<const unsigned char*>(b.ptr);
        for (std::size_t j = 0; j < b.size; j += 61) {
          if (bytes[j] != static_cast<unsigned char>(seed)) failures.fetch_add(1);
        }
        b.ptr = other + (static_cast<std::byte*>(b.ptr) - mine);  // the other mapping's
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
  return failures.load();
}

}  // namespace swim::mem::testing
