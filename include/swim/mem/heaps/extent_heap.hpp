// Layer 4 (heaps): ExtentHeap, exact extents of granules over one address range,
// with its metadata apart from the range if the caller wishes.
//
// The range is cut into granules; an extent is any run of granules. A request
// takes ceil(size / granule) granules, never rounded to a power of two: at most one
// granule of waste. Free extents are kept in segregated lists (two-level
// segregated fit): a first level per power of two of the length and 16 second-level
// lists inside each, with a bitmap of non-empty lists at both levels. A request
// takes the shortest fitting extent among the first 16 of its own list, else of the
// lowest list whose every extent is long enough (found with two countr_zero calls);
// the extent is split, the rest goes back to a list. A free coalesces with its two
// neighbours, found through boundary records, in O(1). No step depends on the
// number of live extents or the size of the range.
//
// The metadata is one 16-byte record per granule (the start of every extent holds
// its length and state, its last granule its length again, free extents their list
// links) plus the lists' heads in this object. The records live either in a block
// the caller provides, apart from the range (host memory beside device-only
// memory: the heap then never touches the range, so host code manages device
// memory), or in-band at the end of the range (for kernels and bare metal).
//
// Thread-safety: a bounded try-lock, not a lock-free structure. An allocation or
// free changes up to three lists and two neighbours' records together; a
// lock-free version of that costs more than the critical section it protects (a
// few dozen instructions). A caller that fails to take the lock within lock_spins
// attempts gets Error::contended and nothing changed, so no thread ever waits
// without a bound (in a kernel as on the host); statistics are read without it.
#pragma once

#include <cstddef>
#include <cstdint>

#include "swim/mem/config.hpp"
#include "swim/mem/heaps/concept.hpp"
#include "swim/mem/physical.hpp"

namespace swim::mem {
namespace detail {

/// One granule's record in an ExtentHeap's metadata.
struct ExtentRecord {
  std::uint32_t head;  ///< first granule of an extent: its length, | free_bit if free; else 0
  std::uint32_t back;  ///< last granule of an extent: its length (stale elsewhere)
  std::uint32_t next;  ///< free extent: the next one of its list (granule + 1; 0 ends);
                       ///< live extent: low half of its owner word (set_owner)
  std::uint32_t prev;  ///< free extent: the previous one of its list (granule + 1; 0: first);
                       ///< live extent: high half of its owner word
};
static_assert(sizeof(ExtentRecord) == 16);

}  // namespace detail

/// A heap of exact granule extents (see the file comment).
///
/// - Thread-safety: concurrent mode: any number of host or device threads, through
///   a bounded try-lock (Error::contended when it stays taken); single_owner: one
///   caller at a time, no lock. Construction and destruction race with nothing.
/// - Host/device: every member is valid on both, where the metadata (the records
///   block, and this object) is accessible; the managed range itself is never read
///   or written when the metadata is apart from it.
/// - Blocks: ceil(size / granule) granules, returned whole (Block.size is a multiple
///   of the granule); alignment up to granule * 2^k for any k the range allows (the
///   extent is searched with room for the alignment, the lead goes back free).
///   Zero-size requests get Block{(void*)align, 0}, counted nowhere.
/// - Failure: Error values, nothing changed. Every free is validated against the
///   records, in every build and without touching the range: a pointer that is
///   not the start of a live extent of that many granules is refused, as
///   Error::double_free when it once started an extent that is now free (alone or
///   merged into a neighbour; also a start that merged away and now lies inside a
///   newer live extent) and Error::foreign_pointer otherwise.
/// - Search: bounded (at most 32 extents looked at), so a request can fail while a
///   fitting extent sits further down its list than the search looks; the shortest
///   fit among those looked at is taken.
/// - Limits: 2^31 - 1 granules.
template <concurrency_mode Mode = concurrent>
class ExtentHeap {
  using Record = detail::ExtentRecord;
  using Counter = cell<std::size_t, Mode>;

 public:
  static constexpr std::uint32_t free_bit = 0x80000000u;
  static constexpr std::uint32_t max_granules = free_bit - 1;
  static constexpr unsigned sl_bits = 4;
  static constexpr unsigned sl_count = 1u << sl_bits;
  static constexpr unsigned fl_count = 31 - sl_bits + 1;  // lengths below 2^31
  /// Attempts to take the lock before Error::contended.
  static constexpr unsigned lock_spins = 1u << 14;

  /// Metadata bytes for a range of `region_bytes` managed in granules of `granule`
  /// bytes, apart from the range: what the out-of-band constructor needs.
  SWIM_MEM_API static constexpr std::size_t metadata_bytes(std::size_t region_bytes,
                                                           std::size_t granule) {
    return granule == 0 ? 0 : (region_bytes / granule) * sizeof(Record);
  }

  /// Manage `region` in granules of `granule` bytes (a power of two, >= 16), with
  /// the metadata in `metadata` (at least metadata_bytes(region.size, granule)
  /// bytes, 16-byte aligned, not overlapping the region; host memory beside a
  /// device range, say). The region is never touched. Never fails loudly: an
  /// unusable argument gives a heap of no capacity and init_error() says
  /// Error::invalid_argument. Not thread-safe.
  SWIM_MEM_API ExtentHeap(Block region, std::size_t granule, Block metadata) : region_(region) {
    init_counters();
    if (!usable(region, granule)) return;
    const std::uintptr_t base = detail::align_addr(region.address(), granule);
    if (base < region.address()) return;  // rounding up wrapped around
    const std::size_t n = granules_in(region, base, granule);
    if (n == 0 || metadata.ptr == nullptr || metadata.address() % sizeof(Record) != 0 ||
        metadata.size / sizeof(Record) < n) {
      return;
    }
    const std::uintptr_t m0 = metadata.address(), m1 = m0 + n * sizeof(Record);
    const std::uintptr_t r0 = base, r1 = base + n * granule;
    if (m0 < r1 && r0 < m1) return;  // the records must not lie in the range
    set_up(base, granule, n, static_cast<Record*>(metadata.ptr), false);
  }

  /// Manage `region` in granules of `granule` bytes, with the metadata in-band at
  /// the end of the region (the extents keep the region's alignment). The region
  /// must be accessible where the heap is used. Never fails loudly, as above.
  SWIM_MEM_API explicit ExtentHeap(Block region, std::size_t granule = 4096) : region_(region) {
    init_counters();
    if (!usable(region, granule)) return;
    const std::uintptr_t base = detail::align_addr(region.address(), granule);
    const std::uintptr_t end = region.address() + region.size;
    if (base < region.address() || base >= end) return;  // (wrapped, or no granule)
    // n granules and n records: n * (granule + 16) bytes, the records granule-aligned.
    std::size_t n = (end - base) / (granule + sizeof(Record));
    if (n > max_granules) n = max_granules;
    if (n == 0) return;
    const std::uintptr_t records = base + n * granule;
    // The region is this heap's now, whatever a previous user left poisoned in it.
    detail::unpoison_meta(region.ptr, records + n * sizeof(Record) - region.address());
    set_up(base, granule, n, reinterpret_cast<Record*>(records), true);
  }

  ExtentHeap(const ExtentHeap&) = delete;
  ExtentHeap& operator=(const ExtentHeap&) = delete;

  /// Reports a leak (host: the leak handler) if extents are still live.
  SWIM_MEM_API ~ExtentHeap() {
    if (live_.load(order::relaxed) != 0) detail::leaked("ExtentHeap", this, stats());
    // The region goes back to its owner as the owner gave it: accessible.
    if (in_band_) detail::unpoison_meta(reinterpret_cast<void*>(base_), capacity());
  }

  SWIM_MEM_API Error init_error() const { return init_error_; }
  SWIM_MEM_API std::size_t granule() const { return granule_; }
  /// Bytes allocatable when nothing is live.
  SWIM_MEM_API std::size_t capacity() const { return static_cast<std::size_t>(count_) * granule_; }
  /// Whether the metadata lives in the region (in-band) or apart.
  SWIM_MEM_API bool in_band() const { return in_band_; }
  /// True when `p` points into the managed range.
  SWIM_MEM_API bool owns(const void* p) const {
    return reinterpret_cast<std::uintptr_t>(p) - base_ < static_cast<std::size_t>(count_) * granule_;
  }

  /// An extent of ceil(layout.size / granule()) granules aligned to layout.align
  /// (any power of two up to 2^31 granules: an alignment above the range's own is
  /// served wherever the range has an aligned address with room), or
  /// out_of_memory (no free extent holds it), oversized (more than the range),
  /// misaligned (not a power of two, or above 2^31 granules), contended (the lock
  /// stayed taken). `owner`: a word kept with the extent (see set_owner); an
  /// extent with an owner is freed only by try_deallocate(block, owner).
  SWIM_MEM_API Result<Block> try_allocate(Layout layout, std::uint64_t owner = 0) {
    if (!detail::is_pow2(layout.align)) return Error::misaligned;
    if (layout.size == 0) return Block{reinterpret_cast<void*>(layout.align), 0};
    if (count_ == 0) return Error::out_of_memory;
    if (layout.size > capacity()) return Error::oversized;
    const std::uint64_t n = (static_cast<std::uint64_t>(layout.size) + granule_ - 1) >> shift_;
    std::uint64_t a = 1;  // alignment in granules
    if (layout.align > granule_) {
      a = layout.align >> shift_;
      if (a > max_granules) return Error::misaligned;
    }
    if (n > count_) return Error::oversized;
    if (detail::fault_point()) return Error::out_of_memory;
    if (!lock()) return Error::contended;
    const std::uint32_t at = take(static_cast<std::uint32_t>(n), static_cast<std::uint32_t>(a));
    if (at != none) set_owner_at(at, owner);
    unlock();
    if (at == none) return Error::out_of_memory;
    // (No debug fill: extents may be large, and committed only as they are used.)
    return Block{reinterpret_cast<void*>(base_ + (static_cast<std::uintptr_t>(at) << shift_)),
                 static_cast<std::size_t>(n) << shift_};
  }

  /// Give back an extent: `block` as try_allocate returned it (or with the size
  /// that was asked for: the same granules), with the owner word it was given (0
  /// if none). Errors, nothing changed: foreign_pointer (not the start of a live
  /// extent of that many granules, or another owner's), double_free (the extent
  /// is free), contended.
  SWIM_MEM_API Error try_deallocate(Block block, std::uint64_t owner = 0) {
    if (block.size == 0) return Error::none;
    std::uint32_t at = 0;
    if (!granule_at(block.ptr, at)) return Error::foreign_pointer;
    const std::size_t n = (block.size + granule_ - 1) >> shift_;
    if (!lock()) return Error::contended;
    const std::uint32_t head = rec(at).head;
    Error e = Error::none;
    if ((head & free_bit) != 0) {
      e = Error::double_free;
    } else if (head == 0 || head != n || owner_at(at) != owner) {
      e = Error::foreign_pointer;
    } else {
      give(at, head);
    }
    unlock();
    return e;
  }

  /// Take the extent of ceil(size / granule()) granules that starts at `start`,
  /// from the free extent that begins at `free_extent` (by default `start` itself)
  /// and holds it; the rest of that free extent stays free around it. For a caller
  /// that places extents itself, as compaction does. Errors, nothing changed:
  /// foreign_pointer (`free_extent` begins no free extent, or `start` is not a
  /// granule of the range), out_of_memory (that free extent does not hold the
  /// request at `start`), invalid_argument (size 0), contended. `owner` as for
  /// try_allocate.
  SWIM_MEM_API Result<Block> try_allocate_at(const void* start, std::size_t size,
                                             const void* free_extent = nullptr,
                                             std::uint64_t owner = 0) {
    if (size == 0) return Error::invalid_argument;
    if (free_extent == nullptr) free_extent = start;
    std::uint32_t at = 0, f = 0;
    if (!granule_at(start, at) || !granule_at(free_extent, f)) return Error::foreign_pointer;
    if (size > capacity()) return Error::oversized;
    if (detail::fault_point()) return Error::out_of_memory;
    const std::uint64_t n = (static_cast<std::uint64_t>(size) + granule_ - 1) >> shift_;
    if (!lock()) return Error::contended;
    const std::uint32_t head = rec(f).head;
    const std::uint32_t len = head & ~free_bit;
    Error e = Error::none;
    if ((head & free_bit) == 0 || len == 0) {
      e = Error::foreign_pointer;  // live, or a start merged away (no length)
    } else if (at < f || static_cast<std::uint64_t>(at) + n > static_cast<std::uint64_t>(f) + len) {
      e = Error::out_of_memory;
    } else {
      take_from(f, len, at, static_cast<std::uint32_t>(n));
      set_owner_at(at, owner);
    }
    unlock();
    if (e != Error::none) return e;
    return Block{reinterpret_cast<void*>(base_ + (static_cast<std::uintptr_t>(at) << shift_)),
                 static_cast<std::size_t>(n) << shift_};
  }

  /// One extent as extent_at reports it.
  struct Extent {
    Block block;             ///< its granules
    bool free = false;       ///< a free extent (else live)
    std::uint64_t owner = 0; ///< live: what set_owner stored (0 if nothing)
  };

  /// The extent that starts at `start` (base() for the first; the next one starts
  /// at block.ptr + block.size). For walking the range in address order, under the
  /// lock for each step. Errors: foreign_pointer (`start` begins no extent),
  /// contended.
  SWIM_MEM_API Result<Extent> extent_at(const void* start) const {
    std::uint32_t at = 0;
    if (!granule_at(start, at)) return Error::foreign_pointer;
    if (!lock()) return Error::contended;
    const std::uint32_t head = rec(at).head;
    const std::uint64_t owner = owner_at(at);
    unlock();
    const std::uint32_t len = head & ~free_bit;
    if (len == 0) return Error::foreign_pointer;
    Extent x;
    x.block = Block{const_cast<void*>(start), static_cast<std::size_t>(len) << shift_};
    x.free = (head & free_bit) != 0;
    if (!x.free) x.owner = owner;
    return x;
  }

  /// Store a word with the live extent `block` (a caller's record of what lives
  /// there: compaction finds a movable buffer's header through it; it is also the
  /// key try_deallocate then needs). Kept in the extent's first record, which a
  /// live extent does not otherwise use. Errors: foreign_pointer (not a live
  /// extent of that size), contended.
  SWIM_MEM_API Error set_owner(Block block, std::uint64_t owner) {
    std::uint32_t at = 0;
    if (block.size == 0 || !granule_at(block.ptr, at)) return Error::foreign_pointer;
    const std::size_t n = (block.size + granule_ - 1) >> shift_;
    if (!lock()) return Error::contended;
    Record& r = rec(at);
    const bool live = (r.head & free_bit) == 0 && r.head != 0 && r.head == n;
    if (live) set_owner_at(at, owner);
    unlock();
    return live ? Error::none : Error::foreign_pointer;
  }

  /// The first byte of the managed range (granule-aligned).
  SWIM_MEM_API void* base() const { return reinterpret_cast<void*>(base_); }

  /// bytes_free counts every free granule (in any number of extents). The counters
  /// are read without the lock; largest_free is what largest_free_extent() says
  /// (bounded: the highest non-empty list's first fit_probe extents; exact when that
  /// list holds at most fit_probe extents, else within one list step, 1/16 of a
  /// power of two, below the longest; always a size an allocation then gets, as it
  /// looks at the same extents), read under the lock if the lock is free at once:
  /// stats() never waits for it, so while another thread holds it largest_free
  /// reads 0 (largest_free_extent() waits, boundedly, and says contended instead).
  SWIM_MEM_API Stats stats() const {
    Stats s;
    s.live = live_.load(order::relaxed);
    s.bytes_in_use = in_use_.load(order::relaxed);
    s.bytes_free = capacity() - s.bytes_in_use;
    s.peak_bytes = peak_.load(order::relaxed);
    if (count_ != 0 && try_lock_once()) {
      s.largest_free = longest_free_extent();
      unlock();
    }
    if (s.largest_free > s.bytes_free) s.largest_free = s.bytes_free;
    return s;
  }

  /// The occupancy walk (physical/region.hpp; quiescent only: it reads the records
  /// without the lock). The region as given: the padding up to the first granule
  /// (unused), then every extent in address order (live or free), then, records
  /// in-band, the records (control) and the rest (unused); records apart, the rest
  /// of the region (unused), then a second range, the records block (control: 16
  /// bytes per granule). The managed memory itself is never read. O(extents).
  SWIM_MEM_EXEC_CHECK_DISABLE
  template <class F>
  SWIM_MEM_API void walk(F&& f) const {
    if (region_.ptr == nullptr || region_.size == 0) return;
    const std::uintptr_t start = region_.address();
    detail::RangeTiler<F> tiles(region_.ptr, f);
    const std::uintptr_t records = reinterpret_cast<std::uintptr_t>(records_);
    const std::size_t record_bytes = static_cast<std::size_t>(count_) * sizeof(Record);
    if (count_ != 0) {
      tiles.emit(base_, RegionKind::unused);
      std::uint32_t g = 0;
      while (g < count_) {
        const std::uint32_t head = rec(g).head;
        const std::uint32_t len = head & ~free_bit;
        if (len == 0 || len > count_ - g) break;  // (records not as the heap leaves them)
        g += len;
        tiles.emit(base_ + (static_cast<std::uintptr_t>(g) << shift_),
             (head & free_bit) != 0 ? RegionKind::free : RegionKind::live);
      }
      tiles.emit(base_ + (static_cast<std::uintptr_t>(count_) << shift_), RegionKind::unused);
      if (in_band_) {
        tiles.emit(records, RegionKind::unused);
        tiles.emit(records + record_bytes, RegionKind::control);
      }
    }
    tiles.emit(start + region_.size, RegionKind::unused);
    if (count_ != 0 && !in_band_) f(Region{records_, 0, record_bytes, RegionKind::control});
  }

  /// The longest free extent in bytes, from the highest non-empty list (the others
  /// are shorter by construction): exact when that list holds at most fit_probe
  /// extents, else the longest of its first fit_probe, which is within one list step
  /// (1/16 of a power of two) of the longest. Bounded work. Error::contended when the
  /// lock stays taken.
  SWIM_MEM_API Result<std::size_t> largest_free_extent() const {
    if (count_ == 0) return std::size_t{0};
    if (!lock()) return Error::contended;
    const std::size_t best = longest_free_extent();
    unlock();
    return best;
  }

 private:
  static constexpr std::uint32_t none = ~std::uint32_t(0);
  /// Extents of a request's own list looked at when no larger list has one.
  static constexpr unsigned fit_probe = 16;

  SWIM_MEM_API static bool usable(Block region, std::size_t granule) {
    return region.ptr != nullptr && detail::is_pow2(granule) && granule >= sizeof(Record) &&
           region.size <= ~std::uintptr_t(0) - region.address();
  }
  SWIM_MEM_API static std::size_t granules_in(Block region, std::uintptr_t base,
                                              std::size_t granule) {
    const std::uintptr_t end = region.address() + region.size;
    if (base >= end) return 0;
    const std::size_t n = (end - base) / granule;
    return n > max_granules ? max_granules : n;
  }
  SWIM_MEM_API static unsigned floor_log2(std::uint32_t x) { return detail::bit_width(x) - 1; }

  SWIM_MEM_API void init_counters() {
    lock_.raw = 0;
    live_.raw = 0;
    in_use_.raw = 0;
    peak_.raw = 0;
    fl_map_ = 0;
    for (unsigned f = 0; f < fl_count; ++f) {
      sl_map_[f] = 0;
      for (unsigned s = 0; s < sl_count; ++s) heads_[f][s] = 0;
    }
  }

  SWIM_MEM_API void set_up(std::uintptr_t base, std::size_t granule, std::size_t n,
                           Record* records, bool in_band) {
    base_ = base;
    granule_ = granule;
    shift_ = detail::countr_zero(granule);
    count_ = static_cast<std::uint32_t>(n);
    records_ = records;
    in_band_ = in_band;
    for (std::size_t i = 0; i < n; ++i) records_[i] = Record{0, 0, 0, 0};
    insert(0, count_);
    if (in_band) detail::poison(reinterpret_cast<void*>(base_), capacity());
    init_error_ = Error::none;
  }

  SWIM_MEM_API Record& rec(std::uint32_t i) const { return records_[i]; }

  /// The granule `p` starts, or false when `p` is not a granule start of the range.
  SWIM_MEM_API bool granule_at(const void* p, std::uint32_t& at) const {
    const std::uintptr_t off = reinterpret_cast<std::uintptr_t>(p) - base_;
    if (off >= static_cast<std::size_t>(count_) * granule_ || (off & (granule_ - 1)) != 0) {
      return false;
    }
    at = static_cast<std::uint32_t>(off >> shift_);
    return true;
  }

  /// The owner word of the live extent starting at `at` (its unused list links).
  SWIM_MEM_API std::uint64_t owner_at(std::uint32_t at) const {
    return (static_cast<std::uint64_t>(rec(at).prev) << 32) | rec(at).next;
  }
  SWIM_MEM_API void set_owner_at(std::uint32_t at, std::uint64_t owner) {
    rec(at).next = static_cast<std::uint32_t>(owner);
    rec(at).prev = static_cast<std::uint32_t>(owner >> 32);
  }

  /// largest_free_extent()'s figure, the lock held by the caller.
  SWIM_MEM_API std::size_t longest_free_extent() const {
    std::uint32_t best = 0;
    if (fl_map_ != 0) {
      const unsigned fl = floor_log2(fl_map_);
      const unsigned sl = floor_log2(sl_map_[fl]);
      std::uint32_t i = heads_[fl][sl];
      for (unsigned k = 0; i != 0 && k < fit_probe; ++k, i = rec(i - 1).next) {
        const std::uint32_t len = rec(i - 1).head & ~free_bit;
        if (len > best) best = len;
      }
    }
    return static_cast<std::size_t>(best) << shift_;
  }

  // ---- The lock ------------------------------------------------------------------------

  /// The lock, if it is free now (one attempt: for readers that must never wait).
  SWIM_MEM_API bool try_lock_once() const {
    if constexpr (!Mode::is_concurrent) {
      return true;
    } else {
      std::uint32_t expected = 0;
      return lock_.load(order::relaxed) == 0 && lock_.compare_exchange(expected, 1, order::acquire);
    }
  }

  SWIM_MEM_API bool lock() const {
    if constexpr (!Mode::is_concurrent) {
      return true;
    } else {
      for (unsigned k = 0; k < lock_spins; ++k) {
        std::uint32_t expected = 0;
        // Test first: waiting threads read, they do not fight over the line.
        if (lock_.load(order::relaxed) == 0 && lock_.compare_exchange(expected, 1, order::acquire)) {
          return true;
        }
      }
      return false;
    }
  }
  SWIM_MEM_API void unlock() const {
    if constexpr (Mode::is_concurrent) lock_.store(0, order::release);
  }

  // ---- The lists (under the lock) ---------------------------------------------------------

  SWIM_MEM_API static void mapping(std::uint32_t n, unsigned& fl, unsigned& sl) {
    if (n < sl_count) {
      fl = 0;
      sl = n;
    } else {
      const unsigned b = floor_log2(n);
      fl = b - sl_bits + 1;
      sl = (n >> (b - sl_bits)) - sl_count;
    }
  }

  /// Put [at, at + n) on its list as a free extent.
  SWIM_MEM_API void insert(std::uint32_t at, std::uint32_t n) {
    unsigned fl = 0, sl = 0;
    mapping(n, fl, sl);
    Record& r = rec(at);
    r.head = n | free_bit;
    rec(at + n - 1).back = n;
    r.prev = 0;
    r.next = heads_[fl][sl];
    if (r.next != 0) rec(r.next - 1).prev = at + 1;
    heads_[fl][sl] = at + 1;
    sl_map_[fl] |= 1u << sl;
    fl_map_ |= 1u << fl;
  }

  /// Take the free extent [at, at + n) off its list (its head is left to the caller).
  SWIM_MEM_API void remove(std::uint32_t at, std::uint32_t n) {
    unsigned fl = 0, sl = 0;
    mapping(n, fl, sl);
    const Record& r = rec(at);
    if (r.prev != 0) {
      rec(r.prev - 1).next = r.next;
    } else {
      heads_[fl][sl] = r.next;
    }
    if (r.next != 0) rec(r.next - 1).prev = r.prev;
    if (heads_[fl][sl] == 0) {
      sl_map_[fl] &= ~(1u << sl);
      if (sl_map_[fl] == 0) fl_map_ &= ~(1u << fl);
    }
  }

  /// The first granule at or after `at` whose address is a multiple of a granules.
  SWIM_MEM_API std::uint64_t aligned_from(std::uint32_t at, std::uint32_t a) const {
    if (a == 1) return at;
    const std::uint64_t g0 = base_ >> shift_;  // the base, in granules
    return ((g0 + at + a - 1) & ~(std::uint64_t(a) - 1)) - g0;
  }

  /// Whether the free extent at `at` of `len` granules holds n granules aligned to a.
  SWIM_MEM_API bool holds(std::uint32_t at, std::uint32_t len, std::uint32_t n,
                          std::uint32_t a) const {
    return aligned_from(at, a) + n <= static_cast<std::uint64_t>(at) + len;
  }

  /// A free extent that holds n granules aligned to a: the shortest such among the
  /// first fit_probe extents of n's own list (which holds lengths from just below to
  /// just above n); failing that, the shortest among the first fit_probe of the
  /// lowest list whose every extent holds n + a - 1 granules (found with two bitmap
  /// searches; any of them fits, whatever its alignment). Else none. Taking the
  /// shortest fit keeps long extents whole for long requests. Bounded: at most
  /// 2 * fit_probe extents are looked at, so a fitting extent further down n's own
  /// list can be missed (out_of_memory while largest_free_extent() is larger).
  SWIM_MEM_API std::uint32_t find(std::uint32_t n, std::uint32_t a) const {
    unsigned fl = 0, sl = 0;
    mapping(n, fl, sl);
    const std::uint32_t own = shortest(heads_[fl][sl], n, a);
    if (own != none) return own;
    const std::uint64_t need = static_cast<std::uint64_t>(n) + a - 1;
    return need > max_granules ? none : find_good(need, n, a);
  }

  /// The shortest extent holding n granules aligned to a among the first fit_probe of
  /// the lowest list whose every extent has >= need granules, or none.
  SWIM_MEM_API std::uint32_t find_good(std::uint64_t need, std::uint32_t n,
                                       std::uint32_t a) const {
    unsigned fl = 0, sl = 0;
    if (need < sl_count) {
      sl = static_cast<unsigned>(need);
    } else {
      // Round up to the next list boundary, so any extent of the list found fits.
      const unsigned b = floor_log2(static_cast<std::uint32_t>(need));
      const std::uint64_t up = need + (std::uint64_t(1) << (b - sl_bits)) - 1;
      if (up > max_granules) return none;
      mapping(static_cast<std::uint32_t>(up), fl, sl);
    }
    std::uint32_t sl_map = sl_map_[fl] & (~0u << sl);
    if (sl_map == 0) {
      const std::uint32_t fl_map = fl + 1 < 32 ? fl_map_ & (~0u << (fl + 1)) : 0;
      if (fl_map == 0) return none;
      fl = detail::countr_zero(fl_map);
      sl_map = sl_map_[fl];
    }
    sl = detail::countr_zero(sl_map);
    return shortest(heads_[fl][sl], n, a);
  }

  /// The shortest extent holding n granules aligned to a among the first fit_probe
  /// of the list starting at `first` (granule + 1), or none.
  SWIM_MEM_API std::uint32_t shortest(std::uint32_t first, std::uint32_t n,
                                      std::uint32_t a) const {
    std::uint32_t best = none, best_len = ~std::uint32_t(0);
    std::uint32_t i = first;
    for (unsigned k = 0; i != 0 && k < fit_probe; ++k, i = rec(i - 1).next) {
      const std::uint32_t len = rec(i - 1).head & ~free_bit;
      if (len < best_len && holds(i - 1, len, n, a)) {
        best = i - 1;
        best_len = len;
        if (len == n) break;  // nothing shorter fits
      }
    }
    return best;
  }

  /// Allocate n granules aligned to a granules: the extent's first granule, or none.
  SWIM_MEM_API std::uint32_t take(std::uint32_t n, std::uint32_t a) {
    const std::uint32_t at = find(n, a);
    if (at == none) return none;
    const std::uint32_t len = rec(at).head & ~free_bit;
    const std::uint32_t start = static_cast<std::uint32_t>(aligned_from(at, a));
    take_from(at, len, start, n);
    return start;
  }

  /// Cut the live extent [start, start + n) out of the free extent [at, at + len)
  /// that holds it; the lead and the tail go back to their lists.
  SWIM_MEM_API void take_from(std::uint32_t at, std::uint32_t len, std::uint32_t start,
                              std::uint32_t n) {
    remove(at, len);
    const std::uint32_t lead = start - at;
    const std::uint32_t tail = len - lead - n;
    if (lead != 0) insert(at, lead);
    if (tail != 0) insert(start + n, tail);
    Record& r = rec(start);
    r.head = n;
    r.next = 0;  // no owner yet (see set_owner)
    r.prev = 0;
    rec(start + n - 1).back = n;
    const std::size_t bytes = static_cast<std::size_t>(n) << shift_;
    // Under the lock: no other thread can be poisoning these granules now.
    if (in_band_) detail::unpoison(reinterpret_cast<void*>(base_ + (std::uintptr_t(start) << shift_)), bytes);
    live_.store(live_.load(order::relaxed) + 1, order::relaxed);
    const std::size_t used = in_use_.load(order::relaxed) + bytes;
    in_use_.store(used, order::relaxed);
    if (used > peak_.load(order::relaxed)) peak_.store(used, order::relaxed);
  }

  /// Free the live extent [at, at + n), coalescing with free neighbours. A start
  /// that ends up inside a free extent keeps free_bit (with no length), so that
  /// freeing it again is told as double_free.
  SWIM_MEM_API void give(std::uint32_t at, std::uint32_t n) {
    const std::size_t bytes = static_cast<std::size_t>(n) << shift_;
    // Under the lock, before any other thread can take these granules again.
    if (in_band_) detail::poison(reinterpret_cast<void*>(base_ + (std::uintptr_t(at) << shift_)), bytes);
    std::uint32_t start = at, len = n;
    rec(at).head = free_bit;
    if (at != 0) {
      const std::uint32_t before = rec(at - 1).back;
      const std::uint32_t p = at - before;
      if ((rec(p).head & free_bit) != 0) {
        remove(p, before);
        start = p;
        len += before;
      }
    }
    const std::uint32_t after = at + n;
    if (after < count_ && (rec(after).head & free_bit) != 0) {
      const std::uint32_t m = rec(after).head & ~free_bit;
      remove(after, m);
      rec(after).head = free_bit;
      len += m;
    }
    insert(start, len);
    live_.store(live_.load(order::relaxed) - 1, order::relaxed);
    in_use_.store(in_use_.load(order::relaxed) - bytes, order::relaxed);
  }

  mutable cell<std::uint32_t, Mode> lock_;
  Block region_;  // as given to the constructor (for walk)
  std::uintptr_t base_ = 0;
  std::size_t granule_ = 0;
  unsigned shift_ = 0;
  std::uint32_t count_ = 0;
  Record* records_ = nullptr;
  bool in_band_ = false;
  Error init_error_ = Error::invalid_argument;
  Counter live_;
  Counter in_use_;
  Counter peak_;
  // The lists, changed only under the lock.
  std::uint32_t fl_map_;
  std::uint32_t sl_map_[fl_count];
  std::uint32_t heads_[fl_count][sl_count];  // first extent + 1, 0 if empty
};

}  // namespace swim::mem
