// What the host workloads (benchmarks/workloads/*.cpp) share: the smoke switch, the
// x86 time-stamp counter switch, a reproducible random source, the resident set size
// and a child process to read it in, the pointer escape, the calls of the fixed-size
// workloads, the allocators' own accounting, and the benchmark names.
//
// Each workload file defines its register_<workload><A>(Suits), declared below;
// host_bench.cpp calls them allocator by allocator, so that every binary registers
// (and runs) its benchmarks in one fixed order. The workload files and host_bench.cpp
// are compiled as one translation unit, host_bench.cpp last, where main instantiates
// them (benchmarks/CMakeLists.txt says why): compiled alone, a workload file
// instantiates no benchmark.
#pragma once

#include <benchmark/benchmark.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#if defined(__x86_64__) || defined(__i386__)
#include <x86intrin.h>
#define SWIM_BENCH_HAS_TSC 1
#endif

#include "allocators.hpp"

namespace swim_bench {

/// SWIM_BENCH_QUICK=1 in the environment: smaller workloads, for smoke runs.
inline bool quick() {
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

inline std::size_t rss_bytes() {
  long pages = 0, resident = 0;
  if (FILE* f = std::fopen("/proc/self/statm", "r")) {
    if (std::fscanf(f, "%ld %ld", &pages, &resident) != 2) resident = 0;
    std::fclose(f);
  }
  return static_cast<std::size_t>(resident) * static_cast<std::size_t>(sysconf(_SC_PAGESIZE));
}

/// Anonymous memory resident now (the `Anonymous:` line of /proc/self/smaps_rollup):
/// what heaps hold, without the program's file-backed pages, which a forked child
/// touches again and which statm counts only roughly; rss_bytes() where the file
/// is missing.
inline std::size_t anon_bytes() {
  std::size_t kib = 0;
  bool found = false;
  if (FILE* f = std::fopen("/proc/self/smaps_rollup", "r")) {
    char line[256];
    while (std::fgets(line, sizeof line, f) != nullptr) {
      if (std::sscanf(line, "Anonymous: %zu kB", &kib) == 1) {
        found = true;
        break;
      }
    }
    std::fclose(f);
  }
  return found ? kib * 1024 : rss_bytes();
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

// Bytes a swim-mem allocator holds for its objects, by its own accounting
// (-1 where there is no such notion).
template <class A>
double internal_footprint(A& a) {
  if constexpr (requires { a.classes.reserved_bytes(); }) {
    return static_cast<double>(a.classes.reserved_bytes());
  } else if constexpr (requires { a.pool.reserved_bytes(); }) {
    return static_cast<double>(a.pool.reserved_bytes());
  } else if constexpr (requires { a.pack.capacity(); }) {
    return static_cast<double>(a.pack.capacity() - a.pack.stats().bytes_free);
  } else if constexpr (requires { a.space.stats(); }) {
    return static_cast<double>(a.space.stats().bytes_in_use);
  } else if constexpr (requires { a.set.lo; }) {
    double b = 0;
    for (unsigned k = a.set.lo; k <= a.set.hi; ++k) {
      b += static_cast<double>(a.set.slab(k).stats().bytes_in_use);
    }
    return b;
  } else {
    return -1.0;
  }
}

// ---- Registration -----------------------------------------------------------------

template <class A>
std::string name(const char* workload, const std::string& param) {
  return std::string(workload) + "/" + param + "/" + A::name;
}

/// Which workloads suit an allocator.
struct Suits {
  bool churn = true;  // random frees without bound on the heap's growth: latency, xthread
  bool frag = true;   // mixed sizes 9..1024 from one heap: fragmentation
};

// One per workload file, in benchmarks/workloads/; each registers its benchmarks for
// the allocator A where they suit it.
template <class A>
void register_pair(Suits suits);
template <class A>
void register_burst(Suits suits);
template <class A>
void register_xthread(Suits suits);
template <class A>
void register_latency(Suits suits);
template <class A>
void register_overhead(Suits suits);
template <class A>
void register_fragmentation(Suits suits);
template <class A>
void register_mixed(Suits suits);

#if SWIM_BENCH_SWIM
// The swim-mem-only workloads (nothing else relocates or leases).
void register_compaction();
void register_stow();
void register_lease_overhead();
#endif

}  // namespace swim_bench
