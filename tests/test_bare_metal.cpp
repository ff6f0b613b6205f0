// Bare metal: the allocators run over a static array and never call the system
// allocator.
//
// This executable replaces the global operator new/delete (every replaceable
// signature) and malloc, calloc, realloc, free, aligned_alloc, posix_memalign,
// memalign, valloc and pvalloc. The replacements forward to glibc's own
// __libc_malloc family, so gtest keeps working, and while the global "forbidden"
// flag is set each call also counts as a violation. A test sets the flag, runs a
// workload over `arena` (Slab, Pack, Pool<Slab>, AddrSpace, hold_deallocate and
// hold_resize, in both concurrency modes, error paths and the leak report
// included), clears the flag, and expects no violation. Inside the forbidden
// region nothing may use gtest (its failure path allocates): checks are recorded
// in a plain Outcome and asserted afterwards.
//
// Under AddressSanitizer or ThreadSanitizer malloc and friends are NOT replaced:
// the sanitizer runtime already interposes them and a second definition
// conflicts with it. Only operator new/delete are replaced then (forwarding to
// the sanitizer's malloc/free), so the test still catches every C++ allocation
// but not direct malloc calls; the plain build checks both.
#include <gtest/gtest.h>

#include <atomic>
#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <new>
#include <thread>

#include "swim/mem.hpp"

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define SWIM_MEM_BARE_METAL_SANITIZER 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#define SWIM_MEM_BARE_METAL_SANITIZER 1
#endif
#endif

#if !defined(SWIM_MEM_BARE_METAL_SANITIZER)
#include <malloc.h>
#endif

// ---- The detector -----------------------------------------------------------------------

namespace {

std::atomic<bool> g_forbidden{false};
std::atomic<unsigned long> g_violations{0};

inline void note_call() {
  if (g_forbidden.load(std::memory_order_relaxed)) {
    g_violations.fetch_add(1, std::memory_order_relaxed);
  }
}

}  // namespace

#if !defined(SWIM_MEM_BARE_METAL_SANITIZER)

// glibc's allocator under its own names (exported by libc.so.6, not declared in
// its headers).
extern "C" {
void* __libc_malloc(std::size_t size);
void __libc_free(void* p);
void* __libc_calloc(std::size_t n, std::size_t size);
void* __libc_realloc(void* p, std::size_t size);
void* __libc_memalign(std::size_t align, std::size_t size);
void* __libc_valloc(std::size_t size);
void* __libc_pvalloc(std::size_t size);
}

namespace {
void* raw_alloc(std::size_t size) { return __libc_malloc(size); }
void* raw_aligned(std::size_t size, std::size_t align) { return __libc_memalign(align, size); }
void raw_free(void* p) { __libc_free(p); }
}  // namespace

extern "C" {
void* malloc(std::size_t size) noexcept {
  note_call();
  return __libc_malloc(size);
}
void free(void* p) noexcept {
  note_call();
  __libc_free(p);
}
void* calloc(std::size_t n, std::size_t size) noexcept {
  note_call();
  return __libc_calloc(n, size);
}
void* realloc(void* p, std::size_t size) noexcept {
  note_call();
  return __libc_realloc(p, size);
}
void* aligned_alloc(std::size_t align, std::size_t size) noexcept {
  note_call();
  return __libc_memalign(align, size);
}
void* memalign(std::size_t align, std::size_t size) noexcept {
  note_call();
  return __libc_memalign(align, size);
}
int posix_memalign(void** out, std::size_t align, std::size_t size) noexcept {
  note_call();
  if (align % sizeof(void*) != 0 || (align & (align - 1)) != 0) return EINVAL;
  void* p = __libc_memalign(align, size);
  if (p == nullptr) return ENOMEM;
  *out = p;
  return 0;
}
void* valloc(std::size_t size) noexcept {
  note_call();
  return __libc_valloc(size);
}
void* pvalloc(std::size_t size) noexcept {
  note_call();
  return __libc_pvalloc(size);
}
}  // extern "C"

#else  // sanitizer: operator new/delete over the sanitizer's malloc

namespace {
void* raw_alloc(std::size_t size) { return std::malloc(size); }
void* raw_aligned(std::size_t size, std::size_t align) {
  return std::aligned_alloc(align, (size + align - 1) / align * align);
}
void raw_free(void* p) { std::free(p); }
}  // namespace

#endif

namespace {

void* new_or_throw(std::size_t size, std::size_t align) {
  note_call();
  if (size == 0) size = 1;
  for (;;) {
    void* p = align > __STDCPP_DEFAULT_NEW_ALIGNMENT__ ? raw_aligned(size, align) : raw_alloc(size);
    if (p != nullptr) return p;
    std::new_handler handler = std::get_new_handler();
    if (handler == nullptr) throw std::bad_alloc();
    handler();
  }
}

void* new_or_null(std::size_t size, std::size_t align) noexcept {
  try {
    return new_or_throw(size, align);
  } catch (...) {
    return nullptr;
  }
}

void delete_any(void* p) noexcept {
  note_call();
  raw_free(p);
}

constexpr std::size_t plain = __STDCPP_DEFAULT_NEW_ALIGNMENT__;

}  // namespace

void* operator new(std::size_t n) { return new_or_throw(n, plain); }
void* operator new[](std::size_t n) { return new_or_throw(n, plain); }
void* operator new(std::size_t n, const std::nothrow_t&) noexcept { return new_or_null(n, plain); }
void* operator new[](std::size_t n, const std::nothrow_t&) noexcept {
  return new_or_null(n, plain);
}
void* operator new(std::size_t n, std::align_val_t a) {
  return new_or_throw(n, static_cast<std::size_t>(a));
}
void* operator new[](std::size_t n, std::align_val_t a) {
  return new_or_throw(n, static_cast<std::size_t>(a));
}
void* operator new(std::size_t n, std::align_val_t a, const std::nothrow_t&) noexcept {
  return new_or_null(n, static_cast<std::size_t>(a));
}
void* operator new[](std::size_t n, std::align_val_t a, const std::nothrow_t&) noexcept {
  return new_or_null(n, static_cast<std::size_t>(a));
}

void operator delete(void* p) noexcept { delete_any(p); }
void operator delete[](void* p) noexcept { delete_any(p); }
void operator delete(void* p, std::size_t) noexcept { delete_any(p); }
void operator delete[](void* p, std::size_t) noexcept { delete_any(p); }
void operator delete(void* p, const std::nothrow_t&) noexcept { delete_any(p); }
void operator delete[](void* p, const std::nothrow_t&) noexcept { delete_any(p); }
void operator delete(void* p, std::align_val_t) noexcept { delete_any(p); }
void operator delete[](void* p, std::align_val_t) noexcept { delete_any(p); }
void operator delete(void* p, std::size_t, std::align_val_t) noexcept { delete_any(p); }
void operator delete[](void* p, std::size_t, std::align_val_t) noexcept { delete_any(p); }
void operator delete(void* p, std::align_val_t, const std::nothrow_t&) noexcept { delete_any(p); }
void operator delete[](void* p, std::align_val_t, const std::nothrow_t&) noexcept { delete_any(p); }

// ---- The workload -------------------------------------------------------------------------

namespace swim::mem {
namespace {

alignas(4096) std::byte arena[2 << 20];

/// Checks made inside the forbidden region: counted, the first failure kept.
struct Outcome {
  unsigned checks = 0;
  unsigned failed = 0;
  int first_line = 0;
  const char* first_expr = "";
};

#define SWIM_MEM_BM_CHECK(out, cond)      \
  do {                                    \
    ++(out).checks;                       \
    if (!(cond) && (out).failed++ == 0) { \
      (out).first_line = __LINE__;        \
      (out).first_expr = #cond;           \
    }                                     \
  } while (0)

/// Carves consecutive page-aligned pieces of the arena.
class Carver {
 public:
  explicit Carver(std::byte* base, std::size_t size) : at_(base), end_(base + size) {}
  Block take(std::size_t n) {
    std::byte* p = at_;
    at_ += (n + 4095) / 4096 * 4096;
    if (at_ > end_) return Block{};
    return Block{p, n};
  }

 private:
  std::byte* at_;
  std::byte* end_;
};

/// A byte pattern that depends on the owner and the offset.
void stamp(Block b, unsigned owner) {
  for (std::size_t i = 0; i < b.size; ++i) b.begin()[i] = static_cast<std::byte>(owner * 31 + i);
}
bool intact(Block b, unsigned owner) {
  for (std::size_t i = 0; i < b.size; ++i) {
    if (b.begin()[i] != static_cast<std::byte>(owner * 31 + i)) return false;
  }
  return true;
}

/// Deterministic pseudo-random numbers (no <random>: its engines are fine, but
/// this keeps the workload obviously allocation-free).
struct Lcg {
  std::uint64_t s;
  std::uint64_t next() {
    s = s * 6364136223846793005ull + 1442695040888963407ull;
    return s >> 33;
  }
};

std::atomic<unsigned> g_leaks{0};
void counting_leak_handler(const LeakReport&) { g_leaks.fetch_add(1, std::memory_order_relaxed); }

template <class Mode, bool Checked>
void slab_workload(Block region, Outcome& o) {
  Slab<Mode, Checked> slab(region, 64);
  SWIM_MEM_BM_CHECK(o, slab.init_error() == Error::none);
  constexpr std::size_t kMax = 512;
  const std::size_t n = slab.block_count();
  SWIM_MEM_BM_CHECK(o, n > 8 && n <= kMax);
  if (n <= 8 || n > kMax) return;
  Block units[kMax];
  for (std::size_t i = 0; i < n; ++i) {
    const Result<Block> r = slab.try_allocate(Layout{1 + i % 64, 8});
    SWIM_MEM_BM_CHECK(o, r.ok());
    units[i] = r.ok() ? *r : Block{};
    stamp(units[i], static_cast<unsigned>(i));
  }
  SWIM_MEM_BM_CHECK(o, slab.try_allocate(Layout{8, 8}).error() == Error::out_of_memory);
  SWIM_MEM_BM_CHECK(o, slab.stats().live == n);
  for (std::size_t i = 0; i < n; i += 2) {
    SWIM_MEM_BM_CHECK(o, slab.try_deallocate(units[i]) == Error::none);
  }
  for (std::size_t i = 0; i < n; i += 2) {
    const Result<Block> r = slab.try_allocate(Layout{64, 64});
    SWIM_MEM_BM_CHECK(o, r.ok());
    units[i] = r.ok() ? *r : Block{};
    stamp(units[i], static_cast<unsigned>(i));
  }
  for (std::size_t i = 0; i < n; ++i) {
    SWIM_MEM_BM_CHECK(o, intact(units[i], static_cast<unsigned>(i)));
  }
  // Error paths. Foreign pointers only where they are detected: an unchecked Slab
  // trusts the blocks it is given back (heaps/slab.hpp).
  if constexpr (Checked) {
    int local = 0;
    SWIM_MEM_BM_CHECK(o,
                      slab.try_deallocate(Block{&local, sizeof local}) == Error::foreign_pointer);
    SWIM_MEM_BM_CHECK(
        o, slab.try_deallocate(Block{units[1].begin() + 8, 8}) == Error::foreign_pointer);
  }
  SWIM_MEM_BM_CHECK(o, slab.try_allocate(Layout{65, 8}).error() == Error::oversized);
  SWIM_MEM_BM_CHECK(o, slab.try_allocate(Layout{8, 4096}).error() == Error::misaligned);
  const Result<Block> zero = slab.try_allocate(Layout{0, 8});
  SWIM_MEM_BM_CHECK(o, zero.ok() && zero->size == 0);
  if (zero.ok()) SWIM_MEM_BM_CHECK(o, slab.try_deallocate(*zero) == Error::none);
  for (std::size_t i = 0; i < n; ++i) {
    SWIM_MEM_BM_CHECK(o, slab.try_deallocate(units[i]) == Error::none);
  }
  if constexpr (Checked) {
    SWIM_MEM_BM_CHECK(o, slab.try_deallocate(units[0]) == Error::double_free);
  }
  SWIM_MEM_BM_CHECK(o, slab.stats().live == 0);
  SWIM_MEM_BM_CHECK(o, slab.stats().bytes_free == n * 64);
}

template <class Mode>
void pack_workload(Block region, Outcome& o) {
  Pack<Mode> pack(region);
  SWIM_MEM_BM_CHECK(o, pack.init_error() == Error::none);
  const std::size_t cap = pack.capacity();
  const Result<Block> a = pack.try_allocate(Layout{24, 8});
  const Result<Block> b = pack.try_allocate(Layout{100, 64});
  SWIM_MEM_BM_CHECK(o, a.ok() && b.ok());
  if (!a.ok() || !b.ok()) return;
  SWIM_MEM_BM_CHECK(o, b->address() % 64 == 0);
  stamp(*a, 1);
  stamp(*b, 2);
  // LIFO: the most recent object gives its bytes back.
  const std::size_t before = pack.stats().bytes_free;
  const Result<Block> c = pack.try_allocate(Layout{40, 8});
  SWIM_MEM_BM_CHECK(o, c.ok());
  if (c.ok()) SWIM_MEM_BM_CHECK(o, hold_deallocate(*c) == Error::none);
  SWIM_MEM_BM_CHECK(o, pack.stats().bytes_free == before);
  // Growth in place of the top object keeps its contents.
  const Result<Block> grown = hold_resize(*b, Layout{300, 64});
  SWIM_MEM_BM_CHECK(o, grown.ok() && grown->ptr == b->ptr && grown->size >= 300);
  SWIM_MEM_BM_CHECK(o, intact(*b, 2));
  const Block b2 = grown.ok() ? *grown : *b;
  // Zero-size objects count as live.
  const Result<Block> z = pack.try_allocate(Layout{0, 1});
  SWIM_MEM_BM_CHECK(o, z.ok() && pack.stats().live == 3);
  if (z.ok()) SWIM_MEM_BM_CHECK(o, hold_deallocate(*z) == Error::none);
  // Frees out of order; the last one resets the pack.
  SWIM_MEM_BM_CHECK(o, intact(*a, 1));
  SWIM_MEM_BM_CHECK(o, pack.try_deallocate(*a) == Error::none);
  SWIM_MEM_BM_CHECK(o, pack.try_deallocate(*a) == Error::double_free);
  SWIM_MEM_BM_CHECK(o, hold_deallocate(b2) == Error::none);
  SWIM_MEM_BM_CHECK(o, pack.stats().live == 0 && pack.stats().bytes_free == cap);
  // Exhaustion, then LIFO frees all the way down.
  constexpr std::size_t kMax = 4096;
  static Block many[kMax];  // static: a 64 KiB array is too much stack for some threads
  std::size_t count = 0;
  for (; count < kMax; ++count) {
    const Result<Block> r = pack.try_allocate(Layout{248, 8});
    if (!r) {
      SWIM_MEM_BM_CHECK(o, r.error() == Error::out_of_memory);
      break;
    }
    many[count] = *r;
    stamp(*r, static_cast<unsigned>(count));
  }
  SWIM_MEM_BM_CHECK(o, count > 0 && count < kMax);
  for (std::size_t i = count; i-- > 0;) {
    SWIM_MEM_BM_CHECK(o, intact(many[i], static_cast<unsigned>(i)));
    SWIM_MEM_BM_CHECK(
        o, (i % 2 ? hold_deallocate(many[i]) : pack.try_deallocate(many[i])) == Error::none);
  }
  SWIM_MEM_BM_CHECK(o, pack.stats().live == 0 && pack.stats().bytes_free == cap);
  // Error paths.
  std::uint64_t local[4] = {};
  SWIM_MEM_BM_CHECK(o, pack.try_deallocate(Block{&local[1], 8}) == Error::foreign_pointer);
  SWIM_MEM_BM_CHECK(o, pack.try_allocate(Layout{cap + 8, 8}).error() == Error::oversized);
}

template <class Mode>
void pool_workload(Block region, Outcome& o) {
  using Upstream = Slab<Mode>;
  Upstream up(region, 1024);
  SWIM_MEM_BM_CHECK(o, up.init_error() == Error::none);
  {
    Pool<Upstream, Mode> pool(up, 1024);
    constexpr std::size_t kCount = 200;
    Block objs[kCount];
    Lcg rng{42};
    for (std::size_t i = 0; i < kCount; ++i) {
      const Result<Block> r =
          pool.try_allocate(Layout{1 + rng.next() % 300, std::size_t(8) << (i % 4)});
      SWIM_MEM_BM_CHECK(o, r.ok());
      objs[i] = r.ok() ? *r : Block{};
      stamp(objs[i], static_cast<unsigned>(i));
    }
    SWIM_MEM_BM_CHECK(o, pool.hunk_count() > 4);
    SWIM_MEM_BM_CHECK(o, up.stats().live == pool.hunk_count());
    // Free in a scrambled order, half through the tag.
    for (std::size_t k = 0; k < kCount; ++k) {
      const std::size_t i = (k * 73) % kCount;  // 73 is prime to 200: a permutation
      SWIM_MEM_BM_CHECK(o, intact(objs[i], static_cast<unsigned>(i)));
      SWIM_MEM_BM_CHECK(
          o, (k % 2 ? hold_deallocate(objs[i]) : pool.try_deallocate(objs[i])) == Error::none);
    }
    SWIM_MEM_BM_CHECK(o, pool.stats().live == 0 && pool.stats().bytes_in_use == 0);
    pool.trim();
    SWIM_MEM_BM_CHECK(o, pool.hunk_count() == 1 && up.stats().live == 1);
    // Zero-size objects, resize in place, double free, foreign objects.
    const Result<Block> z = pool.try_allocate(Layout{0, 1});
    SWIM_MEM_BM_CHECK(o, z.ok() && pool.stats().live == 1);
    if (z.ok()) SWIM_MEM_BM_CHECK(o, hold_deallocate(*z) == Error::none);
    const Result<Block> x = pool.try_allocate(Layout{16, 8});
    SWIM_MEM_BM_CHECK(o, x.ok());
    if (x.ok()) {
      stamp(*x, 7);
      const Result<Block> g = hold_resize(*x, Layout{64, 8});
      SWIM_MEM_BM_CHECK(o, g.ok() && g->ptr == x->ptr && intact(*x, 7));
      SWIM_MEM_BM_CHECK(o, pool.try_deallocate(g.ok() ? *g : *x) == Error::none);
      SWIM_MEM_BM_CHECK(o, hold_deallocate(*x) == Error::double_free);
    }
    alignas(16) std::byte other[256];
    Pack<Mode> pack(Block{other, sizeof other});
    const Result<Block> p = pack.try_allocate(Layout{16, 8});
    SWIM_MEM_BM_CHECK(o, p.ok());
    if (p.ok()) {
      SWIM_MEM_BM_CHECK(o, pool.try_deallocate(*p) == Error::foreign_pointer);
      SWIM_MEM_BM_CHECK(o, hold_deallocate(*p) == Error::none);
    }
    // Exhaust the upstream heap, then give everything back.
    constexpr std::size_t kMax = 4096;
    static Block many[kMax];
    std::size_t count = 0;
    for (; count < kMax; ++count) {
      const Result<Block> r = pool.try_allocate(Layout{500, 8});
      if (!r) {
        SWIM_MEM_BM_CHECK(o, r.error() == Error::out_of_memory);
        break;
      }
      many[count] = *r;
      stamp(*r, static_cast<unsigned>(count));
    }
    SWIM_MEM_BM_CHECK(o, count > 0 && count < kMax);
    SWIM_MEM_BM_CHECK(o, up.stats().live == up.block_count());
    for (std::size_t i = 0; i < count; ++i) {
      SWIM_MEM_BM_CHECK(o, intact(many[i], static_cast<unsigned>(i)));
      SWIM_MEM_BM_CHECK(o, hold_deallocate(many[i]) == Error::none);
    }
    pool.trim();
    SWIM_MEM_BM_CHECK(o, pool.stats().live == 0 && pool.hunk_count() == 1);
  }
  SWIM_MEM_BM_CHECK(o, up.stats().live == 0);  // the pool gave its last hunk back
}

template <class Mode, bool Checked>
void addr_space_workload(Block region, Outcome& o) {
  AddrSpace<Mode, Checked> space(region, 256);
  SWIM_MEM_BM_CHECK(o, space.init_error() == Error::none);
  const Stats initial = space.stats();
  SWIM_MEM_BM_CHECK(o, initial.live == 0 && initial.bytes_free == space.capacity());
  constexpr std::size_t kCount = 64;
  Block blocks[kCount];
  Lcg rng{7};
  for (std::size_t i = 0; i < kCount; ++i) {
    const std::size_t size = 1 + rng.next() % 3000;
    const Result<Block> r = space.try_allocate(Layout{size, 256});
    SWIM_MEM_BM_CHECK(o, r.ok() && r->size >= size);
    blocks[i] = r.ok() ? *r : Block{};
    stamp(blocks[i], static_cast<unsigned>(i));
  }
  for (std::size_t k = 0; k < kCount; ++k) {
    const std::size_t i = (k * 37) % kCount;
    SWIM_MEM_BM_CHECK(o, intact(blocks[i], static_cast<unsigned>(i)));
    SWIM_MEM_BM_CHECK(o, space.try_deallocate(blocks[i]) == Error::none);
  }
  const Stats after = space.stats();
  SWIM_MEM_BM_CHECK(
      o, after.live == 0 && after.bytes_in_use == 0 && after.bytes_free == initial.bytes_free);
  // Freed blocks merged back: the largest block is whole again.
  const Result<Block> big = space.try_allocate(Layout{space.max_block(), 1});
  SWIM_MEM_BM_CHECK(o, big.ok());
  if (big.ok()) {
    stamp(*big, 3);
    SWIM_MEM_BM_CHECK(o, space.try_deallocate(*big) == Error::none);
    if constexpr (Checked) {
      SWIM_MEM_BM_CHECK(o, space.try_deallocate(*big) == Error::double_free);
    }
  }
  int local = 0;
  SWIM_MEM_BM_CHECK(o, space.try_deallocate(Block{&local, 256}) == Error::foreign_pointer);
  SWIM_MEM_BM_CHECK(
      o, space.try_allocate(Layout{space.max_block() + 1, 1}).error() == Error::oversized);
  SWIM_MEM_BM_CHECK(
      o, space.try_allocate(Layout{256, space.max_align() * 2}).error() == Error::misaligned);
}

/// A destroyed allocator with live objects reports through the leak handler,
/// still without allocating.
template <class Mode>
void leak_workload(Block region, Outcome& o) {
  const unsigned before = g_leaks.load();
  {
    Pack<Mode> pack(region);
    SWIM_MEM_BM_CHECK(o, pack.try_allocate(Layout{32, 8}).ok());
  }
  {
    Slab<Mode> slab(region, 128);
    SWIM_MEM_BM_CHECK(o, slab.try_allocate(Layout{32, 8}).ok());
  }
  SWIM_MEM_BM_CHECK(o, g_leaks.load() == before + 2);
}

template <class Mode>
void full_workload(Outcome& o) {
  Carver carve(arena, sizeof arena);
  const Block slab_region = carve.take(32 * 1024);
  const Block pack_region = carve.take(256 * 1024);
  const Block pool_region = carve.take(128 * 1024);
  const Block space_region = carve.take(512 * 1024);
  const Block leak_region = carve.take(4096);
  SWIM_MEM_BM_CHECK(o, leak_region.ptr != nullptr);
  if (leak_region.ptr == nullptr) return;
  slab_workload<Mode, true>(slab_region, o);
  slab_workload<Mode, false>(slab_region, o);
  pack_workload<Mode>(pack_region, o);
  pool_workload<Mode>(pool_region, o);
  addr_space_workload<Mode, true>(space_region, o);
  addr_space_workload<Mode, false>(space_region, o);
  leak_workload<Mode>(leak_region, o);
}

class BareMetal : public ::testing::Test {
 protected:
  void SetUp() override {
    previous_ = set_leak_handler(&counting_leak_handler);
    g_violations.store(0);
  }
  void TearDown() override {
    g_forbidden.store(false);
    set_leak_handler(previous_);
  }
  static unsigned long violations() { return g_violations.load(); }
  static void report(const Outcome& o) {
    std::printf("[ checks   ] %u checks inside the forbidden region\n", o.checks);
    EXPECT_GT(o.checks, 0u);
    EXPECT_EQ(o.failed, 0u) << "first failed check, line " << o.first_line << ": " << o.first_expr;
  }

 private:
  leak_handler previous_ = nullptr;
};

// The detector itself: an allocation while forbidden is seen, exactly once.
TEST_F(BareMetal, DetectorSeesForbiddenCalls) {
  g_forbidden.store(true);
  int* volatile p = new int(42);  // volatile: the allocation cannot be optimised away
  g_forbidden.store(false);
  EXPECT_EQ(violations(), 1u);
  delete p;
  EXPECT_EQ(violations(), 1u);  // allowed again once the flag is clear
  g_violations.store(0);

  g_forbidden.store(true);
  auto* volatile q = new (std::align_val_t{256}) std::uint64_t;
  ::operator delete(q, std::align_val_t{256});
  g_forbidden.store(false);
  EXPECT_EQ(violations(), 2u);  // the aligned new and the aligned delete
  g_violations.store(0);

#if !defined(SWIM_MEM_BARE_METAL_SANITIZER)
  g_forbidden.store(true);
  void* volatile m = std::malloc(16);
  g_forbidden.store(false);
  EXPECT_EQ(violations(), 1u);
  std::free(m);
  g_violations.store(0);
#endif
}

TEST_F(BareMetal, ConcurrentModeWorkloadNeverAllocates) {
  Outcome o;
  g_forbidden.store(true);
  full_workload<concurrent>(o);
  g_forbidden.store(false);
  EXPECT_EQ(violations(), 0u) << "the system allocator was called";
  report(o);
}

TEST_F(BareMetal, SingleOwnerWorkloadNeverAllocates) {
  Outcome o;
  g_forbidden.store(true);
  full_workload<single_owner>(o);
  g_forbidden.store(false);
  EXPECT_EQ(violations(), 0u) << "the system allocator was called";
  report(o);
}

// Several threads share concurrent allocators over the arena. The threads are
// created (which allocates) before the flag is set, and only allowed to exit
// (which frees thread-local storage) after it is cleared.
TEST_F(BareMetal, ThreadsShareAllocatorsWithoutAllocating) {
  constexpr unsigned kThreads = 4;
  constexpr unsigned kRounds = 2000;
  Carver carve(arena, sizeof arena);
  const Block slab_region = carve.take(64 * 1024);
  const Block pack_region = carve.take(256 * 1024);
  const Block pool_region = carve.take(256 * 1024);
  const Block space_region = carve.take(512 * 1024);
  ASSERT_NE(space_region.ptr, nullptr);
  Slab<concurrent> slab(slab_region, 64);
  Pack<concurrent> pack(pack_region);
  Slab<concurrent> pool_heap(pool_region, 2048);
  Pool<Slab<concurrent>, concurrent> pool(pool_heap, 2048);
  AddrSpace<concurrent> space(space_region, 256);

  std::atomic<bool> go{false}, leave{false};
  std::atomic<unsigned> done{0};
  Outcome outcomes[kThreads];
  std::thread threads[kThreads];
  for (unsigned t = 0; t < kThreads; ++t) {
    threads[t] = std::thread([&, t] {
      while (!go.load(std::memory_order_acquire)) std::this_thread::yield();
      Outcome& o = outcomes[t];
      Lcg rng{t + 1};
      for (unsigned round = 0; round < kRounds; ++round) {
        const unsigned tag = t * kRounds + round;
        Block got[4] = {};
        Result<Block> r[4] = {slab.try_allocate(Layout{1 + rng.next() % 64, 8}),
                              pack.try_allocate(Layout{1 + rng.next() % 200, 16}),
                              pool.try_allocate(Layout{1 + rng.next() % 300, 8}),
                              space.try_allocate(Layout{1 + rng.next() % 2000, 64})};
        for (unsigned i = 0; i < 4; ++i) {
          const bool fine =
              r[i].ok() || r[i].error() == Error::out_of_memory || r[i].error() == Error::contended;
          SWIM_MEM_BM_CHECK(o, fine);
          if (r[i].ok()) {
            got[i] = *r[i];
            stamp(got[i], tag + i);
          }
        }
        if (got[0].ptr) {
          SWIM_MEM_BM_CHECK(o, intact(got[0], tag));
          SWIM_MEM_BM_CHECK(o, slab.try_deallocate(got[0]) == Error::none);
        }
        if (got[1].ptr) {
          SWIM_MEM_BM_CHECK(o, intact(got[1], tag + 1));
          SWIM_MEM_BM_CHECK(o, hold_deallocate(got[1]) == Error::none);
        }
        if (got[2].ptr) {
          SWIM_MEM_BM_CHECK(o, intact(got[2], tag + 2));
          SWIM_MEM_BM_CHECK(o, (round % 2 ? hold_deallocate(got[2])
                                          : pool.try_deallocate(got[2])) == Error::none);
        }
        if (got[3].ptr) {
          SWIM_MEM_BM_CHECK(o, intact(got[3], tag + 3));
          SWIM_MEM_BM_CHECK(o, space.try_deallocate(got[3]) == Error::none);
        }
      }
      done.fetch_add(1, std::memory_order_acq_rel);
      while (!leave.load(std::memory_order_acquire)) std::this_thread::yield();
    });
  }

  g_forbidden.store(true);
  go.store(true, std::memory_order_release);
  while (done.load(std::memory_order_acquire) != kThreads) std::this_thread::yield();
  pool.trim();
  const Stats slab_stats = slab.stats(), pack_stats = pack.stats(), pool_stats = pool.stats(),
              space_stats = space.stats();
  const std::size_t hunks = pool.hunk_count();
  g_forbidden.store(false);
  leave.store(true, std::memory_order_release);
  for (std::thread& th : threads) th.join();

  EXPECT_EQ(violations(), 0u) << "the system allocator was called";
  Outcome all;
  for (const Outcome& o : outcomes) {
    all.checks += o.checks;
    if (o.failed != 0 && all.failed == 0) {
      all.first_line = o.first_line;
      all.first_expr = o.first_expr;
    }
    all.failed += o.failed;
  }
  report(all);
  EXPECT_EQ(slab_stats.live, 0u);
  EXPECT_EQ(pack_stats.live, 0u);
  EXPECT_EQ(pack_stats.bytes_free, pack.capacity());
  EXPECT_EQ(pool_stats.live, 0u);
  EXPECT_EQ(hunks, 1u);
  EXPECT_EQ(space_stats.live, 0u);
  EXPECT_EQ(space_stats.bytes_free, space.capacity());
}

}  // namespace
}  // namespace swim::mem
