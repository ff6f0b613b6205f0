// Workload (e), swim-mem only (nothing else relocates): fragmentation of a leased
// structure after churn, then after compaction or stow.
//
// A binary search tree of Raw<Box<TreeNode>> (64-byte nodes) lives in a Pool of
// 64 KiB hunks over an AddrSpace of 4 KiB pages. While it is built and churned
// (a random node erased and a new one inserted, 4 times the tree's size), garbage
// objects of 9..1024 bytes are allocated between its nodes and freed in random
// order, and at the end all of it goes: the survivors are left scattered over
// sparse hunks. Measured then (the Pool's own accounting; the memory is a lazily
// committed OS mapping whose resident size says nothing here), and after either
//   compact: try_compact(pool, tree), the survivors copied into fresh hunks of the
//            same Pool and the emptied hunks given back, or
//   stow:    try_stow(tree, fresh Pool), the survivors copied into a new Pool and
//            the old one emptied (its hunks go back to the pages).
// Both runs build the same tree (same seed), so "after churn" is measured twice.
//
// Registered by swim_bench alone (benchmarks/CMakeLists.txt).
#include <algorithm>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <vector>

#include "workload_support.hpp"

// The leased structure of the compaction workload: a binary search tree of
// 64-byte nodes whose children are exclusive leases, Raw<Box<TreeNode>>.
namespace swim_bench {
struct TreePayload {
  std::uint64_t words[5];
};
struct TreeNode {
  std::uint64_t key = 0;
  sm::Raw<sm::Box<TreeNode>> left, right;
  TreePayload payload{};
};
static_assert(sizeof(TreeNode) == 64);
}  // namespace swim_bench

template <>
struct swim::mem::stow_traits<swim_bench::TreeNode>
    : swim::mem::stow_members<swim_bench::TreeNode, &swim_bench::TreeNode::key,
                              &swim_bench::TreeNode::left, &swim_bench::TreeNode::right,
                              &swim_bench::TreeNode::payload> {};

namespace swim_bench {
namespace {

using TreeLease = sm::Raw<sm::Box<TreeNode>>;

TreeLease&& move_lease(TreeLease& l) { return static_cast<TreeLease&&>(l); }

bool tree_insert(TreeLease& root, std::uint64_t key, sm::HoldRef hold) {
  TreeLease* slot = &root;
  while (*slot) slot = key < (*slot)->key ? &(*slot)->left : &(*slot)->right;
  sm::Result<TreeLease> node = TreeLease::try_new(hold);
  if (!node) return false;
  (*node)->key = key;
  (*node)->payload.words[0] = key;
  *slot = node.take();
  return true;
}

/// Erase `key` (present); the node goes back to its hold. The replacement of a node
/// with two children alternates between successor and predecessor, so that churn
/// does not skew the tree (Hibbard deletion alone grows it to sqrt(n) height, and
/// stow recurses along its depth).
void tree_erase(TreeLease& root, std::uint64_t key, bool successor) {
  TreeLease* slot = &root;
  while (*slot && (*slot)->key != key) slot = key < (*slot)->key ? &(*slot)->left : &(*slot)->right;
  if (!*slot) return;
  TreeLease victim = move_lease(*slot);
  if (!victim->left) {
    *slot = move_lease(victim->right);
  } else if (!victim->right) {
    *slot = move_lease(victim->left);
  } else if (successor) {
    TreeLease* m = &victim->right;
    while ((*m)->left) m = &(*m)->left;
    TreeLease next = move_lease(*m);
    *m = move_lease(next->right);
    next->left = move_lease(victim->left);
    next->right = move_lease(victim->right);
    *slot = move_lease(next);
  } else {
    TreeLease* m = &victim->left;
    while ((*m)->right) m = &(*m)->right;
    TreeLease prev = move_lease(*m);
    *m = move_lease(prev->left);
    prev->left = move_lease(victim->left);
    prev->right = move_lease(victim->right);
    *slot = move_lease(prev);
  }
}  // victim, now childless, is destroyed and freed here

std::size_t tree_height(const TreeLease& n) {
  return n ? 1 + std::max(tree_height(n->left), tree_height(n->right)) : 0;
}

/// Free a tree without deep recursion in the destructors (rotate left children up).
void tree_free(TreeLease& root) {
  while (root) {
    if (root->left) {
      TreeLease l = move_lease(root->left);
      root->left = move_lease(l->right);
      l->right = move_lease(root);
      root = move_lease(l);
    } else {
      TreeLease r = move_lease(root->right);
      root = move_lease(r);
    }
  }
}

template <class Pool>
double held_over_used(const Pool& p) {
  const double used = static_cast<double>(p.stats().bytes_in_use);
  return used > 0 ? static_cast<double>(p.reserved_bytes()) / used : 0.0;
}

/// Build and churn the tree in `pool`; false when an allocation failed.
template <class Pool>
bool churn_tree(Pool& pool, TreeLease& tree, std::size_t nodes, std::uint64_t seed) {
  const sm::HoldRef hold = sm::HoldRef::of(pool);
  Rng rng(seed);
  std::vector<std::uint64_t> keys;
  std::vector<sm::Block> garbage;
  keys.reserve(nodes);
  garbage.reserve(2 * nodes + 16);
  auto garbage_size = [&] {  // 9..1024 bytes, log-uniform over the power-of-two classes
    const unsigned c = 4 + static_cast<unsigned>(rng.below(7));
    const std::size_t hi = std::size_t(1) << c;
    return hi / 2 + 1 + rng.below(hi / 2);
  };
  auto add_garbage = [&] {
    const sm::Result<sm::Block> g = pool.try_allocate(sm::Layout{garbage_size(), 8});
    if (!g) return false;
    std::memset(g->ptr, 1, g->size);
    garbage.push_back(*g);
    return true;
  };
  auto drop_garbage = [&] {
    const std::size_t i = rng.below(garbage.size());
    pool.try_deallocate(garbage[i]);
    garbage[i] = garbage.back();
    garbage.pop_back();
  };
  auto insert_new = [&] {
    std::uint64_t key = rng.next();
    if (!tree_insert(tree, key, hold)) return false;
    keys.push_back(key);
    return true;
  };
  // Build: each node between two garbage objects; garbage capped at `nodes` live.
  for (std::size_t i = 0; i < nodes; ++i) {
    if (!insert_new() || !add_garbage() || !add_garbage()) return false;
    while (garbage.size() > nodes) drop_garbage();
  }
  // Churn: replace random nodes, with garbage coming and going between them.
  for (std::size_t i = 0; i < 4 * nodes; ++i) {
    const std::size_t k = rng.below(keys.size());
    tree_erase(tree, keys[k], (i & 1) != 0);
    keys[k] = keys.back();
    keys.pop_back();
    if (!insert_new() || !add_garbage()) return false;
    while (garbage.size() > nodes) drop_garbage();
  }
  // The garbage goes; the tree's nodes stay where they were put.
  while (!garbage.empty()) drop_garbage();
  return true;
}

template <class Mode>
void compaction(benchmark::State& st) {
  using Space = sm::AddrSpace<Mode, false>;
  using Pool = sm::Pool<Space, Mode>;
  const auto nodes = static_cast<std::size_t>(st.range(0));
  constexpr std::size_t hunk = 64 * 1024;
  constexpr std::uint64_t seed = 2026;
  for (auto _ : st) {
    // Run 1: churn, then compact in place.
    {
      Region region(std::size_t(1) << 30);
      Space space(region.block, 4096);
      TreeLease tree;
      bool ok = false;
      {
        Pool pool(space, hunk);
        ok = churn_tree(pool, tree, nodes, seed);
        if (ok) {
          pool.trim();
          st.counters["live_nodes"] = static_cast<double>(pool.stats().live);
          st.counters["tree_height"] = static_cast<double>(tree_height(tree));
          st.counters["frag_churn"] = sm::pool_fragmentation(pool);
          st.counters["held_over_used_churn"] = held_over_used(pool);
          st.counters["reserved_churn_B"] = static_cast<double>(pool.reserved_bytes());
          st.counters["in_use_B"] = static_cast<double>(pool.stats().bytes_in_use);
          const auto t0 = std::chrono::steady_clock::now();
          const sm::Result<sm::CompactionReport> r = sm::try_compact(pool, tree);
          const double ns =
              std::chrono::duration<double, std::nano>(std::chrono::steady_clock::now() - t0)
                  .count();
          ok = r.ok();
          if (ok) {
            st.counters["frag_compact"] = r->fragmentation_after;
            st.counters["held_over_used_compact"] = held_over_used(pool);
            st.counters["reserved_compact_B"] = static_cast<double>(r->reserved_after);
            st.counters["moved_B"] = static_cast<double>(r->bytes_moved);
            st.counters["compact_ns_per_node"] = ns / static_cast<double>(pool.stats().live);
          }
        }
        tree_free(tree);
      }
      if (!ok) {
        st.SkipWithError("compaction run: allocation or compaction failed");
        return;
      }
    }
    // Run 2: the same churn, then stow the tree into a fresh Pool.
    {
      Region region(std::size_t(1) << 30);
      Space space(region.block, 4096);
      TreeLease tree;
      bool ok = false;
      {
        Pool fresh(space, hunk);
        {
          Pool pool(space, hunk);
          ok = churn_tree(pool, tree, nodes, seed);
          if (ok) {
            pool.trim();
            st.counters["frag_churn_run2"] = sm::pool_fragmentation(pool);
            const auto t0 = std::chrono::steady_clock::now();
            sm::Result<TreeLease> stowed = sm::try_stow(tree, sm::HoldRef::of(fresh));
            const double ns =
                std::chrono::duration<double, std::nano>(std::chrono::steady_clock::now() - t0)
                    .count();
            ok = stowed.ok();
            if (ok) {
              tree = stowed.take();
              pool.trim();
              st.counters["frag_stow"] = sm::pool_fragmentation(fresh);
              st.counters["held_over_used_stow"] = held_over_used(fresh);
              st.counters["reserved_stow_B"] = static_cast<double>(fresh.reserved_bytes());
              st.counters["old_pool_reserved_after_stow_B"] =
                  static_cast<double>(pool.reserved_bytes());
              st.counters["stow_ns_per_node"] = ns / static_cast<double>(fresh.stats().live);
            }
          }
        }  // the old Pool: empty, its last hunk goes back
        tree_free(tree);
      }
      if (!ok) {
        st.SkipWithError("stow run: allocation or stow failed");
        return;
      }
    }
  }
  st.counters["nodes"] = static_cast<double>(nodes);
  st.counters["node_B"] = static_cast<double>(sizeof(TreeNode));
}

}  // namespace

void register_compaction() {
  const std::int64_t nodes = quick() ? 20000 : 100000;
  benchmark::RegisterBenchmark("compaction/tree/swim-Pool(so)", compaction<sm::single_owner>)
      ->Arg(nodes)
      ->Iterations(1);
  benchmark::RegisterBenchmark("compaction/tree/swim-Pool(lf)", compaction<sm::concurrent>)
      ->Arg(nodes)
      ->Iterations(1);
}

}  // namespace swim_bench
