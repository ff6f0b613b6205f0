// Layer 5 (holds): Pool, a growable chain of bump hunks drawn from any Heap.
//
// Allocation bumps in the current (head) hunk; when it is full a new hunk comes
// from the spare list or, failing that, from the upstream heap, and becomes the
// head. Each hunk counts its own live objects: when a
// hunk that is no longer the head empties it is retired to the spare list and
// reused before the heap is asked again; the head hunk simply resets. Whether a
// hunk is the head is a bit of its state word, so "emptied" and "retired" (or
// "replaced as head" and "retired") happen in one CAS and exactly once.
//
// Every hunk a pool holds is in its registry: 32 lists threaded through the hunk
// headers, by address hash. A free that must not trust the tag in front of its
// pointer (Pool::try_deallocate in checked builds, HoldRef::try_deallocate) looks
// the tag's hunk up there before dereferencing it, so a forged or stale tag is
// reported as foreign_pointer instead of being followed.
//
// Spare hunks go back to the heap in trim() and on destruction (and at once in
// single-owner mode, to heaps that can reuse them). They cannot go back at the
// moment they empty under concurrency: another thread may still be about to read the
// header of a hunk it saw as head a moment ago, so a retired hunk must stay a
// hunk (its header intact) until the pool is quiescent.
#pragma once

#include <cstddef>
#include <cstdint>

#include "swim/mem/heaps/concept.hpp"
#include "swim/mem/heaps/heap_ref.hpp"
#include "swim/mem/holds/detail/bump.hpp"
#include "swim/mem/holds/detail/zero_count.hpp"
#include "swim/mem/holds/tag.hpp"
#include "swim/mem/physical.hpp"

namespace swim::mem {
namespace detail {

template <concurrency_mode Mode>
class PoolCore;

/// The in-band header of a Pool hunk; its objects' tags point here.
template <concurrency_mode Mode>
struct alignas(64) PoolHunk {
  static constexpr HoldKind kind = hold_kind_v<PoolHunk>;

  Bump<Mode> bump;
  PoolCore<Mode>* pool;
  cell<std::uint64_t, Mode> next_spare;
  cell<std::uint64_t, Mode> next_registered;  // the next hunk of its registry list
  std::size_t block_size;  // as the heap returned it, for giving it back

  SWIM_MEM_API std::uint64_t tag() const { return make_tag(this, kind); }

  // The control block contract (holds/hold_kinds.hpp), defined after PoolCore.
  SWIM_MEM_API Error tag_free(Block block);
  SWIM_MEM_API Result<Block> tag_resize(Block block, Layout layout);
  SWIM_MEM_API std::uint64_t tag_owner() const;
};

/// The part of a Pool that does not depend on the upstream heap's type, so that a
/// free through an object's tag (which cannot know the heap) is possible.
template <concurrency_mode Mode>
class PoolCore {
 public:
  using Hunk = PoolHunk<Mode>;
  static constexpr HoldKind zero_kind = hold_kind_v<PoolCore>;
  static constexpr unsigned max_retries = 1u << 16;

  /// Free an object whose tag names hunk `h` of this pool (the tag is trusted:
  /// it led here; the block must match it).
  SWIM_MEM_API Error release_in_hunk(Hunk* h, Block block) {
    // A size of 0 is the 8-byte object of a zero-size request aligned past 64.
    bool ok = false;
    const std::size_t size8 = granule_size(max_of<std::size_t>(block.size, 1), ok);
    const std::uintptr_t at = block.address();
    if (!ok || !h->bump.contains(at, size8)) return Error::foreign_pointer;
    const std::uint64_t seen = peek_tag(block.ptr);  // may be no tag, in poisoned memory
    if (seen != h->tag()) return seen == freed_tag(h) ? Error::double_free : Error::foreign_pointer;
    auto& tag = tag_of<Mode>(block.ptr);
    std::uint64_t expected = h->tag();
    if (!tag.compare_exchange(expected, freed_tag(h), order::acq_rel)) {
      return expected == freed_tag(h) ? Error::double_free : Error::foreign_pointer;
    }
    const Result<std::uint64_t> r = h->bump.release(at, size8);
    if (!r) {
      tag.store(h->tag(), order::relaxed);
      return r.error();
    }
    live_.fetch_sub(1, order::relaxed);
    used_.fetch_sub(size8, order::relaxed);
    // The CAS that freed the last object of a non-head hunk also retired it, so
    // exactly one thread (this one) puts it on the spare list.
    if ((*r & Bump<Mode>::retired) != 0) {
      push_spare(h);
      // Single owner: nobody can be looking at the hunk, so it goes back at once
      // (to a heap that can reuse it: see Pool's constructor).
      if constexpr (!Mode::is_concurrent) {
        if (give_back_at_once_ && upstream_) trim_to(upstream_);
      }
    }
    return Error::none;
  }

  /// Free a zero-size object of this pool.
  SWIM_MEM_API Error release_zero(Block block) {
    if (block.ptr != zero_object() || block.size != 0) return Error::foreign_pointer;
    return zero_count_.remove();
  }

  /// Free an object of this pool, validating its tag before following it: the
  /// tag's hunk must be in this pool's registry (nothing else is read but
  /// the word in front of block.ptr, which must be readable). Foreign pointers
  /// and double frees are reported and change nothing. Cost: the registry walk,
  /// about hunk_count() / 32 steps unless the object is in the head hunk.
  SWIM_MEM_API Error checked_free(Block block) {
    if (block.size == 0 && block.ptr == zero_object()) return release_zero(block);
    Hunk* h = nullptr;
    const Error e = validated_hunk(block, h);
    return e != Error::none ? e : release_in_hunk(h, block);
  }

  /// The hunk the tag in front of `block` names, once the registry says it is one
  /// of this pool's (only then is it followed): foreign_pointer for a pointer that
  /// cannot be an object or a tag that names no hunk of this pool, double_free for
  /// the freed tag of one.
  SWIM_MEM_API Error validated_hunk(Block block, Hunk*& out) const {
    if (block.ptr == nullptr || block.address() % tag_size != 0) return Error::foreign_pointer;
    const std::uint64_t tag = peek_tag(block.ptr);  // may be no tag, in poisoned memory
    Hunk* h = static_cast<Hunk*>(tag_control(tag));
    if (!registered(h)) return Error::foreign_pointer;
    if (tag_kind(tag) == HoldKind::freed) return Error::double_free;
    if (tag_kind(tag) != Hunk::kind) return Error::foreign_pointer;
    out = h;
    return Error::none;
  }

  /// Free an object of this pool, trusting its tag (the fast build's typed free):
  /// a block whose tag is not a tag of some hold is undefined behaviour; objects
  /// of other holds and double frees are still reported.
  SWIM_MEM_API Error trusted_free(Block block) {
    if (block.size == 0 && block.ptr == zero_object()) return release_zero(block);
    if (block.ptr == nullptr || block.address() % tag_size != 0) return Error::foreign_pointer;
    const std::uint64_t tag = tag_of<Mode>(block.ptr).load(order::relaxed);
    Hunk* h = static_cast<Hunk*>(tag_control(tag));
    if (tag_kind(tag) == HoldKind::freed) return Error::double_free;
    if (tag_kind(tag) != Hunk::kind || h == nullptr || h->pool != this) {
      return Error::foreign_pointer;
    }
    return release_in_hunk(h, block);
  }

  /// Resize an object of this pool in place (growth only for the most recent
  /// object of the head hunk, within the hunk). The tag is validated as
  /// checked_free validates it.
  SWIM_MEM_API Result<Block> try_resize(Block block, Layout layout) {
    if (block.size == 0) return Error::foreign_pointer;
    Hunk* h = nullptr;
    const Error e = validated_hunk(block, h);
    if (e != Error::none) return e;
    return resize_in_hunk(h, block, layout);
  }

  /// Resize an object whose tag names hunk `h` of this pool (trusted, as for
  /// release_in_hunk).
  SWIM_MEM_API Result<Block> resize_in_hunk(Hunk* h, Block block, Layout layout) {
    if (layout.size == 0) return Error::unsupported;
    bool ok_old = false, ok_new = false;
    const std::size_t old8 = granule_size(block.size, ok_old);
    const std::size_t new8 = granule_size(layout.size, ok_new);
    if (!ok_old || block.size == 0 || !h->bump.contains(block.address(), old8)) {
      return Error::foreign_pointer;
    }
    const std::uint64_t tag = peek_tag(block.ptr);
    if (tag != h->tag()) return tag == freed_tag(h) ? Error::double_free : Error::foreign_pointer;
    if (!ok_new) return Error::oversized;
    if (!is_pow2(layout.align) || block.address() % layout.align != 0) return Error::misaligned;
    const Error e = h->bump.resize(block.address(), old8, new8);
    if (e != Error::none) return e;
    if (new8 >= old8) {
      const std::uint64_t used = used_.fetch_add(new8 - old8, order::relaxed) + (new8 - old8);
      raise_to(peak_, used);
    } else {
      used_.fetch_sub(old8 - new8, order::relaxed);
    }
    return Block{block.ptr, new8};
  }

  /// Whether `h` is one of this pool's hunks (in service, or spare). Reads only
  /// this pool's hunk headers, never `*h` unless it is one of them.
  SWIM_MEM_API bool registered(const Hunk* h) const {
    const auto a = reinterpret_cast<std::uintptr_t>(h);
    if (a == 0 || a % alignof(Hunk) != 0) return false;
    if (head_.load(order::acquire) == a) return true;
    std::uint64_t at = registry_[registry_slot(h)].load(order::acquire);
    while (at != 0) {
      if (at == a) return true;
      at = reinterpret_cast<const Hunk*>(static_cast<std::uintptr_t>(at))
               ->next_registered.load(order::acquire);
    }
    return false;
  }

  /// bytes_free is what the pool holds from its heap and has not handed out (hunk
  /// headers, tags and the holes of objects freed out of LIFO order included).
  /// largest_free is the larger of what the two places an allocation tries before
  /// the heap can give: the room above the head hunk's mark and the whole of the
  /// spare hunk on top of the spare list (a growth that finds it too small goes
  /// to the heap, whatever the spares below it), each less the object's tag word.
  /// O(1): the counters, the head's state word and the top spare's header. Exact
  /// when quiescent; under concurrency, a head or spare of a moment before.
  SWIM_MEM_API Stats stats() const {
    const std::size_t used = static_cast<std::size_t>(used_.load(order::relaxed));
    const std::size_t reserved = static_cast<std::size_t>(reserved_.load(order::relaxed));
    const std::size_t unused = reserved > used ? reserved - used : 0;
    const std::size_t largest = largest_free_object();
    return Stats{static_cast<std::size_t>(live_.load(order::relaxed) + zero_count_.count()), used,
                 unused, static_cast<std::size_t>(peak_.load(order::relaxed)),
                 largest < unused ? largest : unused};
  }

  /// The occupancy walk (physical/region.hpp; quiescent only). One range per hunk,
  /// in registry order (not by address), each the block its heap gave: the header
  /// (control), the part below the mark (live: objects, tags, and holes of objects
  /// freed out of LIFO order, which no record tells apart), the room above it (free
  /// in the head hunk; unused in any other hunk with live objects, since no
  /// allocation bumps there until it empties and is reused), and the tail past the
  /// last granule (unused). A spare hunk is free past its header. O(hunks).
  SWIM_MEM_EXEC_CHECK_DISABLE
  template <class F>
  SWIM_MEM_API void walk(F&& f) const {
    for (unsigned i = 0; i < registry_lists; ++i) {
      for (std::uint64_t at = registry_[i].raw; at != 0;) {
        const Hunk* h = reinterpret_cast<const Hunk*>(static_cast<std::uintptr_t>(at));
        f(Region{h, 0, sizeof(Hunk), RegionKind::control});
        const std::uint64_t s = h->bump.state.raw;
        if ((s & Bump<Mode>::retired) != 0) {
          if (h->bump.capacity != 0) {
            f(Region{h, sizeof(Hunk), h->bump.capacity, RegionKind::free});
          }
        } else {
          const RegionKind rest =
              (s & Bump<Mode>::head) != 0 ? RegionKind::free : RegionKind::unused;
          h->bump.walk(h, sizeof(Hunk), rest, f);
        }
        const std::size_t end = sizeof(Hunk) + h->bump.capacity;
        if (h->block_size > end) f(Region{h, end, h->block_size - end, RegionKind::unused});
        at = h->next_registered.raw;
      }
    }
  }
  /// Allocate without knowing the upstream heap's type (a lease growing, a stow
  /// into "the same hold"): growth goes through the HeapRef. Error::unsupported if
  /// the pool must grow and its heap is not one HeapRef knows.
  SWIM_MEM_API Result<Block> try_allocate_any(Layout layout) {
    return allocate_from(upstream_, layout);
  }

  SWIM_MEM_API std::size_t hunk_size() const { return hunk_size_; }

  /// Stop bumping in the current head hunk: the next allocation starts a fresh one.
  /// The old head retires when its objects are gone (compaction uses this).
  SWIM_MEM_API void retire_head() {
    std::uint64_t head = head_.load(order::acquire);
    if (head != 0 && head_.compare_exchange(head, 0, order::acq_rel)) {
      demote(reinterpret_cast<Hunk*>(head));
    }
  }

  /// The largest object served without the heap (see stats()).
  SWIM_MEM_API std::size_t largest_free_object() const {
    const std::uint64_t head = head_.load(order::acquire);
    std::size_t best = head == 0 ? 0 : reinterpret_cast<const Hunk*>(head)->bump.largest_object();
    const std::uint64_t top = spares_.load(order::acquire) & spare_ptr_mask;
    if (top != 0) {
      // A spare's header stays valid while the pool lives (trim needs quiescence).
      const auto* h = reinterpret_cast<const Hunk*>(static_cast<std::uintptr_t>(top << spare_shift));
      const std::size_t room = h->bump.capacity;
      if (room >= tag_size + Bump<Mode>::granule && room - tag_size > best) best = room - tag_size;
    }
    return best;
  }

  /// Bytes still untouched at the end of the head hunk (where the next objects go).
  SWIM_MEM_API std::size_t head_free_bytes() const {
    const std::uint64_t head = head_.load(order::acquire);
    return head == 0 ? 0 : reinterpret_cast<const Hunk*>(head)->bump.free_bytes();
  }

  /// Bytes currently held from the upstream heap.
  SWIM_MEM_API std::size_t reserved_bytes() const {
    return static_cast<std::size_t>(reserved_.load(order::relaxed));
  }
  /// Hunks currently held from the upstream heap.
  SWIM_MEM_API std::size_t hunk_count() const {
    return static_cast<std::size_t>(hunks_.load(order::relaxed));
  }

  // ---- The control block contract (holds/hold_kinds.hpp) ------------------------------
  // A PoolCore's tag is on its zero-size objects; a HoldRef to a Pool names it.
  SWIM_MEM_API Error tag_free(Block block) { return release_zero(block); }
  SWIM_MEM_API Result<Block> tag_resize(Block, Layout) { return Error::unsupported; }
  SWIM_MEM_API std::uint64_t tag_owner() const { return zero_.tag; }
  SWIM_MEM_API Result<Block> tag_allocate(Layout layout) { return try_allocate_any(layout); }

 protected:
  static constexpr unsigned grow_attempts = 16;
  static constexpr std::size_t min_hunk_size = 2 * sizeof(Hunk);

  SWIM_MEM_API PoolCore(std::size_t hunk_size, HeapRef upstream, bool give_back_at_once)
      : upstream_(upstream),
        hunk_size_(hunk_size < min_hunk_size ? min_hunk_size : hunk_size),
        give_back_at_once_(give_back_at_once) {
    zero_.tag = make_tag(this, zero_kind);
    zero_count_.live.raw = 0;
    head_.raw = 0;
    spares_.raw = 0;
    live_.raw = used_.raw = peak_.raw = reserved_.raw = hunks_.raw = 0;
    for (auto& r : registry_) r.raw = 0;
  }

  SWIM_MEM_API void* zero_object() { return zero_.object(); }

  /// Allocate, growing from `heap` when the head hunk is full.
  template <class H>
  SWIM_MEM_API Result<Block> allocate_from(H& heap, Layout layout) {
    if (!detail::is_pow2(layout.align)) return Error::misaligned;
    if (layout.size == 0 && layout.align <= detail::ZeroTag::max_align) {
      zero_count_.add();
      return Block{zero_object(), 0};
    }
    if (detail::fault_point()) return Error::out_of_memory;
    bool ok = false;
    const std::size_t size8 =
        detail::granule_size(detail::max_of<std::size_t>(layout.size, 1), ok);
    if (!ok || size8 > Bump<Mode>::max_capacity) return Error::oversized;
    const std::size_t align = detail::max_of(layout.align, Bump<Mode>::granule);
    std::uint64_t seen = head_.load(order::acquire);
    for (unsigned attempt = 0; attempt < max_retries; ++attempt) {
      if (seen == 0) break;
      Hunk* h = reinterpret_cast<Hunk*>(seen);
      const Result<Block> r = h->bump.bump(size8, align, h->tag());
      if (r) {
        account_allocation(size8);
        return r;
      }
      if (r.error() != Error::out_of_memory) return r.error();
      const std::uint64_t now = head_.load(order::acquire);
      if (now == seen) break;  // the head really is full
      seen = now;
    }
    return grow(heap, size8, align, seen);
  }

  /// Serve a request from a fresh hunk (a spare, or a new one from the heap) and
  /// make it the head.
  template <class H>
  SWIM_MEM_API Result<Block> grow(H& heap, std::size_t size8, std::size_t align,
                                  std::uint64_t old_head) {
    if (size8 > Bump<Mode>::max_capacity - sizeof(Hunk) - align) return Error::oversized;
    // Room for the header, the object and its alignment padding (which includes the
    // tag word: align >= 8, and the data area starts 64-byte aligned).
    const std::size_t need = sizeof(Hunk) + align + size8;
    for (unsigned attempt = 0; attempt < grow_attempts; ++attempt) {
      Hunk* h = pop_spare();
      if (h != nullptr && h->bump.capacity + sizeof(Hunk) < need) {
        push_spare(h);  // too small for this request; leave it for others
        h = nullptr;
      }
      if (h != nullptr) {
        h->bump.state.store(Bump<Mode>::head, order::relaxed);  // back in service
      } else {
        const Result<Block> blk =
            heap.try_allocate(Layout{detail::max_of(need, hunk_size_), alignof(Hunk)});
        if (!blk) return blk.error();
        if (blk->size < need || blk->address() % alignof(Hunk) != 0) {
          (void)release_to(heap, *blk);  // (a heap that refuses its own block: nothing to do)
          return Error::out_of_memory;
        }
        h = static_cast<Hunk*>(blk->ptr);
        h->bump.init(blk->address() + sizeof(Hunk), blk->size - sizeof(Hunk), Bump<Mode>::head);
        h->pool = this;
        h->next_spare.raw = 0;
        h->block_size = blk->size;
        enroll(h);
        reserved_.fetch_add(blk->size, order::relaxed);
        hunks_.fetch_add(1, order::relaxed);
      }
      const Result<Block> r = h->bump.bump(size8, align, h->tag());
      if (!r) {
        // A thread that still saw this recycled hunk as its head filled it first.
        demote(h);
        continue;
      }
      account_allocation(size8);
      // Install it as head. The thread whose CAS replaces a head demotes it; if
      // another thread installed a hunk meanwhile, ours is demoted at once (it holds
      // our object, so it retires when that object and its neighbours are freed).
      std::uint64_t expected = old_head;
      if (head_.compare_exchange(expected, reinterpret_cast<std::uint64_t>(h),
                                       order::acq_rel)) {
        if (old_head != 0) demote(reinterpret_cast<Hunk*>(old_head));
      } else {
        demote(h);
      }
      return r;
    }
    return Error::contended;
  }

  /// Give every spare hunk back to `heap`. A hunk the heap does not take back now
  /// (a heap behind a try-lock that stays contended) stays a spare, for a later trim.
  template <class H>
  SWIM_MEM_API void trim_to(H& heap) {
    while (Hunk* h = pop_spare()) {
      if (!give_back(heap, h)) {
        push_spare(h);
        return;
      }
    }
  }

  static constexpr unsigned give_back_retries = 1u << 16;

  /// Free `block` to `heap`, retrying Error::contended (boundedly): a hunk must
  /// never be dropped because the heap was busy.
  template <class H>
  SWIM_MEM_API static Error release_to(H& heap, Block block) {
    Error e = Error::contended;
    for (unsigned attempt = 0; attempt < give_back_retries; ++attempt) {
      e = heap.try_deallocate(block);
      if (e != Error::contended) break;
      backoff(attempt);  // a busy heap's lock holder may be off its core (config/backoff.hpp)
    }
    return e;
  }

  /// Give hunk `h` back to `heap`; false (and nothing changed) if the heap would not
  /// take it.
  template <class H>
  SWIM_MEM_API bool give_back(H& heap, Hunk* h) {
    const std::size_t size = h->block_size;
    withdraw(h);  // first: once the heap has it, its header is not ours to read
    // The hunk goes back as the heap gave it: accessible (config/poison.hpp).
    unpoison_meta(h, size);
    if (release_to(heap, Block{h, size}) != Error::none) {
      enroll(h);
      return false;
    }
    reserved_.fetch_sub(size, order::relaxed);
    hunks_.fetch_sub(1, order::relaxed);
    return true;
  }


  SWIM_MEM_API void account_allocation(std::size_t size8) {
    live_.fetch_add(1, order::relaxed);
    const std::uint64_t used = used_.fetch_add(size8, order::relaxed) + size8;
    raise_to(peak_, used);
  }

  /// Take hunk `h` out of the head role (it was just replaced as head, or never
  /// became head). If it is empty it retires in the same CAS and goes onto the spare
  /// list; otherwise the free of its last object will retire it.
  SWIM_MEM_API void demote(Hunk* h) {
    std::uint64_t s = h->bump.state.load(order::relaxed);
    for (;;) {  // fails only when a concurrent allocation or free changed the word
      const std::uint64_t desired = (s & Bump<Mode>::live_mask) == 0
                                        ? Bump<Mode>::retired
                                        : s & ~Bump<Mode>::head;
      if (h->bump.state.compare_exchange(s, desired, order::acq_rel)) {
        if (desired == Bump<Mode>::retired) push_spare(h);
        return;
      }
    }
  }

  // Registry: 32 push-only lists of hunk headers (a hunk leaves its list only in
  // give_back, which runs without concurrent users: trim's contract).
  static constexpr unsigned registry_lists = 32;
  SWIM_MEM_API static unsigned registry_slot(const Hunk* h) {
    const auto a = static_cast<std::uint64_t>(reinterpret_cast<std::uintptr_t>(h));
    return static_cast<unsigned>(((a >> 6) * 0x9E3779B97F4A7C15ull) >> 59);
  }
  SWIM_MEM_API void enroll(Hunk* h) {
    auto& list = registry_[registry_slot(h)];
    std::uint64_t first = list.load(order::relaxed);
    // Lock-free: a failed CAS means another hunk was enrolled; giving up would
    // leave this one unknown to validated frees.
    for (;;) {
      h->next_registered.store(first, order::relaxed);
      if (list.compare_exchange(first, reinterpret_cast<std::uintptr_t>(h), order::release)) {
        return;
      }
    }
  }
  SWIM_MEM_API void withdraw(Hunk* h) {
    auto* link = &registry_[registry_slot(h)];
    const auto a = static_cast<std::uint64_t>(reinterpret_cast<std::uintptr_t>(h));
    for (std::uint64_t at = link->load(order::acquire); at != 0; at = link->load(order::acquire)) {
      if (at == a) {
        link->store(h->next_registered.load(order::relaxed), order::release);
        return;
      }
      link = &reinterpret_cast<Hunk*>(static_cast<std::uintptr_t>(at))->next_registered;
    }
  }

  // Spare list: a Treiber stack whose head packs {pop counter : 16, hunk >> 6 : 48}
  // (hunks are 64-byte aligned, so addresses up to 2^54 fit). The counter makes a
  // stale pop's CAS fail after the same hunk came back (ABA). Spare headers stay
  // valid while the pool lives, so reading `next_spare` is always safe.
  static constexpr unsigned spare_shift = 6;
  static constexpr std::uint64_t spare_ptr_mask = (std::uint64_t(1) << 48) - 1;

  SWIM_MEM_API void push_spare(Hunk* h) {
    const std::uint64_t packed = reinterpret_cast<std::uintptr_t>(h) >> spare_shift;
    SWIM_MEM_ASSERT(packed <= spare_ptr_mask);
    std::uint64_t head = spares_.load(order::relaxed);
    // Lock-free: a failed CAS means another push or pop succeeded. Not bounded by
    // a count on purpose: giving up would lose track of the hunk.
    for (;;) {
      h->next_spare.store(head & spare_ptr_mask, order::relaxed);
      if (spares_.compare_exchange(head, (head & ~spare_ptr_mask) | packed, order::release)) {
        return;
      }
    }
  }

  SWIM_MEM_API Hunk* pop_spare() {
    std::uint64_t head = spares_.load(order::acquire);
    for (unsigned attempt = 0; attempt < max_retries; ++attempt) {
      const std::uint64_t top = head & spare_ptr_mask;
      if (top == 0) return nullptr;
      Hunk* h = reinterpret_cast<Hunk*>(static_cast<std::uintptr_t>(top << spare_shift));
      const std::uint64_t next = h->next_spare.load(order::relaxed);
      const std::uint64_t desired = ((head >> 48) + 1) << 48 | next;
      if (spares_.compare_exchange(head, desired, order::acquire)) return h;
    }
    return nullptr;
  }

  ZeroTag zero_;  // zero-size objects sit just past it
  ZeroCount<Mode> zero_count_;
  HeapRef upstream_;  // for growth reached through a tag (none: unsupported)
  std::size_t hunk_size_;
  bool give_back_at_once_;  // single owner: emptied hunks go back to the heap at once
  cell<std::uint64_t, Mode> head_;    // Hunk* of the hunk being bumped, or 0
  cell<std::uint64_t, Mode> spares_;  // see push_spare
  cell<std::uint64_t, Mode> live_;
  cell<std::uint64_t, Mode> used_;
  cell<std::uint64_t, Mode> peak_;
  cell<std::uint64_t, Mode> reserved_;
  cell<std::uint64_t, Mode> hunks_;
  cell<std::uint64_t, Mode> registry_[registry_lists];  // see enroll
};

template <concurrency_mode Mode>
SWIM_MEM_API inline Error PoolHunk<Mode>::tag_free(Block block) {
  return pool->release_in_hunk(this, block);
}
template <concurrency_mode Mode>
SWIM_MEM_API inline Result<Block> PoolHunk<Mode>::tag_resize(Block block, Layout layout) {
  return pool->resize_in_hunk(this, block, layout);
}
template <concurrency_mode Mode>
SWIM_MEM_API inline std::uint64_t PoolHunk<Mode>::tag_owner() const {
  return pool->tag_owner();
}

}  // namespace detail

/// A growable hold of bump hunks drawn from a Heap.
///
/// - Thread-safety: concurrent mode: lock-free allocate and free from any number
///   of threads; trim() only while no other thread uses the pool. single_owner:
///   one caller.
/// - Host/device: every member is valid on both, provided the Pool, its heap and
///   the hunks are reachable from the calling side.
/// - Failure: Error values; exhaustion of the heap is Error::out_of_memory (or the
///   heap's own error) and leaves the pool unchanged.
/// - Checked (default: SWIM_MEM_CHECKED, on unless NDEBUG): try_deallocate
///   validates the tag in front of the pointer against the pool's hunk registry
///   before following it, so any pointer whose preceding word is readable gives
///   foreign_pointer or double_free, never a crash. Unchecked: the tag is trusted
///   (as hold_deallocate trusts it); a pointer that is not preceded by some hold's
///   tag is undefined behaviour. HoldRef::try_deallocate always validates.
///   Either way the size given back must be the object's (as for Pack), and a
///   pointer into a hunk that already went back to the heap (trim(), or at once in
///   single-owner mode) is no longer the pool's to check.
template <heap Heap, concurrency_mode Mode = concurrent, bool Checked = (SWIM_MEM_CHECKED != 0)>
class Pool : public detail::PoolCore<Mode> {
  using Core = detail::PoolCore<Mode>;
  using Hunk = typename Core::Hunk;
  using Bump = detail::Bump<Mode>;

 public:
  static constexpr std::size_t default_hunk_size = 64 * 1024;
  static constexpr bool checked = Checked;
  static constexpr bool give_back_at_once = !Mode::is_concurrent && heap_reuses_freed<Heap>;

  /// Draw hunks of `hunk_size` bytes (larger for larger objects) from `upstream`,
  /// which must outlive the pool. A single-owner Pool gives a hunk that empties
  /// back to the heap at once, if the heap can reuse it (heap_reuses_freed);
  /// otherwise (a bump source) it keeps it as a spare, as a concurrent Pool does.
  SWIM_MEM_API explicit Pool(Heap& upstream, std::size_t hunk_size = default_hunk_size)
      : Core(hunk_size, HeapRef::of(upstream), give_back_at_once), heap_(&upstream) {}
  Pool(const Pool&) = delete;
  Pool& operator=(const Pool&) = delete;

  /// Gives every hunk back. With live objects it reports a leak instead, and keeps
  /// the hunks that may hold them (zero-size objects hold no bytes).
  SWIM_MEM_API ~Pool() {
    trim();
    Hunk* head = reinterpret_cast<Hunk*>(this->head_.load(order::acquire));
    const Stats s = this->stats();
    if (s.live != 0) detail::leaked("Pool", this, s);
    if (this->live_.load(order::relaxed) != 0) return;
    if (head != nullptr) (void)this->give_back(*heap_, head);
    // Hunks the heap would not take back (it stayed contended, or refused them).
    if (this->hunks_.load(order::relaxed) != 0) detail::leaked("Pool", this, this->stats());
  }

  /// A tagged block of layout.size bytes (rounded up to 8) aligned to layout.align.
  SWIM_MEM_API Result<Block> try_allocate(Layout layout) {
    return this->allocate_from(*heap_, layout);
  }

  /// Free an object of this pool (as try_allocate returned it). Foreign pointers
  /// and double frees are reported (see Checked in the class comment).
  SWIM_MEM_API Error try_deallocate(Block block) {
    Error e = Error::none;
    if constexpr (Checked) {
      e = this->checked_free(block);
    } else {
      e = this->trusted_free(block);
    }
    if constexpr (give_back_at_once) {
      if (e == Error::none) trim();  // a hunk that emptied goes back at once
    }
    return e;
  }

  /// Give every spare hunk back to the heap. Concurrent mode: call it only while
  /// no other thread uses this pool (a validated free reads the hunk registry,
  /// which this changes).
  SWIM_MEM_API void trim() { this->trim_to(*heap_); }

  /// Always Error::none: a Pool needs nothing until it asks its heap.
  SWIM_MEM_API Error init_error() const { return Error::none; }

 private:
  Heap* heap_;
};

}  // namespace swim::mem
