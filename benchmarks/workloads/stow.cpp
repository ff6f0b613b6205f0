// Workload (e'), swim-mem only: stow throughput, exclusive copies vs shared
// relocations.
//
// One structure of n nodes is stowed back and forth between two Packs, `rounds`
// times; reported in ns per node. The baseline is the tree of Raw leases (a plain
// recursive copy); the shared variants relocate every node (lock, copy, log, and
// publish at commit, the source stubs then freed), the DAG variant meets one
// shared node again at every node, the list closes a cycle through a Soft at
// every node.
//
// Registered by swim_bench alone (benchmarks/CMakeLists.txt).
#include <chrono>
#include <cstddef>
#include <cstdint>

#include "workload_support.hpp"

// The structures of the stow workload: a tree whose children are exclusive (Raw)
// or shared (Hard) leases, optionally with a Hard to one node shared by all (a DAG),
// and a doubly linked list (Hard next, Soft prev: a cycle at every node).
namespace swim_bench {
template <template <class> class Lease>
struct SNode {
  std::uint64_t key = 0;
  Lease<sm::Box<SNode>> left, right, shared;
};
template <class R>
using RawLease = sm::Raw<R>;
template <class R>
using HardLease = sm::Hard<R>;
struct DNode {
  std::uint64_t key = 0;
  sm::Hard<sm::Box<DNode>> next;
  sm::Soft<sm::Box<DNode>> prev;
};
}  // namespace swim_bench

template <template <class> class Lease>
struct swim::mem::stow_traits<swim_bench::SNode<Lease>>
    : swim::mem::stow_members<swim_bench::SNode<Lease>, &swim_bench::SNode<Lease>::key,
                              &swim_bench::SNode<Lease>::left, &swim_bench::SNode<Lease>::right,
                              &swim_bench::SNode<Lease>::shared> {};
template <>
struct swim::mem::stow_traits<swim_bench::DNode>
    : swim::mem::stow_members<swim_bench::DNode, &swim_bench::DNode::key,
                              &swim_bench::DNode::next, &swim_bench::DNode::prev> {};

namespace swim_bench {
namespace {

template <template <class> class Lease>
Lease<sm::Box<SNode<Lease>>> stow_tree(sm::HoldRef h, int depth, std::uint64_t& key,
                                       const Lease<sm::Box<SNode<Lease>>>* shared) {
  using L = Lease<sm::Box<SNode<Lease>>>;
  if (depth == 0) return L{};
  L left = stow_tree<Lease>(h, depth - 1, key, shared);
  L right = stow_tree<Lease>(h, depth - 1, key, shared);
  L sh;
  if constexpr (requires { L::is_strong; }) {  // (Hard only: a Raw cannot be shared)
    if (shared != nullptr) sh = shared->try_clone().take();
  }
  sm::Result<L> n =
      L::try_new(h, SNode<Lease>{key++, static_cast<L&&>(left), static_cast<L&&>(right),
                                 static_cast<L&&>(sh)});
  return n ? n.take() : L{};
}

sm::Hard<sm::Box<DNode>> stow_dlist(sm::HoldRef h, std::uint64_t n) {
  using L = sm::Hard<sm::Box<DNode>>;
  L head;
  for (std::uint64_t i = n; i > 0; --i) {
    L node = L::try_new(h, DNode{i, static_cast<L&&>(head), {}}).take();
    {
      sm::Result<sm::Mut<sm::Box<DNode>>> m = node.try_mut();
      if ((*m)->next) {
        sm::Result<sm::Mut<sm::Box<DNode>>> nm = (*m)->next.try_mut();
        (*nm)->prev = node.to_soft().take();
      }
    }
    head = static_cast<L&&>(node);
  }
  return head;
}

/// ns per node of `rounds` stows of `root` between packs a and b (ending in a).
template <class L>
double ping_pong(L& root, sm::Pack<sm::single_owner>& a, sm::Pack<sm::single_owner>& b,
                 std::size_t nodes, int rounds, bool& ok) {
  const auto t0 = std::chrono::steady_clock::now();
  for (int r = 0; r < rounds && ok; ++r) {
    sm::Result<L> there = sm::try_stow(root, sm::HoldRef::of((r % 2 == 0) ? b : a));
    ok = there.ok();
    if (ok) root = there.take();
  }
  const auto t1 = std::chrono::steady_clock::now();
  return std::chrono::duration<double, std::nano>(t1 - t0).count() /
         (static_cast<double>(nodes) * rounds);
}

void stow_throughput(benchmark::State& st) {
  const int depth = static_cast<int>(st.range(0));
  const std::size_t nodes = (std::size_t(1) << depth) - 1;
  const int rounds = quick() ? 4 : 16;
  for (auto _ : st) {
    Region ra(nodes * 160 + (1 << 20)), rb(nodes * 160 + (1 << 20));
    sm::Pack<sm::single_owner> a(ra.block), b(rb.block);
    bool ok = true;
    std::uint64_t key = 0;
    using RawTree = RawLease<sm::Box<SNode<RawLease>>>;
    using HardTree = HardLease<sm::Box<SNode<HardLease>>>;
    double raw = 0, hard = 0, dag = 0, list = 0;
    {
      RawTree t = stow_tree<RawLease>(sm::HoldRef::of(a), depth, key, nullptr);
      raw = ping_pong(t, a, b, nodes, rounds, ok);
    }
    {
      HardTree t = stow_tree<HardLease>(sm::HoldRef::of(a), depth, key, nullptr);
      hard = ping_pong(t, a, b, nodes, rounds, ok);
    }
    {
      HardTree shared = HardTree::try_new(sm::HoldRef::of(a)).take();
      HardTree t = stow_tree<HardLease>(sm::HoldRef::of(a), depth, key, &shared);
      shared.reset();  // the tree's Hards keep it
      dag = ping_pong(t, a, b, nodes, rounds, ok);
    }
    {
      sm::Hard<sm::Box<DNode>> l = stow_dlist(sm::HoldRef::of(a), nodes);
      list = ping_pong(l, a, b, nodes, rounds, ok);
      while (l) {  // iteratively: a long list must not recurse in destructors
        sm::Hard<sm::Box<DNode>> next;
        {
          sm::Result<sm::Mut<sm::Box<DNode>>> m = l.try_mut();
          next = static_cast<sm::Hard<sm::Box<DNode>>&&>((*m)->next);
        }
        l = static_cast<sm::Hard<sm::Box<DNode>>&&>(next);
      }
    }
    if (!ok || a.stats().live != 0 || b.stats().live != 0) {
      st.SkipWithError("stow failed or left objects behind");
      return;
    }
    st.counters["nodes"] = static_cast<double>(nodes);
    st.counters["raw_tree_ns_per_node"] = raw;
    st.counters["hard_tree_ns_per_node"] = hard;
    st.counters["hard_dag_ns_per_node"] = dag;
    st.counters["hard_soft_list_ns_per_node"] = list;
    st.counters["hard_tree_over_raw"] = hard / raw;
    st.counters["hard_dag_over_raw"] = dag / raw;
    st.counters["list_over_raw"] = list / raw;
  }
}

}  // namespace

void register_stow() {
  benchmark::RegisterBenchmark("stow/tree/swim-Pack(so)", stow_throughput)
      ->Arg(quick() ? 12 : 15)
      ->Iterations(1);
}

}  // namespace swim_bench
