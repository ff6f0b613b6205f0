// Shared by the libFuzzer harnesses in tests/fuzz/: reading operations from the
// input, the check that stops the run, the fill pattern of blocks, and the arena
// the harnesses carve their heaps from (with AddressSanitizer poisoning, so that
// an allocator touching bytes it does not own is reported where it happens).
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <new>

#if defined(__has_feature)
#if __has_feature(address_sanitizer)
#define SWIM_MEM_FUZZ_ASAN 1
#endif
#endif
#if defined(__SANITIZE_ADDRESS__)
#define SWIM_MEM_FUZZ_ASAN 1
#endif
#if defined(SWIM_MEM_FUZZ_ASAN)
#include <sanitizer/asan_interface.h>
#endif

#include "swim/mem.hpp"

namespace swim::mem::fuzz {

// ---- Failing a check ------------------------------------------------------------------

/// What the current run is doing, printed with a failed check (set by the harness).
inline const char* g_context = "";
inline unsigned g_step = 0;

/// SWIM_MEM_FUZZ_TRACE=1 in the environment: print every operation (to read what a
/// crashing input does: `SWIM_MEM_FUZZ_TRACE=1 ./fuzz_heaps crash-...`).
inline const bool g_trace = std::getenv("SWIM_MEM_FUZZ_TRACE") != nullptr;
#define FUZZ_TRACE(...)                                       \
  do {                                                        \
    if (::swim::mem::fuzz::g_trace) std::fprintf(stderr, __VA_ARGS__); \
  } while (0)

/// A broken invariant: say which, where, then trap, so that libFuzzer reports a crash
/// and keeps the input.
[[noreturn]] inline void fail(const char* file, int line, const char* what) {
  std::fprintf(stderr, "\n*** swim-mem fuzz check failed: %s\n    at %s:%d\n    in %s, step %u\n",
               what, file, line, g_context, g_step);
  std::fflush(stderr);
  __builtin_trap();
}

#define FUZZ_CHECK(cond)                                                          \
  do {                                                                            \
    if (!(cond)) ::swim::mem::fuzz::fail(__FILE__, __LINE__, #cond);              \
  } while (0)

/// An Error compared with the one expected, both named when they differ.
#define FUZZ_CHECK_ERROR(got, want)                                               \
  do {                                                                            \
    const ::swim::mem::Error fuzz_got_ = (got);                                   \
    const ::swim::mem::Error fuzz_want_ = (want);                                 \
    if (fuzz_got_ != fuzz_want_) {                                                \
      char fuzz_msg_[160];                                                        \
      std::snprintf(fuzz_msg_, sizeof fuzz_msg_, "%s: got '%s', expected '%s'",   \
                    #got, ::swim::mem::to_string(fuzz_got_),                      \
                    ::swim::mem::to_string(fuzz_want_));                          \
      ::swim::mem::fuzz::fail(__FILE__, __LINE__, fuzz_msg_);                     \
    }                                                                             \
  } while (0)

/// Two counters compared, both printed when they differ.
#define FUZZ_CHECK_EQ(a, b)                                                       \
  do {                                                                            \
    const unsigned long long fuzz_a_ = static_cast<unsigned long long>(a);        \
    const unsigned long long fuzz_b_ = static_cast<unsigned long long>(b);        \
    if (fuzz_a_ != fuzz_b_) {                                                     \
      char fuzz_msg_[200];                                                        \
      std::snprintf(fuzz_msg_, sizeof fuzz_msg_, "%s == %s (%llu != %llu)", #a,   \
                    #b, fuzz_a_, fuzz_b_);                                        \
      ::swim::mem::fuzz::fail(__FILE__, __LINE__, fuzz_msg_);                     \
    }                                                                             \
  } while (0)

// ---- The input --------------------------------------------------------------------------

/// The fuzzer's bytes, read front to back; past the end every read gives 0.
class Input {
 public:
  Input(const std::uint8_t* data, std::size_t size) : p_(data), end_(data + size) {}

  bool empty() const { return p_ == end_; }
  std::size_t left() const { return static_cast<std::size_t>(end_ - p_); }
  std::uint8_t u8() { return p_ == end_ ? 0 : *p_++; }
  std::uint16_t u16() {
    const std::uint16_t lo = u8();
    return static_cast<std::uint16_t>(lo | (std::uint16_t(u8()) << 8));
  }
  std::uint32_t u32() {
    const std::uint32_t lo = u16();
    return lo | (std::uint32_t(u16()) << 16);
  }
  std::uint64_t u64() {
    const std::uint64_t lo = u32();
    return lo | (std::uint64_t(u32()) << 32);
  }
  /// A value below n (n >= 1).
  std::size_t below(std::size_t n) { return n <= 1 ? 0 : u16() % n; }
  /// A size spread over every magnitude: mostly up to 64 KiB (16 bits shifted right
  /// by 0 to 15, so that small sizes are as likely as large ones), now and then up to
  /// 256 KiB, or within 64 KiB of SIZE_MAX (sizes nothing can serve).
  std::size_t size() {
    const std::uint8_t b = u8();
    const std::size_t v = u16();
    if (b >= 0xF8) return ~std::size_t(0) - v;
    if (b >= 0xF0) return v << 2;
    return v >> (b & 15u);
  }
  /// An alignment: a power of two up to 2^(max_log2) mostly; now and then one that
  /// is not a power of two, or past anything an allocator grants.
  std::size_t align(unsigned max_log2 = 12) {
    const std::uint8_t b = u8();
    switch (b >> 5) {
      case 0: {  // not a power of two (0 included)
        static constexpr std::size_t odd[] = {0, 3, 24, 48, 96, 4095, ~std::size_t(0),
                                              (std::size_t(1) << 63) + 1};
        return odd[b & 7u];
      }
      case 1:  // past every allocator's limit
        return std::size_t(1) << (31 + (b & 3u));
      default:
        return std::size_t(1) << ((b & 31u) % (max_log2 + 1));
    }
  }

 private:
  const std::uint8_t* p_;
  const std::uint8_t* end_;
};

/// A Layout as a caller may pass one: a checked one when the alignment is a power of
/// two within Layout::max_align (sizes too large for it become the largest allowed),
/// else a raw one carrying the bad alignment, which every allocator must refuse with
/// Error::misaligned.
inline Layout make_layout(std::size_t size, std::size_t align) {
  const Result<Layout> l = Layout::from_size_align(size, align);
  if (l) return *l;
  if (l.error() == Error::oversized) return Layout{~std::size_t(0) - (align - 1), align};
  return Layout{size, align};
}

inline bool good_align(std::size_t a) { return detail::is_pow2(a) && a <= Layout::max_align; }

// ---- Block contents ---------------------------------------------------------------------

/// The byte at offset i of the block with id `id`: every live block holds its own
/// pattern, so a byte written by anyone else (an allocator's metadata, another
/// block) is seen.
inline std::uint8_t pattern_byte(std::uint32_t id, std::size_t i) {
  const std::uint64_t x = (std::uint64_t(id) * 0x9E3779B97F4A7C15ull) ^ (i * 0xBF58476D1CE4E5B9ull);
  return static_cast<std::uint8_t>((x >> 29) ^ (x >> 7) ^ i);
}

/// The bytes a check looks at: all of a block up to 2 * edge bytes, else its first and
/// last `edge` bytes (where an allocator's links and boundary records would land).
inline constexpr std::size_t pattern_edge = 4096;

inline void fill(void* p, std::size_t n, std::uint32_t id) {
  auto* b = static_cast<std::uint8_t*>(p);
  if (n <= 2 * pattern_edge) {
    for (std::size_t i = 0; i < n; ++i) b[i] = pattern_byte(id, i);
    return;
  }
  for (std::size_t i = 0; i < pattern_edge; ++i) b[i] = pattern_byte(id, i);
  for (std::size_t i = n - pattern_edge; i < n; ++i) b[i] = pattern_byte(id, i);
}

/// Whether bytes [0, n) of a block of `size` bytes filled for `id` (n <= size) still
/// hold what fill() wrote there (the part of a block kept by a resize or a copy).
inline bool intact_prefix(const void* p, std::size_t n, std::size_t size, std::uint32_t id) {
  const auto* b = static_cast<const std::uint8_t*>(p);
  const bool whole = size <= 2 * pattern_edge;
  for (std::size_t i = 0; i < n; ++i) {
    if (!whole && i >= pattern_edge && i < size - pattern_edge) {
      i = size - pattern_edge - 1;  // (the middle of a large block was never written)
      continue;
    }
    if (b[i] != pattern_byte(id, i)) return false;
  }
  return true;
}

/// Whether the block still holds its pattern (all of it, or only its two ends and
/// the words at its start and end when `quick`).
inline bool intact(const void* p, std::size_t n, std::uint32_t id, bool quick) {
  if (!quick) return intact_prefix(p, n, n, id);
  const auto* b = static_cast<const std::uint8_t*>(p);
  const std::size_t edge = 16;
  if (n <= 2 * edge) {
    for (std::size_t i = 0; i < n; ++i) {
      if (b[i] != pattern_byte(id, i)) return false;
    }
    return true;
  }
  for (std::size_t i = 0; i < edge; ++i) {
    if (b[i] != pattern_byte(id, i)) return false;
  }
  for (std::size_t i = n - edge; i < n; ++i) {
    if (b[i] != pattern_byte(id, i)) return false;
  }
  return true;
}

// ---- Poisoning ----------------------------------------------------------------------------

/// Mark [p, p + n) as not to be touched (AddressSanitizer reports any access), or as
/// usable again. No-ops without AddressSanitizer.
inline void poison(const void* p, std::size_t n) {
#if defined(SWIM_MEM_FUZZ_ASAN)
  if (n != 0) ASAN_POISON_MEMORY_REGION(p, n);
#else
  (void)p, (void)n;
#endif
}
inline void unpoison(const void* p, std::size_t n) {
#if defined(SWIM_MEM_FUZZ_ASAN)
  if (n != 0) ASAN_UNPOISON_MEMORY_REGION(p, n);
#else
  (void)p, (void)n;
#endif
}

// ---- Arenas -------------------------------------------------------------------------------

/// Host memory for one allocator under test, allocated once and reused by every
/// input (4096-aligned). take() hands out [offset, offset + size) of it, filled with
/// `fill_byte` (so that a run does not depend on the inputs before it), with
/// everything around it poisoned: an allocator must stay inside the memory it was
/// given. release() makes the whole arena usable again.
class Arena {
 public:
  explicit Arena(std::size_t bytes)
      : base_(static_cast<std::byte*>(::operator new(bytes, std::align_val_t{4096}))),
        size_(bytes) {}
  ~Arena() {
    unpoison(base_, size_);
    ::operator delete(base_, std::align_val_t{4096});
  }
  Arena(const Arena&) = delete;
  Arena& operator=(const Arena&) = delete;

  std::size_t size() const { return size_; }
  std::byte* base() const { return base_; }

  Block take(std::size_t offset, std::size_t bytes, std::uint8_t fill_byte) {
    if (offset > size_) offset = size_;
    if (bytes > size_ - offset) bytes = size_ - offset;
    unpoison(base_, size_);
    std::memset(base_ + offset, fill_byte, bytes);
    poison(base_, offset);
    poison(base_ + offset + bytes, size_ - offset - bytes);
    return Block{base_ + offset, bytes};
  }
  void release() { unpoison(base_, size_); }
  bool contains(const void* p) const {
    const auto a = reinterpret_cast<std::uintptr_t>(p);
    const auto b = reinterpret_cast<std::uintptr_t>(base_);
    return a >= b && a - b < size_;
  }

 private:
  std::byte* base_;
  std::size_t size_;
};

// ---- The leak handler ---------------------------------------------------------------------

/// Allocators destroyed with live objects call the leak handler; the harnesses give
/// everything back first, so any report is a failure they look at.
inline unsigned g_leaks = 0;
inline void count_leak(const LeakReport&) { ++g_leaks; }
inline void install_leak_counter() {
  static const bool once = [] {
    set_leak_handler(&count_leak);
    return true;
  }();
  (void)once;
}

}  // namespace swim::mem::fuzz
