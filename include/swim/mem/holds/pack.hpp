// Layer 5 (holds): Pack, a bump-pointer hold over one region.
//
// Objects are tagged (one word in front of each). Freeing the most recent object
// gives its bytes back (LIFO); freeing the last live object resets the whole
// region. Other frees only count: their bytes come back at the reset. That is the
// point of the design: scratch data is released in O(1) when its scope ends.
//
// Pack<Mode, relative_address> is the same hold for memory that several processes
// (or one process twice) map at different addresses, the Pack placed in it with its
// region: its tags and its region's address are relative (holds/tag.hpp,
// physical/address.hpp), so every mapping allocates, frees and resizes through its
// own address of the Pack, and leases with relative addresses over it work in every
// mapping. It never poisons its region (poison belongs to one virtual address).
#pragma once

#include <cstddef>
#include <cstdint>

#include "swim/mem/holds/detail/bump.hpp"
#include "swim/mem/holds/detail/zero_count.hpp"
#include "swim/mem/holds/tag.hpp"
#include "swim/mem/physical.hpp"

namespace swim::mem {

/// A bump-pointer hold over a caller-provided region.
///
/// - Thread-safety: concurrent mode: any number of threads may allocate and free
///   at once (lock-free, one CAS per operation); single_owner: one caller at a time.
/// - Host/device: every member is valid on both. The Pack object is the control
///   block the tags point at: it must not move, and it must be reachable from
///   wherever its objects are freed (place it in device memory for kernels).
/// - Failure: try_ forms return Error values and leave the Pack unchanged.
///   Foreign pointers (outside the region, or inside it but not at an object:
///   the word in front is not this Pack's tag) and double frees are always
///   detected, without reading outside the region. The size given back must be
///   the object's (as returned, or as requested); a wrong size inside the region
///   is not detected and corrupts the accounting (as a wrong sized delete would).
/// - Limits: 2 TiB per Pack, 16.7 M live objects of non-zero size (then
///   Error::out_of_memory).
template <concurrency_mode Mode = concurrent, class Addr>
class Pack {
  static_assert(std::is_same_v<Addr, direct_address> || Mode::is_concurrent,
                "a relative Pack is shared between processes: concurrent only");
  using BumpType = detail::Bump<Mode, Addr>;

 public:
  static constexpr HoldKind kind = hold_kind_v<Pack>;
  /// Tags relative to their objects (holds/hold.hpp decodes them so).
  static constexpr bool relative_tags = !std::is_same_v<Addr, direct_address>;

  /// Manage `region`. Never fails loudly: a null or too small region gives a
  /// Pack with no capacity, and init_error() says so.
  SWIM_MEM_API explicit Pack(Block region) {
    zero_.tag = detail::tag_for<relative_tags>(this, zero_.object(), kind);
    zero_count_.live.raw = 0;
    used_.raw = 0;
    peak_.raw = 0;
    // A Pack is always "in service": emptying it resets it, never retires it.
    bump_.init(region.address(), region.ptr ? region.size : 0, BumpType::head);
    if (bump_.capacity < 2 * BumpType::granule) init_error_ = Error::invalid_argument;
  }
  Pack(const Pack&) = delete;
  Pack& operator=(const Pack&) = delete;

  /// Reports through the leak handler (host) when objects are still live.
  SWIM_MEM_API ~Pack() {
    if (bump_.live() != 0 || zero_count_.count() != 0) detail::leaked("Pack", this, stats());
    // The region goes back to its owner as the owner gave it: accessible.
    if constexpr (BumpType::poisoned) {
      detail::unpoison_meta(reinterpret_cast<void*>(bump_.base()), bump_.capacity);
    }
  }

  /// A tagged block of layout.size bytes (rounded up to 8) aligned to layout.align.
  /// Zero-size requests take no bytes but count as live objects (they do not
  /// keep the region from resetting: they have no bytes to lose).
  SWIM_MEM_API Result<Block> try_allocate(Layout layout) {
    if (!detail::is_pow2(layout.align)) return Error::misaligned;
    if (layout.size == 0 && layout.align <= detail::ZeroTag::max_align) {
      zero_count_.add();
      return Block{zero_object(), 0};
    }
    if (detail::fault_point()) return Error::out_of_memory;
    bool ok = false;
    const std::size_t size8 = detail::granule_size(detail::max_of<std::size_t>(layout.size, 1), ok);
    // Only what the bump's arithmetic needs up front (a constant test for a
    // constant size); a request larger than this region fails the bump and is told
    // apart from a full region afterwards, off the fast path.
    if (!ok || size8 > BumpType::max_capacity) return Error::oversized;
    const std::size_t align = detail::max_of(layout.align, BumpType::granule);
    Result<Block> r = Error::out_of_memory;
    if constexpr (relative_tags) {
      r = bump_.bump_tagged(size8, align, [this](std::uintptr_t at) {
        return tag_at(reinterpret_cast<const void*>(at));
      });
    } else {
      r = bump_.bump(size8, align, zero_.tag);
    }
    if (SWIM_MEM_UNLIKELY(!r)) {
      if (r.error() == Error::out_of_memory && size8 > bump_.capacity) return Error::oversized;
      return r;
    }
    // The peak is not raised here: bytes in use only grow between frees, so the
    // free records the high-water mark it ends and stats() adds the current one.
    used_.fetch_add(size8, order::relaxed);
    return r;
  }

  /// Free an object as try_allocate returned it. Only the word in front of a
  /// block inside the region is read: anything else is foreign_pointer.
  SWIM_MEM_API Error try_deallocate(Block block) {
    if (block.size == 0 && block.ptr == zero_object()) return zero_count_.remove();
    // A size of 0 is also the 8-byte object of a zero-size request aligned past 64.
    bool ok = false;
    const std::size_t size8 =
        detail::granule_size(detail::max_of<std::size_t>(block.size, 1), ok);
    const std::uintptr_t at = block.address();
    if (!ok || !bump_.contains(at, size8)) return Error::foreign_pointer;
    // Peeked first: the word in front of a pointer into the middle of some object
    // or into free room may be poisoned, and is no tag.
    const std::uint64_t live = tag_at(block.ptr), freed = freed_at(block.ptr);
    const std::uint64_t seen = detail::peek_tag(block.ptr);
    if (seen != live) return seen == freed ? Error::double_free : Error::foreign_pointer;
    auto& tag = detail::tag_of<Mode>(block.ptr);
    std::uint64_t expected = live;
    if (!tag.compare_exchange(expected, freed, order::acq_rel)) {
      return expected == freed ? Error::double_free : Error::foreign_pointer;
    }
    const Result<std::uint64_t> r = bump_.release(at, size8);
    if (!r) {
      tag.store(live, order::relaxed);
      return r.error();
    }
    raise_to(peak_, used_.fetch_sub(size8, order::relaxed));  // a high-water mark ends
    return Error::none;
  }

  /// Resize an object in place (it never moves). Growth succeeds only for the
  /// most recent object and within the region.
  SWIM_MEM_API Result<Block> try_resize(Block block, Layout layout) {
    bool ok_old = false, ok_new = false;
    const std::size_t old8 = detail::granule_size(block.size, ok_old);
    const std::size_t new8 = detail::granule_size(layout.size, ok_new);
    const std::uintptr_t at = block.address();
    if (!ok_old || block.size == 0 || !bump_.contains(at, old8)) return Error::foreign_pointer;
    if (!ok_new) return Error::oversized;
    if (layout.size == 0) return Error::unsupported;  // free it instead
    if (!detail::is_pow2(layout.align) || at % layout.align != 0) return Error::misaligned;
    const std::uint64_t tag = detail::peek_tag(block.ptr);
    if (tag != tag_at(block.ptr)) {
      return tag == freed_at(block.ptr) ? Error::double_free : Error::foreign_pointer;
    }
    const Error e = bump_.resize(at, old8, new8);
    if (e != Error::none) return e;
    if (new8 >= old8) {
      used_.fetch_add(new8 - old8, order::relaxed);
    } else {
      raise_to(peak_, used_.fetch_sub(old8 - new8, order::relaxed));
    }
    return Block{block.ptr, new8};
  }

  /// bytes_free is the contiguous room above the most recent object. peak_bytes is
  /// exact: the largest bytes_in_use ever, the current one included. largest_free
  /// is that room less the tag word of the object that would take it (so a fresh
  /// Pack's fragmentation() is 8 / bytes_free: the bytes freed out of LIFO order
  /// are not free until the Pack empties, and do not count). O(1).
  SWIM_MEM_API Stats stats() const {
    const std::uint64_t used = used_.load(order::relaxed);
    const std::uint64_t peak = peak_.load(order::relaxed);
    const std::size_t room = bump_.free_bytes();
    const std::size_t largest = bump_.largest_object();
    return Stats{bump_.live() + static_cast<std::size_t>(zero_count_.count()),
                 static_cast<std::size_t>(used), room,
                 static_cast<std::size_t>(peak > used ? peak : used), largest < room ? largest : room};
  }

  /// The occupancy walk (physical/region.hpp; quiescent only). One range, the
  /// region from its first 8-byte-aligned byte to the last whole granule: the part
  /// below the mark (live: objects, tags, and the holes of objects freed out of LIFO
  /// order, which come back when the Pack empties), then the room above it (free).
  /// The Pack keeps no record of where each object starts (one tag in front of
  /// each, no size), so it cannot tell them apart. O(1).
  SWIM_MEM_EXEC_CHECK_DISABLE
  template <class F>
  SWIM_MEM_API void walk(F&& f) const {
    if (bump_.capacity == 0) return;
    bump_.walk(reinterpret_cast<const void*>(bump_.base()), 0, RegionKind::free, f);
  }
  SWIM_MEM_API std::size_t capacity() const { return bump_.capacity; }
  SWIM_MEM_API Error init_error() const { return init_error_; }

  /// The address every zero-size object of this Pack has (inside the Pack itself).
  SWIM_MEM_API const void* zero_address() const { return zero_.object_at(); }

  /// Where a Pack stands: what a copy of its region needs to be managed by another
  /// Pack (residents/parcel.hpp ships a Pack's region to another process).
  struct Snapshot {
    std::size_t mark = 0;           ///< bytes from the region's start to the first free byte
    std::size_t objects = 0;        ///< live objects with bytes
    std::uint64_t zero_objects = 0; ///< live zero-size objects
    std::uint64_t bytes_in_use = 0; ///< as stats().bytes_in_use
  };
  /// The current state (quiescent only).
  SWIM_MEM_API Snapshot snapshot() const {
    const std::uint64_t s = bump_.state.load(order::relaxed);
    return Snapshot{static_cast<std::size_t>(s >> BumpType::mark_shift) * BumpType::granule,
                    bump_.live(), zero_count_.count(), used_.load(order::relaxed)};
  }
  /// Take over a region whose bytes below `s.mark` already hold `s.objects` objects,
  /// each tagged with this Pack's tag_owner() by the caller (the bytes came from
  /// another Pack, whose tags the caller rewrote), and `s.zero_objects` zero-size
  /// objects. Only on a Pack with no live object, and with nothing else using it.
  /// invalid_argument (nothing changed) when the Pack is not empty, the mark is past
  /// the region or not a multiple of 8, or the counts exceed the Pack's limits; a
  /// snapshot with no objects and a mark of 0 empties the Pack's accounting (for a
  /// caller giving up a region it filled). The peak starts at s.bytes_in_use.
  SWIM_MEM_API Error restore(const Snapshot& s) {
    using B = BumpType;
    const std::uint64_t now = bump_.state.load(order::relaxed);
    const bool emptying = s.mark == 0 && s.objects == 0 && s.zero_objects == 0;
    if (!emptying && ((now & B::live_mask) != 0 || zero_count_.count() != 0)) {
      return Error::invalid_argument;
    }
    if (s.mark > bump_.capacity || s.mark % B::granule != 0 || s.objects >= B::live_mask ||
        s.bytes_in_use > s.mark || (s.objects == 0) != (s.mark == 0)) {
      return Error::invalid_argument;
    }
    const std::size_t old_mark = static_cast<std::size_t>(now >> B::mark_shift) * B::granule;
    if constexpr (B::poisoned) {
      if (s.mark > old_mark) {
        detail::unpoison(reinterpret_cast<void*>(bump_.base() + old_mark), s.mark - old_mark);
      } else if (s.mark < old_mark) {
        detail::poison(reinterpret_cast<void*>(bump_.base() + s.mark), old_mark - s.mark);
      }
    }
    bump_.state.store(static_cast<std::uint64_t>(s.mark / B::granule) << B::mark_shift |
                          B::head | static_cast<std::uint64_t>(s.objects),
                      order::relaxed);
    zero_count_.live.store(s.zero_objects, order::relaxed);
    used_.store(s.bytes_in_use, order::relaxed);
    peak_.store(s.bytes_in_use, order::relaxed);
    return Error::none;
  }
  SWIM_MEM_API bool owns(const void* p) const {
    const auto a = reinterpret_cast<std::uintptr_t>(p);
    return a >= bump_.base() && a - bump_.base() < bump_.capacity;
  }

  // ---- The control block contract (holds/hold_kinds.hpp) ------------------------------
  SWIM_MEM_API Error tag_free(Block block) { return try_deallocate(block); }
  SWIM_MEM_API Result<Block> tag_resize(Block block, Layout layout) {
    return try_resize(block, layout);
  }
  /// The HoldRef word: {this | kind}, absolute (this process's address) also for a
  /// relative Pack. For a direct Pack it is also every object's tag.
  SWIM_MEM_API std::uint64_t tag_owner() const {
    if constexpr (relative_tags) {
      return detail::make_tag(this, kind);
    } else {
      return zero_.tag;
    }
  }
  SWIM_MEM_API Result<Block> tag_allocate(Layout layout) { return try_allocate(layout); }
  SWIM_MEM_API Error checked_free(Block block) { return try_deallocate(block); }

 private:
  // Zero-size objects all sit just past the shared tag (never dereferenced).
  SWIM_MEM_API void* zero_object() { return zero_.object(); }
  // The tag a live object at `object` has, and a freed one.
  SWIM_MEM_API std::uint64_t tag_at(const void* object) const {
    return detail::tag_for<relative_tags>(this, object, kind);
  }
  SWIM_MEM_API std::uint64_t freed_at(const void* object) const {
    return detail::tag_for<relative_tags>(this, object, HoldKind::freed);
  }

  detail::ZeroTag zero_;  // the zero-size objects' tag; for a direct Pack every object's
  detail::ZeroCount<Mode> zero_count_;
  BumpType bump_;
  cell<std::uint64_t, Mode> used_;
  cell<std::uint64_t, Mode> peak_;  // highest bytes_in_use before the latest decrease
  Error init_error_ = Error::none;
};

}  // namespace swim::mem
