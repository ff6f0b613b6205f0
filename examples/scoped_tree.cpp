// scoped_tree: the memory model in one page.
//
// Build a data structure in a scratch scope (lots of temporary allocations, some
// of which survive), stow the survivors into a long-lived Pool, and let the scope
// end: its memory goes back at once, and the result sits compact in the Pool.
//
//   static arena -> AddrSpace (pages)  -> Pool "home"     (long-lived, 64 KiB hunks)
//                                      -> Pool "scratch"  (one Scope, 16 KiB hunks)
#include <cstdint>
#include <cstdio>

#include "swim/mem.hpp"

using namespace swim::mem;

// A binary search tree whose children are exclusive leases.
struct Node {
  std::uint64_t key = 0;
  Raw<Box<Node>> left, right;
};

// How to stow a Node: stow each member (the children recursively).
template <>
struct swim::mem::stow_traits<Node> : stow_members<Node, &Node::key, &Node::left, &Node::right> {};

namespace {

alignas(4096) std::byte g_arena[32 << 20];

Error insert(Raw<Box<Node>>& root, std::uint64_t key, HoldRef hold) {
  Raw<Box<Node>>* slot = &root;
  while (*slot) slot = key < (*slot)->key ? &(*slot)->left : &(*slot)->right;
  Result<Raw<Box<Node>>> node = Raw<Box<Node>>::try_new(hold);
  if (!node) return node.error();
  (*node)->key = key;
  *slot = node.take();
  return Error::none;
}

std::size_t count(const Raw<Box<Node>>& n) { return n ? 1 + count(n->left) + count(n->right) : 0; }

bool sorted(const Raw<Box<Node>>& n, std::uint64_t lo, std::uint64_t hi) {
  return !n || (n->key >= lo && n->key <= hi && sorted(n->left, lo, n->key) &&
                sorted(n->right, n->key, hi));
}

void print(const char* what, const Stats& s, std::size_t reserved) {
  std::printf("  %-22s live %6zu  in use %8zu B  held from pages %8zu B\n", what, s.live,
              s.bytes_in_use, reserved);
}

}  // namespace

int main() {
  AddrSpace<> pages(Block{g_arena, sizeof g_arena});
  Pool<AddrSpace<>> home(pages, 64 * 1024);
  set_default_hold(HoldRef::of(home));  // where scopes send their survivors

  Raw<Box<Node>> tree;
  {
    Scope<Pool<AddrSpace<>>> scratch(pages, 16 * 1024);
    // Work in the scratch scope: many short-lived trees, one that survives.
    std::uint64_t x = 88172645463325252ull;  // xorshift: a fixed, portable sequence
    auto next = [&x] { return x ^= x << 13, x ^= x >> 7, x ^= x << 17; };
    for (int round = 0; round < 20; ++round) {
      Raw<Box<Node>> temporary;
      for (int i = 0; i < 2000; ++i) insert(temporary, next() % 100000, current_hold());
      for (int i = 0; i < 100; ++i) insert(tree, next() % 100000, current_hold());
    }  // each temporary tree is freed here, leaving holes between the survivors
    std::printf("in the scratch scope, after building (%zu hunks):\n",
                scratch.hold().hunk_count());
    print("scratch pool", scratch.hold().stats(), scratch.hold().reserved_bytes());
    std::printf("  fragmentation of scratch: %.1f %%\n",
                100 * pool_fragmentation(scratch.hold()));

    // Keep the tree: stow it (recursively) into the outer hold, the home pool.
    const Error e = scratch.try_keep(tree);
    if (e != Error::none) {
      std::printf("could not keep the tree: %s\n", to_string(e));
      return 1;
    }
  }  // the scope ends: the scratch pool and every hunk it held go back at once

  std::printf("after the scope:\n");
  print("home pool (the tree)", home.stats(), home.reserved_bytes());
  std::printf("  fragmentation of home: %.1f %%\n", 100 * pool_fragmentation(home));
  std::printf("  pages in use: %zu B (only the home pool's hunks)\n",
              pages.stats().bytes_in_use);
  std::printf("  tree: %zu nodes, %s\n", count(tree),
              sorted(tree, 0, ~std::uint64_t(0)) ? "still a search tree" : "BROKEN");
  tree = Raw<Box<Node>>{};
  set_default_hold(HoldRef{});
  return home.stats().live == 0 ? 0 : 1;
}
