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
#include "swim/mem/holds/detail/in_flight.hpp"
#include "swim/mem/holds/detail/zero_count.hpp"
#include "swim/mem/holds/tag.hpp"
#include "swim/mem/physical.hpp"

namespace swim::mem {
namespace detail {

/// The in-band header of a Pool hunk; its objects' tags point here (relative to
/// each object with relative_address: holds/tag.hpp).
template <concurrency_mode Mode, class Addr>
struct alignas(64) PoolHunk {
  static constexpr HoldKind kind = hold_kind_v<PoolHunk>;
  static constexpr bool relative_tags = !std::is_same_v<Addr, direct_address>;

  Bump<Mode, Addr> bump;
  typename Addr::template pointer<PoolCore<Mode, Addr>> pool;
  cell<std::uint64_t, Mode> next_spare;       // PoolCore::word_of
  cell<std::uint64_t, Mode> next_registered;  // the next hunk of its registry list (word_of)
  std::size_t block_size;  // as the heap returned it, for giving it back

  /// The tag a live object of this hunk at `object` has, and a freed one.
  SWIM_MEM_API std::uint64_t tag_at(const void* object) const {
    return tag_for<relative_tags>(this, object, kind);
  }
  SWIM_MEM_API std::uint64_t freed_at(const void* object) const {
    return tag_for<relative_tags>(this, object, HoldKind::freed);
  }

  // The control block contract (holds/hold_kinds.hpp), defined after PoolCore.
  SWIM_MEM_API Error tag_free(Block block);
  SWIM_MEM_API Result<Block> tag_resize(Block block, Layout layout);
  SWIM_MEM_API std::uint64_t tag_owner() const;
};

/// The part of a Pool that does not depend on the upstream heap's type, so that a
/// free through an object's tag (which cannot know the heap) is possible.
///
/// With relative_address (concurrent only) the pool and its hunks live in memory
/// that processes map at different addresses: tags are relative to their objects,
/// and every word that names a hunk (head, spare list, registry) holds its
/// distance from the pool (word_of), so each mapping follows it to its own address.
template <concurrency_mode Mode, class Addr>
class PoolCore {
  static_assert(std::is_same_v<Addr, direct_address> || Mode::is_concurrent,
                "a relative Pool is shared between processes: concurrent only");

 public:
  using Hunk = PoolHunk<Mode, Addr>;
  using BumpType = Bump<Mode, Addr>;
  static constexpr HoldKind zero_kind = hold_kind_v<PoolCore>;
  static constexpr bool relative_tags = !std::is_same_v<Addr, direct_address>;
  static constexpr unsigned max_retries = 1u << 16;

  /// Free an object whose tag names hunk `h` of this pool (the tag is trusted:
  /// it led here; the block must match it).
  SWIM_MEM_API Error release_in_hunk(Hunk* h, Block block) {
    // A size of 0 is the 8-byte object of a zero-size request aligned past 64.
    bool ok = false;
    const std::size_t size8 = granule_size(max_of<std::size_t>(block.size, 1), ok);
    const std::uintptr_t at = block.address();
    if (!ok || !h->bump.contains(at, size8)) return Error::foreign_pointer;
    const std::uint64_t live = h->tag_at(block.ptr), freed = h->freed_at(block.ptr);
    const std::uint64_t seen = peek_tag(block.ptr);  // may be no tag, in poisoned memory
    if (seen != live) return seen == freed ? Error::double_free : Error::foreign_pointer;
    auto& tag = tag_of<Mode>(block.ptr);
    std::uint64_t expected = live;
    if (!tag.compare_exchange(expected, freed, order::acq_rel)) {
      return expected == freed ? Error::double_free : Error::foreign_pointer;
    }
    const Result<std::uint64_t> r = h->bump.release(at, size8);
    if (!r) {
      tag.store(live, order::relaxed);
      return r.error();
    }
    live_.fetch_sub(1, order::relaxed);
    used_.fetch_sub(size8, order::relaxed);
    // The CAS that freed the last object of a non-head hunk also retired it, so
    // exactly one thread (this one) puts it on the spare list.
    if ((*r & BumpType::retired) != 0) {
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
    Hunk* h = control_of(tag, block.ptr);
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
    Hunk* h = control_of(tag, block.ptr);
    if (tag_kind(tag) == HoldKind::freed) return Error::double_free;
    if (tag_kind(tag) != Hunk::kind || h == nullptr || h->pool.get() != this) {
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
    if (tag != h->tag_at(block.ptr)) {
      return tag == h->freed_at(block.ptr) ? Error::double_free : Error::foreign_pointer;
    }
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
    const auto p = reinterpret_cast<std::uintptr_t>(h);
    if (p == 0 || p % alignof(Hunk) != 0) return false;
    const std::uint64_t a = word_of(h);
    if (head_.load(order::acquire) == a) return true;
    std::uint64_t at = registry_[registry_slot(a)].load(order::acquire);
    while (at != 0) {
      if (at == a) return true;
      at = hunk_at(at)->next_registered.load(order::acquire);
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
        const Hunk* h = hunk_at(at);
        f(Region{h, 0, sizeof(Hunk), RegionKind::control});
        const std::uint64_t s = h->bump.state.raw;
        if ((s & BumpType::retired) != 0) {
          if (h->bump.capacity != 0) {
            f(Region{h, sizeof(Hunk), h->bump.capacity, RegionKind::free});
          }
        } else {
          const RegionKind rest =
              (s & BumpType::head) != 0 ? RegionKind::free : RegionKind::unused;
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
    HeapRef heap = upstream();
    return allocate_from(heap, layout);
  }

  /// The upstream heap as this mapping sees it (none: growth through a tag is
  /// unsupported).
  SWIM_MEM_API HeapRef upstream() const {
    if constexpr (relative_tags) {
      return HeapRef::at(upstream_at_.get(), upstream_kind_);
    } else {
      return upstream_;
    }
  }

  SWIM_MEM_API std::size_t hunk_size() const { return hunk_size_; }

  /// Stop bumping in the current head hunk: the next allocation starts a fresh one.
  /// The old head retires when its objects are gone (compaction uses this).
  SWIM_MEM_API void retire_head() {
    std::uint64_t head = head_.load(order::acquire);
    if (head != 0 && head_.compare_exchange(head, 0, order::acq_rel)) {
      demote(hunk_at(head));
    }
  }

  /// The largest object served without the heap (see stats()).
  SWIM_MEM_API std::size_t largest_free_object() const {
    const std::uint64_t head = head_.load(order::acquire);
    std::size_t best = head == 0 ? 0 : hunk_at(head)->bump.largest_object();
    const std::uint64_t top = spares_.load(order::acquire) & spare_ptr_mask;
    if (top != 0) {
      // A spare's header stays valid while the pool lives (trim needs quiescence).
      const Hunk* h = hunk_at(top << spare_shift);
      const std::size_t room = h->bump.capacity;
      if (room >= tag_size + BumpType::granule && room - tag_size > best) best = room - tag_size;
    }
    return best;
  }

  /// Bytes still untouched at the end of the head hunk (where the next objects go).
  SWIM_MEM_API std::size_t head_free_bytes() const {
    const std::uint64_t head = head_.load(order::acquire);
    return head == 0 ? 0 : hunk_at(head)->bump.free_bytes();
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
  /// The HoldRef word: {this | zero_kind}, absolute (this process's address) also
  /// for a relative pool.
  SWIM_MEM_API std::uint64_t tag_owner() const { return make_tag(this, zero_kind); }
  SWIM_MEM_API Result<Block> tag_allocate(Layout layout) { return try_allocate_any(layout); }

 protected:
  static constexpr unsigned grow_attempts = 16;
  static constexpr std::size_t min_hunk_size = 2 * sizeof(Hunk);

  SWIM_MEM_API PoolCore(std::size_t hunk_size, HeapRef upstream, bool give_back_at_once)
      : hunk_size_(hunk_size < min_hunk_size ? min_hunk_size : hunk_size),
        give_back_at_once_(give_back_at_once) {
    // A relative pool keeps its heap as a distance and a kind (a HeapRef holds
    // this process's address).
    if constexpr (relative_tags) {
      upstream_at_.set(upstream.address());
      upstream_kind_ = upstream.kind();
    } else {
      upstream_ = upstream;
    }
    zero_.tag = tag_for<relative_tags>(this, zero_.object(), zero_kind);
    zero_count_.live.raw = 0;
    head_.raw = 0;
    spares_.raw = 0;
    live_.raw = used_.raw = peak_.raw = reserved_.raw = hunks_.raw = 0;
    growing_.clear();
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
    if (!ok || size8 > BumpType::max_capacity) return Error::oversized;
    const std::size_t align = detail::max_of(layout.align, BumpType::granule);
    std::uint64_t seen = head_.load(order::acquire);
    for (unsigned attempt = 0; attempt < max_retries; ++attempt) {
      if (seen == 0) break;
      Hunk* h = hunk_at(seen);
      const Result<Block> r = bump_in(h, size8, align);
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
    if (size8 > BumpType::max_capacity - sizeof(Hunk) - align) return Error::oversized;
    // Room for the header, the object and its alignment padding (which includes the
    // tag word: align >= 8, and the data area starts 64-byte aligned).
    const std::size_t need = sizeof(Hunk) + align + size8;
    for (unsigned attempt = 0; attempt < grow_attempts; ++attempt) {
      // growing_ counts the grows from before they look for a hunk (a spare, or a
      // draw from the heap) until they install it or find none, and tells those
      // that found one: a thread that finds nothing learns from it whether a hunk
      // with room is on its way (wait_for_new_head; holds/detail/in_flight.hpp).
      InFlight<Mode> counted(growing_);
      Hunk* h = pop_spare();
      if (h != nullptr && h->bump.capacity + sizeof(Hunk) < need) {
        push_spare(h);  // too small for this request; leave it for others
        h = nullptr;
      }
      if (h != nullptr) {
        counted.found();
        h->bump.state.store(BumpType::head, order::relaxed);  // back in service
      } else {
        const Result<Block> blk =
            heap.try_allocate(Layout{detail::max_of(need, hunk_size_), alignof(Hunk)});
        if (!blk) {
          counted.end();  // (before the wait: this thread waits for the others)
          if (blk.error() != Error::out_of_memory) return blk.error();
          const Result<std::uint64_t> now = wait_for_new_head(old_head);
          if (!now) return now.error();
          const Result<Block> r = bump_in(hunk_at(*now), size8, align);
          if (r) {
            account_allocation(size8);
            return r;
          }
          old_head = *now;
          continue;
        }
        counted.found();
        if (blk->size < need || blk->address() % alignof(Hunk) != 0) {
          (void)release_to(heap, *blk);  // (a heap that refuses its own block: nothing to do)
          return Error::out_of_memory;
        }
        h = static_cast<Hunk*>(blk->ptr);
        h->bump.init(blk->address() + sizeof(Hunk), blk->size - sizeof(Hunk), BumpType::head);
        h->pool.set(this);
        h->next_spare.raw = 0;
        h->block_size = blk->size;
        enroll(h);
        reserved_.fetch_add(blk->size, order::relaxed);
        hunks_.fetch_add(1, order::relaxed);
      }
      const Result<Block> r = bump_in(h, size8, align);
      if (!r) {
        // A thread that still saw this recycled hunk as its head filled it first
        // (a spare; a hunk fresh from the heap is nobody else's yet).
        demote(h);
        continue;
      }
      account_allocation(size8);
      // Install it as head. The thread whose CAS replaces a head demotes it; if
      // another thread installed a hunk meanwhile, ours is demoted at once (it holds
      // our object, so it retires when that object and its neighbours are freed).
      std::uint64_t expected = old_head;
      if (head_.compare_exchange(expected, word_of(h), order::acq_rel)) {
        if (old_head != 0) demote(hunk_at(old_head));
      } else {
        demote(h);
      }
      counted.end();  // after the install
      return r;
    }
    return Error::contended;
  }

  /// After this thread found no spare and the heap dry with `old_head` full: the
  /// head another thread installs meanwhile, or InFlight::give_up's answer.
  SWIM_MEM_API Result<std::uint64_t> wait_for_new_head(std::uint64_t old_head) {
    using Seen = typename InFlight<Mode>::Seen;
    for (unsigned t = 0;; ++t) {
      // The counts before head_: a grow no longer counted has installed its hunk.
      const Seen seen = InFlight<Mode>::seen(growing_);
      const std::uint64_t now = head_.load(order::acquire);
      if (now != old_head && now != 0) return now;
      if (const Error e = InFlight<Mode>::give_up(seen, t); e != Error::none) return e;
      backoff(t);
    }
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
      const std::uint64_t desired = (s & BumpType::live_mask) == 0
                                        ? BumpType::retired
                                        : s & ~BumpType::head;
      if (h->bump.state.compare_exchange(s, desired, order::acq_rel)) {
        if (desired == BumpType::retired) push_spare(h);
        return;
      }
    }
  }

  // Registry: 32 push-only lists of hunk headers (a hunk leaves its list only in
  // give_back, which runs without concurrent users: trim's contract).
  static constexpr unsigned registry_lists = 32;
  // By the hunk's word (word_of), the same in every mapping.
  SWIM_MEM_API static unsigned registry_slot(std::uint64_t word) {
    return static_cast<unsigned>(((word >> 6) * 0x9E3779B97F4A7C15ull) >> 59);
  }
  SWIM_MEM_API void enroll(Hunk* h) {
    auto& list = registry_[registry_slot(word_of(h))];
    std::uint64_t first = list.load(order::relaxed);
    // Lock-free: a failed CAS means another hunk was enrolled; giving up would
    // leave this one unknown to validated frees.
    for (;;) {
      h->next_registered.store(first, order::relaxed);
      if (list.compare_exchange(first, word_of(h), order::release)) {
        return;
      }
    }
  }
  SWIM_MEM_API void withdraw(Hunk* h) {
    const std::uint64_t a = word_of(h);
    auto* link = &registry_[registry_slot(a)];
    for (std::uint64_t at = link->load(order::acquire); at != 0; at = link->load(order::acquire)) {
      if (at == a) {
        link->store(h->next_registered.load(order::relaxed), order::release);
        return;
      }
      link = &hunk_at(at)->next_registered;
    }
  }

  // Spare list: a Treiber stack whose head packs {pop counter : 16, word >> 6 : 48}
  // (hunks and the pool are 64-byte aligned, so words up to 2^54 fit: addresses
  // up to 2^54, distances within 2^53). The counter makes a
  // stale pop's CAS fail after the same hunk came back (ABA). Spare headers stay
  // valid while the pool lives, so reading `next_spare` is always safe.
  static constexpr unsigned spare_shift = 6;
  static constexpr std::uint64_t spare_ptr_mask = (std::uint64_t(1) << 48) - 1;

  SWIM_MEM_API void push_spare(Hunk* h) {
    const std::uint64_t packed = word_of(h) >> spare_shift;
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
      Hunk* h = hunk_at(top << spare_shift);
      const std::uint64_t next = h->next_spare.load(order::relaxed);
      const std::uint64_t desired = ((head >> 48) + 1) << 48 | next;
      if (spares_.compare_exchange(head, desired, order::acquire)) return h;
    }
    return nullptr;
  }

  // A hunk as the words that name it hold it: its address (direct), or its distance
  // from this pool plus word_bias (relative; positive whichever side of the pool
  // the hunk lies, and a multiple of 64). 0 is no hunk in both.
  static constexpr std::uint64_t word_bias = std::uint64_t(1) << 53;
  SWIM_MEM_API std::uint64_t word_of(const Hunk* h) const {
    const auto a = static_cast<std::uint64_t>(reinterpret_cast<std::uintptr_t>(h));
    if constexpr (relative_tags) {
      return a - static_cast<std::uint64_t>(reinterpret_cast<std::uintptr_t>(this)) + word_bias;
    } else {
      return a;
    }
  }
  SWIM_MEM_API Hunk* hunk_at(std::uint64_t word) const {
    if constexpr (relative_tags) {
      return reinterpret_cast<Hunk*>(reinterpret_cast<std::uintptr_t>(this) +
                                     static_cast<std::uintptr_t>(word - word_bias));
    } else {
      return reinterpret_cast<Hunk*>(static_cast<std::uintptr_t>(word));
    }
  }
  // The hunk the tag in front of `object` names (not yet validated).
  SWIM_MEM_API static Hunk* control_of(std::uint64_t tag, const void* object) {
    return static_cast<Hunk*>(control_at<relative_tags>(tag, object));
  }
  SWIM_MEM_API static Result<Block> bump_in(Hunk* h, std::size_t size8, std::size_t align) {
    if constexpr (relative_tags) {
      return h->bump.bump_tagged(size8, align, [h](std::uintptr_t at) {
        return h->tag_at(reinterpret_cast<const void*>(at));
      });
    } else {
      return h->bump.bump(size8, align, h->tag_at(nullptr));
    }
  }

  ZeroTag zero_;  // zero-size objects sit just past it
  ZeroCount<Mode> zero_count_;
  HeapRef upstream_;  // for growth reached through a tag (none: unsupported); direct only
  typename Addr::template pointer<void> upstream_at_;  // relative only: the heap
  HeapKind upstream_kind_ = HeapKind::none;           // relative only: its kind
  std::size_t hunk_size_;
  bool give_back_at_once_;  // single owner: emptied hunks go back to the heap at once
  cell<std::uint64_t, Mode> head_;    // Hunk* of the hunk being bumped, or 0
  cell<std::uint64_t, Mode> spares_;  // see push_spare
  cell<std::uint64_t, Mode> live_;
  cell<std::uint64_t, Mode> used_;
  cell<std::uint64_t, Mode> peak_;
  cell<std::uint64_t, Mode> reserved_;
  cell<std::uint64_t, Mode> hunks_;
  GrowCounts<Mode> growing_;  // grows looking for a hunk or installing one (grow)
  cell<std::uint64_t, Mode> registry_[registry_lists];  // see enroll
};

template <concurrency_mode Mode, class Addr>
SWIM_MEM_API inline Error PoolHunk<Mode, Addr>::tag_free(Block block) {
  return pool.get()->release_in_hunk(this, block);
}
template <concurrency_mode Mode, class Addr>
SWIM_MEM_API inline Result<Block> PoolHunk<Mode, Addr>::tag_resize(Block block, Layout layout) {
  return pool.get()->resize_in_hunk(this, block, layout);
}
template <concurrency_mode Mode, class Addr>
SWIM_MEM_API inline std::uint64_t PoolHunk<Mode, Addr>::tag_owner() const {
  return pool.get()->tag_owner();
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
///
/// Addr (physical/address.hpp): direct_address by default. With relative_address
/// (concurrent only) the Pool, its heap and the heap's memory may live in memory
/// that processes map at different addresses (a memfd mapped twice, an MPI shared
/// window): every mapping allocates and frees through its own address of the Pool,
/// and relative leases over it work in every mapping. The heap must live in that
/// memory too and work from every mapping (a Slab<concurrent, C, relative_address>,
/// which HeapRef knows, so that growth reached through a tag, as a lease growing
/// in its hold, works from every mapping as well).
template <heap Heap, concurrency_mode Mode = concurrent, bool Checked = (SWIM_MEM_CHECKED != 0),
          class Addr = direct_address>
class Pool : public detail::PoolCore<Mode, Addr> {
  using Core = detail::PoolCore<Mode, Addr>;
  using Hunk = typename Core::Hunk;

 public:
  static constexpr std::size_t default_hunk_size = 64 * 1024;
  static constexpr bool checked = Checked;
  static constexpr bool give_back_at_once = !Mode::is_concurrent && heap_reuses_freed<Heap>;

  /// Draw hunks of `hunk_size` bytes (larger for larger objects) from `upstream`,
  /// which must outlive the pool. A single-owner Pool gives a hunk that empties
  /// back to the heap at once, if the heap can reuse it (heap_reuses_freed);
  /// otherwise (a bump source) it keeps it as a spare, as a concurrent Pool does.
  SWIM_MEM_API explicit Pool(Heap& upstream, std::size_t hunk_size = default_hunk_size)
      : Core(hunk_size, HeapRef::of(upstream), give_back_at_once) {
    heap_.set(&upstream);
  }
  Pool(const Pool&) = delete;
  Pool& operator=(const Pool&) = delete;

  /// Gives every hunk back. With live objects it reports a leak instead, and keeps
  /// the hunks that may hold them (zero-size objects hold no bytes).
  SWIM_MEM_API ~Pool() {
    trim();
    const std::uint64_t head_word = this->head_.load(order::acquire);
    Hunk* head = head_word == 0 ? nullptr : this->hunk_at(head_word);
    const Stats s = this->stats();
    if (s.live != 0) detail::leaked("Pool", this, s);
    if (this->live_.load(order::relaxed) != 0) return;
    if (head != nullptr) (void)this->give_back(*heap_.get(), head);
    // Hunks the heap would not take back (it stayed contended, or refused them).
    if (this->hunks_.load(order::relaxed) != 0) detail::leaked("Pool", this, this->stats());
  }

  /// A tagged block of layout.size bytes (rounded up to 8) aligned to layout.align.
  SWIM_MEM_API Result<Block> try_allocate(Layout layout) {
    return this->allocate_from(*heap_.get(), layout);
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
  SWIM_MEM_API void trim() { this->trim_to(*heap_.get()); }

  /// Always Error::none: a Pool needs nothing until it asks its heap.
  SWIM_MEM_API Error init_error() const { return Error::none; }

 private:
  typename Addr::template pointer<Heap> heap_;
};

}  // namespace swim::mem
