// Layers 1-2: Layout, Block, Result, Error, the atomic wrapper and the leak handler.
#include <gtest/gtest.h>

#include <cstddef>
#include <cstdint>
#include <limits>
#include <string>
#include <thread>
#include <vector>

#include "swim/mem.hpp"

namespace {

using swim::mem::Block;
using swim::mem::Error;
using swim::mem::Layout;
using swim::mem::Result;

constexpr std::size_t kMax = std::numeric_limits<std::size_t>::max();

// ---- Layout -----------------------------------------------------------------------

// The arithmetic is constexpr: these hold at compile time too.
static_assert(Layout::from_size_align(24, 8)->size == 24);
static_assert(Layout::from_size_align(1, 3).error() == Error::misaligned);
static_assert(Layout::of<double>() == Layout{sizeof(double), alignof(double)});
static_assert(Layout{5, 4}.extend(Layout{8, 8})->offset == 8);
static_assert(Layout{5, 4}.repeat(3)->stride == 8);

TEST(Layout, FromSizeAlignAcceptsPowersOfTwo) {
  for (std::size_t shift = 0; shift <= 31; ++shift) {
    const std::size_t align = std::size_t(1) << shift;
    Result<Layout> l = Layout::from_size_align(100, align);
    ASSERT_TRUE(l.ok()) << align;
    EXPECT_EQ(l->size, 100u);
    EXPECT_EQ(l->align, align);
  }
  EXPECT_TRUE(Layout::from_size_align(0, 1).ok());
  EXPECT_EQ(Layout::from_size_align(kMax, 1)->size, kMax);  // align 1: no padding possible
}

TEST(Layout, BadAlignmentIsMisaligned) {
  for (std::size_t align : {std::size_t(0), std::size_t(3), std::size_t(6), std::size_t(12),
                            std::size_t(1) << 32, (std::size_t(1) << 31) + 1, kMax}) {
    EXPECT_EQ(Layout::from_size_align(8, align).error(), Error::misaligned) << align;
  }
  EXPECT_EQ(Layout::from_size_align(8, Layout::max_align).error(), Error::none);
  EXPECT_EQ(Layout::from_size_align(8, Layout::max_align * 2).error(), Error::misaligned);
}

TEST(Layout, SizeThatCannotBePaddedIsOversized) {
  EXPECT_EQ(Layout::from_size_align(kMax, 2).error(), Error::oversized);
  EXPECT_EQ(Layout::from_size_align(kMax - 6, 8).error(), Error::oversized);
  EXPECT_EQ(Layout::from_size_align(kMax - 7, 8).error(), Error::none);  // the largest for 8
}

TEST(Layout, OfDescribesTheType) {
  struct alignas(32) Wide {
    char c[40];
  };
  EXPECT_EQ(Layout::of<char>(), (Layout{1, 1}));
  EXPECT_EQ(Layout::of<std::uint64_t>(), (Layout{8, alignof(std::uint64_t)}));
  EXPECT_EQ(Layout::of<Wide>(), (Layout{64, 32}));
  EXPECT_EQ(Layout::empty(), (Layout{0, 1}));
}

TEST(Layout, Array) {
  EXPECT_EQ(*Layout::array<std::uint32_t>(10), (Layout{40, 4}));
  EXPECT_EQ(*Layout::array<double>(0), (Layout{0, alignof(double)}));
  EXPECT_EQ(Layout::array<std::uint64_t>(kMax / 8 + 1).error(), Error::oversized);
  EXPECT_EQ(Layout::array<std::uint64_t>(kMax).error(), Error::oversized);
  // The largest count that still leaves room for padding.
  EXPECT_TRUE(Layout::array<char>(kMax).ok());
  EXPECT_EQ(Layout::array<std::uint16_t>(kMax / 2 + 1).error(), Error::oversized);
  EXPECT_EQ(*Layout::array<std::uint16_t>(kMax / 2), (Layout{kMax - 1, 2}));
}

TEST(Layout, ExtendIsACStructAppend) {
  // struct { char a[5]; (pad 3) double b; }
  Result<swim::mem::Extended> e = Layout{5, 1}.extend(Layout::of<double>());
  ASSERT_TRUE(e.ok());
  EXPECT_EQ(e->offset, 8u);
  EXPECT_EQ(e->layout, (Layout{16, alignof(double)}));

  // The alignment is the larger one; the size is not padded at the end.
  e = Layout{8, 16}.extend(Layout{1, 1});
  ASSERT_TRUE(e.ok());
  EXPECT_EQ(e->offset, 8u);
  EXPECT_EQ(e->layout, (Layout{9, 16}));

  e = Layout{0, 1}.extend(Layout{0, 1});
  ASSERT_TRUE(e.ok());
  EXPECT_EQ(e->offset, 0u);
  EXPECT_EQ(e->layout, (Layout{0, 1}));
}

TEST(Layout, ExtendOverflowIsOversized) {
  // Padding the first member to the second's alignment overflows.
  EXPECT_EQ((Layout{kMax, 1}.extend(Layout{1, 2}).error()), Error::oversized);
  // The sum overflows.
  EXPECT_EQ((Layout{kMax / 2 + 1, 1}.extend(Layout{kMax / 2 + 1, 1}).error()), Error::oversized);
  // The sum fits but cannot be padded to the combined alignment.
  EXPECT_EQ((Layout{kMax - 20, 1}.extend(Layout{10, 16}).error()), Error::oversized);
}

TEST(Layout, Padded) {
  EXPECT_EQ((*Layout{5, 4}.padded()), (Layout{8, 4}));
  EXPECT_EQ((*Layout{8, 4}.padded()), (Layout{8, 4}));
  EXPECT_EQ((*Layout{0, 64}.padded()), (Layout{0, 64}));
  // Only a layout built around from_size_align's check can overflow.
  EXPECT_EQ((Layout{kMax, 8}).padded().error(), Error::oversized);
}

TEST(Layout, Repeat) {
  Result<swim::mem::Repeated> r = Layout{5, 4}.repeat(3);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->stride, 8u);
  EXPECT_EQ(r->layout, (Layout{24, 4}));

  r = Layout{12, 4}.repeat(0);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->stride, 12u);
  EXPECT_EQ(r->layout, (Layout{0, 4}));

  EXPECT_EQ((Layout{8, 8}.repeat(kMax / 8 + 1).error()), Error::oversized);
  EXPECT_EQ((Layout{3, 1}.repeat(kMax).error()), Error::oversized);
  EXPECT_EQ((Layout{kMax, 8}).repeat(1).error(), Error::oversized);
}

TEST(Layout, AlignedTo) {
  EXPECT_EQ((*Layout{10, 2}.aligned_to(64)), (Layout{10, 64}));
  EXPECT_EQ((*Layout{10, 64}.aligned_to(8)), (Layout{10, 64}));  // never lowers
  EXPECT_EQ((Layout{10, 2}.aligned_to(24).error()), Error::misaligned);
  EXPECT_EQ((Layout{10, 2}.aligned_to(Layout::max_align * 2).error()), Error::misaligned);
  EXPECT_EQ((Layout{kMax - 1, 2}.aligned_to(16).error()), Error::oversized);
}

TEST(Layout, EveryOverflowIsOversizedNeverAWrap) {
  // A sweep of sizes near the top of the range through every operation: each
  // result is either correct arithmetic or Error::oversized.
  for (std::size_t back = 0; back < 70; ++back) {
    const std::size_t size = kMax - back;
    for (std::size_t align : {std::size_t(1), std::size_t(2), std::size_t(8), std::size_t(64)}) {
      Result<Layout> l = Layout::from_size_align(size, align);
      if (!l) {
        EXPECT_EQ(l.error(), Error::oversized);
        EXPECT_GT(size, kMax - (align - 1));
        continue;
      }
      if (Result<Layout> p = l->padded(); p) {
        EXPECT_GE(p->size, size);
        EXPECT_EQ(p->size % align, 0u);
      } else {
        EXPECT_EQ(p.error(), Error::oversized);
      }
      if (auto r = l->repeat(2); !r) {
        EXPECT_EQ(r.error(), Error::oversized);
      }
      if (auto e = l->extend(Layout{8, 8}); e) {
        EXPECT_GE(e->offset, size);
        EXPECT_GE(e->layout.size, e->offset + 8);
      } else {
        EXPECT_EQ(e.error(), Error::oversized);
      }
      if (auto a = l->aligned_to(128); !a) {
        EXPECT_EQ(a.error(), Error::oversized);
      }
    }
  }
}

// ---- Block, Result, Error ------------------------------------------------------------

TEST(Block, Basics) {
  alignas(16) unsigned char bytes[64] = {};
  const Block b{bytes, sizeof bytes};
  EXPECT_FALSE(b.empty());
  EXPECT_FALSE(b.is_null());
  EXPECT_EQ(b.address(), reinterpret_cast<std::uintptr_t>(bytes));
  EXPECT_EQ(b.begin(), reinterpret_cast<std::byte*>(bytes));
  EXPECT_EQ(b.end(), reinterpret_cast<std::byte*>(bytes + 64));
  EXPECT_TRUE(b.contains(bytes));
  EXPECT_TRUE(b.contains(bytes, 64));
  EXPECT_TRUE(b.contains(bytes + 10, 54));
  EXPECT_FALSE(b.contains(bytes + 10, 55));
  EXPECT_TRUE(b.contains(bytes + 64));  // the one-past-the-end pointer, empty range
  EXPECT_FALSE(b.contains(bytes + 64, 1));
  EXPECT_FALSE(b.contains(reinterpret_cast<const void*>(b.address() - 1)));
  EXPECT_FALSE(b.contains(bytes + 10, kMax));  // no wrap-around

  const Block none{};
  EXPECT_TRUE(none.empty());
  EXPECT_TRUE(none.is_null());
  EXPECT_EQ(none, (Block{nullptr, 0}));
  EXPECT_NE(b, (Block{bytes, 32}));
  EXPECT_NE(b, (Block{bytes + 1, 64}));
}

TEST(Result, ValueOrError) {
  Result<int> v = 42;
  EXPECT_TRUE(v.ok());
  EXPECT_TRUE(static_cast<bool>(v));
  EXPECT_EQ(v.error(), Error::none);
  EXPECT_EQ(*v, 42);
  EXPECT_EQ(v.value(), 42);

  Result<Block> e = Error::out_of_memory;
  EXPECT_FALSE(e.ok());
  EXPECT_FALSE(static_cast<bool>(e));
  EXPECT_EQ(e.error(), Error::out_of_memory);
  EXPECT_TRUE(e->is_null());  // a default value, not garbage

  Result<Layout> l = Layout{16, 8};
  EXPECT_EQ(l->size, 16u);
}

TEST(Error, EveryCodeHasAName) {
  std::vector<std::string> names;
  for (unsigned i = 0; i <= static_cast<unsigned>(Error::malformed); ++i) {
    const std::string name = swim::mem::to_string(static_cast<Error>(i));
    EXPECT_NE(name, "unknown") << i;
    for (const std::string& other : names) EXPECT_NE(name, other) << i;
    names.push_back(name);
  }
  EXPECT_EQ(names.size(), 16u)
      << "none, the allocators' eight codes, the shared leases' six, malformed";
  EXPECT_STREQ(swim::mem::to_string(static_cast<Error>(200)), "unknown");
}

TEST(Error, RetryableCodesAreTheTransientOnes) {
  for (unsigned i = 0; i <= static_cast<unsigned>(Error::malformed); ++i) {
    const Error e = static_cast<Error>(i);
    const bool transient =
        e == Error::aliased || e == Error::relocating || e == Error::contended;
    EXPECT_EQ(swim::mem::is_retryable(e), transient) << swim::mem::to_string(e);
  }
}

// A move-only value: the carrier owns it and destroys it exactly once.
struct Owned {
  static inline int alive = 0;
  int v = 0;
  explicit Owned(int x) : v(x) { ++alive; }
  Owned(Owned&& o) noexcept : v(o.v) {
    o.v = -1;
    ++alive;
  }
  Owned(const Owned&) = delete;
  ~Owned() { --alive; }
};

TEST(Result, CarriesMoveOnlyValuesAndDestroysThemOnce) {
  static_assert(std::is_trivially_copyable_v<Result<Block>>);
  static_assert(!std::is_copy_constructible_v<Result<Owned>>);
  Owned::alive = 0;
  {
    Result<Owned> r = Owned(7);
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(r->v, 7);
    EXPECT_EQ(Owned::alive, 1);
    Result<Owned> moved = std::move(r);
    EXPECT_EQ(moved->v, 7);
    Owned out = moved.take();
    EXPECT_EQ(out.v, 7);
    Result<Owned> failed = Error::contended;
    EXPECT_EQ(failed.error(), Error::contended);
    EXPECT_EQ(std::move(failed).value_or(Owned(3)).v, 3);
    // A retry loop assigns each attempt: the old value goes, the new one is owned.
    Result<Owned> attempt = Error::contended;
    for (int i = 0; i < 3 && !attempt; ++i) {
      attempt = i < 2 ? Result<Owned>(Error::contended) : Result<Owned>(Owned(8));
    }
    ASSERT_TRUE(attempt.ok());
    EXPECT_EQ(attempt->v, 8);
    attempt = Result<Owned>(Owned(9));
    EXPECT_EQ(attempt->v, 9);
    attempt = Error::aliased;
    EXPECT_EQ(attempt.error(), Error::aliased);
  }
  EXPECT_EQ(Owned::alive, 0);
}

TEST(Result, NoneIsNotAnError) {
  // A Result is ok() exactly when it has a value: an Error of none is recorded as
  // unsupported rather than as a success without a value.
  Result<int> r = Error::none;
  EXPECT_FALSE(r.ok());
  EXPECT_EQ(r.error(), Error::unsupported);
  EXPECT_EQ(r.value_or(5), 5);
  constexpr Result<int> c = 3;
  static_assert(c.ok() && *c == 3, "usable in constant expressions");
}

#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
TEST(Result, TheOldNamesStillCompile) {
  swim::mem::Outcome<Owned> o = Owned(1);
  swim::mem::ArcOutcome<int> a = swim::mem::ArcError::cleared;
  EXPECT_TRUE(o.ok());
  EXPECT_EQ(a.error(), Error::cleared);
  static_assert(std::is_same_v<swim::mem::ArcError, Error>);
}
#pragma GCC diagnostic pop

TEST(Exceptions, OutOfMemoryIsABadAlloc) {
  using swim::mem::MemoryError;
  using swim::mem::OutOfMemory;
  EXPECT_THROW(swim::mem::throw_error(Error::out_of_memory), std::bad_alloc);
  EXPECT_THROW(swim::mem::value_or_throw(Result<int>(Error::out_of_memory)), OutOfMemory);
  try {
    swim::mem::throw_if_error(Error::double_free);
    FAIL() << "no exception";
  } catch (const MemoryError& e) {
    EXPECT_EQ(e.code(), Error::double_free);
    EXPECT_STREQ(e.what(), "swim::mem: double free");
  }
  EXPECT_NO_THROW(swim::mem::throw_if_error(Error::none));
  EXPECT_EQ(swim::mem::value_or_throw(Result<int>(4)), 4);
  EXPECT_EQ(swim::mem::value_or_throw(Result<Owned>(Owned(9))).v, 9);
  alignas(8) std::byte arena[256];
  swim::mem::Pack<> pack(Block{arena, sizeof arena});
  EXPECT_THROW(swim::mem::value_or_throw(pack.try_allocate(Layout{1024, 8})), MemoryError)
      << "oversized for this Pack";
  const Block b = swim::mem::value_or_throw(pack.try_allocate(Layout{200, 8}));
  EXPECT_THROW(swim::mem::value_or_throw(pack.try_allocate(Layout{100, 8})), OutOfMemory);
  swim::mem::throw_if_error(pack.try_deallocate(b));
  EXPECT_THROW(swim::mem::throw_if_error(pack.try_deallocate(b)), MemoryError);
}

// ---- atomic_ref and cell -------------------------------------------------------------

template <class T>
class AtomicRef : public ::testing::Test {};
using Words = ::testing::Types<std::uint32_t, std::uint64_t>;
TYPED_TEST_SUITE(AtomicRef, Words);

TYPED_TEST(AtomicRef, SingleThreadSemantics) {
  using T = TypeParam;
  using swim::mem::order;
  alignas(sizeof(T)) T word = 5;
  const swim::mem::atomic_ref<T> a(word);
  EXPECT_EQ(a.load(), T(5));
  a.store(7, order::release);
  EXPECT_EQ(a.load(order::acquire), T(7));
  EXPECT_EQ(a.exchange(9), T(7));
  T expected = 1;
  EXPECT_FALSE(a.compare_exchange(expected, 2));
  EXPECT_EQ(expected, T(9));  // failure reports the current value
  EXPECT_TRUE(a.compare_exchange(expected, 2, order::acq_rel));
  EXPECT_EQ(word, T(2));
  EXPECT_EQ(a.fetch_add(3, order::relaxed), T(2));
  EXPECT_EQ(a.fetch_sub(4), T(5));
  EXPECT_EQ(a.load(), T(1));
  EXPECT_EQ(a.fetch_sub(2), T(1));
  EXPECT_EQ(a.load(), static_cast<T>(~T(0)));  // wraps like unsigned arithmetic
  a.store(0b1010);
  EXPECT_EQ(a.fetch_or(0b0101), T(0b1010));
  EXPECT_EQ(a.fetch_and(0b0110), T(0b1111));
  EXPECT_EQ(word, T(0b0110));
}

TYPED_TEST(AtomicRef, ConcurrentUpdatesAreNotLost) {
  using T = TypeParam;
  using swim::mem::order;
  constexpr int kThreads = 4;
  constexpr int kIters = 20000;
  alignas(sizeof(T)) T sum = 0;
  alignas(sizeof(T)) T cas_sum = 0;
  alignas(sizeof(T)) T bits = 0;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      const swim::mem::atomic_ref<T> s(sum), c(cas_sum), b(bits);
      for (int i = 0; i < kIters; ++i) {
        s.fetch_add(1, order::relaxed);
        T cur = c.load(order::relaxed);
        while (!c.compare_exchange(cur, cur + 1, order::relaxed)) {
        }
      }
      b.fetch_or(T(1) << t);
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(sum, T(kThreads * kIters));
  EXPECT_EQ(cas_sum, T(kThreads * kIters));
  EXPECT_EQ(bits, T((1u << kThreads) - 1));
}

template <class Mode>
class Cell : public ::testing::Test {};
using Modes = ::testing::Types<swim::mem::concurrent, swim::mem::single_owner>;
TYPED_TEST_SUITE(Cell, Modes);

TYPED_TEST(Cell, SameSemanticsInBothModes) {
  using swim::mem::cell;
  static_assert(std::is_trivially_copyable_v<cell<std::uint64_t, TypeParam>>);
  static_assert(std::is_standard_layout_v<cell<std::uint64_t, TypeParam>>);
  static_assert(sizeof(cell<std::uint32_t, TypeParam>) == 4);

  cell<std::uint64_t, TypeParam> c{10};
  EXPECT_EQ(c.load(), 10u);
  c.store(11);
  EXPECT_EQ(c.raw, 11u);
  EXPECT_EQ(c.exchange(12), 11u);
  std::uint64_t expected = 0;
  EXPECT_FALSE(c.compare_exchange(expected, 1));
  EXPECT_EQ(expected, 12u);
  EXPECT_TRUE(c.compare_exchange(expected, 20));
  EXPECT_EQ(c.fetch_add(5), 20u);
  EXPECT_EQ(c.fetch_sub(25), 25u);
  EXPECT_EQ(c.load(), 0u);
  EXPECT_EQ(c.fetch_or(6), 0u);
  EXPECT_EQ(c.fetch_and(3), 6u);
  EXPECT_EQ(c.load(), 2u);

  cell<std::uint32_t, TypeParam> peak{3};
  swim::mem::raise_to(peak, 2u);
  EXPECT_EQ(peak.load(), 3u);
  swim::mem::raise_to(peak, 9u);
  EXPECT_EQ(peak.load(), 9u);
}

TEST(CellConcurrent, RaiseToKeepsTheMaximum) {
  swim::mem::cell<std::uint64_t, swim::mem::concurrent> peak{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&peak, t] {
      for (std::uint64_t v = 0; v < 10000; ++v) swim::mem::raise_to(peak, v * 4 + t);
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(peak.load(), 9999u * 4 + 3);
}

// ---- Leak handler ----------------------------------------------------------------------

swim::mem::LeakReport g_seen;
int g_calls = 0;
void recording_handler(const swim::mem::LeakReport& r) {
  g_seen = r;
  ++g_calls;
}

TEST(LeakHandler, SwapAndRestore) {
  const swim::mem::leak_handler original = swim::mem::get_leak_handler();
  ASSERT_NE(original, nullptr);

  EXPECT_EQ(swim::mem::set_leak_handler(&recording_handler), original);
  EXPECT_EQ(swim::mem::get_leak_handler(), &recording_handler);

  g_calls = 0;
  swim::mem::Stats s;
  s.live = 3;
  s.bytes_in_use = 96;
  int owner = 0;
  swim::mem::detail::leaked("Slab", &owner, s);  // what an allocator destructor calls
  EXPECT_EQ(g_calls, 1);
  EXPECT_STREQ(g_seen.allocator, "Slab");
  EXPECT_EQ(g_seen.control, &owner);
  EXPECT_EQ(g_seen.stats.live, 3u);
  EXPECT_EQ(g_seen.stats.bytes_in_use, 96u);

  // nullptr restores the default, which prints one line and returns.
  EXPECT_EQ(swim::mem::set_leak_handler(nullptr), &recording_handler);
  EXPECT_EQ(swim::mem::get_leak_handler(), original);
  ::testing::internal::CaptureStderr();
  swim::mem::report_leak(swim::mem::LeakReport{"Pool", &owner, s});
  const std::string printed = ::testing::internal::GetCapturedStderr();
  EXPECT_NE(printed.find("Pool"), std::string::npos) << printed;
  EXPECT_NE(printed.find("3 live"), std::string::npos) << printed;
  EXPECT_EQ(g_calls, 1);
}

}  // namespace
