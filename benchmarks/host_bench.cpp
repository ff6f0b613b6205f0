// Host workloads of issue 4 (a to e), one Google Benchmark binary per malloc:
// this file is compiled into swim_bench (glibc malloc, swim-mem, oneTBB,
// foonathan::memory) and into swim_bench_{mimalloc,jemalloc,tcmalloc}, where the
// named allocator replaces malloc and is the only one measured.
//
// Benchmark names are <workload>/<parameter>/<allocator>; run.sh and summarize.py
// rely on that. SWIM_BENCH_QUICK=1 in the environment shrinks the workloads (smoke
// runs); the full sizes are those the issue asks for.
#include <benchmark/benchmark.h>
#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>
#include <type_traits>
#include <vector>

#if defined(__x86_64__) || defined(__i386__)
#include <x86intrin.h>
#define SWIM_BENCH_HAS_TSC 1
#endif

#include "allocators.hpp"

#if SWIM_BENCH_SWIM
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
#endif

namespace swim_bench {
namespace {

bool quick() {
  const char* q = std::getenv("SWIM_BENCH_QUICK");
  return q != nullptr && q[0] == '1';
}

// ---- Small tools ------------------------------------------------------------------

struct Rng {  // splitmix64: fast, good enough, reproducible
  std::uint64_t s;
  explicit Rng(std::uint64_t seed) : s(seed) {}
  std::uint64_t next() {
    std::uint64_t z = (s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
  }
  std::size_t below(std::size_t n) { return static_cast<std::size_t>(next() % n); }
};

std::size_t rss_bytes() {
  long pages = 0, resident = 0;
  if (FILE* f = std::fopen("/proc/self/statm", "r")) {
    if (std::fscanf(f, "%ld %ld", &pages, &resident) != 2) resident = 0;
    std::fclose(f);
  }
  return static_cast<std::size_t>(resident) * static_cast<std::size_t>(sysconf(_SC_PAGESIZE));
}

// Per-operation timer: the time-stamp counter, fenced so that the operation
// stays between the two reads. Its own cost is measured and reported.
#if SWIM_BENCH_HAS_TSC
inline std::uint64_t tick_begin() {
  _mm_lfence();
  return __rdtsc();
}
inline std::uint64_t tick_end() {
  unsigned aux = 0;
  const std::uint64_t t = __rdtscp(&aux);
  _mm_lfence();
  return t;
}
#else
inline std::uint64_t tick_begin() {
  return static_cast<std::uint64_t>(std::chrono::steady_clock::now().time_since_epoch().count());
}
inline std::uint64_t tick_end() { return tick_begin(); }
#endif

/// Ticks per nanosecond, calibrated once against steady_clock.
double ticks_per_ns() {
  static const double v = [] {
    const auto t0 = std::chrono::steady_clock::now();
    const std::uint64_t c0 = tick_begin();
    while (std::chrono::steady_clock::now() - t0 < std::chrono::milliseconds(50)) {
    }
    const std::uint64_t c1 = tick_end();
    const double ns =
        std::chrono::duration<double, std::nano>(std::chrono::steady_clock::now() - t0).count();
    return static_cast<double>(c1 - c0) / ns;
  }();
  return v;
}

/// Run `f` in a fresh child process and return the doubles it writes: workloads
/// that read the resident set size must not inherit an earlier workload's heap.
template <class F>
std::vector<double> in_child(std::size_t count, F f) {
  int fd[2];
  std::vector<double> out(count, -1.0);
  if (pipe(fd) != 0) return out;
  const pid_t pid = fork();
  if (pid == 0) {
    close(fd[0]);
    std::vector<double> r = f();
    r.resize(count, -1.0);
    const ssize_t w = write(fd[1], r.data(), count * sizeof(double));
    _exit(w == static_cast<ssize_t>(count * sizeof(double)) ? 0 : 1);
  }
  close(fd[1]);
  std::size_t got = 0;
  auto* bytes = reinterpret_cast<char*>(out.data());
  while (got < count * sizeof(double)) {
    const ssize_t n = read(fd[0], bytes + got, count * sizeof(double) - got);
    if (n <= 0) break;
    got += static_cast<std::size_t>(n);
  }
  close(fd[0]);
  int status = 0;
  waitpid(pid, &status, 0);
  return out;
}

// Keeps a pointer (and every store before it) alive. benchmark::DoNotOptimize is
// not used on lvalues: its "+m,r" constraint has miscompiled with GCC 12 here (the
// stored pointers read back as null).
inline void escape(void* p) { asm volatile("" : : "r"(p) : "memory"); }

/// What a fixed-size workload calls: the heap itself where the adapter has one
/// (Slab, SlabCache), else the adapter's handle.
template <class A>
decltype(auto) ops_for(A& a, typename A::Handle& h) {
  if constexpr (requires { h.direct(); }) {
    return h.direct();
  } else if constexpr (requires { a.direct(); }) {
    return a.direct();
  } else {
    return (h);
  }
}

template <class A>
void end_pair(A& a) {
  if constexpr (requires { a.end_pair(); }) a.end_pair();
}

// Bytes a swim-mem allocator holds for its objects, by its own accounting
// (-1 where there is no such notion).
template <class A>
double internal_footprint(A& a) {
  if constexpr (requires { a.pool.reserved_bytes(); }) {
    return static_cast<double>(a.pool.reserved_bytes());
  } else if constexpr (requires { a.pack.capacity(); }) {
    return static_cast<double>(a.pack.capacity() - a.pack.stats().bytes_free);
  } else if constexpr (requires { a.space.stats(); }) {
    return static_cast<double>(a.space.stats().bytes_in_use);
  } else if constexpr (requires { a.set.lo; }) {
    double b = 0;
    for (unsigned k = a.set.lo; k <= a.set.hi; ++k) b += static_cast<double>(a.set.slab(k).stats().bytes_in_use);
    return b;
  } else {
    return -1.0;
  }
}

// ---- (a) single-thread allocate/free pairs -------------------------------------------

template <class A, std::size_t Size>
void pair(benchmark::State& st) {
  A a(Config{Size, Size, 1024});
  typename A::Handle handle(a);
  auto&& h = ops_for(a, handle);
  for (auto _ : st) {
    void* p = h.alloc(Size);
    escape(p);
    h.free(p, Size);
    end_pair(a);
  }
  st.SetItemsProcessed(static_cast<std::int64_t>(st.iterations()));
}

// ---- (b) bursts: allocate N, then free N in LIFO or random order ---------------------

template <class A, bool Random>
void burst(benchmark::State& st) {
  constexpr std::size_t size = 64;
  const auto n = static_cast<std::size_t>(st.range(0));
  A a(Config{size, size, n});
  typename A::Handle handle(a);
  auto&& h = ops_for(a, handle);
  std::vector<void*> ptrs(n);
  std::vector<std::uint32_t> order(n);
  for (std::size_t i = 0; i < n; ++i) order[i] = static_cast<std::uint32_t>(n - 1 - i);
  if (Random) {
    Rng rng(42);
    for (std::size_t i = n - 1; i > 0; --i) std::swap(order[i], order[rng.below(i + 1)]);
  }
  std::size_t failures = 0;
  for (auto _ : st) {
    for (std::size_t i = 0; i < n; ++i) {
      ptrs[i] = h.alloc(size);
      escape(ptrs[i]);
    }
    for (std::size_t i = 0; i < n; ++i) {
      void* p = ptrs[order[i]];
      if (p == nullptr) {
        ++failures;
        continue;
      }
      h.free(p, size);
    }
    a.end_burst();
  }
  st.SetItemsProcessed(static_cast<std::int64_t>(st.iterations() * 2 * n));
  if (failures) st.SkipWithError("allocation failed");
}

// ---- (c) producer/consumer: every object is freed by the other thread ----------------

/// Single-producer single-consumer ring of pointers.
class Ring {
 public:
  static constexpr std::size_t size = 1024;
  void push(void* p) {
    const std::size_t t = tail_.load(std::memory_order_relaxed);
    for (unsigned spins = 0; t - head_cache_ >= size; ++spins) {
      head_cache_ = head_.load(std::memory_order_acquire);
      if (t - head_cache_ >= size) wait(spins);
    }
    slots_[t % size] = p;
    tail_.store(t + 1, std::memory_order_release);
  }
  void* pop() {
    const std::size_t h = head_.load(std::memory_order_relaxed);
    for (unsigned spins = 0; h == tail_cache_; ++spins) {
      tail_cache_ = tail_.load(std::memory_order_acquire);
      if (h == tail_cache_) wait(spins);
    }
    void* p = slots_[h % size];
    head_.store(h + 1, std::memory_order_release);
    return p;
  }

 private:
  // Spin briefly, then yield: on a loaded 2-core machine the other thread may not
  // be running, and spinning would only burn its time slice.
  static void wait(unsigned spins) {
#if SWIM_BENCH_HAS_TSC
    if (spins < 256) {
      _mm_pause();
      return;
    }
#endif
    std::this_thread::yield();
  }
  alignas(64) std::atomic<std::size_t> head_{0};
  std::size_t tail_cache_ = 0;  // consumer's view
  alignas(64) std::atomic<std::size_t> tail_{0};
  std::size_t head_cache_ = 0;  // producer's view
  alignas(64) void* slots_[size];
};

template <class A>
void xthread(benchmark::State& st) {
  constexpr std::size_t size = 64;
  const auto total = static_cast<std::size_t>(st.range(0));
  A a(Config{size, size, 1 << 16});
  std::atomic<std::size_t> failures{0};
  for (auto _ : st) {
    auto ring = std::make_unique<Ring>();
    std::thread consumer([&] {
      typename A::Handle handle(a);
      auto&& h = ops_for(a, handle);
      for (std::size_t i = 0; i < total; ++i) {
        void* p = ring->pop();
        if (p == nullptr) continue;
        (void)*static_cast<volatile std::uint64_t*>(p);  // the message is read
        h.free(p, size);
      }
    });
    {
      typename A::Handle handle(a);
      auto&& h = ops_for(a, handle);
      for (std::size_t i = 0; i < total; ++i) {
        void* p = h.alloc(size);
        if (p != nullptr) {
          *static_cast<std::uint64_t*>(p) = i;  // a message is written before it is sent
        } else {
          failures.fetch_add(1, std::memory_order_relaxed);
        }
        ring->push(p);
      }
      consumer.join();
    }
  }
  st.SetItemsProcessed(static_cast<std::int64_t>(st.iterations() * total));
  if (failures.load()) st.SkipWithError("allocation failed");
}

// ---- (d) latency per operation on a fragmented heap -----------------------------------

template <class A>
void latency(benchmark::State& st) {
  const auto ops = static_cast<std::size_t>(st.range(0));
  constexpr std::size_t slots = 1 << 16;
  constexpr std::size_t sizes[] = {16, 32, 64, 128, 256};
  A a(Config{16, 256, slots, slots * 256});
  typename A::Handle h(a);
  std::vector<void*> ptr(slots, nullptr);
  std::vector<std::uint16_t> len(slots, 0);
  std::vector<std::uint32_t> ticks(ops);
  Rng rng(7);
  // Fragment: fill every slot, then free a random half.
  for (std::size_t i = 0; i < slots; ++i) {
    len[i] = static_cast<std::uint16_t>(sizes[rng.below(5)]);
    ptr[i] = h.alloc(len[i]);
  }
  for (std::size_t i = 0; i < slots / 2; ++i) {
    const std::size_t j = rng.below(slots);
    if (ptr[j]) h.free(ptr[j], len[j]);
    ptr[j] = nullptr;
  }
  std::size_t failures = 0;
  for (auto _ : st) {
    for (std::size_t i = 0; i < ops; ++i) {
      const std::size_t j = rng.below(slots);
      std::uint64_t t0, t1;
      if (ptr[j] != nullptr) {
        t0 = tick_begin();
        h.free(ptr[j], len[j]);
        t1 = tick_end();
        ptr[j] = nullptr;
      } else {
        const std::size_t n = sizes[rng.below(5)];
        t0 = tick_begin();
        void* p = h.alloc(n);
        t1 = tick_end();
        if (p == nullptr) ++failures;
        ptr[j] = p;
        len[j] = static_cast<std::uint16_t>(n);
      }
      ticks[i] = static_cast<std::uint32_t>(std::min<std::uint64_t>(t1 - t0, 0xFFFFFFFFu));
    }
  }
  // The timer's own cost, measured the same way around nothing.
  std::vector<std::uint32_t> empty(1 << 16);
  for (auto& e : empty) {
    const std::uint64_t t0 = tick_begin();
    const std::uint64_t t1 = tick_end();
    e = static_cast<std::uint32_t>(t1 - t0);
  }
  for (std::size_t i = 0; i < slots; ++i) {
    if (ptr[i]) h.free(ptr[i], len[i]);
  }
  auto pct = [&](std::vector<std::uint32_t>& v, double q) {
    const std::size_t k = std::min(v.size() - 1, static_cast<std::size_t>(q * static_cast<double>(v.size())));
    std::nth_element(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(k), v.end());
    return static_cast<double>(v[k]) / ticks_per_ns();
  };
  const double timer = pct(empty, 0.5);
  const double p50 = pct(ticks, 0.5), p99 = pct(ticks, 0.99), p999 = pct(ticks, 0.999);
  const double p9999 = pct(ticks, 0.9999);
  const double mx = static_cast<double>(*std::max_element(ticks.begin(), ticks.end())) / ticks_per_ns();
  st.counters["p50_ns"] = p50;
  st.counters["p99_ns"] = p99;
  st.counters["p999_ns"] = p999;
  st.counters["p9999_ns"] = p9999;
  st.counters["max_ns"] = mx;
  st.counters["timer_ns"] = timer;
  st.counters["tail_ratio"] = p9999 / p50;
  st.counters["ops"] = static_cast<double>(ops);
  if (failures) st.SkipWithError("allocation failed");
}

// ---- (e) overhead per object, fragmentation after churn -------------------------------

template <class A, std::size_t Size>
void overhead(benchmark::State& st) {
  const std::size_t n = Size <= 64 ? (quick() ? 1 << 17 : 1 << 20) : (quick() ? 1 << 15 : 1 << 18);
  std::vector<double> r;
  for (auto _ : st) {
    r = in_child(2, [&] {
      std::vector<void*> p(n);
      std::memset(p.data(), 0, n * sizeof(void*));
      const std::size_t before = rss_bytes();
      A a(Config{Size, Size, n});
      typename A::Handle h(a);
      for (std::size_t i = 0; i < n; ++i) {
        p[i] = h.alloc(Size);
        if (p[i] == nullptr) return std::vector<double>{-1.0, -1.0};
        std::memset(p[i], 1, Size);
      }
      const double rss = static_cast<double>(rss_bytes() - before) / static_cast<double>(n) - Size;
      const double internal = internal_footprint(a);
      std::vector<double> out{rss, internal < 0 ? -1.0 : internal / static_cast<double>(n) - Size};
      for (std::size_t i = 0; i < n; ++i) h.free(p[i], Size);
      a.end_burst();
      return out;
    });
  }
  st.counters["objects"] = static_cast<double>(n);
  st.counters["overhead_rss_B"] = r[0];
  if (r[1] > -1.0) st.counters["overhead_internal_B"] = r[1];
  if (r[0] == -1.0) st.SkipWithError("allocation failed");
}

template <class A>
void fragmentation(benchmark::State& st) {
  const std::size_t target = quick() ? std::size_t(16) << 20 : std::size_t(64) << 20;
  std::vector<double> r;
  for (auto _ : st) {
    r = in_child(5, [&] {
      struct Obj {
        void* p;
        std::size_t n;
      };
      std::vector<Obj> objs;
      objs.reserve(target / 16);
      Rng rng(11);
      // Sizes 9..1024 bytes, log-uniform over the power-of-two classes.
      auto size = [&] {
        const unsigned c = 4 + static_cast<unsigned>(rng.below(7));
        const std::size_t hi = std::size_t(1) << c;
        return hi / 2 + 1 + rng.below(hi / 2);
      };
      const std::size_t before = rss_bytes();
      A a(Config{9, 1024, target / 64, target * 2});
      typename A::Handle h(a);
      std::size_t live = 0;
      while (live < target) {
        const std::size_t n = size();
        void* p = h.alloc(n);
        if (p == nullptr) return std::vector<double>{-1.0};
        std::memset(p, 1, n);
        objs.push_back({p, n});
        live += n;
      }
      // Churn: replace random objects by objects of other sizes, 4 times over.
      const std::size_t churn = 4 * objs.size();
      for (std::size_t i = 0; i < churn; ++i) {
        Obj& o = objs[rng.below(objs.size())];
        h.free(o.p, o.n);
        live -= o.n;
        o.n = size();
        o.p = h.alloc(o.n);
        if (o.p == nullptr) return std::vector<double>{-1.0};
        std::memset(o.p, 1, o.n);
        live += o.n;
      }
      a.release();
      const double foot1 = static_cast<double>(rss_bytes() - before);
      const double frag_churn = 1.0 - static_cast<double>(live) / foot1;
      const double int1 = internal_footprint(a);
      const double ifrag_churn = int1 < 0 ? -1.0 : 1.0 - static_cast<double>(live) / int1;
      // Then free a random three quarters of the objects.
      for (std::size_t i = objs.size() - 1; i > 0; --i) std::swap(objs[i], objs[rng.below(i + 1)]);
      const std::size_t keep = objs.size() / 4;
      for (std::size_t i = keep; i < objs.size(); ++i) {
        h.free(objs[i].p, objs[i].n);
        live -= objs[i].n;
      }
      objs.resize(keep);
      a.release();
      const double foot2 = static_cast<double>(rss_bytes() - before);
      const double frag_freed = 1.0 - static_cast<double>(live) / foot2;
      const double int2 = internal_footprint(a);
      const double ifrag_freed = int2 < 0 ? -1.0 : 1.0 - static_cast<double>(live) / int2;
      for (Obj& o : objs) h.free(o.p, o.n);
      a.end_burst();
      return std::vector<double>{frag_churn, frag_freed, ifrag_churn, ifrag_freed,
                                 static_cast<double>(target)};
    });
  }
  if (r[0] == -1.0) {
    st.SkipWithError("allocation failed");
    return;
  }
  st.counters["frag_after_churn"] = r[0];
  st.counters["frag_after_free75"] = r[1];
  if (r[2] > -1.0) st.counters["frag_internal_after_churn"] = r[2];
  if (r[3] > -1.0) st.counters["frag_internal_after_free75"] = r[3];
  st.counters["live_target_B"] = r[4];
}

#if SWIM_BENCH_SWIM
// ---- (e) fragmentation of leased structures: churn, then compaction or stow ----------
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
              std::chrono::duration<double, std::nano>(std::chrono::steady_clock::now() - t0).count();
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
                std::chrono::duration<double, std::nano>(std::chrono::steady_clock::now() - t0).count();
            ok = stowed.ok();
            if (ok) {
              tree = stowed.take();
              pool.trim();
              st.counters["frag_stow"] = sm::pool_fragmentation(fresh);
              st.counters["held_over_used_stow"] = held_over_used(fresh);
              st.counters["reserved_stow_B"] = static_cast<double>(fresh.reserved_bytes());
              st.counters["old_pool_reserved_after_stow_B"] = static_cast<double>(pool.reserved_bytes());
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

// ---- (e) bytes of overhead per leased object --------------------------------------
//
// N leases of a T (16, 64 or 256 bytes) made in a Pack: the bytes the Pack consumed
// per object beyond sizeof(T) (tag, in-object metadata, padding), and the size of
// the handle. Ptr<Box<T, M>> keeps the user metadata M in the object, Raw<Box<T, M>>
// in the handle; with no metadata both are one word and the object carries only the
// tag.

template <std::size_t Size>
struct Payload {
  std::uint64_t words[Size / 8];
};

template <class Lease, std::size_t Size>
void lease_overhead(benchmark::State& st) {
  constexpr std::size_t n = 1 << 14;
  for (auto _ : st) {
    Region region(n * (Size + 64) + (1 << 20));
    sm::Pack<sm::single_owner> pack(region.block);
    std::vector<Lease> leases;
    leases.reserve(n);
    const std::size_t free_before = pack.stats().bytes_free;
    for (std::size_t i = 0; i < n; ++i) {
      sm::Result<Lease> l = Lease::try_new(sm::HoldRef::of(pack));
      if (!l) {
        st.SkipWithError("allocation failed");
        return;
      }
      leases.push_back(l.take());
    }
    const double per_object =
        static_cast<double>(free_before - pack.stats().bytes_free) / static_cast<double>(n);
    st.counters["object_overhead_B"] = per_object - static_cast<double>(Size);
    st.counters["handle_B"] = static_cast<double>(sizeof(Lease));
    using Meta = typename Lease::meta_type;
    st.counters["meta_B"] = std::is_empty_v<Meta> ? 0.0 : static_cast<double>(sizeof(Meta));
    leases.clear();
  }
}
#endif

#if SWIM_BENCH_SWIM
// ---- (e') stow throughput: exclusive copies vs shared relocations ------------------
//
// One structure of n nodes is stowed back and forth between two Packs, `rounds`
// times; reported in ns per node. The baseline is the tree of Raw leases (a plain
// recursive copy); the shared variants relocate every node (lock, copy, log, and
// publish at commit, the source stubs then freed), the DAG variant meets one
// shared node again at every node, the list closes a cycle through a Soft at
// every node.

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
#endif

// ---- Registration -----------------------------------------------------------------

template <class A>
std::string name(const char* workload, const std::string& param) {
  return std::string(workload) + "/" + param + "/" + A::name;
}

template <class A, std::size_t Size>
void register_pair() {
  benchmark::RegisterBenchmark(name<A>("pair", std::to_string(Size)).c_str(), pair<A, Size>);
}

/// Which workloads suit an allocator.
struct Suits {
  bool churn = true;  // random frees without bound on the heap's growth: latency, xthread
  bool frag = true;   // mixed sizes 9..1024 from one heap: fragmentation
};

template <class A>
void register_all(Suits suits) {
  register_pair<A, 16>();
  register_pair<A, 64>();
  register_pair<A, 256>();
  register_pair<A, 1024>();
  register_pair<A, 4096>();
  const std::vector<std::int64_t> ns =
      quick() ? std::vector<std::int64_t>{1000, 10000, 100000}
              : std::vector<std::int64_t>{1000, 10000, 100000, 1000000};
  for (std::int64_t n : ns) {
    benchmark::RegisterBenchmark(name<A>("burst_lifo", std::to_string(n)).c_str(), burst<A, false>)
        ->Arg(n);
    benchmark::RegisterBenchmark(name<A>("burst_random", std::to_string(n)).c_str(), burst<A, true>)
        ->Arg(n);
  }
  if constexpr (A::thread_safe) {
    if (suits.churn) {
      const std::int64_t total = quick() ? 200000 : 2000000;
      benchmark::RegisterBenchmark(name<A>("xthread", "64").c_str(), xthread<A>)
          ->Arg(total)
          ->UseRealTime()
          ->Iterations(quick() ? 2 : 5);
    }
  }
  if (suits.churn) {
    const std::int64_t ops = quick() ? 1000000 : 10000000;
    benchmark::RegisterBenchmark(name<A>("latency", "16-256").c_str(), latency<A>)
        ->Arg(ops)
        ->Iterations(1);
  }
  benchmark::RegisterBenchmark(name<A>("overhead", "16").c_str(), overhead<A, 16>)->Iterations(1);
  benchmark::RegisterBenchmark(name<A>("overhead", "64").c_str(), overhead<A, 64>)->Iterations(1);
  benchmark::RegisterBenchmark(name<A>("overhead", "256").c_str(), overhead<A, 256>)->Iterations(1);
  if (suits.frag) {
    benchmark::RegisterBenchmark(name<A>("fragmentation", "9-1024").c_str(), fragmentation<A>)
        ->Iterations(1);
  }
}

}  // namespace
}  // namespace swim_bench

int main(int argc, char** argv) {
  using namespace swim_bench;
  if (!malloc_is_replaced()) {
    std::fprintf(stderr, "%s: malloc is not %s; check how the binary was linked\n", argv[0],
                 Malloc::name);
    return 1;
  }
  // Bump allocators (Pack, memory_stack) reclaim only when everything is freed,
  // so an endless churn of random frees would exhaust them: they skip latency,
  // xthread and fragmentation. Slabs are fixed regions whose footprint is their
  // provisioning, not their fragmentation: they skip the fragmentation workload
  // (see docs/benchmarks.md).
  [[maybe_unused]] constexpr Suits all{};
  [[maybe_unused]] constexpr Suits no_frag{true, false};
  [[maybe_unused]] constexpr Suits bump{false, false};
  register_all<Malloc>(all);
#if SWIM_BENCH_SWIM
  register_all<SlabCache64>(no_frag);
  register_all<SlabSo>(no_frag);
  register_all<SlabLf>(no_frag);
  register_all<PackSo>(bump);
  register_all<PackLf>(bump);
  register_all<PoolSo>(all);
  register_all<PoolLf>(all);
  register_all<AddrLf>(all);
#endif
#if SWIM_BENCH_SWIM
  {
    // (e) compaction and lease overhead: swim-mem only (nothing else relocates).
    const std::int64_t nodes = quick() ? 20000 : 100000;
    benchmark::RegisterBenchmark("compaction/tree/swim-Pool(so)", compaction<sm::single_owner>)
        ->Arg(nodes)
        ->Iterations(1);
    benchmark::RegisterBenchmark("compaction/tree/swim-Pool(lf)", compaction<sm::concurrent>)
        ->Arg(nodes)
        ->Iterations(1);
    benchmark::RegisterBenchmark("stow/tree/swim-Pack(so)", stow_throughput)
        ->Arg(quick() ? 12 : 15)
        ->Iterations(1);
    using M = std::uint32_t;
    using M8 = std::uint64_t;
#define SWIM_BENCH_LEASE(size)                                                                \
  benchmark::RegisterBenchmark("lease_overhead/" #size "/Raw<Box<T>>",                        \
                               lease_overhead<sm::Raw<sm::Box<Payload<size>>>, size>)          \
      ->Iterations(1);                                                                        \
  benchmark::RegisterBenchmark("lease_overhead/" #size "/Ptr<Box<T>>",                        \
                               lease_overhead<sm::Ptr<sm::Box<Payload<size>>>, size>)          \
      ->Iterations(1);                                                                        \
  benchmark::RegisterBenchmark("lease_overhead/" #size "/Ptr<Box<T, u32>>",                   \
                               lease_overhead<sm::Ptr<sm::Box<Payload<size>, M>>, size>)       \
      ->Iterations(1);                                                                        \
  benchmark::RegisterBenchmark("lease_overhead/" #size "/Ptr<Box<T, u64>>",                   \
                               lease_overhead<sm::Ptr<sm::Box<Payload<size>, M8>>, size>)      \
      ->Iterations(1);                                                                        \
  benchmark::RegisterBenchmark("lease_overhead/" #size "/Raw<Box<T, u32>>",                   \
                               lease_overhead<sm::Raw<sm::Box<Payload<size>, M>>, size>)       \
      ->Iterations(1);
    SWIM_BENCH_LEASE(16)
    SWIM_BENCH_LEASE(64)
    SWIM_BENCH_LEASE(256)
#undef SWIM_BENCH_LEASE
  }
#endif
#if SWIM_BENCH_EXTRA_BASELINES
  register_all<TbbMalloc>(all);
  register_all<FoonathanPool>(all);
  register_all<FoonathanStack>(bump);
#endif
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::AddCustomContext("malloc", Malloc::name);
  benchmark::AddCustomContext("quick", quick() ? "1" : "0");
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
