// Layer 4 (heaps): ExtentArena<Source>, exact extents of memory that host code
// draws from a source (CUDA/HIP device, managed or pinned memory, OS pages),
// growing by adding ranges, with all its metadata in host memory.
//
// Each range is one region acquired from the source, managed by an ExtentHeap
// whose records live apart from it (in host pages from OsPages): the arena never
// reads or writes the memory it hands out, so it manages device-only memory from
// host code. When no range can serve a request the arena acquires another one
// (growth_bytes, or more for a larger request) up to max_bytes in all.
//
// Host only: it calls the source (cudaMalloc, ...) and serialises growth with a
// mutex. The extents themselves are device pointers for kernels (see
// residents/device_buf.hpp for buffers that compaction may move).
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <mutex>
#include <new>

#include "swim/mem/heaps/extent_heap.hpp"
#include "swim/mem/sources/concept.hpp"
#include "swim/mem/sources/os_pages.hpp"

namespace swim::mem {

/// How an ExtentArena sizes its ranges.
struct ArenaOptions {
  /// Allocation unit: every extent is a whole number of granules (a power of two,
  /// >= 16; 256 is what the CUDA runtime aligns to). The host metadata costs 16
  /// bytes per granule of every range (1/16 of the range at 256, 1/256 at 4 KiB).
  std::size_t granule = 256;
  /// Bytes of the first range (acquired at construction; 0: at the first request).
  std::size_t initial_bytes = std::size_t(64) << 20;
  /// Bytes of each later range (a larger request gets a range of its own size).
  std::size_t growth_bytes = std::size_t(64) << 20;
  /// Bytes the arena may hold from its source in all: ranges are cut to fit under
  /// it; a request that cannot be served within it is out_of_memory, one larger
  /// than it on its own is oversized.
  std::size_t max_bytes = ~std::size_t(0);
  /// Compaction: a buffer whose move down overlaps its old place goes through a
  /// staging extent of the arena, else (a nearly full arena) through host pages
  /// as large as the buffer, when this is true (see ExtentArena::try_compact).
  bool host_staging = true;
};

/// What ExtentArena::try_compact did.
struct ArenaCompaction {
  std::size_t buffers_moved = 0;     ///< moves made (a buffer may move twice, see below)
  std::size_t bytes_copied = 0;      ///< bytes the copies moved
  std::size_t buffers_borrowed = 0;  ///< movable buffers skipped because they were borrowed
  /// Buffers left in place in the last pass for want of a staging extent (their
  /// free run below was shorter than they are, and no free extent could hold them).
  std::size_t buffers_unstaged = 0;
  unsigned passes = 0;               ///< passes over the ranges (see try_compact)
  std::size_t largest_free_before = 0;
  std::size_t largest_free_after = 0;
};

namespace detail {

/// Whether source S copies its own memory (CudaMemory::copy, HipMemory::copy).
template <class S>
concept source_with_copy = requires(S& s, void* to, const void* from, std::size_t n) {
  { s.copy(to, from, n) } -> std::same_as<Error>;
};

/// The header of a movable buffer (residents/device_buf.hpp), in host memory:
/// where its payload is now and who is using it. The arena's records name it as
/// the owner of the buffer's extent, which is how compaction finds it.
struct MovableHeader {
  /// Borrow state: the number of shared borrows, or mut_bit (one exclusive
  /// borrow), or moving_bit (compaction is copying it). Changes by compare-exchange.
  static constexpr std::uint32_t mut_bit = 1u << 30;
  static constexpr std::uint32_t moving_bit = 1u << 31;
  std::atomic<std::uint32_t> state{0};
  /// The payload's extent; written only under moving_bit (or before the buffer is
  /// shared), read by borrowers after their compare-exchange (acquire).
  Block extent{};
  /// The alignment the buffer was made with; its moves keep it.
  std::size_t align = 1;
  /// The arena, or null once the arena is gone (the buffer is then orphaned).
  std::atomic<void*> arena{nullptr};

  /// Take the buffer for a move: only when nobody borrows it.
  bool try_pin_for_move() {
    std::uint32_t expected = 0;
    return state.compare_exchange_strong(expected, moving_bit, std::memory_order_acquire);
  }
  void unpin_after_move() { state.store(0, std::memory_order_release); }
};

}  // namespace detail

/// Exact extents of `Source` memory for host code (see the file comment).
///
/// - Thread-safety: try_allocate / try_deallocate / stats from any number of host
///   threads (each range is an ExtentHeap<concurrent>, a bounded try-lock; growth
///   is serialised by a mutex). try_compact and trim need exclusive use of the
///   arena: no allocation or free during them (borrows of buffers on other
///   threads are fine: a borrowed buffer is not moved).
/// - Blocks: whole granules, aligned to the granule or to any larger power of two
///   asked for (a range grows with room for the alignment).
/// - Failure: Error values, nothing changed (a range is added only when it can
///   serve the request). out_of_memory when no range fits and growth is refused
///   (max_bytes reached, or the source is full); oversized when the request alone
///   is more than max_bytes; the source's own error when it fails otherwise
///   (unsupported: no GPU). Frees are validated (foreign pointer, double free, a
///   movable buffer's extent freed as a plain one), in every build, without
///   touching the memory.
/// - Bounded work: a request tries each range once (at most max_ranges, each
///   O(1)), then grows at most once.
template <memory_source Source>
class ExtentArena {
  using Heap = ExtentHeap<concurrent>;

 public:
  static constexpr bool host_accessible = Source::host_accessible;
  static constexpr bool device_accessible = Source::device_accessible;
  static constexpr unsigned max_ranges = 64;
  /// Passes of one compaction at most (see try_compact).
  static constexpr unsigned max_passes = 8;
  /// Retries of a contended range before trying the next one.
  static constexpr unsigned contended_retries = 8;

  /// An arena over `source`; acquires min(options.initial_bytes, max_bytes) at
  /// once (if that fails, init_error() says why and the arena grows at the first
  /// request).
  explicit ExtentArena(Source source = Source{}, ArenaOptions options = {})
      : source_(source), options_(options) {
    if (!detail::is_pow2(options_.granule) || options_.granule < sizeof(detail::ExtentRecord)) {
      init_error_ = Error::invalid_argument;
      usable_ = false;
      return;
    }
    if (options_.growth_bytes < options_.granule) options_.growth_bytes = options_.granule;
    std::size_t first = options_.initial_bytes;
    if (first > options_.max_bytes) first = options_.max_bytes;
    if (first != 0) {
      std::lock_guard<std::mutex> g(grow_);
      init_error_ = add_range(first, options_.granule);
    }
  }

  ExtentArena(const ExtentArena&) = delete;
  ExtentArena& operator=(const ExtentArena&) = delete;

  /// Gives every range back to the source. A range with live extents reports them
  /// as a leak (its ExtentHeap, through the host leak handler) and is given back
  /// all the same; movable buffers still alive are orphaned (their handles then
  /// answer Error::cleared instead of touching freed memory).
  ~ExtentArena() {
    const unsigned n = count_.load(std::memory_order_acquire);
    for (unsigned i = 0; i < n; ++i) {
      Range* r = ranges_[i].load(std::memory_order_relaxed);
      if (r->heap.stats().live != 0) orphan_buffers(*r);
      drop_range(r);
    }
  }

  /// Error::none, or why the first range could not be had (invalid_argument: the
  /// granule is unusable, and the arena never allocates).
  Error init_error() const { return init_error_; }
  /// False when the options were unusable (the arena then answers invalid_argument).
  bool usable() const { return usable_; }
  std::size_t granule() const { return options_.granule; }
  const ArenaOptions& options() const { return options_; }
  Source& source() { return source_; }

  /// An extent of ceil(layout.size / granule) granules aligned to layout.align.
  Result<Block> try_allocate(Layout layout) { return allocate_owned(layout, 0, true); }

  /// Give back an extent as try_allocate returned it. foreign_pointer (no range
  /// has it live with that size, or it is a movable buffer's), double_free,
  /// contended (its range stayed busy).
  Error try_deallocate(Block block) { return deallocate_owned(block, 0); }

  /// True when `p` lies in one of the arena's ranges.
  bool owns(const void* p) const { return range_of(p) != nullptr; }

  /// Over every range: live extents, bytes in them, bytes free; peak_bytes is the
  /// sum of the ranges' peaks; largest_free the largest of the ranges' (an
  /// allocation tries every range before it grows the arena; growth is not counted).
  /// O(ranges): each range's ExtentHeap::stats(), which tries its lock once.
  Stats stats() const {
    Stats s;
    const unsigned n = count_.load(std::memory_order_acquire);
    for (unsigned i = 0; i < n; ++i) {
      const Stats r = ranges_[i].load(std::memory_order_relaxed)->heap.stats();
      s.live += r.live;
      s.bytes_in_use += r.bytes_in_use;
      s.bytes_free += r.bytes_free;
      s.peak_bytes += r.peak_bytes;
      if (r.largest_free > s.largest_free) s.largest_free = r.largest_free;
    }
    return s;
  }

  /// The occupancy walk (physical/region.hpp; quiescent only): each range's
  /// ExtentHeap walk in turn, the range as the source gave it and then its records
  /// (in host pages, apart). The arena's memory itself is never read.
  template <class F>
  void walk(F&& f) const {
    const unsigned n = count_.load(std::memory_order_acquire);
    for (unsigned i = 0; i < n; ++i) ranges_[i].load(std::memory_order_relaxed)->heap.walk(f);
  }

  /// Bytes held from the source (what max_bytes limits; a range loses up to a
  /// granule to aligning its base).
  std::size_t reserved_bytes() const {
    std::size_t b = 0;
    const unsigned n = count_.load(std::memory_order_acquire);
    for (unsigned i = 0; i < n; ++i) b += ranges_[i].load(std::memory_order_relaxed)->region.size;
    return b;
  }
  /// Bytes allocatable when nothing is live (bytes_in_use + bytes_free).
  std::size_t capacity() const {
    std::size_t b = 0;
    const unsigned n = count_.load(std::memory_order_acquire);
    for (unsigned i = 0; i < n; ++i) b += ranges_[i].load(std::memory_order_relaxed)->heap.capacity();
    return b;
  }
  unsigned range_count() const { return count_.load(std::memory_order_acquire); }

  /// The longest free extent of any range (see ExtentHeap::largest_free_extent),
  /// or contended.
  Result<std::size_t> largest_free_extent() const {
    std::size_t best = 0;
    const unsigned n = count_.load(std::memory_order_acquire);
    for (unsigned i = 0; i < n; ++i) {
      Result<std::size_t> r = ranges_[i].load(std::memory_order_relaxed)->heap.largest_free_extent();
      if (!r) return r.error();
      if (*r > best) best = *r;
    }
    return best;
  }

  /// Give back every range with nothing live in it (all of them when the arena is
  /// empty). Needs exclusive use. Returns the bytes given back to the source.
  std::size_t trim() {
    std::lock_guard<std::mutex> g(grow_);
    const unsigned n = count_.load(std::memory_order_relaxed);
    unsigned kept = 0;
    std::size_t freed = 0;
    for (unsigned i = 0; i < n; ++i) {
      Range* r = ranges_[i].load(std::memory_order_relaxed);
      if (r->heap.stats().live == 0) {
        freed += r->region.size;
        drop_range(r);
      } else {
        ranges_[kept++].store(r, std::memory_order_relaxed);
      }
    }
    for (unsigned i = kept; i < n; ++i) ranges_[i].store(nullptr, std::memory_order_relaxed);
    count_.store(kept, std::memory_order_release);
    hint_.store(0, std::memory_order_relaxed);
    return freed;
  }

  // ---- Movable buffers (residents/device_buf.hpp) ---------------------------------------

  /// An extent whose owner is the movable buffer `header` (compaction may move it
  /// while the header is not borrowed; only try_deallocate_movable frees it).
  Result<Block> try_allocate_movable(Layout layout, detail::MovableHeader* header) {
    return allocate_owned(layout, reinterpret_cast<std::uint64_t>(header), true);
  }
  /// Free the extent of the movable buffer `header`.
  Error try_deallocate_movable(Block block, detail::MovableHeader* header) {
    return deallocate_owned(block, reinterpret_cast<std::uint64_t>(header));
  }

  /// Move every movable buffer that is not borrowed towards the start of its
  /// range, so that each range's free space becomes one extent at its end (except
  /// where a borrowed buffer or a plain extent from try_allocate stands: those never
  /// move, and the free space on either side of them stays apart).
  ///
  /// A buffer moves by: allocating its new extent (at its alignment), copying,
  /// repointing its header, freeing the old extent. A buffer whose free space
  /// below is shorter than itself (the copy would overlap) goes first to a free
  /// extent anywhere in the arena (staging), then down: two copies; with no such
  /// extent, through host pages as large as itself (options().host_staging; else
  /// it stays where it is). Copies use `copy(to, from, n)` (an Error; the
  /// source's own copy by default: cudaMemcpyAsync + wait, hipMemcpyAsync + wait,
  /// memcpy for host memory); a copy that throws counts as Error::unsupported.
  ///
  /// Passes: a buffer left for want of staging room may find it once the buffers
  /// above it have moved down, so the ranges are walked again while a pass moved
  /// something and left something unstaged (at most max_passes; the report says
  /// how many buffers the last pass still could not stage).
  ///
  /// One transaction per move: a failed copy or allocation leaves that buffer where
  /// it was (or in its staging extent, whole) and every header valid; the
  /// compaction then stops and returns the error (what moved before stays moved:
  /// the arena is consistent at every step). Needs exclusive use of the arena.
  template <class Copy>
  Result<ArenaCompaction> try_compact(Copy&& copy) {
    std::lock_guard<std::mutex> g(grow_);
    ArenaCompaction report;
    Result<std::size_t> before = largest_free_extent();
    if (!before) return before.error();
    report.largest_free_before = *before;
    // A pass may leave buffers unstaged while it frees room further up; the next pass
    // can stage them there. Passes go on while they move something and leave
    // something unstaged, at most max_passes.
    const unsigned n = count_.load(std::memory_order_relaxed);
    for (;;) {
      const std::size_t moved = report.buffers_moved;
      report.buffers_unstaged = 0;
      report.buffers_borrowed = 0;
      ++report.passes;
      for (unsigned i = 0; i < n; ++i) {
        const Error e = compact_range(*ranges_[i].load(std::memory_order_relaxed), copy, report);
        if (e != Error::none) return e;
      }
      if (report.buffers_unstaged == 0 || report.buffers_moved == moved ||
          report.passes == max_passes) {
        break;
      }
    }
    Result<std::size_t> after = largest_free_extent();
    if (!after) return after.error();
    report.largest_free_after = *after;
    return report;
  }

  /// try_compact with the source's own copy.
  Result<ArenaCompaction> try_compact() {
    return try_compact([this](void* to, const void* from, std::size_t n) {
      return source_copy(to, from, n);
    });
  }

  /// Copy with the source's copy (memcpy for host-accessible sources without one).
  Error source_copy(void* to, const void* from, std::size_t n) {
    if constexpr (detail::source_with_copy<Source>) {
      return source_.copy(to, from, n);
    } else {
      static_assert(Source::host_accessible,
                    "a device-only source must provide copy(to, from, n)");
      if (n != 0) std::memcpy(to, from, n);
      return Error::none;
    }
  }

 private:
  struct Range {
    Heap heap;
    Block region;    // from the source
    Block metadata;  // from OsPages
    Range(Block r, std::size_t granule, Block m) : heap(r, granule, m), region(r), metadata(m) {}
  };

  /// An extent for `owner` (0: a plain extent) from the first range that has one,
  /// starting at the range that served last; with may_grow, a new range when none
  /// has (never during compaction, which holds grow_).
  Result<Block> allocate_owned(Layout layout, std::uint64_t owner, bool may_grow) {
    if (!detail::is_pow2(layout.align)) return Error::misaligned;
    if (!usable_) return Error::invalid_argument;
    if (layout.size == 0) return Block{reinterpret_cast<void*>(layout.align), 0};
    Error last = Error::out_of_memory;
    for (int round = 0; round < 2; ++round) {
      const unsigned n = count_.load(std::memory_order_acquire);
      const unsigned start = n == 0 ? 0 : hint_.load(std::memory_order_relaxed) % n;
      for (unsigned k = 0; k < n; ++k) {
        const unsigned i = (start + k) % n;
        Heap& h = ranges_[i].load(std::memory_order_relaxed)->heap;
        Result<Block> r = Error::contended;
        for (unsigned t = 0; t < contended_retries && r.error() == Error::contended; ++t) {
          r = h.try_allocate(layout, owner);
        }
        if (r) {
          hint_.store(i, std::memory_order_relaxed);
          return r;
        }
        if (r.error() == Error::contended) {
          last = Error::contended;
        } else if (r.error() == Error::misaligned) {
          return r.error();  // no range could ever honour it
        }
      }
      if (round == 1 || !may_grow) break;
      const Error g = grow(layout, n);
      if (g != Error::none) return last == Error::contended ? last : g;
    }
    return last;
  }

  Error deallocate_owned(Block block, std::uint64_t owner) {
    if (block.size == 0) return Error::none;
    Heap* h = range_of(block.ptr);
    if (h == nullptr) return Error::foreign_pointer;
    Error e = Error::contended;
    for (unsigned k = 0; k < contended_retries && e == Error::contended; ++k) {
      e = h->try_deallocate(block, owner);
    }
    return e;
  }

  /// Add a range that can hold `layout`, unless another thread added one since the
  /// caller saw `seen` ranges (then the caller just tries again).
  Error grow(Layout layout, unsigned seen) {
    std::lock_guard<std::mutex> g(grow_);
    if (count_.load(std::memory_order_relaxed) != seen) return Error::none;
    // Room for the request whatever the range's alignment: size plus alignment slack.
    std::size_t need = layout.size;
    if (layout.align > options_.granule) {
      if (need > ~std::size_t(0) - layout.align) return Error::oversized;
      need += layout.align;
    }
    return add_range(need > options_.growth_bytes ? need : options_.growth_bytes, need);
  }

  /// Acquire a range of about `bytes` (at least `need` allocatable, and no more
  /// than max_bytes allows) and publish it. Under grow_.
  Error add_range(std::size_t bytes, std::size_t need) {
    const unsigned n = count_.load(std::memory_order_relaxed);
    const std::size_t g = options_.granule;
    const std::size_t align = source_align();
    // The source aligns the region to `align` <= g; the heap rounds its base up to a
    // granule, which can cost g - align bytes: ask for them too.
    const std::size_t slack = g - align;
    if (need > ~std::size_t(0) - slack - (g - 1)) return Error::oversized;
    need = (need + g - 1) / g * g + slack;
    if (need > options_.max_bytes || need / g > Heap::max_granules) return Error::oversized;
    const std::size_t held = reserved_bytes();
    if (n == max_ranges || held > options_.max_bytes - need) return Error::out_of_memory;
    // As much as asked, within what max_bytes still allows, never less than need.
    std::size_t want = bytes > ~std::size_t(0) - slack - (g - 1) ? need : (bytes + g - 1) / g * g + slack;
    if (want < need) want = need;
    if (want > options_.max_bytes - held) want = options_.max_bytes - held;
    if (want / g > Heap::max_granules) want = need;
    Result<Block> region = source_.try_acquire(want, align);
    if (!region) return region.error();
    OsPages pages;
    Result<Block> meta = pages.try_acquire(Heap::metadata_bytes(region->size, g) + sizeof(detail::ExtentRecord), 16);
    if (!meta) {
      (void)source_.release(*region);
      return meta.error();
    }
    Range* r = new (std::nothrow) Range(*region, g, *meta);
    if (r == nullptr || r->heap.init_error() != Error::none) {
      const bool made = r != nullptr;
      delete r;
      (void)pages.release(*meta);
      (void)source_.release(*region);
      return made ? Error::invalid_argument : Error::out_of_memory;
    }
    ranges_[n].store(r, std::memory_order_relaxed);
    count_.store(n + 1, std::memory_order_release);
    return Error::none;
  }

  std::size_t source_align() const {
    std::size_t a = options_.granule;
    if constexpr (requires { Source::guaranteed_align; }) {
      if (a > Source::guaranteed_align) a = Source::guaranteed_align;
    } else {
      if (a > 4096) a = 4096;
    }
    return a;
  }

  void drop_range(Range* r) {
    if (r == nullptr) return;
    const Block region = r->region, meta = r->metadata;
    delete r;  // reports its live extents, if any, as a leak
    (void)OsPages{}.release(meta);
    (void)source_.release(region);
  }

  Heap* range_of(const void* p) const {
    const unsigned n = count_.load(std::memory_order_acquire);
    for (unsigned i = 0; i < n; ++i) {
      Heap& h = ranges_[i].load(std::memory_order_relaxed)->heap;
      if (h.owns(p)) return &h;
    }
    return nullptr;
  }

  /// Mark the headers of the buffers still in `r` as orphaned.
  static void orphan_buffers(Range& r) {
    const std::uintptr_t end = reinterpret_cast<std::uintptr_t>(r.heap.base()) + r.heap.capacity();
    std::uintptr_t at = reinterpret_cast<std::uintptr_t>(r.heap.base());
    while (at < end) {
      Result<typename Heap::Extent> x = r.heap.extent_at(reinterpret_cast<void*>(at));
      if (!x) break;
      if (!x->free && x->owner != 0) {
        reinterpret_cast<detail::MovableHeader*>(x->owner)->arena.store(nullptr, std::memory_order_release);
      }
      at += x->block.size;
    }
  }

  /// Call the copy engine; an exception from it is an error like any other
  /// (compaction must undo the step, not unwind past a pinned buffer).
  template <class Copy>
  static Error call_copy(Copy& copy, void* to, const void* from, std::size_t n) noexcept {
#if defined(__cpp_exceptions)
    try {
      return copy(to, from, n);
    } catch (...) {
      return Error::unsupported;
    }
#else
    return copy(to, from, n);
#endif
  }

  /// What one attempt to slide a buffer did.
  enum class Slide { moved, unstaged, failed };

  /// Slide the movable buffers of range `r` down (see try_compact).
  template <class Copy>
  Error compact_range(Range& r, Copy& copy, ArenaCompaction& report) {
    Heap& h = r.heap;
    const std::uintptr_t end = reinterpret_cast<std::uintptr_t>(h.base()) + h.capacity();
    std::uintptr_t at = reinterpret_cast<std::uintptr_t>(h.base());
    std::uintptr_t hole = 0;  // start of the free run just below `at` (0: none)
    while (at < end) {
      Result<typename Heap::Extent> x = h.extent_at(reinterpret_cast<void*>(at));
      if (!x) return x.error();
      const std::size_t size = x->block.size;
      if (x->free) {
        if (hole == 0) hole = at;
        at += size;
        continue;
      }
      auto* header = reinterpret_cast<detail::MovableHeader*>(x->owner);
      if (header == nullptr || hole == 0) {
        hole = 0;
        at += size;
        continue;
      }
      // Its new place: the first address of the run that keeps its alignment.
      const std::uintptr_t dest = detail::align_addr(hole, header->align);
      if (dest >= at) {  // no lower place keeps the alignment
        hole = 0;
        at += size;
        continue;
      }
      if (!header->try_pin_for_move()) {
        ++report.buffers_borrowed;
        hole = 0;
        at += size;
        continue;
      }
      Error e = Error::none;
      const Slide done = slide(h, header, x->block, reinterpret_cast<void*>(hole),
                               reinterpret_cast<void*>(dest), copy, report, e);
      header->unpin_after_move();
      if (done == Slide::failed) return e;
      if (done == Slide::unstaged) {  // it stays; so does the hole below it
        ++report.buffers_unstaged;
        hole = 0;
        at += size;
        continue;
      }
      // The buffer now ends at dest + size; the free run starts there. (Between the
      // run's start and dest, an alignment gap stays free: the walk meets it first.)
      at = dest + size;
      hole = 0;
    }
    return Error::none;
  }

  /// Move the buffer of `header` from `from` down to `dest`, inside the free run
  /// that starts at `hole` and reaches `from`. Every step either completes or is
  /// undone; `e` gets the error of a failed step.
  template <class Copy>
  Slide slide(Heap& h, detail::MovableHeader* header, Block from, void* hole, void* dest,
              Copy& copy, ArenaCompaction& report, Error& e) {
    const auto owner = reinterpret_cast<std::uint64_t>(header);
    if (from.address() - reinterpret_cast<std::uintptr_t>(dest) >= from.size) {
      // The new place does not overlap the old one.
      e = move_to(h, header, from, hole, dest, owner, copy, report);
      return e == Error::none ? Slide::moved : Slide::failed;
    }
    // Overlapping: stage the buffer in any free extent of the arena first, else (a
    // nearly full arena) in host pages.
    Result<Block> stage = allocate_owned(Layout{from.size, header->align}, owner, false);
    if (!stage) {
      if (stage.error() == Error::contended) {
        e = Error::contended;
        return Slide::failed;
      }
      if (!options_.host_staging) return Slide::unstaged;
      return slide_through_host(h, header, from, hole, dest, owner, copy, report, e);
    }
    e = call_copy(copy, stage->ptr, from.ptr, from.size);
    if (e != Error::none) {
      (void)deallocate_owned(*stage, owner);
      return Slide::failed;
    }
    header->extent.ptr = stage->ptr;  // the buffer lives in the stage now
    ++report.buffers_moved;
    report.bytes_copied += from.size;
    e = h.try_deallocate(from, owner);
    if (e != Error::none) return Slide::failed;
    e = move_to(h, header, *stage, hole, dest, owner, copy, report);
    return e == Error::none ? Slide::moved : Slide::failed;
  }

  /// Slide the buffer at `from` down to `dest` (overlapping) through a host copy:
  /// copy out (a failure changes nothing), move the extent in the records, copy in.
  /// A failed copy in is retried once from the host copy; failing again, the copy
  /// goes back where it came from (the old extent, taken again). Only a third
  /// failure in a row (a lost device) would leave the contents undefined, and is
  /// reported as Error::unsupported after the buffer is put back in its old extent.
  template <class Copy>
  Slide slide_through_host(Heap& h, detail::MovableHeader* header, Block from, void* hole,
                           void* dest, std::uint64_t owner, Copy& copy, ArenaCompaction& report,
                           Error& e) {
    OsPages pages;
    Result<Block> tmp = pages.try_acquire(from.size, 64);
    if (!tmp) return Slide::unstaged;
    e = call_copy(copy, tmp->ptr, from.ptr, from.size);
    if (e != Error::none) {
      (void)pages.release(*tmp);
      return Slide::failed;
    }
    report.bytes_copied += from.size;
    // Under exclusive use the free run at `hole` now reaches past the old extent's end.
    e = h.try_deallocate(from, owner);
    Result<Block> to = e == Error::none ? h.try_allocate_at(dest, from.size, hole, owner)
                                        : Result<Block>(e);
    if (!to) {  // (cannot happen under exclusive use) keep the buffer where it was
      if (e == Error::none) (void)h.try_allocate_at(from.ptr, from.size, hole, owner);
      (void)pages.release(*tmp);
      if (e == Error::none) e = to.error();
      return Slide::failed;
    }
    e = call_copy(copy, to->ptr, tmp->ptr, from.size);
    if (e != Error::none) e = call_copy(copy, to->ptr, tmp->ptr, from.size);  // once more
    if (e == Error::none) {
      header->extent.ptr = to->ptr;
      ++report.buffers_moved;
      report.bytes_copied += from.size;
    } else {
      // Put the buffer back as it was: its old extent, its bytes from the host copy.
      (void)h.try_deallocate(*to, owner);
      Result<Block> back = h.try_allocate_at(from.ptr, from.size, hole, owner);
      if (!back || call_copy(copy, from.ptr, tmp->ptr, from.size) != Error::none) {
        e = Error::unsupported;
      }
    }
    (void)pages.release(*tmp);
    return e == Error::none ? Slide::moved : Slide::failed;
  }

  /// Allocate at `dest` (in the free run starting at `hole`), copy, repoint, free
  /// the old extent (undone on failure).
  template <class Copy>
  Error move_to(Heap& h, detail::MovableHeader* header, Block from, void* hole, void* dest,
                std::uint64_t owner, Copy& copy, ArenaCompaction& report) {
    Result<Block> to = h.try_allocate_at(dest, from.size, hole, owner);
    if (!to) return to.error();
    const Error e = call_copy(copy, to->ptr, from.ptr, from.size);
    if (e != Error::none) {
      (void)h.try_deallocate(*to, owner);
      return e;
    }
    header->extent.ptr = to->ptr;
    ++report.buffers_moved;
    report.bytes_copied += from.size;
    return deallocate_owned(from, owner);
  }

  Source source_;
  ArenaOptions options_;
  Error init_error_ = Error::none;
  bool usable_ = true;
  std::mutex grow_;
  std::atomic<Range*> ranges_[max_ranges] = {};
  std::atomic<unsigned> count_{0};
  std::atomic<unsigned> hint_{0};
};

}  // namespace swim::mem
