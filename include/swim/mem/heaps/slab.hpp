// Layer 4 (heaps): Slab, a heap of fixed-size units over one hunk.
//
// The free list is a Treiber stack of unit *indices*. The head word packs
// {pop counter : 32, index + 1 : 32}; every pop bumps the counter, so a thread
// that read a stale head cannot win its CAS after the same unit came back (the
// ABA hazard of a plain Treiber stack). Links are 32-bit indices kept in the
// first word of each free unit, so a unit costs zero bytes of per-object
// overhead; a checked Slab adds one bit per unit of in-band metadata to detect
// double frees.
//
// Checked and unchecked: a checked Slab validates every block it is given back
// (inside the units, at a unit start, no larger than a unit, currently allocated)
// and reports foreign pointers and double frees as Error values. An unchecked Slab
// (the default when NDEBUG is set) trusts the caller: giving it back anything but
// a live block it handed out is a precondition violation that corrupts its free
// list, as with free() in C. That is what buys the unchecked free its speed (the
// validation is most of a SlabCache pair's instructions); test with checked builds.
//
// Cost: allocate and free are O(1): one CAS each, plus relaxed statistics. Free
// finds the unit index with a shift when the unit is a power of two (a division
// otherwise). A per-thread SlabCache (slab_cache.hpp) moves units in batches, one
// CAS per batch, through the private pop_batch / push_batch below.
#pragma once

#include <cstddef>
#include <cstdint>

#include "swim/mem/heaps/concept.hpp"
#include "swim/mem/physical.hpp"

namespace swim::mem {

template <class SlabType, std::size_t N>
class SlabCache;

/// A lock-free (Mode = concurrent) or single-owner heap of equal units.
///
/// - Thread-safety: concurrent mode: every member may be called from any number of
///   host threads or device threads at once; single_owner: one caller at a time.
/// - Host/device: every member is valid on both; the Slab object and its hunk must
///   be accessible where it is used.
/// - Failure: try_ forms return Error values and leave the Slab unchanged.
/// - Checked (default: SWIM_MEM_CHECKED, on unless NDEBUG): keeps an allocation
///   bitmap (in this object up to 64 units, else in-band at the front of the hunk)
///   and validates every free: foreign pointers give
///   Error::foreign_pointer, double frees Error::double_free, the Slab unchanged.
///   Unchecked: try_deallocate's block must be a live block of this Slab (as
///   try_allocate returned it, or a smaller size within the unit); anything else
///   is undefined behaviour (the free list is corrupted), not an error value. Use
///   owns() where a pointer's origin is in doubt.
/// - Addr (physical/address.hpp): how the Slab keeps its addresses. direct_address
///   by default; relative_address for a Slab placed with its hunk in memory that
///   several processes (or one, twice) map at different addresses: a memfd, an MPI
///   shared window (integrations/mpi/node_slab.hpp). Every mapping then uses the
///   Slab through its own address of it, and blocks are exchanged between mappings
///   as offsets (a block's address minus its mapping's base). Such a Slab is never
///   copied (it cannot be) and its atomics are address-free (lock-free 64-bit).
template <concurrency_mode Mode = concurrent, bool Checked = (SWIM_MEM_CHECKED != 0),
          address_policy Addr = direct_address>
class Slab {
 public:
  /// Largest number of failed CAS attempts before an operation gives up with
  /// Error::contended (each failure means another thread made progress).
  static constexpr unsigned max_retries = 1u << 16;

  /// The most units one Slab numbers (its links are 32-bit indices, 0 ending the list).
  static constexpr std::size_t max_units = 0xFFFFFFFEu;

  /// The bytes of a hunk, starting at any 8-aligned address, that give at least
  /// `count` units of `unit` bytes (a multiple of 4, count <= max_units): the units,
  /// the checked bitmap (sized, as the constructor sizes it, for every unit the
  /// hunk could hold) and the padding that aligns the first unit. 0 when `unit` or
  /// `count` is unusable or the size overflows.
  SWIM_MEM_API static constexpr std::size_t hunk_size_for(std::size_t unit, std::size_t count) {
    if (unit < sizeof(std::uint32_t) || unit % sizeof(std::uint32_t) != 0 || count == 0 ||
        count > max_units || count > ~std::size_t(0) / 2 / unit) {
      return 0;
    }
    const std::size_t fixed = count * unit + unit_alignment(unit);
    std::size_t size = fixed;
    // The bitmap grows with the hunk (a bit per unit it could hold): a few rounds
    // reach the size that holds both (each adds the bitmap of the last round's growth).
    for (int round = 0; round < 8; ++round) {
      const std::size_t next = fixed + bitmap_bytes(size / unit);
      if (next == size) break;
      size = next;
    }
    return size;
  }

  /// Carve `hunk` into units of `unit` bytes (a multiple of 4). Never fails loudly: an
  /// unusable hunk or unit gives a Slab with no units, and init_error() says why.
  SWIM_MEM_API Slab(Block hunk, std::size_t unit) : hunk_size_(hunk.size), unit_(unit) {
    hunk_at_.set(hunk.ptr);
    head_.raw = 0;
    live_.raw = 0;
    peak_.raw = 0;
    // Units hold a 32-bit link when free: each must start 4-aligned.
    if (unit < sizeof(std::uint32_t) || unit % sizeof(std::uint32_t) != 0 || hunk.ptr == nullptr) {
      init_error_ = Error::invalid_argument;
      return;
    }
    // A unit is aligned to the largest power of two dividing its size (capped),
    // provided the first unit is; that is the alignment this Slab guarantees.
    const std::size_t unit_align = unit_alignment(unit);
    // The checked bitmap (one bit per unit) lives in this object when one word
    // holds it, else it is carved from the front of the hunk, sized for every unit
    // the hunk could hold: the units left after it are never more than that, so the
    // bitmap never reaches into a unit.
    std::size_t count = hunk.size / unit;
    if (count > max_units) count = max_units;
    const bool in_object = count <= 64;
    const std::size_t meta = bitmap_bytes(count);
    const std::uintptr_t meta_at = detail::align_addr(hunk.address(), alignof(std::uint64_t));
    const std::uintptr_t end = hunk.address() + hunk.size;
    const std::uintptr_t first =
        detail::align_addr(meta != 0 ? meta_at + meta : hunk.address(), unit_align);
    const std::size_t fit = first <= end ? (end - first) / unit : 0;
    if (fit < count) count = fit;
    if (count == 0) {
      init_error_ = Error::invalid_argument;
      return;
    }
    // The hunk is this Slab's now, whatever a previous user left poisoned in it.
    detail::unpoison_meta(hunk.ptr, hunk.size);
    if constexpr (Checked) {
      bitmap_at_.set(in_object ? &bitmap_word_ : reinterpret_cast<std::uint64_t*>(meta_at));
      for (std::size_t i = 0; i < (count + 63) / 64; ++i) bitmap()[i] = 0;
    }
    base_at_.set(reinterpret_cast<std::byte*>(first));
    count_ = count;
    align_ = unit_align;
    bytes_ = count * unit;
    if (detail::is_pow2(unit)) {
      unit_shift_ = detail::countr_zero(unit);
      unit_mask_ = unit - 1;
    }  // else: the mask stays all ones, which sends frees to the division path
    // Link every unit, lowest address first on the list.
    for (std::size_t i = 0; i < count; ++i) {
      write_link(static_cast<std::uint32_t>(i),
                 i + 1 < count ? static_cast<std::uint32_t>(i + 2) : 0u);
    }
    head_.raw = 1;  // index 0, counter 0
    // Free units are poisoned but for their link (config/poison.hpp).
    if constexpr (poison_units) {
      for (std::size_t i = 0; i < count; ++i) retire(base() + i * unit);
    }
  }

  Slab(const Slab&) = delete;
  Slab& operator=(const Slab&) = delete;

  /// Reports through the leak handler (host) when units are still allocated.
  SWIM_MEM_API ~Slab() {
    if (live_.load(order::relaxed) != 0) detail::leaked("Slab", this, stats());
    // The hunk goes back to its owner as the owner gave it: accessible.
    detail::unpoison_meta(base(), bytes_);
  }

  /// One unit of at least layout.size bytes aligned to layout.align. The block
  /// returned is the whole unit. Zero-size requests get a non-null dangling block
  /// of size 0 that is not counted.
  SWIM_MEM_API Result<Block> try_allocate(Layout layout) {
    if (!detail::is_pow2(layout.align)) return Error::misaligned;
    if (layout.size == 0) return Block{reinterpret_cast<void*>(layout.align), 0};
    if (layout.size > unit_) return Error::oversized;
    if (layout.align > align_) return count_ == 0 ? Error::out_of_memory : Error::misaligned;
    if (detail::fault_point()) return Error::out_of_memory;
    if constexpr (!Mode::is_concurrent) {
      // One owner: no ABA to guard against, so the pop counter is left alone.
      const std::uint64_t head = head_.raw;
      const std::uint32_t top = static_cast<std::uint32_t>(head);
      if (top == 0) return Error::out_of_memory;
      std::byte* unit = base() + std::size_t(top - 1) * unit_;
      head_.raw = (head & ~std::uint64_t(0xFFFFFFFFu)) | *reinterpret_cast<std::uint32_t*>(unit);
      if constexpr (Checked) bitmap_cell(top - 1).fetch_or(bit(top - 1), order::relaxed);
      const std::uint64_t live = ++live_.raw;
      if (live > peak_.raw) peak_.raw = live;
      hand_out(unit);
      return Block{unit, unit_};
    }
    std::uint64_t head = head_.load(order::acquire);
    for (unsigned attempt = 0; attempt < max_retries; ++attempt) {
      const std::uint32_t top = static_cast<std::uint32_t>(head);
      if (top == 0) return Error::out_of_memory;
      const std::uint64_t next = read_link(top - 1);
      const std::uint64_t desired = ((head >> 32) + 1) << 32 | next;
      // Acquire: see the link and contents published by the release of the push.
      if (head_.compare_exchange(head, desired, order::acquire)) {
        if constexpr (Checked) {
          bitmap_cell(top - 1).fetch_or(bit(top - 1), order::relaxed);
        }
        const std::uint64_t live = live_.fetch_add(1, order::relaxed) + 1;
        raise_to(peak_, live);
        hand_out(base() + std::size_t(top - 1) * unit_);
        return Block{base() + std::size_t(top - 1) * unit_, unit_};
      }
    }
    return Error::contended;
  }

  /// Return a unit. Checked: foreign pointers (outside the units, not at a unit
  /// start, or larger than a unit) return Error::foreign_pointer, double frees
  /// Error::double_free. Unchecked: the block must be live and this Slab's (see
  /// the class comment); it is not validated.
  SWIM_MEM_API Error try_deallocate(Block block) {
    if (block.size == 0) return Error::none;
    std::uint32_t index = 0;
    if constexpr (Checked) {
      if (!index_of(block, index)) return Error::foreign_pointer;
      if ((bitmap_cell(index).fetch_and(~bit(index), order::relaxed) & bit(index)) == 0) {
        return Error::double_free;
      }
    } else {
      index = unit_number(block.ptr) - 1u;
    }
    // Poisoned before it is published (after, another thread may already own it);
    // the contents are kept until the push has won, so a lost race changes nothing.
    if constexpr (!Mode::is_concurrent) detail::fill_freed(block.ptr, unit_);
    retire(block.ptr);
    std::uint64_t head = head_.load(order::relaxed);
    for (unsigned attempt = 0; attempt < max_retries; ++attempt) {
      write_link_at(block.ptr, static_cast<std::uint32_t>(head));
      const std::uint64_t desired = (head & ~std::uint64_t(0xFFFFFFFFu)) | (index + 1u);
      // Release: the link and the caller's last writes happen-before the next pop.
      if (head_.compare_exchange(head, desired, order::release)) {
        live_.fetch_sub(1, order::relaxed);
        return Error::none;
      }
    }
    if constexpr (Checked) bitmap_cell(index).fetch_or(bit(index), order::relaxed);
    detail::unpoison_meta(block.ptr, unit_);  // still the caller's
    return Error::contended;
  }

  /// largest_free is one unit while any unit is free (every request that fits a
  /// unit takes a whole one), else 0. O(1): two relaxed loads.
  SWIM_MEM_API Stats stats() const {
    const std::size_t live = static_cast<std::size_t>(live_.load(order::relaxed));
    const std::size_t peak = static_cast<std::size_t>(peak_.load(order::relaxed));
    const std::size_t free_units = live < count_ ? count_ - live : 0;
    return Stats{live, live * unit_, free_units * unit_, peak * unit_, free_units != 0 ? unit_ : 0};
  }

  /// The occupancy walk (physical/region.hpp; quiescent only), checked Slabs only:
  /// an unchecked Slab's one record of its free units is its free list, threaded
  /// through the units themselves. One range, the hunk as given: alignment
  /// padding (unused), the in-band bitmap (control, when it is carved from the
  /// hunk), then one region per unit (live or free, from the bitmap: a unit that a
  /// SlabCache holds reads free), then the tail too short for a unit (unused).
  /// O(units).
  SWIM_MEM_EXEC_CHECK_DISABLE
  template <class F>
    requires Checked
  SWIM_MEM_API void walk(F&& f) const {
    const Block hunk{hunk_at_.get(), hunk_size_};
    if (hunk.ptr == nullptr || hunk.size == 0) return;
    const std::uintptr_t start = hunk.address();
    detail::RangeTiler<F> tiles(hunk.ptr, f);
    if (count_ != 0) {
      const std::uint64_t* const bits = bitmap();
      const auto bitmap_at = reinterpret_cast<std::uintptr_t>(bits);
      if (bits != &bitmap_word_) {  // carved from the front of the hunk
        tiles.emit(bitmap_at, RegionKind::unused);
        tiles.emit(bitmap_at + (count_ + 63) / 64 * sizeof(std::uint64_t), RegionKind::control);
      }
      tiles.emit(reinterpret_cast<std::uintptr_t>(base()), RegionKind::unused);
      for (std::size_t i = 0; i < count_; ++i) {
        const bool live = ((bits[i / 64] >> (i % 64)) & 1u) != 0;
        tiles.emit(tiles.at() + unit_, live ? RegionKind::live : RegionKind::free);
      }
    }
    tiles.emit(start + hunk.size, RegionKind::unused);
  }

  SWIM_MEM_API std::size_t unit() const { return unit_; }
  SWIM_MEM_API std::size_t block_count() const { return count_; }
  /// The alignment every unit is guaranteed to have.
  SWIM_MEM_API std::size_t alignment() const { return align_; }
  SWIM_MEM_API Error init_error() const { return init_error_; }
  /// True when `p` points into this Slab's units.
  SWIM_MEM_API bool owns(const void* p) const {
    const auto a = reinterpret_cast<std::uintptr_t>(p);
    const auto b = reinterpret_cast<std::uintptr_t>(base());
    return a >= b && a - b < bytes_;
  }

 private:
  template <class, std::size_t>
  friend class SlabCache;

  /// The index of the unit `block` starts, or false for a foreign pointer (outside
  /// the units, not at a unit start, or larger than a unit): the checked free's
  /// validation. Power-of-two units (the common case) need no division.
  SWIM_MEM_API SWIM_MEM_FORCEINLINE bool index_of(Block block, std::uint32_t& index) const {
    // One unsigned compare covers both ends: below the base wraps around.
    const std::uintptr_t off = block.address() - reinterpret_cast<std::uintptr_t>(base());
    if (off >= bytes_ || block.size > unit_) return false;
    if (SWIM_MEM_UNLIKELY((off & unit_mask_) != 0)) {
      // Power-of-two unit: not a unit start. Other units (mask all ones) come here
      // for every unit but the first, and divide.
      if (unit_mask_ != all_ones || off % unit_ != 0) return false;
      index = static_cast<std::uint32_t>(off / unit_);
      return true;
    }
    index = static_cast<std::uint32_t>(off >> unit_shift_);
    return true;
  }

  /// Take up to `n` (>= 1) units off the free list with one CAS and store their
  /// addresses in `out`; returns how many. The units count as live (a SlabCache
  /// holds them) and their bitmap bits are left clear. Errors: out_of_memory (none
  /// free), contended. Lock-free: a failed CAS means another pop or push succeeded.
  ///
  /// Why one CAS suffices: every pop bumps the head's counter and every push
  /// changes its index for good (the pushed unit is not on the list), so a head
  /// that reads the same at the CAS as at the load means that nobody popped or
  /// pushed in between, and the chain walked meanwhile was the list itself. A
  /// walk that meets a unit popped and reused meanwhile may read garbage; the index
  /// is range-checked before it is followed and the CAS then fails.
  SWIM_MEM_API Result<std::size_t> pop_batch(void** out, std::size_t n) {
    std::uint64_t head = head_.load(order::acquire);
    for (unsigned attempt = 0; attempt < max_retries; ++attempt) {
      std::uint32_t top = static_cast<std::uint32_t>(head);
      if (top == 0) return Error::out_of_memory;
      std::size_t k = 0;
      bool stale = false;
      while (k < n && top != 0) {
        if (top > count_) {
          stale = true;  // a link overwritten by a unit's new owner
          break;
        }
        out[k++] = base() + std::size_t(top - 1) * unit_;
        top = read_link(top - 1);
      }
      if (stale) {
        head = head_.load(order::acquire);
        continue;
      }
      const std::uint64_t desired = ((head >> 32) + 1) << 32 | top;
      if (head_.compare_exchange(head, desired, order::acquire)) {
        const std::uint64_t live = live_.fetch_add(k, order::relaxed) + k;
        raise_to(peak_, live);
        return k;
      }
    }
    return Error::contended;
  }

  /// Put `n` (>= 1) units, valid and distinct (as pop_batch or a checked free
  /// handed them over), back on the free list with one CAS. Error: contended (then
  /// nothing changed but the links inside the units).
  SWIM_MEM_API Error push_batch(void* const* units, std::size_t n) {
    // A cache keeps its units poisoned whole: open each one's link word again.
    for (std::size_t i = 0; i < n; ++i) detail::unpoison_meta(units[i], sizeof(std::uint32_t));
    // units[0] -> units[1] -> ... -> units[n-1] -> the old top (redone per try).
    for (std::size_t i = 0; i + 1 < n; ++i) write_link_at(units[i], unit_number(units[i + 1]));
    const std::uint32_t first = unit_number(units[0]);
    std::uint64_t head = head_.load(order::relaxed);
    for (unsigned attempt = 0; attempt < max_retries; ++attempt) {
      write_link_at(units[n - 1], static_cast<std::uint32_t>(head));
      const std::uint64_t desired = (head & ~std::uint64_t(0xFFFFFFFFu)) | first;
      if (head_.compare_exchange(head, desired, order::release)) {
        live_.fetch_sub(n, order::relaxed);
        return Error::none;
      }
    }
    return Error::contended;
  }

  /// A unit leaves the free list for a caller: open to it, debug-filled.
  /// A relative Slab never poisons, yet opens the unit too: this process's
  /// checker may hold poison on it that a cache of this process left there
  /// (SlabCache poisons what it holds, and push_batch reopens only the links),
  /// or that an earlier mapping at this address did.
  SWIM_MEM_API SWIM_MEM_FORCEINLINE void hand_out(void* unit) const {
    detail::unpoison(unit, unit_);
    detail::fill_fresh(unit, unit_);
  }
  /// A unit joins the free list: nobody's but for its link word.
  SWIM_MEM_API SWIM_MEM_FORCEINLINE void retire(void* unit) const {
    if constexpr (!poison_units) return;
    detail::poison(unit, unit_);
    detail::unpoison_meta(unit, sizeof(std::uint32_t));
  }

  /// Index + 1 of a unit known to be valid (validated, or trusted when unchecked).
  SWIM_MEM_API std::uint32_t unit_number(const void* unit) const {
    const std::uintptr_t off =
        reinterpret_cast<std::uintptr_t>(unit) - reinterpret_cast<std::uintptr_t>(base());
    return static_cast<std::uint32_t>(unit_mask_ != all_ones ? off >> unit_shift_ : off / unit_) + 1u;
  }

  /// Checked builds: claim (allocate) or clear (free) a unit's bitmap bit; false
  /// when it was already in that state (a double free when freeing).
  SWIM_MEM_API bool flip_bit(std::uint32_t index, bool allocate) {
    if constexpr (Checked) {
      if (allocate) return (bitmap_cell(index).fetch_or(bit(index), order::relaxed) & bit(index)) == 0;
      return (bitmap_cell(index).fetch_and(~bit(index), order::relaxed) & bit(index)) != 0;
    } else {
      (void)index;
      (void)allocate;
      return true;
    }
  }

  static constexpr std::size_t all_ones = ~std::size_t(0);
  // A checker's poison belongs to one virtual address, not to the memory: a unit
  // freed through one mapping would stay poisoned in another that allocates it
  // next. A Slab that more than one mapping may use (relative addresses) never
  // poisons its units.
  static constexpr bool poison_units =
      detail::poisoning && std::is_same_v<Addr, direct_address>;
  static constexpr bool checked = Checked;
  static constexpr std::size_t max_guaranteed_align = 4096;

  /// The alignment of every unit: the largest power of two dividing the unit
  /// size, capped (given a first unit so aligned).
  SWIM_MEM_API static constexpr std::size_t unit_alignment(std::size_t unit) {
    const std::size_t a = std::size_t(1) << detail::countr_zero(unit);
    return a < max_guaranteed_align ? a : max_guaranteed_align;
  }
  /// The bytes of the bitmap carved from a hunk that could hold `units` units:
  /// none unchecked, or when one word in the object holds it.
  SWIM_MEM_API static constexpr std::size_t bitmap_bytes(std::size_t units) {
    if (units > max_units) units = max_units;
    return Checked && units > 64 ? (units + 63) / 64 * sizeof(std::uint64_t) : 0;
  }

  SWIM_MEM_API static constexpr std::uint64_t bit(std::uint32_t i) {
    return std::uint64_t(1) << (i % 64);
  }
  SWIM_MEM_API cell<std::uint64_t, Mode>& bitmap_cell(std::uint32_t i) {
    return *reinterpret_cast<cell<std::uint64_t, Mode>*>(bitmap() + i / 64);
  }
  SWIM_MEM_API std::uint32_t* link(std::uint32_t i) const {
    return reinterpret_cast<std::uint32_t*>(base() + std::size_t(i) * unit_);
  }
  SWIM_MEM_API void write_link(std::uint32_t i, std::uint32_t next) { write_link_at(link(i), next); }
  SWIM_MEM_API SWIM_MEM_FORCEINLINE void write_link_at(void* unit, std::uint32_t next) {
    if constexpr (Mode::is_concurrent) {
      atomic_ref<std::uint32_t>(*static_cast<std::uint32_t*>(unit)).store(next, order::relaxed);
    } else {
      *static_cast<std::uint32_t*>(unit) = next;
    }
  }
  // May read a unit that another thread has just popped and is writing: the
  // value is then stale and the tagged CAS that follows fails, so it is unused.
  // An upper layer may have poisoned that unit whole: the read is not checked.
  SWIM_MEM_API SWIM_MEM_NO_SANITIZE_THREAD SWIM_MEM_NO_SANITIZE_ADDRESS std::uint32_t read_link(
      std::uint32_t i) const {
    if constexpr (Mode::is_concurrent) {
#if defined(SWIM_MEM_TSAN) || defined(SWIM_MEM_DETAIL_POISON_ASAN)
      return *static_cast<volatile std::uint32_t*>(link(i));
#else
      return atomic_ref<std::uint32_t>(*link(i)).load(order::relaxed);
#endif
    } else {
      return *link(i);
    }
  }

  cell<std::uint64_t, Mode> head_;  // {pop counter : 32, top index + 1 : 32}
  cell<std::uint64_t, Mode> live_;
  cell<std::uint64_t, Mode> peak_;
  SWIM_MEM_API SWIM_MEM_FORCEINLINE std::byte* base() const { return base_at_.get(); }
  SWIM_MEM_API SWIM_MEM_FORCEINLINE std::uint64_t* bitmap() const { return bitmap_at_.get(); }

  // Addresses through Addr (physical/address.hpp): with relative_address the Slab
  // and its hunk work in every mapping of the memory that holds them both.
  typename Addr::template pointer<std::byte> base_at_{};
  typename Addr::template pointer<std::uint64_t> bitmap_at_{};  // bitmap_word_, or the hunk's front
  typename Addr::template pointer<void> hunk_at_{};  // the hunk as given (for walk)
  std::uint64_t bitmap_word_ = 0;     // the checked bitmap of a Slab of <= 64 units
  std::size_t hunk_size_ = 0;
  std::size_t unit_;
  std::size_t count_ = 0;
  std::size_t bytes_ = 0;      // count_ * unit_
  std::size_t unit_mask_ = all_ones;  // unit_ - 1 when unit_ is a power of two
  std::size_t align_ = 1;
  unsigned unit_shift_ = 0;  // log2(unit_) when unit_ is a power of two
  Error init_error_ = Error::none;
};

}  // namespace swim::mem
