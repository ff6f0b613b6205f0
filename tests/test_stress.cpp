// Multi-threaded stress of every lock-free allocator: Slab, Pack, Pool<Slab>,
// AddrSpace (concurrent mode; the single-owner variants are single-threaded and
// tested elsewhere).
//
// Meant to run under ThreadSanitizer in CI on 2 cores: every test runs at least 4
// threads, more than the cores, so that threads get preempted inside the
// allocators' load-CAS windows, which is where lock-free bugs live.
//
// The shared workload (StressRun): each thread allocates random layouts, writes
// a pattern unique to (thread, sequence) over the whole block, keeps a bounded
// set of live blocks, checks the pattern before every free, frees in random
// order, and passes some blocks to other threads (through a small lock-free
// exchange) to be checked and freed there. Holds (Pack, Pool) free half of their
// blocks through hold_deallocate (tag dispatch). Work runs in phases; between two
// phases every block is freed and, while all threads wait at a barrier, the
// allocator must be back exactly at its initial state. The only errors allowed
// are out_of_memory (counted) and contended (counted and retried).
//
// Operation counts (an operation is one allocation or one free; "k" = 1000):
//                                      without TSan    under TSan (2x fewer)
//   Slab (x2: checked, unchecked)      2000k each      1000k each
//   Slab ABA (x2)                      4000k each      2000k each  (8 threads)
//   Pack                               2000k           1000k
//   Pack LIFO (x2 configurations)      ~2000k each     ~1000k each
//   Pool<Slab>                         2000k           1000k
//   Pool<Slab> 1 KiB churn             2000k           1000k
//   Pool<Slab> one object per hunk     3000k           1500k       (6 threads)
//   AddrSpace (x2: checked, unchecked) 2000k each      1000k each
// Whole file, on this project's 2-core machine: 2 to 5 s without sanitizer,
// 17 to 20 s under TSan (-O1).
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <barrier>
#include <cinttypes>
#include <cstdarg>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "swim/mem.hpp"

#if defined(__SANITIZE_THREAD__)
#define SWIM_MEM_STRESS_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define SWIM_MEM_STRESS_TSAN 1
#endif
#endif

namespace swim::mem {
namespace {

#if defined(SWIM_MEM_STRESS_TSAN)
constexpr std::uint64_t kScale = 2;  // TSan: 2x fewer operations (see the table above)
#else
constexpr std::uint64_t kScale = 1;
#endif

constexpr unsigned kThreads = 4;
// Operations per thread in run_stress: 4 threads x 500k = 2 M per structure.
constexpr std::uint64_t kOpsPerThread = 500'000 / kScale;
constexpr std::uint64_t kOpsPerPhase = 2'000;

// ---- Small tools ------------------------------------------------------------------

/// splitmix64: fast, good enough, and deterministic per seed.
class Rng {
 public:
  explicit Rng(std::uint64_t seed) : s_(seed * 0x9E3779B97F4A7C15ull + 0x2545F4914F6CDD1Dull) {}
  std::uint64_t next() {
    std::uint64_t z = (s_ += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
  }
  std::uint64_t below(std::uint64_t n) { return next() % n; }
  bool one_in(std::uint64_t n) { return below(n) == 0; }
  /// Log-uniform in [1, max]: mostly small requests, some large ones.
  std::size_t size_up_to(std::size_t max) {
    const unsigned bits = detail::bit_width(max);
    const std::size_t cap = std::size_t(1) << below(bits);
    const std::size_t s = 1 + below(cap * 2 - 1 < max ? cap * 2 - 1 : max);
    return s;
  }
  /// A power of two in [1, max] (max a power of two), small ones more likely.
  std::size_t align_up_to(std::size_t max) {
    const unsigned top = detail::countr_zero(max);
    const unsigned a = static_cast<unsigned>(below(top + 1));
    return std::size_t(1) << static_cast<unsigned>(below(a + 1));
  }

 private:
  std::uint64_t s_;
};

/// The pattern of block `seq` of thread `thread`: every byte depends on both and
/// on its offset, so overlapping blocks and stale data are both caught.
std::uint64_t pattern_key(unsigned thread, std::uint64_t seq) {
  std::uint64_t z = (std::uint64_t(thread + 1) << 44) ^ seq ^ 0x5bd1e9955bd1e995ull;
  z = (z ^ (z >> 33)) * 0xFF51AFD7ED558CCDull;
  z = (z ^ (z >> 33)) * 0xC4CEB9FE1A85EC53ull;
  return (z ^ (z >> 33)) | 1;  // never 0
}

std::uint64_t pattern_word(std::uint64_t key, std::size_t i) {
  return key ^ (std::uint64_t(i) * 0x9E3779B97F4A7C15ull);
}

void fill(Block b, std::uint64_t key) {
  std::byte* p = b.begin();
  std::size_t i = 0;
  for (; i + 8 <= b.size; i += 8) {
    const std::uint64_t w = pattern_word(key, i);
    std::memcpy(p + i, &w, 8);
  }
  const std::uint64_t w = pattern_word(key, i);
  for (std::size_t j = 0; i < b.size; ++i, ++j) p[i] = static_cast<std::byte>(w >> (8 * j));
}

/// Offset of the first byte that differs from the pattern, or SIZE_MAX.
std::size_t first_mismatch(Block b, std::uint64_t key) {
  const std::byte* p = b.begin();
  std::size_t i = 0;
  for (; i + 8 <= b.size; i += 8) {
    std::uint64_t w = 0;
    std::memcpy(&w, p + i, 8);
    if (w != pattern_word(key, i)) return i;
  }
  const std::uint64_t w = pattern_word(key, i);
  for (std::size_t j = 0; i < b.size; ++i, ++j) {
    if (p[i] != static_cast<std::byte>(w >> (8 * j))) return i;
  }
  return ~std::size_t(0);
}

/// Failures seen by worker threads: counted, the first few kept for the report
/// (gtest assertions from many threads at once would flood the log).
class Failures {
 public:
  [[gnu::format(printf, 2, 3)]] void add(const char* fmt, ...) {
    count_.fetch_add(1, std::memory_order_relaxed);
    char buf[256];
    va_list ap;
    va_start(ap, fmt);
    std::vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    std::lock_guard<std::mutex> lock(mutex_);
    if (messages_.size() < 10) messages_.emplace_back(buf);
  }
  std::uint64_t count() const { return count_.load(std::memory_order_relaxed); }
  void report() {
    EXPECT_EQ(count(), 0u) << "failures seen by the worker threads";
    std::lock_guard<std::mutex> lock(mutex_);
    for (const std::string& m : messages_) ADD_FAILURE() << m;
  }

 private:
  std::atomic<std::uint64_t> count_{0};
  std::mutex mutex_;
  std::vector<std::string> messages_;
};

/// Counters of one stress run (summed over threads).
struct Counters {
  std::atomic<std::uint64_t> allocs{0}, frees{0}, tag_frees{0}, cross_frees{0};
  std::atomic<std::uint64_t> oom{0}, contended{0}, bytes{0};
  void print(const char* what) const {
    std::printf("[ stats    ] %s: %" PRIu64 " allocations, %" PRIu64 " frees (%" PRIu64
                " through the tag, %" PRIu64 " by another thread), %" PRIu64
                " out_of_memory, %" PRIu64 " contended\n",
                what, allocs.load(), frees.load(), tag_frees.load(), cross_frees.load(), oom.load(),
                contended.load());
  }
};

/// A block in flight and the key of its pattern.
struct Held {
  Block block;
  std::uint64_t key = 0;
  unsigned owner = 0;  // the thread that allocated it
  std::uint64_t seq = 0;
};

/// A small lock-free exchange: a thread puts a live block in a free slot, another
/// thread takes it. Slot state: 0 empty, 1 busy, 2 + t full with a block of thread
/// t; the release/acquire pairs on the state hand the block and its contents over.
class Exchange {
 public:
  static constexpr unsigned kSlots = 16;
  static constexpr unsigned kAnyone = ~0u;

  bool put(const Held& h, std::uint64_t start) {
    for (unsigned i = 0; i < kSlots; ++i) {
      Slot& s = slots_[(start + i) % kSlots];
      unsigned expected = 0;
      if (s.state.compare_exchange_strong(expected, 1, std::memory_order_acquire)) {
        s.item = h;
        s.state.store(2 + h.owner, std::memory_order_release);
        return true;
      }
    }
    return false;
  }

  /// Take a block that thread `taker` did not allocate (kAnyone: any block).
  bool take(Held& out, std::uint64_t start, unsigned taker = kAnyone) {
    for (unsigned i = 0; i < kSlots; ++i) {
      Slot& s = slots_[(start + i) % kSlots];
      unsigned seen = s.state.load(std::memory_order_relaxed);
      if (seen < 2 || seen == 2 + taker) continue;
      if (s.state.compare_exchange_strong(seen, 1, std::memory_order_acquire)) {
        out = s.item;
        s.state.store(0, std::memory_order_release);
        return true;
      }
    }
    return false;
  }

 private:
  struct Slot {
    std::atomic<unsigned> state{0};
    Held item;
  };
  Slot slots_[kSlots];
};

/// Retry an allocation while it is contended; out_of_memory and real errors come back.
template <class F>
Result<Block> allocate_retrying(F&& allocate, Counters& c) {
  for (unsigned attempt = 0;; ++attempt) {
    Result<Block> r = allocate();
    if (r || r.error() != Error::contended || attempt >= 100'000) return r;
    c.contended.fetch_add(1, std::memory_order_relaxed);
    std::this_thread::yield();
  }
}

template <class F>
Error free_retrying(F&& deallocate, Counters& c) {
  for (unsigned attempt = 0;; ++attempt) {
    const Error e = deallocate();
    if (e != Error::contended || attempt >= 100'000) return e;
    c.contended.fetch_add(1, std::memory_order_relaxed);
    std::this_thread::yield();
  }
}

// ---- The shared workload ------------------------------------------------------------
//
// A Target adapts one allocator:
//   Layout layout(Rng&)                      a request it must be able to serve
//   Result<Block> allocate(Layout)
//   Error deallocate(Block, bool via_tag)    via_tag: hold_deallocate (holds only)
//   static constexpr bool tagged             true for holds
//   bool owns(Block)                         the block lies in its memory
//   void at_rest(Failures&)                  checks run while every thread waits

struct StressConfig {
  unsigned threads = kThreads;
  std::uint64_t ops_per_thread = kOpsPerThread;
  std::uint64_t ops_per_phase = kOpsPerPhase;
  unsigned max_live = 32;    // per thread
  unsigned pass_one_in = 4;  // share of frees handed to another thread
  unsigned take_one_in = 3;  // how often a thread looks for a block to free for another
};

template <class Target>
class StressRun {
 public:
  StressRun(Target& target, const StressConfig& cfg) : t_(target), cfg_(cfg) {}

  void run() {
    const std::uint64_t phases =
        (cfg_.ops_per_thread + cfg_.ops_per_phase - 1) / cfg_.ops_per_phase;
    auto at_rest = [this]() noexcept {
      // Every thread is waiting: free what is left in the exchange, then the
      // allocator must be exactly as it was at the start.
      Held h;
      while (exchange_.take(h, 0)) release(h, 0, true, /*cross=*/true);
      t_.at_rest(failures_);
    };
    std::barrier sync(static_cast<std::ptrdiff_t>(cfg_.threads), at_rest);
    std::vector<std::thread> pool;
    for (unsigned id = 0; id < cfg_.threads; ++id) {
      pool.emplace_back([&, id] {
        Rng rng(0xC0FFEE + id * 7919);
        std::vector<Held> live;
        live.reserve(cfg_.max_live);
        std::uint64_t seq = 0;
        for (std::uint64_t phase = 0; phase < phases; ++phase) {
          for (std::uint64_t op = 0; op < cfg_.ops_per_phase; ++op) {
            if (rng.one_in(cfg_.take_one_in)) {
              Held h;
              if (exchange_.take(h, rng.next(), id)) release(h, id, rng.one_in(2), true);
            }
            // Free with probability live / max_live: the live set hovers around half
            // full, and is full (then only frees) now and then.
            if (rng.below(cfg_.max_live) < live.size()) {
              const std::size_t i = rng.below(live.size());
              const Held h = live[i];
              live[i] = live.back();
              live.pop_back();
              if (rng.one_in(cfg_.pass_one_in) && exchange_.put(h, rng.next())) {
                continue;  // another thread checks and frees it
              }
              release(h, id, rng.one_in(2), false);
            } else {
              Held h;
              if (acquire(rng, id, seq++, h)) live.push_back(h);
            }
          }
          for (const Held& h : live) release(h, id, rng.one_in(2), false);
          live.clear();
          sync.arrive_and_wait();
        }
      });
    }
    for (std::thread& th : pool) th.join();
    failures_.report();
  }

  Counters& counters() { return c_; }

 private:
  bool acquire(Rng& rng, unsigned id, std::uint64_t seq, Held& out) {
    const Layout l = t_.layout(rng);
    const Result<Block> r = allocate_retrying([&] { return t_.allocate(l); }, c_);
    if (!r) {
      if (r.error() == Error::out_of_memory) {
        c_.oom.fetch_add(1, std::memory_order_relaxed);
      } else {
        failures_.add("thread %u: allocate(%zu, %zu) failed: %s", id, l.size, l.align,
                      to_string(r.error()));
      }
      return false;
    }
    c_.allocs.fetch_add(1, std::memory_order_relaxed);
    const Block b = *r;
    c_.bytes.fetch_add(b.size, std::memory_order_relaxed);
    if (b.size < l.size || b.address() % l.align != 0 || (b.size != 0 && !t_.owns(b))) {
      failures_.add("thread %u: allocate(%zu, %zu) gave a bad block %p + %zu", id, l.size, l.align,
                    b.ptr, b.size);
      return false;  // leaked on purpose: the test has failed anyway
    }
    out = Held{b, pattern_key(id, seq), id, seq};
    fill(b, out.key);
    return true;
  }

  bool check(const Held& h, unsigned by) {
    const std::size_t at = first_mismatch(h.block, h.key);
    if (at == ~std::size_t(0)) return true;
    failures_.add("block %p + %zu of thread %u (seq %" PRIu64
                  ") corrupted at offset %zu, seen by thread %u",
                  h.block.ptr, h.block.size, h.owner, h.seq, at, by);
    return false;
  }

  void release(const Held& h, unsigned by, bool via_tag, bool cross) {
    if (!check(h, by)) return;  // do not free a block whose ownership is in doubt
    via_tag = via_tag && Target::tagged;
    const Error e = free_retrying([&] { return t_.deallocate(h.block, via_tag); }, c_);
    if (e != Error::none) {
      failures_.add("thread %u: free of %p + %zu (thread %u, seq %" PRIu64 ", %s) failed: %s", by,
                    h.block.ptr, h.block.size, h.owner, h.seq,
                    via_tag ? "hold_deallocate" : "try_deallocate", to_string(e));
      return;
    }
    c_.frees.fetch_add(1, std::memory_order_relaxed);
    if (via_tag) c_.tag_frees.fetch_add(1, std::memory_order_relaxed);
    if (cross && h.owner != by) c_.cross_frees.fetch_add(1, std::memory_order_relaxed);
  }

  Target& t_;
  StressConfig cfg_;
  Exchange exchange_;
  Failures failures_;
  Counters c_;
};

bool same_counts(const Stats& a, const Stats& b) {
  return a.live == b.live && a.bytes_in_use == b.bytes_in_use && a.bytes_free == b.bytes_free;
}

std::string show(const Stats& s) {
  char buf[128];
  std::snprintf(buf, sizeof buf, "{live %zu, in use %zu, free %zu}", s.live, s.bytes_in_use,
                s.bytes_free);
  return buf;
}

/// Memory for one allocator, aligned like a page.
struct Arena {
  explicit Arena(std::size_t n)
      : size(n), bytes(static_cast<std::byte*>(::operator new(n, std::align_val_t{4096}))) {}
  ~Arena() { ::operator delete(bytes, std::align_val_t{4096}); }
  Arena(const Arena&) = delete;
  Arena& operator=(const Arena&) = delete;
  Block block() const { return Block{bytes, size}; }
  std::size_t size;
  std::byte* bytes;
};

/// Take every unit of a quiescent Slab: there must be exactly block_count() of
/// them, all distinct (a corrupted free list loses units or hands one out twice).
template <class S>
void drain_check(S& slab, Failures& f) {
  std::vector<Block> got;
  got.reserve(slab.block_count());
  for (;;) {
    const Result<Block> r = slab.try_allocate(Layout{1, 1});
    if (!r) {
      if (r.error() != Error::out_of_memory) f.add("drain: %s", to_string(r.error()));
      break;
    }
    got.push_back(*r);
    if (got.size() > slab.block_count()) break;
  }
  if (got.size() != slab.block_count()) {
    f.add("drain: %zu units free at rest, expected %zu", got.size(), slab.block_count());
  }
  std::vector<std::uintptr_t> addrs;
  for (const Block& b : got) addrs.push_back(b.address());
  std::sort(addrs.begin(), addrs.end());
  if (std::adjacent_find(addrs.begin(), addrs.end()) != addrs.end()) {
    f.add("drain: a unit was on the free list twice");
  }
  for (const Block& b : got) {
    const Error e = slab.try_deallocate(b);
    if (e != Error::none && e != Error::double_free) f.add("drain: free: %s", to_string(e));
  }
}

// ---- Targets -------------------------------------------------------------------------

template <bool Checked>
struct SlabTarget {
  static constexpr bool tagged = false;
  static constexpr std::size_t kUnit = 192;  // units aligned to 64
  // About what the threads keep live: out_of_memory happens now and then.
  static constexpr std::size_t kUnits = 64;

  Arena arena{kUnit * (kUnits + 1)};  // one unit of room for the bitmap
  Slab<concurrent, Checked> slab{arena.block(), kUnit};
  Stats initial = slab.stats();

  Layout layout(Rng& rng) {
    if (rng.one_in(128)) return Layout{0, 1};
    return Layout{rng.size_up_to(kUnit), rng.align_up_to(slab.alignment())};
  }
  Result<Block> allocate(Layout l) { return slab.try_allocate(l); }
  Error deallocate(Block b, bool) { return slab.try_deallocate(b); }
  bool owns(Block b) const { return slab.owns(b.ptr) && slab.owns(b.end() - 1); }
  void at_rest(Failures& f) {
    const Stats s = slab.stats();
    if (!same_counts(s, initial) || s.live != 0) {
      f.add("Slab at rest: %s, expected %s", show(s).c_str(), show(initial).c_str());
    }
    drain_check(slab, f);
  }
};

struct PackTarget {
  static constexpr bool tagged = true;
  Arena arena{2 << 20};
  Pack<concurrent> pack{arena.block()};

  Layout layout(Rng& rng) {
    if (rng.one_in(128)) return Layout{0, 1};
    return Layout{rng.size_up_to(512), rng.align_up_to(128)};
  }
  Result<Block> allocate(Layout l) { return pack.try_allocate(l); }
  Error deallocate(Block b, bool via_tag) {
    return via_tag ? hold_deallocate(b) : pack.try_deallocate(b);
  }
  bool owns(Block b) const { return pack.owns(b.ptr) && pack.owns(b.end() - 1); }
  void at_rest(Failures& f) {
    const Stats s = pack.stats();
    // Live back to 0 means the pack reset: all of it is free again.
    if (s.live != 0 || s.bytes_in_use != 0 || s.bytes_free != pack.capacity()) {
      f.add("Pack at rest: %s, capacity %zu", show(s).c_str(), pack.capacity());
    }
  }
};

template <std::size_t HunkSize, std::size_t Hunks, std::size_t MaxObject, std::size_t MaxAlign = 64>
struct PoolTarget {
  static constexpr bool tagged = true;
  using Upstream = Slab<concurrent>;
  Arena arena{HunkSize * Hunks + 4096};
  Upstream slab{arena.block(), HunkSize};
  Pool<Upstream, concurrent> pool{slab, HunkSize};

  Layout layout(Rng& rng) {
    if (rng.one_in(128)) return Layout{0, 1};
    return Layout{rng.size_up_to(MaxObject), rng.align_up_to(MaxAlign)};
  }
  Result<Block> allocate(Layout l) { return pool.try_allocate(l); }
  Error deallocate(Block b, bool via_tag) {
    return via_tag ? hold_deallocate(b) : pool.try_deallocate(b);
  }
  bool owns(Block b) const { return slab.owns(b.ptr) && slab.owns(b.end() - 1); }
  void at_rest(Failures& f) {
    const Stats s = pool.stats();
    if (s.live != 0 || s.bytes_in_use != 0) f.add("Pool at rest: %s", show(s).c_str());
    pool.trim();  // allowed: no thread allocates now
    // The pool never clears its head, so once anything was allocated (every phase
    // allocates) exactly the head hunk stays: more is a leaked hunk, none means
    // the head was given back while the pool still bumps in it.
    if (pool.hunk_count() != 1) {
      f.add("Pool at rest after trim: %zu hunks, expected 1 (the head)", pool.hunk_count());
    }
    if (slab.stats().live != pool.hunk_count()) {
      f.add("Pool at rest: upstream Slab has %zu live units for %zu hunks", slab.stats().live,
            pool.hunk_count());
    }
    if (pool.reserved_bytes() != pool.hunk_count() * HunkSize) {
      f.add("Pool at rest: %zu bytes reserved for %zu hunks", pool.reserved_bytes(),
            pool.hunk_count());
    }
  }
};

template <bool Checked>
struct AddrSpaceTarget {
  static constexpr bool tagged = false;
  static constexpr std::size_t kPage = 256;
  Arena arena{1 << 20};
  AddrSpace<concurrent, Checked> space{arena.block(), kPage};
  Stats initial = space.stats();

  Layout layout(Rng& rng) {
    if (rng.one_in(128)) return Layout{0, 1};
    return Layout{rng.size_up_to(16 * kPage),
                  rng.align_up_to(detail::min_of(4 * kPage, space.max_align()))};
  }
  Result<Block> allocate(Layout l) { return space.try_allocate(l); }
  Error deallocate(Block b, bool) { return space.try_deallocate(b); }
  bool owns(Block b) const {
    const Block r = space.region();
    return r.contains(b.ptr, b.size);
  }
  void at_rest(Failures& f) {
    const Stats s = space.stats();
    if (!same_counts(s, initial) || s.live != 0 || s.bytes_free != space.capacity()) {
      f.add("AddrSpace at rest: %s, expected %s", show(s).c_str(), show(initial).c_str());
    }
    // Every free coalesced: the largest block is whole again.
    const Result<Block> big = space.try_allocate(Layout{space.max_block(), 1});
    if (!big) {
      f.add("AddrSpace at rest: no block of %zu bytes (%s): free blocks not merged",
            space.max_block(), to_string(big.error()));
    } else if (space.try_deallocate(*big) != Error::none) {
      f.add("AddrSpace at rest: cannot free the largest block");
    }
  }
};

template <class Target>
void stress(Target& target, const char* name, const StressConfig& cfg = StressConfig{}) {
  StressRun<Target> run(target, cfg);
  run.run();
  run.counters().print(name);
  EXPECT_EQ(run.counters().allocs.load(), run.counters().frees.load());
  EXPECT_GT(run.counters().allocs.load(), cfg.threads * cfg.ops_per_thread / 4);
  if (Target::tagged) {
    EXPECT_GT(run.counters().tag_frees.load(), 0u);
  }
  EXPECT_GT(run.counters().cross_frees.load(), 0u);
}

// ---- Slab -----------------------------------------------------------------------------

template <class P>
class SlabStress : public ::testing::Test {};
using CheckedOrNot = ::testing::Types<std::true_type, std::false_type>;
TYPED_TEST_SUITE(SlabStress, CheckedOrNot);

TYPED_TEST(SlabStress, RandomAllocFreeAcrossThreads) {
  auto target = std::make_unique<SlabTarget<TypeParam::value>>();
  ASSERT_EQ(target->slab.init_error(), Error::none);
  stress(*target, TypeParam::value ? "Slab<checked>" : "Slab<unchecked>");
  EXPECT_EQ(target->slab.stats().live, 0u);
}

// Pop A, pop B, push A, push B, as fast as possible on a tiny Slab: the head keeps
// coming back to the same unit with a different successor, which is the ABA
// pattern that breaks an untagged Treiber stack (a stale pop would install B as
// the head while B is owned, and B would be handed out twice). Each owner marks
// the unit in an ownership table; a second mark is a double handout.
TYPED_TEST(SlabStress, AbaPopPopPushPush) {
  constexpr std::size_t kUnit = 16;
  constexpr std::size_t kUnits = 8;
  constexpr unsigned kAbaThreads = 8;
  constexpr std::uint64_t kIterations = 125'000 / kScale;  // 4 operations each
  alignas(64) static std::byte hunk[4096];
  // Exactly kUnits units (a checked Slab this small keeps its bitmap in itself).
  Slab<concurrent, TypeParam::value> slab(Block{hunk, kUnits * kUnit}, kUnit);
  ASSERT_EQ(slab.init_error(), Error::none);
  ASSERT_EQ(slab.block_count(), kUnits);
  const std::size_t units = slab.block_count();

  // Find the unit addresses: the lowest one is unit 0.
  std::uintptr_t base = ~std::uintptr_t(0);
  {
    std::vector<Block> all;
    for (;;) {
      const Result<Block> r = slab.try_allocate(Layout{kUnit, 1});
      if (!r) break;
      all.push_back(*r);
    }
    ASSERT_EQ(all.size(), units);
    for (const Block& b : all) base = std::min(base, b.address());
    for (const Block& b : all) ASSERT_EQ(slab.try_deallocate(b), Error::none);
  }

  std::vector<std::atomic<unsigned>> owner(units);
  for (auto& o : owner) o.store(0);
  Failures failures;
  Counters c;
  std::atomic<bool> go{false};

  auto index_of = [&](Block b) { return static_cast<std::size_t>((b.address() - base) / kUnit); };
  auto pop = [&](unsigned id, std::uint64_t key, Block& out) {
    auto take = [&] { return slab.try_allocate(Layout{kUnit, 8}); };
    const Result<Block> r = allocate_retrying(take, c);
    if (!r) {
      if (r.error() == Error::out_of_memory) {
        c.oom.fetch_add(1, std::memory_order_relaxed);
      } else {
        failures.add("pop: %s", to_string(r.error()));
      }
      return false;
    }
    c.allocs.fetch_add(1, std::memory_order_relaxed);
    out = *r;
    const std::size_t i = index_of(out);
    if (i >= units || out.address() != base + i * kUnit) {
      failures.add("pop gave %p, not a unit", out.ptr);
      return false;
    }
    const unsigned was = owner[i].exchange(id + 1, std::memory_order_acq_rel);
    if (was != 0) {
      failures.add("unit %zu handed to thread %u while thread %u owns it", i, id, was - 1);
    }
    fill(out, key);
    return true;
  };
  auto push = [&](unsigned id, std::uint64_t key, Block b) {
    const std::size_t i = index_of(b);
    if (first_mismatch(b, key) != ~std::size_t(0)) {
      failures.add("unit %zu of thread %u overwritten while owned", i, id);
    }
    const unsigned was = owner[i].exchange(0, std::memory_order_acq_rel);
    if (was != id + 1) failures.add("unit %zu freed by thread %u but owned by %u", i, id, was);
    const Error e = free_retrying([&] { return slab.try_deallocate(b); }, c);
    if (e != Error::none) failures.add("push: %s", to_string(e));
    c.frees.fetch_add(1, std::memory_order_relaxed);
  };

  std::vector<std::thread> threads;
  for (unsigned id = 0; id < kAbaThreads; ++id) {
    threads.emplace_back([&, id] {
      while (!go.load(std::memory_order_acquire)) std::this_thread::yield();
      for (std::uint64_t n = 0; n < kIterations; ++n) {
        const std::uint64_t ka = pattern_key(id, 2 * n), kb = pattern_key(id, 2 * n + 1);
        Block a, b;
        if (!pop(id, ka, a)) continue;
        if (!pop(id, kb, b)) {
          push(id, ka, a);
          continue;
        }
        push(id, ka, a);  // the head becomes A again, now followed by B's successor
        push(id, kb, b);
      }
    });
  }
  go.store(true, std::memory_order_release);
  for (std::thread& t : threads) t.join();
  failures.report();
  c.print("Slab ABA");
  EXPECT_EQ(c.allocs.load(), c.frees.load());
  EXPECT_GT(c.allocs.load(), kAbaThreads * kIterations / 2);
  EXPECT_EQ(slab.stats().live, 0u);
  EXPECT_EQ(slab.stats().bytes_free, units * kUnit);
  Failures drain;
  drain_check(slab, drain);
  drain.report();
  for (auto& o : owner) EXPECT_EQ(o.load(), 0u);
}

// ---- Pack ------------------------------------------------------------------------------

TEST(PackStress, RandomAllocFreeAcrossThreads) {
  auto target = std::make_unique<PackTarget>();
  ASSERT_EQ(target->pack.init_error(), Error::none);
  stress(*target, "Pack");
  EXPECT_EQ(target->pack.stats().live, 0u);
  EXPECT_EQ(target->pack.stats().bytes_free, target->pack.capacity());
}

// LIFO reclaim under concurrency. Rounds of: holders allocate a set of blocks;
// then "transient" threads allocate and free at once (mostly the top of the
// stack) while holders check their blocks and free them one by one; then every
// thread waits and the pack must have reset (live 0, all of it free).
//
// With one transient thread and holders that only free during that phase, nothing
// else ever raises the mark: every transient free is the top object, so the pack
// must hand back exactly the bytes it took (bytes_free after the free >= before the
// allocation) and can never run out of memory. With two transient threads, frees
// that are not on top only count (their bytes come back at the reset), so
// out_of_memory is allowed and counted.
void pack_lifo(unsigned transients, unsigned holders, bool exact) {
  constexpr unsigned kHeld = 32;
  constexpr std::uint64_t kTransientOps = 2'000;  // allocations per round per transient
  const std::uint64_t rounds = 2'000'000 / kScale / (2 * kTransientOps * transients);
  auto arena = std::make_unique<Arena>(256 * 1024);
  Pack<concurrent> pack(arena->block());
  ASSERT_EQ(pack.init_error(), Error::none);

  Failures failures;
  Counters c;
  std::atomic<std::uint64_t> progress{0};  // transient allocations in this round
  std::uint64_t phase_count = 0;
  auto at_rest = [&]() noexcept {
    if (++phase_count % 2 != 0) return;  // the barrier between setup and main
    const Stats s = pack.stats();
    if (s.live != 0 || s.bytes_in_use != 0 || s.bytes_free != pack.capacity()) {
      failures.add("Pack did not reset: %s, capacity %zu", show(s).c_str(), pack.capacity());
    }
    progress.store(0, std::memory_order_relaxed);
  };
  const unsigned n = transients + holders;
  std::barrier sync(static_cast<std::ptrdiff_t>(n), at_rest);

  auto allocate = [&](Layout l, unsigned id, std::uint64_t seq, Held& out) {
    const Result<Block> r = allocate_retrying([&] { return pack.try_allocate(l); }, c);
    if (!r) {
      if (r.error() == Error::out_of_memory) {
        c.oom.fetch_add(1, std::memory_order_relaxed);
      } else {
        failures.add("allocate: %s", to_string(r.error()));
      }
      return false;
    }
    c.allocs.fetch_add(1, std::memory_order_relaxed);
    out = Held{*r, pattern_key(id, seq), id, seq};
    fill(out.block, out.key);
    return true;
  };
  auto release = [&](const Held& h, bool via_tag) {
    if (first_mismatch(h.block, h.key) != ~std::size_t(0)) {
      failures.add("block of thread %u seq %" PRIu64 " corrupted", h.owner, h.seq);
      return;
    }
    const Error e = free_retrying(
        [&] { return via_tag ? hold_deallocate(h.block) : pack.try_deallocate(h.block); }, c);
    if (e != Error::none) failures.add("free: %s", to_string(e));
    c.frees.fetch_add(1, std::memory_order_relaxed);
    if (via_tag) c.tag_frees.fetch_add(1, std::memory_order_relaxed);
  };

  std::vector<std::thread> threads;
  for (unsigned id = 0; id < n; ++id) {
    threads.emplace_back([&, id] {
      Rng rng(0xBEEF + id);
      std::uint64_t seq = 0;
      const bool transient = id < transients;
      for (std::uint64_t round = 0; round < rounds; ++round) {
        std::vector<Held> held;
        if (!transient) {
          for (unsigned i = 0; i < kHeld; ++i) {
            Held h;
            if (allocate(Layout{rng.size_up_to(256), rng.align_up_to(32)}, id, seq++, h)) {
              held.push_back(h);
            }
          }
        }
        sync.arrive_and_wait();
        if (transient) {
          for (std::uint64_t i = 0; i < kTransientOps; ++i) {
            const std::size_t before = pack.stats().bytes_free;
            Held h;
            // Align 8 (the granule) so that no padding separates the mark from the
            // tag: a LIFO free then gives back exactly what the allocation took.
            const Layout l{rng.size_up_to(512), exact ? 8 : rng.align_up_to(64)};
            if (allocate(l, id, seq++, h)) {
              release(h, rng.one_in(2));
              const std::size_t after = pack.stats().bytes_free;
              if (exact && after < before) {
                failures.add("LIFO free gave back %zu bytes less than the allocation took",
                             before - after);
              }
            }
            progress.fetch_add(1, std::memory_order_relaxed);
          }
        } else {
          // Free the held blocks spread over the transients' work, checking one at
          // every step; what is left goes at the end.
          const std::uint64_t total = kTransientOps * transients;
          while (!held.empty() && progress.load(std::memory_order_relaxed) < total) {
            const std::size_t i = rng.below(held.size());
            if (first_mismatch(held[i].block, held[i].key) != ~std::size_t(0)) {
              failures.add("held block corrupted");
            }
            const std::uint64_t due = total * (kHeld - held.size() + 1) / (kHeld + 1);
            if (progress.load(std::memory_order_relaxed) >= due) {
              release(held[i], rng.one_in(2));
              held[i] = held.back();
              held.pop_back();
            } else {
              std::this_thread::yield();
            }
          }
          for (const Held& h : held) release(h, rng.one_in(2));
        }
        sync.arrive_and_wait();
      }
    });
  }
  for (std::thread& t : threads) t.join();
  failures.report();
  c.print(exact ? "Pack LIFO (1 transient)" : "Pack LIFO (2 transients)");
  EXPECT_EQ(c.allocs.load(), c.frees.load());
  if (exact) {
    EXPECT_EQ(c.oom.load(), 0u) << "LIFO reclaim failed: the pack ran out of memory";
  }
  const Stats s = pack.stats();
  EXPECT_EQ(s.live, 0u);
  EXPECT_EQ(s.bytes_in_use, 0u);
  EXPECT_EQ(s.bytes_free, pack.capacity());
}

TEST(PackStress, LifoReclaimOneTransientThreeHolders) { pack_lifo(1, 3, true); }
TEST(PackStress, LifoReclaimTwoTransientsTwoHolders) { pack_lifo(2, 2, false); }

// ---- Pool<Slab> -------------------------------------------------------------------------

TEST(PoolStress, RandomAllocFreeAcrossThreads) {
  // 16 KiB hunks from a Slab of 64 such units; objects up to 2 KiB.
  auto target = std::make_unique<PoolTarget<16 * 1024, 64, 2048>>();
  ASSERT_EQ(target->slab.init_error(), Error::none);
  stress(*target, "Pool<Slab>");
  EXPECT_EQ(target->pool.stats().live, 0u);
  EXPECT_EQ(target->pool.hunk_count(), 1u);
  EXPECT_EQ(target->slab.stats().live, 1u);
}

// 1 KiB hunks (960 bytes of objects) and few live objects per thread: hunks fill
// after a handful of objects, so the pool keeps growing, retiring emptied hunks
// and reusing them. 128 units are far more than the live objects can pin (each
// live object pins at most one hunk, plus one hunk per thread growing and the
// head), so out_of_memory must not happen: if it does, emptied hunks were not
// reused.
TEST(PoolStress, OneKibHunkChurn) {
  using Target = PoolTarget<1024, 128, 256>;
  auto target = std::make_unique<Target>();
  ASSERT_EQ(target->slab.init_error(), Error::none);
  StressConfig cfg;
  cfg.max_live = 8;
  StressRun<Target> run(*target, cfg);
  run.run();
  run.counters().print("Pool<Slab> 1 KiB churn");
  const Counters& c = run.counters();
  EXPECT_EQ(c.allocs.load(), c.frees.load());
  EXPECT_EQ(c.oom.load(), 0u);
  EXPECT_GT(c.tag_frees.load(), 0u);
  // Bytes served are many times what the upstream Slab holds: hunks were reused.
  EXPECT_GT(c.bytes.load(), 20 * target->slab.block_count() * 1024);
  EXPECT_EQ(target->pool.hunk_count(), 1u);
  EXPECT_EQ(target->slab.stats().live, 1u);
}

// The hardest case for retiring: 128-byte hunks hold exactly one object (64
// bytes of room after the header), so every allocation grows the pool and every
// free empties a hunk, which is retired and soon popped again by another grow.
// Each hunk therefore cycles through head, non-head, retired and spare as fast as
// the threads go, and every retire races with the hunk's reuse. The upstream
// Slab has 512 units for at most 6 * 2 live objects plus 6 growing threads: a
// correct pool never runs out of memory here.
TEST(PoolStress, OneObjectPerHunk) {
  using Target = PoolTarget<128, 512, 48, 8>;
  auto target = std::make_unique<Target>();
  ASSERT_EQ(target->slab.init_error(), Error::none);
  StressConfig cfg;
  cfg.threads = 6;
  cfg.max_live = 2;
  cfg.ops_per_phase = 300;
  StressRun<Target> run(*target, cfg);
  run.run();
  run.counters().print("Pool<Slab> one object per hunk");
  const Counters& c = run.counters();
  EXPECT_EQ(c.allocs.load(), c.frees.load());
  EXPECT_EQ(c.oom.load(), 0u) << "out_of_memory while the upstream heap had room";
  EXPECT_EQ(target->pool.hunk_count(), 1u);
  EXPECT_EQ(target->slab.stats().live, 1u);
}

// ---- AddrSpace ---------------------------------------------------------------------------

template <class P>
class AddrSpaceStress : public ::testing::Test {};
TYPED_TEST_SUITE(AddrSpaceStress, CheckedOrNot);

TYPED_TEST(AddrSpaceStress, RandomAllocFreeAcrossThreads) {
  auto target = std::make_unique<AddrSpaceTarget<TypeParam::value>>();
  ASSERT_EQ(target->space.init_error(), Error::none);
  stress(*target, TypeParam::value ? "AddrSpace<checked>" : "AddrSpace<unchecked>");
  EXPECT_EQ(target->space.stats().live, 0u);
  EXPECT_EQ(target->space.stats().bytes_free, target->space.capacity());
}

}  // namespace
}  // namespace swim::mem
