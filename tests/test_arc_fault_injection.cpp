// Fault injection in stows of shared leases: every allocation of the stow of a 1000-node
// chain, tree, DAG and doubly linked list (cycles through Softs) fails once, and each
// failure leaves the target empty and the source as it was.
#include <gtest/gtest.h>

#include <cstdint>
#include <vector>

#include "swim/mem.hpp"

namespace swim::mem {
namespace {

using S = ArcStatus;

// ---- Fault injection: every allocation of a 1000-node stow fails once -------------------

struct TNode {
  std::uint64_t v = 0;
  Hard<Box<TNode>> a, b, shared;
};

}  // namespace
}  // namespace swim::mem

template <>
struct swim::mem::stow_traits<swim::mem::TNode>
    : swim::mem::stow_members<swim::mem::TNode, &swim::mem::TNode::v, &swim::mem::TNode::a,
                              &swim::mem::TNode::b, &swim::mem::TNode::shared> {};

namespace swim::mem {
namespace {

using HardNode = Hard<Box<TNode>>;
constexpr std::size_t node_bytes = 8 + sizeof(ArcHeader<NoMeta>) + sizeof(TNode);

HardNode make_node(HoldRef hold, std::uint64_t v, HardNode a, HardNode b, const HardNode* shared) {
  Result<HardNode> n = HardNode::try_new(hold);
  EXPECT_TRUE(n.ok());
  Result<Mut<Box<TNode>>> m = n->poll_mut();
  (*m)->v = v;
  (*m)->a = std::move(a);
  (*m)->b = std::move(b);
  if (shared != nullptr) (*m)->shared = shared->try_clone().take();
  return n.take();
}

HardNode make_chain(HoldRef hold, int n) {
  HardNode head;
  for (int i = n; i >= 1; --i) head = make_node(hold, i, std::move(head), {}, nullptr);
  return head;
}

// A full binary tree in preorder numbering from `first`.
HardNode make_tree(HoldRef hold, int depth, std::uint64_t& next, const HardNode* shared) {
  if (depth == 0) return {};
  const std::uint64_t v = next++;
  HardNode a = make_tree(hold, depth - 1, next, shared);
  HardNode b = make_tree(hold, depth - 1, next, shared);
  return make_node(hold, v, std::move(a), std::move(b), shared);
}

// Walk a structure in preorder: every node has its number, exactly one hard
// reference, and is neither relocated nor borrowed; the shared node (if any) has
// status `shared_status`.
int walk(const HardNode& h, std::uint64_t& next, std::uint64_t shared_status) {
  if (!h) return 0;
  if (h.status() != S::hard_status_init) {
    ADD_FAILURE() << "node " << next << " status " << std::hex << h.status();
    return 0;
  }
  Result<Ref<Box<TNode>>> r = h.poll_ref();
  if (!r.ok() || (*r)->v != next) {
    ADD_FAILURE() << "node " << next;
    return 0;
  }
  ++next;
  if ((*r)->shared && (*r)->shared.status() != shared_status) {
    ADD_FAILURE() << "shared status " << std::hex << (*r)->shared.status();
  }
  const int in_a = walk((*r)->a, next, shared_status);
  return 1 + in_a + walk((*r)->b, next, shared_status);
}

int walk(const HardNode& h, std::uint64_t shared_status = 0) {
  std::uint64_t next = 1;
  return walk(h, next, shared_status);
}

// Iteratively, so that a long chain does not recurse in destructors.
// (`Next`: the member that holds the rest of the chain.)
template <auto Next, class T>
void free_iteratively(Hard<Box<T>>& head) {
  while (head) {
    Hard<Box<T>> next;
    {
      Result<Mut<Box<T>>> m = head.poll_mut();
      ASSERT_TRUE(m.ok());
      next = std::move((*m).operator->()->*Next);
    }
    head = std::move(next);
  }
}
void free_chain(HardNode& head) { free_iteratively<&TNode::a>(head); }

// A target that runs out at its (n+1)-th allocation, for every n along the stow of
// `root` (`objects` allocations, all node_bytes): each time the stow fails with
// out_of_memory, the target is empty, the source hold has all its objects and the
// structure walks as before. Then a stow with room succeeds.
Result<HardNode> stow_with_faults(HardNode& root, const Pack<>& source, std::size_t objects,
                                   int nodes, std::uint64_t shared_status) {
  std::vector<std::byte> dst(objects * node_bytes + 64);
  for (std::size_t n = 0; n < objects; ++n) {
    Pack<> target(Block{dst.data(), n * node_bytes + node_bytes - 8});
    Result<HardNode> r = try_stow(root, HoldRef::of(target));
    EXPECT_EQ(r.error(), Error::out_of_memory) << "n = " << n;
    EXPECT_EQ(target.stats().live, 0u) << "n = " << n;
    EXPECT_EQ(source.stats().live, objects) << "n = " << n;
    EXPECT_EQ(walk(root, shared_status), nodes) << "n = " << n;
    if (r.ok() || target.stats().live != 0 || ::testing::Test::HasFailure()) {
      ADD_FAILURE() << "stopping at n = " << n;
      return Error::invalid_argument;
    }
  }
  return Error::none;
}

TEST(ArcFaultInjection, AChainOf1000) {
  constexpr int nodes = 1000;
  std::vector<std::byte> src(nodes * node_bytes + 64), dst(nodes * node_bytes + 64);
  Pack<> source(Block{src.data(), src.size()});
  HardNode root = make_chain(HoldRef::of(source), nodes);
  ASSERT_EQ(walk(root), nodes);
  (void)stow_with_faults(root, source, nodes, nodes, 0);
  Pack<> target(Block{dst.data(), dst.size()});
  Result<HardNode> moved = try_stow(root, HoldRef::of(target));
  ASSERT_TRUE(moved.ok());
  EXPECT_EQ(source.stats().live, 0u);
  EXPECT_EQ(target.stats().live, static_cast<std::size_t>(nodes));
  EXPECT_EQ(walk(*moved), nodes);
  free_chain(*moved);
  EXPECT_EQ(target.stats().live, 0u);
}

// A tree: failures in a right subtree revert the relocations of the left one.
TEST(ArcFaultInjection, ATreeOf1023) {
  constexpr int nodes = 1023;
  std::vector<std::byte> src(nodes * node_bytes + 64), dst(nodes * node_bytes + 64);
  Pack<> source(Block{src.data(), src.size()});
  std::uint64_t next = 1;
  HardNode root = make_tree(HoldRef::of(source), 10, next, nullptr);
  ASSERT_EQ(walk(root), nodes);
  (void)stow_with_faults(root, source, nodes, nodes, 0);
  Pack<> target(Block{dst.data(), dst.size()});
  Result<HardNode> moved = try_stow(root, HoldRef::of(target));
  ASSERT_TRUE(moved.ok());
  EXPECT_EQ(source.stats().live, 0u);
  EXPECT_EQ(target.stats().live, static_cast<std::size_t>(nodes));
  EXPECT_EQ(walk(*moved), nodes);
  moved->reset();
  EXPECT_EQ(target.stats().live, 0u);
}

// A DAG: every node of the tree also holds a Hard to one shared node, which is
// relocated at its first visit and shared by the later ones; failures undo the
// shares (last first) and then the relocation.
TEST(ArcFaultInjection, ADagOf1024) {
  constexpr int nodes = 1023;
  constexpr std::size_t objects = nodes + 1;
  std::vector<std::byte> src(objects * node_bytes + 64), dst(objects * node_bytes + 64);
  Pack<> source(Block{src.data(), src.size()});
  HardNode root;
  {
    HardNode shared = make_node(HoldRef::of(source), 0, {}, {}, nullptr);
    std::uint64_t next = 1;
    root = make_tree(HoldRef::of(source), 10, next, &shared);
  }
  ASSERT_EQ(walk(root, nodes), nodes);
  (void)stow_with_faults(root, source, objects, nodes, nodes);
  Pack<> target(Block{dst.data(), dst.size()});
  Result<HardNode> moved = try_stow(root, HoldRef::of(target));
  ASSERT_TRUE(moved.ok());
  EXPECT_EQ(source.stats().live, 0u);
  EXPECT_EQ(target.stats().live, objects) << "the shared node once";
  EXPECT_EQ(walk(*moved, nodes), nodes);
  moved->reset();
  EXPECT_EQ(target.stats().live, 0u);
}

// ---- Fault injection with cycles through Softs ------------------------------------------
// A doubly linked list: Hard next, Soft prev, so every node but the first closes a
// cycle back into the part of the structure being stowed.

struct CNode {
  std::uint64_t v = 0;
  Hard<Box<CNode>> next;
  Soft<Box<CNode>> prev;
};

}  // namespace
}  // namespace swim::mem

template <>
struct swim::mem::stow_traits<swim::mem::CNode>
    : swim::mem::stow_members<swim::mem::CNode, &swim::mem::CNode::v, &swim::mem::CNode::next,
                              &swim::mem::CNode::prev> {};

namespace swim::mem {
namespace {

using HardC = Hard<Box<CNode>>;
constexpr std::size_t cnode_bytes = 8 + sizeof(ArcHeader<NoMeta>) + sizeof(CNode);

HardC make_dlist(HoldRef hold, int n) {
  HardC head;
  for (int i = n; i >= 1; --i) {
    Result<HardC> node = HardC::try_new(hold);
    EXPECT_TRUE(node.ok());
    Result<Mut<Box<CNode>>> m = node->poll_mut();
    (*m)->v = static_cast<std::uint64_t>(i);
    if (head) {
      Result<Mut<Box<CNode>>> hm = head.poll_mut();
      (*hm)->prev = node->to_soft().take();
    }
    (*m)->next = std::move(head);
    m->reset();
    head = node.take();
  }
  return head;
}

// Every node: its number, one hard reference (`first_hards` for the first), one soft
// (none for the last), not relocated, not borrowed; prev leads back. Returns the count.
int walk_dlist(const HardC& head, std::size_t first_hards = 1) {
  int n = 0;
  const HardC* cur = &head;
  const void* prev = nullptr;
  while (*cur) {
    Result<Ref<Box<CNode>>> r = cur->poll_ref();
    if (!r.ok() || (*r)->v != static_cast<std::uint64_t>(n + 1) || (*r)->prev.data() != prev) {
      ADD_FAILURE() << "node " << n + 1;
      return -1;
    }
    // (the Ref adds one hard and one ref)
    const std::uint64_t want = ((n == 0 ? first_hards : 1) + 1) * S::hard_one + S::ref_one +
                               ((*r)->next ? S::soft_one : 0);
    if (cur->status() != want) {
      ADD_FAILURE() << "node " << n + 1 << " status " << std::hex << cur->status();
      return -1;
    }
    ++n;
    prev = cur->data();
    cur = &(*r)->next;  // stays valid: the node is held by the previous one
  }
  return n;
}

void free_dlist(HardC& head) { free_iteratively<&CNode::next>(head); }

TEST(ArcFaultInjection, ADoublyLinkedListOf1000) {
  constexpr int nodes = 1000;
  std::vector<std::byte> src(nodes * cnode_bytes + 64), dst(nodes * cnode_bytes + 64);
  Pack<> source(Block{src.data(), src.size()});
  HardC root = make_dlist(HoldRef::of(source), nodes);
  ASSERT_EQ(walk_dlist(root), nodes);
  for (int n = 0; n < nodes; ++n) {
    Pack<> target(Block{dst.data(), n * cnode_bytes + cnode_bytes - 8});
    Result<HardC> r = try_stow(root, HoldRef::of(target));
    ASSERT_EQ(r.error(), Error::out_of_memory) << "n = " << n;
    ASSERT_EQ(target.stats().live, 0u) << "n = " << n;
    ASSERT_EQ(source.stats().live, static_cast<std::size_t>(nodes)) << "n = " << n;
    ASSERT_EQ(walk_dlist(root), nodes) << "n = " << n;
  }
  Pack<> target(Block{dst.data(), dst.size()});
  Result<HardC> moved = try_stow(root, HoldRef::of(target));
  ASSERT_TRUE(moved.ok());
  EXPECT_EQ(source.stats().live, 0u);
  EXPECT_EQ(target.stats().live, static_cast<std::size_t>(nodes));
  EXPECT_EQ(walk_dlist(*moved), nodes);
  free_dlist(*moved);
  EXPECT_EQ(target.stats().live, 0u);
}

// The cycles are complete (every relocation of the list succeeded) when a later root
// of the same transaction fails: the whole list must still go back. Also a second
// Hard to the list's head, held outside and stowed as a third root, shares the
// relocation (one copy), and is undone with it.
TEST(ArcFaultInjection, CompletedCyclesAreUndoneWhenALaterRootFails) {
  constexpr int nodes = 300, chain = 200;
  constexpr std::size_t list_bytes = nodes * cnode_bytes;
  std::vector<std::byte> src(list_bytes + chain * node_bytes + 128);
  std::vector<std::byte> dst(list_bytes + chain * node_bytes + 128);
  Pack<> source(Block{src.data(), src.size()});
  HardC list = make_dlist(HoldRef::of(source), nodes);
  HardNode tail = make_chain(HoldRef::of(source), chain);
  HardC again = list.try_clone().take();
  ASSERT_EQ(walk_dlist(list, 2), nodes);
  for (int n = 0; n < chain; ++n) {
    // Room for the whole list and n nodes of the chain.
    Pack<> target(Block{dst.data(), list_bytes + n * node_bytes + node_bytes - 8});
    ASSERT_EQ(try_stow_all(HoldRef::of(target), list, tail, again), Error::out_of_memory)
        << "n = " << n;
    ASSERT_EQ(target.stats().live, 0u) << "n = " << n;
    ASSERT_EQ(source.stats().live, static_cast<std::size_t>(nodes + chain));
    ASSERT_EQ(walk_dlist(list, 2), nodes) << "n = " << n;
    ASSERT_EQ(walk(tail), chain) << "n = " << n;
  }
  Pack<> target(Block{dst.data(), dst.size()});
  ASSERT_EQ(try_stow_all(HoldRef::of(target), list, tail, again), Error::none);
  EXPECT_EQ(source.stats().live, 0u);
  EXPECT_EQ(target.stats().live, static_cast<std::size_t>(nodes + chain)) << "one list";
  EXPECT_TRUE(list.same_arc(again));
  EXPECT_EQ(walk_dlist(list, 2), nodes);
  EXPECT_EQ(walk(tail), chain);
  again.reset();
  free_dlist(list);
  free_chain(tail);
  EXPECT_EQ(target.stats().live, 0u);
}

}  // namespace
}  // namespace swim::mem
