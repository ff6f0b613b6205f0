// Layer 6 (leases): the shared ("arc") leases Mut, Ref, Hard and Soft.
//
// All four are one pointer to the payload of an object laid out as
//   [tag][ArcHeader{relocation, status, meta}][pad][payload]
// (memory-model.md §5, §6.4). The status word packs the counters and flags:
//   bits  0-23  hard count      strong references (every Mut and Ref holds one too)
//   bits 24-47  soft count      weak references: keep the block, not the resident
//   bits 48-61  ref count       shared borrows (Ref); on a relocated arc: followers
//   bit  62     MUT             one exclusive borrow (Mut); on a relocated arc: the
//                               forward is not usable (relocation or revert running)
//   bit  63     RELOCATED       the resident moved; `relocation` is its new payload
//
//   lease | deref   | strength | relocatable | holds
//   Mut   | mutable | strong   | no (pins)   | 1 hard + MUT
//   Ref   | const   | strong   | no (pins)   | 1 hard + 1 ref
//   Hard  | none    | strong   | yes         | 1 hard
//   Soft  | none    | weak     | yes         | 1 soft
//
// Protocol (every transition is one atomic operation on the status word, checked
// against every field at once; counter overflow is an error and changes nothing):
// - Borrows (poll_*, try_*, waiting forms) take hard + ref or hard + MUT with an
//   acquire CAS; releases use release CASes; the CAS that takes the last reference
//   is acq_rel, so the destroying thread sees every other thread's writes.
// - Last hard reference (§6.4.4): the resident is destroyed by the thread that takes
//   the hard count from 1 to 0. If soft references remain it first takes a
//   keep-alive count in the same CAS, so a concurrent last-Soft drop cannot free the
//   block while the destructor runs; the block is freed by whoever takes the last
//   count of any kind. (The keep-alive goes in the ref field, which is provably 0
//   once hard is 0, so unlike the crate's temporary soft it cannot overflow.)
// - Relocation is the stow of a Hard (stow_traits below, §6.5): lock the arc
//   (RELOCATED|MUT, refused while a Mut or Ref exists), copy the resident into a
//   new arc in the target (status 2 hard | MUT: one for the new lease, one for the
//   forward); when the whole stow succeeded, publish the forwarding address and
//   clear MUT on both (a failed stow frees the copy and unlocks). Existing Hards and
//   Softs follow the forward; new borrows land on the new arc. Stow copies, so the
//   old payload is destroyed when the old arc's last hard reference goes, and then
//   the forward is released. A reader sees the old or the new object, never a
//   half-copied one: borrows on the old arc stop before the copy starts, and the
//   new arc is borrowable only after the copy is complete.
// - Followers register on each stub they pass (hard + ref, hand over hand), so a
//   stub's forward cannot be released, nor a relocation reverted, under them.
//
// Thread-safety: one lease object is used by one thread at a time (like a
// shared_ptr object); different leases of one arc may be used concurrently from any
// threads. Host/device: everything except the waiting forms (ref(), mut(),
// into_ref(), into_mut(), marked host-only) is valid on both sides, for holds
// reachable there. Device code must use the poll_/try_ forms: they are bounded.
// The releases (destructors) are lock-free CAS loops: a CAS fails only because
// another thread's transition succeeded, so they cannot deadlock, even within a
// warp; they are not bounded because a destructor cannot fail.
#pragma once

#include <cstddef>
#include <cstdint>
#include <type_traits>

#include "swim/mem/holds.hpp"
#include "swim/mem/leases/exclusive.hpp"
#include "swim/mem/leases/resident.hpp"
#include "swim/mem/leases/stow.hpp"

#if __has_include(<sched.h>)
#include <sched.h>  // sched_yield, for the host-only waiting forms
#define SWIM_MEM_DETAIL_HAS_SCHED_YIELD 1
#endif

// Allocation, the last reference's teardown, relocation and its revert are kept
// out of line: each inlines the hold dispatch (every hold kind's allocate or free,
// Pool growth included), and inlined into every destructor and recursive stow they
// made device code explode (ptxas needed > 20 GB for a small kernel). The borrow,
// clone and release fast paths stay inline.

namespace swim::mem {

/// Bounds of the bounded forms: the default retry budget of try_* (each retry is one
/// reload and CAS), the relocation lock's budget, and the longest forwarding chain a
/// borrow follows in one call (a longer one gives contended for Ref and Mut; Hards
/// that are relocated often should refresh() now and then: each stale hop costs a
/// borrow two CASes).
inline constexpr unsigned arc_default_retries = 1u << 12;
inline constexpr unsigned arc_stow_retries = 1u << 16;
inline constexpr unsigned arc_max_hops = 1u << 12;

/// The header in front of an arc's payload.
/// (relocation and status come from ArcLinks, which the stow log uses.)
template <class M>
struct ArcHeader : detail::ArcLinks {
  [[no_unique_address]] M meta;  ///< the resident's metadata
};

enum class ArcKind : std::uint8_t { mut, ref, hard, soft };

template <resident R, ArcKind K, class Addr>
class ArcLease;

namespace detail {

/// Let another thread run (the waiting forms only).
SWIM_MEM_HOST inline void arc_yield() {
#if defined(SWIM_MEM_DETAIL_HAS_SCHED_YIELD)
  sched_yield();
#endif
}

/// The protocol on one arc, independent of the lease kind and address policy.
template <resident R>
struct ArcCore {
  using value_type = typename R::value_type;
  using meta_type = typename R::meta_type;
  using Header = ArcHeader<meta_type>;
  using S = ArcStatus;

  // ---- Layout ---------------------------------------------------------------------

  /// Bytes from the header to the payload: the header rounded up to the payload's
  /// alignment (taken, as for Ptr, from default metadata: a resident's alignment
  /// does not depend on its metadata's values).
  SWIM_MEM_API static std::size_t header_offset() {
    const Result<Extended> e = Layout::of<Header>().extend(R::layout(meta_type{}));
    return e ? e->offset : sizeof(Header);
  }
  SWIM_MEM_API static Result<Layout> object_layout(Layout payload) {
    const Result<Extended> e = Layout::of<Header>().extend(payload);
    if (!e) return e.error();
    if (e->offset != header_offset()) return Error::misaligned;
    return e->layout;
  }
  SWIM_MEM_API static Header* header(const value_type* data) {
    return reinterpret_cast<Header*>(
        const_cast<std::byte*>(reinterpret_cast<const std::byte*>(data)) - header_offset());
  }
  SWIM_MEM_API static value_type* payload(Header* h) {
    return reinterpret_cast<value_type*>(reinterpret_cast<std::byte*>(h) + header_offset());
  }
  SWIM_MEM_API static std::uint64_t address(Header* h) {
    return static_cast<std::uint64_t>(reinterpret_cast<std::uintptr_t>(payload(h)));
  }
  /// A forwarding address's low bit (payloads are 8-aligned): the stub's payload was
  /// moved out (a Mut's growth), not copied, so the stub must not destroy it.
  static constexpr std::uint64_t moved_bit = 1;
  SWIM_MEM_API static Header* at_address(std::uint64_t a) {
    return header(reinterpret_cast<value_type*>(static_cast<std::uintptr_t>(a & ~moved_bit)));
  }
  SWIM_MEM_API static Block block(Header* h) {
    const Result<Layout> l = object_layout(R::layout(h->meta));
    return Block{h, l ? l->size : 0};
  }

  /// A new arc in `hold` with `meta` and `status`; the payload is not constructed.
  SWIM_MEM_API static Error allocate(HoldRef hold, const meta_type& meta, std::uint64_t status,
                                     Header*& out) {
    const Result<Layout> layout = object_layout(R::layout(meta));
    if (!layout) return layout.error();
    return allocate_object(hold, *layout, meta, status, out);
  }
  /// The same for an object layout given as such (a Mut's regrowth).
  SWIM_MEM_NOINLINE SWIM_MEM_API static Error allocate_object(HoldRef hold, Layout object,
                                                                    const meta_type& meta,
                                                                    std::uint64_t status,
                                                                    Header*& out) {
    const Result<Block> b = hold.try_allocate(object);
    if (!b) return b.error();
    out = detail::construct_at(static_cast<Header*>(b->ptr));
    out->relocation.raw = 0;
    out->status.raw = status;
    out->meta = meta;
    return Error::none;
  }
  SWIM_MEM_NOINLINE SWIM_MEM_API static void free_block(Header* h) {
    (void)hold_deallocate(block(h));
  }

  // ---- Counting ---------------------------------------------------------------------

  /// Add one reference of the kind `unit` (hard_one, soft_one) to an arc the caller
  /// keeps alive, without traversal. `need_hard`: refuse with cleared when hard == 0
  /// (a Soft upgrade). `drop_soft`: give back one soft in the same CAS (Soft -> Hard).
  SWIM_MEM_API static Error add(Header* h, std::uint64_t unit, bool need_hard, bool drop_soft,
                                   unsigned budget) {
    std::uint64_t s = h->status.load(order::relaxed);
    for (unsigned attempt = 0; attempt < budget; ++attempt) {
      if (need_hard && S::hard(s) == 0) return Error::cleared;
      if (unit == S::hard_one && S::hard(s) == S::hard_count_max) {
        return Error::hard_count_overflow;
      }
      if (unit == S::soft_one && S::soft(s) == S::soft_count_max) {
        return Error::soft_count_overflow;
      }
      // Counting needs no ordering: a count grants no access to the payload.
      if (h->status.compare_exchange(s, s + unit - (drop_soft ? S::soft_one : 0),
                                     order::relaxed)) {
        return Error::none;
      }
    }
    return Error::contended;
  }

  /// The resident is destroyed (by the thread that took the last hard reference);
  /// `n` is the status that CAS wrote. A relocated arc's payload is destroyed too
  /// (stow copied it), and its forward becomes weak: the hard count it held on the
  /// new arc turns into a soft one, given back when this stub's block goes. So
  /// Softs of the stub still reach the resident while it lives elsewhere, without
  /// keeping it alive.
  SWIM_MEM_NOINLINE SWIM_MEM_API static void destroy_resident(Header* h, std::uint64_t n) {
    // A loop, not recursion: weakening a forward can take the next arc's last hard
    // reference, whose forward is then weakened in turn (a chain of stubs can be long).
    while (true) {
      const std::uint64_t to =
          (n & S::relocated_flag) != 0 ? h->relocation.load(order::acquire) : 0;
      if ((to & moved_bit) == 0) {
        const meta_type saved = h->meta;
        R::destroy(payload(h), h->meta);
        h->meta = saved;  // the block's size is computed from it when the block goes
      }
      if (to == 0) return;
      // The forward's hard count on the next arc becomes a soft one, in one CAS; if it
      // was the last hard reference that resident goes too (the new soft is its
      // keep-alive). With the soft count full the forward is dropped instead.
      Header* next = at_address(to);
      std::uint64_t s = next->status.load(order::relaxed);
      std::uint64_t w = 0;
      do {
        if (S::soft(s) == S::soft_count_max) {
          h->relocation.store(0, order::relaxed);
          release(next, S::hard_one);
          return;
        }
        w = s - S::hard_one + S::soft_one;
      } while (!next->status.compare_exchange(s, w,
                                              S::hard(w) == 0 ? order::acq_rel : order::release));
      if (S::hard(w) != 0) return;
      h = next;
      n = w;
    }
  }

  /// Free the block of an arc with no reference left (`n`: its last status); a
  /// stub first gives back its weak forward.
  SWIM_MEM_API static void free_arc(Header* h, std::uint64_t n) {
    const std::uint64_t to =
        (n & S::relocated_flag) != 0 ? h->relocation.load(order::relaxed) : 0;
    free_block(h);
    if (to != 0) release_weak(at_address(to), S::soft_one);
  }

  /// Give back `sub` (hard_one plus ref_one or mut_flag for a Ref or Mut, or a
  /// follower's hard_one + ref_one). The drop protocol of §6.4.4: the last hard
  /// reference destroys the resident, the last reference of any kind frees the block.
  /// Lock-free; see the header comment for why it is not bounded.
  SWIM_MEM_API static void release(Header* h, std::uint64_t sub) {
    std::uint64_t s = h->status.load(order::relaxed);
    while (true) {
      SWIM_MEM_ASSERT(S::hard(s) >= 1);
      const std::uint64_t n = s - sub;
      if (S::hard(n) != 0) {
        if (h->status.compare_exchange(s, n, order::release)) return;
        continue;
      }
      // The last hard reference: no Ref, Mut or follower is left either (each holds
      // a hard), so ref(n) == 0 and the keep-alive below cannot overflow.
      SWIM_MEM_ASSERT((n & S::aliased_mask) == 0);
      const bool alone = (n & S::referenced_mask) == 0;
      if (!h->status.compare_exchange(s, alone ? n : n + S::ref_one, order::acq_rel)) continue;
      release_last(h, n, alone);
      return;
    }
  }

  /// After the CAS that took the last hard reference (`n` is what it wrote; `alone`:
  /// no other reference, else a keep-alive ref count was added).
  SWIM_MEM_NOINLINE SWIM_MEM_API static void release_last(Header* h, std::uint64_t n,
                                                             bool alone) {
    destroy_resident(h, n);
    if (alone) {
      free_arc(h, n);
    } else {
      release_weak(h, S::ref_one);
    }
  }

  /// Give back a count that does not keep the resident (a soft, or the keep-alive);
  /// the last reference of any kind frees the block. Lock-free.
  /// A stub freed this way gives back its weak forward in the same loop (not by
  /// recursion: a chain of weak stubs can be long).
  SWIM_MEM_API static void release_weak(Header* h, std::uint64_t unit) {
    while (h != nullptr) {
      std::uint64_t s = h->status.load(order::relaxed);
      std::uint64_t n = 0;
      bool last = false;
      do {
        n = s - unit;
        last = (n & S::referenced_mask) == 0;
      } while (!h->status.compare_exchange(s, n, last ? order::acq_rel : order::release));
      if (!last) return;
      const std::uint64_t to =
          (n & S::relocated_flag) != 0 ? h->relocation.load(order::relaxed) : 0;
      free_block(h);
      h = to != 0 ? at_address(to) : nullptr;
      unit = S::soft_one;
    }
  }

  /// Turn a strong reference (`sub`, as for release) into a soft one in one CAS.
  /// The new soft doubles as the keep-alive when this was the last hard reference.
  SWIM_MEM_API static Error to_soft(Header* h, std::uint64_t sub, unsigned budget) {
    std::uint64_t s = h->status.load(order::relaxed);
    for (unsigned attempt = 0; attempt < budget; ++attempt) {
      if (S::soft(s) == S::soft_count_max) return Error::soft_count_overflow;
      const std::uint64_t n = s - sub + S::soft_one;
      const bool last = S::hard(n) == 0;
      if (h->status.compare_exchange(s, n, last ? order::acq_rel : order::release)) {
        if (last) destroy_resident(h, n);
        return Error::none;
      }
    }
    return Error::contended;
  }

  // ---- Borrowing through the forwarding chain -----------------------------------------

  /// Take `want` on the arc at the end of `start`'s forwarding chain and return it in
  /// `out`. `weak`: the caller holds only a soft on `start` (cleared when hard == 0).
  /// `wait`: aliased, relocating and lost CASes are retried, `budget` times in all;
  /// otherwise each is reported at once (the poll_ forms).
  /// Hard and soft are taken on a stub whose relocation is still running, or on the
  /// last stub reached after arc_max_hops (Hards are relocatable; refresh() moves
  /// them on later, so it always makes progress); Ref and Mut never are. A stow
  /// passes its context `cx`: an arc that stow is itself relocating is counted on at
  /// its new place instead.
  SWIM_MEM_API static Error acquire(Header* start, bool weak, ArcKind want, unsigned budget,
                                       bool wait, Header*& out,
                                       StowContext* cx = nullptr) {
    Header* cur = start;
    Header* held = nullptr;  // the stub we are registered on (hard + ref)
    unsigned hops = 0;
    unsigned failures = 0;
    Error e = Error::contended;
    std::uint64_t s = cur->status.load(order::relaxed);
    while (true) {
      if (S::hard(s) == 0) {
        // Only a weak traversal meets an arc with no hard reference (a strong one
        // holds the chain up to here). Its resident is gone, unless it moved on: a
        // stub whose last Hard went keeps a weak forward. Follow it without
        // registering: every block on the way is kept by the Soft we started from
        // (each stub holds a soft count on the next).
        SWIM_MEM_ASSERT(weak);
        s = cur->status.load(order::acquire);  // pairs with the commit's release
        const std::uint64_t to = cur->relocation.load(order::relaxed);
        // (A hard count that reached 0 stays 0: nothing revives a dead resident.)
        if (!weak || (s & S::relocated_flag) == 0 || (s & S::mut_flag) != 0 || to == 0) {
          e = Error::cleared;
          break;
        }
        if (hops >= arc_max_hops) {
          // A chain this long: a soft count is taken here (refresh() makes progress
          // and goes on from here next time); anything else reports contended.
          e = want == ArcKind::soft ? add(cur, S::soft_one, false, false, budget)
                                    : Error::contended;
          if (e == Error::none) out = cur;
          break;
        }
        cur = at_address(to);
        ++hops;
        s = cur->status.load(order::relaxed);
        continue;
      }
      const bool relocated = (s & S::relocated_flag) != 0;
      const bool in_progress = relocated && (s & S::mut_flag) != 0;
      const bool counting = want == ArcKind::hard || want == ArcKind::soft;
      Error blocked = Error::none;
      std::uint64_t desired = 0;
      if (relocated && !in_progress && hops < arc_max_hops) {
        // Follow: register on this stub so that its forward stays valid.
        if (S::hard(s) == S::hard_count_max) {
          e = Error::hard_count_overflow;
          break;
        }
        if (S::ref(s) == S::ref_count_max) {
          blocked = Error::contended;  // too many followers at once: transient
        } else {
          desired = s + S::hard_one + S::ref_one;
          if (cur->status.compare_exchange(s, desired, order::acquire)) {
            Header* next = at_address(cur->relocation.load(order::acquire));
            if (held != nullptr) release(held, S::hard_one + S::ref_one);
            held = cur;
            cur = next;
            ++hops;
            s = cur->status.load(order::relaxed);
            continue;
          }
          blocked = Error::contended;
        }
      } else if (relocated && !counting) {
        if (!in_progress) {  // the chain is longer than arc_max_hops: refresh() it
          e = Error::contended;
          break;
        }
        blocked = Error::relocating;
      } else {
        if (in_progress && cx != nullptr) {
          // Relocated by this very stow (a DAG edge or a cycle): count on the new arc.
          if (detail::ArcLinks* to = cx->find(cur, s)) {
            cur = static_cast<Header*>(to);
            s = cur->status.load(order::relaxed);
          }
        }
        // Take it here: conflicts first (they may pass), then overflow (final).
        Error overflow = Error::none;
        switch (want) {
          case ArcKind::hard:
            if (S::hard(s) == S::hard_count_max) overflow = Error::hard_count_overflow;
            desired = s + S::hard_one;
            break;
          case ArcKind::soft:
            if (S::soft(s) == S::soft_count_max) overflow = Error::soft_count_overflow;
            desired = s + S::soft_one;
            break;
          case ArcKind::ref:
            if ((s & S::write_locked_mask) != 0) {
              blocked = Error::aliased;
            } else if (S::hard(s) == S::hard_count_max) {
              overflow = Error::hard_count_overflow;
            } else if (S::ref(s) == S::ref_count_max) {
              overflow = Error::ref_count_overflow;
            }
            desired = s + S::hard_one + S::ref_one;
            break;
          case ArcKind::mut:
            if ((s & S::read_locked_mask) != 0) {
              blocked = Error::aliased;
            } else if (S::hard(s) == S::hard_count_max) {
              overflow = Error::hard_count_overflow;
            }
            desired = (s + S::hard_one) | S::mut_flag;
            break;
        }
        if (overflow != Error::none) {
          e = overflow;
          break;
        }
        if (blocked == Error::none) {
          if (cur->status.compare_exchange(s, desired, order::acquire)) {
            out = cur;
            e = Error::none;
            break;
          }
          blocked = Error::contended;
        }
      }
      // Blocked or a lost CAS.
      if (!wait || ++failures >= budget) {
        e = wait ? Error::contended : blocked;
        break;
      }
      s = cur->status.load(order::relaxed);
    }
    if (held != nullptr) release(held, S::hard_one + S::ref_one);
    return e;
  }

  // ---- Growth of a shared arc ---------------------------------------------------------

  /// A Mut's growth into a new object `object` of h's hold while other Hards or
  /// Softs of h exist: move the contents, then turn h into a forwarding stub in one
  /// CAS that also gives back the Mut's count on h. The new arc starts with the
  /// Mut's hard | MUT plus a hard and a soft for the forward; once it is known
  /// whether a Hard stays on the stub, the forward keeps the one it needs (a stub
  /// with only Softs forwards weakly), so the stub's own end (weaken, free_arc) always
  /// finds the count it expects.
  template <class Move>
  SWIM_MEM_NOINLINE SWIM_MEM_API static Error regrow_relocate(Header* h, Layout object,
                                                                 Move& move, Header*& out) {
    Header* n = nullptr;
    const Error e = allocate_object(HoldRef::owner_of(h), object, h->meta,
                                    S::mut_status_init + S::hard_one + S::soft_one, n);
    if (e != Error::none) return e;
    move(payload(h), payload(n));
    h->relocation.store(address(n) | moved_bit, order::relaxed);
    // Release: a thread that follows the forward sees the moved contents.
    std::uint64_t s = h->status.load(order::relaxed);
    std::uint64_t next = 0;
    do {
      if (s == S::mut_status_init &&
          h->status.load(order::acquire) == S::mut_status_init) {  // (their releases first)
        // The others went meanwhile, and nobody can make a new one without a lease:
        // no stub is needed. (n is still ours alone: plain store.)
        free_block(h);
        n->status.store(S::mut_status_init, order::relaxed);
        out = n;
        return Error::none;
      }
      next = (s - S::hard_one - S::mut_flag) | S::relocated_flag;
    } while (!h->status.compare_exchange(s, next, order::acq_rel));
    if (S::hard(next) == 0) {
      release(n, S::hard_one);  // only Softs stay behind: the forward is weak
    } else {
      release_weak(n, S::soft_one);  // a Hard stays: the forward is strong
    }
    out = n;
    return Error::none;
  }

  // ---- Unwrap and copies ------------------------------------------------------------

  /// Take the resident out through `take(data, meta)` (which moves the value out and
  /// destroys the rest) instead of destroying it, giving back `sub` (the lease's
  /// holding), when that holding is the arc's only hard reference. Softs may remain
  /// (they report cleared after). aliased: other strong references exist;
  /// relocating: the arc is relocated (the caller follows first); nothing changed.
  template <class Take>
  SWIM_MEM_API static Error unwrap(Header* h, std::uint64_t sub, Take& take,
                                      unsigned budget) {
    std::uint64_t s = h->status.load(order::relaxed);
    bool alone = false;
    for (unsigned attempt = 0;; ++attempt) {
      if (attempt == budget) return Error::contended;
      if ((s & S::relocated_flag) != 0) return Error::relocating;
      if (S::hard(s) != 1) return Error::aliased;
      // As the last-reference drop: a keep-alive ref keeps the block while Softs live.
      const std::uint64_t n = s - sub;
      alone = (n & S::referenced_mask) == 0;
      if (h->status.compare_exchange(s, alone ? n : n + S::ref_one, order::acq_rel)) break;
    }
    const meta_type saved = h->meta;
    take(payload(h), h->meta);
    h->meta = saved;  // the block's size is computed from it
    if (alone) {
      free_block(h);
    } else {
      release_weak(h, S::ref_one);
    }
    return Error::none;
  }

  /// A new arc in `hold` with a copy of `src`'s resident (R::clone), held by one Mut.
  /// The caller holds a Ref or Mut of src, so the copy reads a stable resident.
  SWIM_MEM_NOINLINE SWIM_MEM_API static Error clone_arc(Header* src, HoldRef hold,
                                                           Header*& out) {
    Header* b = nullptr;
    Error e = allocate(hold, R::clone_meta(src->meta), S::mut_status_init, b);
    if (e != Error::none) return e;
    e = R::clone(payload(src), src->meta, payload(b), b->meta);
    if (e != Error::none) {
      free_block(b);
      return e;
    }
    out = b;
    return Error::none;
  }

  // ---- Relocation (stow) -------------------------------------------------------------

  /// Stow the arc `a` of a Hard (weak = false) or a Soft (weak = true) with `cx`:
  /// relocate it into cx.target(), or share a relocation already made (a DAG stays a
  /// DAG). On success `out` is the arc for dst with one hard (or soft) count taken
  /// for it, or null for a Soft whose resident is gone. A relocation stays in cx's
  /// log (a locked, b unreachable) until cx commits or rolls back. On failure every
  /// count this call took was given back.
  SWIM_MEM_NOINLINE SWIM_MEM_API static Error stow(Header* a, bool weak, StowContext& cx,
                                                      Header*& out) {
    out = nullptr;
    const std::uint64_t unit = weak ? S::soft_one : S::hard_one;
    std::uint64_t s = a->status.load(order::relaxed);
    for (unsigned attempt = 0;; ++attempt) {
      if (attempt == arc_stow_retries) return Error::contended;
      if (weak && S::hard(s) == 0 && (s & S::relocated_flag) == 0) {
        return Error::none;  // cleared: dst is a null Soft
      }
      if ((s & S::relocated_flag) != 0) {
        if ((s & S::mut_flag) == 0) {
          // Relocated before: dst refers to the end of the chain.
          const Error e = acquire(a, weak, weak ? ArcKind::soft : ArcKind::hard,
                                     arc_stow_retries, true, out, &cx);
          if (e == Error::cleared) {
            out = nullptr;
            return Error::none;
          }
          return e;
        }
        // Being relocated: by this very stow (reached again), or by another thread.
        if (detail::ArcLinks* to = cx.find(a, s)) {
          Header* b = static_cast<Header*>(to);
          const Error e = add(b, unit, false, false, arc_stow_retries);
          if (e != Error::none) return e;
          out = b;
          return Error::none;
        }
        s = a->status.load(order::relaxed);
        continue;
      }
      if ((s & S::aliased_mask) != 0) {  // a Mut or Ref pins it: wait for it (bounded)
        s = a->status.load(order::relaxed);
        continue;
      }
      // Lock, with this transaction's tag in the (now unused) ref field. A Soft's stow
      // also takes a hard count to keep the resident until the transaction ends.
      if (weak && S::hard(s) == S::hard_count_max) return Error::hard_count_overflow;
      const std::uint64_t locked = (s | S::relocated_flag | S::mut_flag |
                                    (cx.tag() << S::ref_shift)) +
                                   (weak ? S::hard_one : 0);
      if (a->status.compare_exchange(s, locked, order::acq_rel)) break;
    }
    // New arc: one count for dst and one hard for the forward; MUT until committed.
    const std::uint64_t initial = (S::hard_one + unit) | S::mut_flag;
    Header* b = nullptr;
    Error e = allocate(cx.target(), R::stow_meta(a->meta), initial, b);
    if (e == Error::none) {
      e = cx.record(a, b, &log_op, weak);
      if (e != Error::none) free_block(b);
    }
    if (e != Error::none) {
      unlock(a, weak);
      return e;
    }
    StowContext::Frame frame{a, nullptr};
    cx.push(frame);
    e = R::stow(payload(a), a->meta, payload(b), b->meta, cx);
    cx.pop(frame);
    if (e != Error::none) {
      // The payload's own stow gave back what it took; dst's count was never handed
      // out. The entry stays logged (a locked, b holding the forward only) and is
      // undone when the transaction ends.
      b->status.store(b->status.load(order::relaxed) - unit, order::relaxed);  // (b is ours)
      cx.mark_failed(b);
      return e;
    }
    cx.mark_constructed(b);
    out = b;
    return Error::none;
  }

  /// Undo a successful stow whose dst is arc `d` (one hard, or one soft when weak):
  /// give dst's count back. A relocation this transaction made is undone by the
  /// transaction's rollback (StowContext::rollback), which also frees `d`.
  SWIM_MEM_API static void unstow(Header* d, bool weak) {
    if (d == nullptr) return;
    if (weak) {
      release_weak(d, S::soft_one);
    } else {
      release(d, S::hard_one);
    }
  }

  /// Open a locked arc that is not relocated after all (and give back the hard
  /// count a Soft's stow took).
  SWIM_MEM_API static void unlock(Header* a, bool weak) {
    a->relocation.store(0, order::relaxed);
    a->status.fetch_and(~(S::relocated_flag | S::mut_flag | S::ref_mask), order::release);
    if (weak) release(a, S::hard_one);
  }

  /// The transaction's operations on one logged relocation of a to b (see
  /// StowContext). Out of line and called through a pointer, once per arc.
  SWIM_MEM_NOINLINE SWIM_MEM_API static void log_op(detail::ArcLogOp op, detail::ArcLinks* la,
                                                       detail::ArcLinks* lb, bool weak) {
    Header* a = static_cast<Header*>(la);
    Header* b = static_cast<Header*>(lb);
    switch (op) {
      case detail::ArcLogOp::commit:
        // The copy and its forward first, then open both (release: whoever sees MUT
        // cleared sees the complete copy and the forwarding address).
        b->relocation.store(0, order::relaxed);
        a->relocation.store(address(b), order::relaxed);
        b->status.fetch_and(~(S::mut_flag | S::ref_mask), order::release);
        a->status.fetch_and(~(S::mut_flag | S::ref_mask), order::release);
        if (weak) release(a, S::hard_one);
        break;
      case detail::ArcLogOp::unstow:
        R::unstow(payload(a), a->meta, payload(b), b->meta);
        break;
      case detail::ArcLogOp::revert:
        // Only the forward's count is left: every dst was unstowed, and no other
        // thread could reach b.
        SWIM_MEM_ASSERT((b->status.load(order::relaxed) & ~S::ref_mask) ==
                        (S::hard_one | S::mut_flag));
        free_block(b);
        unlock(a, weak);
        break;
    }
  }
};

/// What each lease kind holds on its arc.
SWIM_MEM_API constexpr std::uint64_t arc_holding(ArcKind k) {
  return k == ArcKind::mut   ? ArcStatus::hard_one | ArcStatus::mut_flag
         : k == ArcKind::ref ? ArcStatus::hard_one + ArcStatus::ref_one
         : k == ArcKind::hard ? ArcStatus::hard_one
                              : ArcStatus::soft_one;
}

/// Test and debugging access to an arc's header (e.g. to forge a status near the
/// counters' maxima). Not for ordinary use.
struct ArcAccess {
  template <resident R, ArcKind K, class Addr>
  SWIM_MEM_API static ArcHeader<typename R::meta_type>* header(const ArcLease<R, K, Addr>& l) {
    return l.data() == nullptr ? nullptr : ArcCore<R>::header(l.data());
  }
};

}  // namespace detail

// ---- The leases ---------------------------------------------------------------------

/// One class for the four kinds; use the aliases Mut, Ref, Hard, Soft.
/// Move-only; a moved-from or default-constructed lease is null and safe to destroy.
/// Operations on a null lease report Error::cleared.
/// Conversions that consume the lease are &&-qualified: `std::move(h).into_soft()`;
/// those that can fail leave the lease untouched on failure.
template <resident R, ArcKind K, class Addr = direct_address>
class ArcLease : public R::template interface<ArcLease<R, K, Addr>> {
  using Core = detail::ArcCore<R>;
  using Header = typename Core::Header;
  using S = ArcStatus;
  template <ArcKind K2>
  using As = ArcLease<R, K2, Addr>;

 public:
  using resident_type = R;
  using value_type = typename R::value_type;
  using meta_type = typename R::meta_type;
  static constexpr ArcKind kind = K;
  static constexpr bool is_mutable = K == ArcKind::mut;
  static constexpr bool is_dereferenceable = K == ArcKind::mut || K == ArcKind::ref;
  static constexpr bool is_strong = K != ArcKind::soft;

  constexpr ArcLease() = default;
  SWIM_MEM_API ArcLease(ArcLease&& other) : data_(other.data_) { other.data_.set(nullptr); }
  SWIM_MEM_API ArcLease& operator=(ArcLease&& other) {
    if (this != &other) {
      reset();
      data_ = other.data_;
      other.data_.set(nullptr);
    }
    return *this;
  }
  ArcLease(const ArcLease&) = delete;
  ArcLease& operator=(const ArcLease&) = delete;
  SWIM_MEM_API ~ArcLease() { reset(); }

  /// Allocate an arc in `hold` for `meta` (status: this lease's holding) and let
  /// `init(data, meta)` construct the payload; if it returns an error the object is
  /// freed. A Soft cannot be made (nothing would keep the resident): make a Hard and
  /// call to_soft().
  template <class Init>
  SWIM_MEM_API static Result<ArcLease> try_make(HoldRef hold, const meta_type& meta,
                                                  Init&& init)
    requires(K != ArcKind::soft)
  {
    Header* h = nullptr;
    const Error e = Core::allocate(hold, meta, detail::arc_holding(K), h);
    if (e != Error::none) return e;
    const Error ie = init(Core::payload(h), h->meta);
    if (ie != Error::none) {
      Core::free_block(h);
      return ie;
    }
    return Result<ArcLease>(adopt(h));
  }

  /// Give up this lease (the drop protocol); it becomes null.
  SWIM_MEM_API void reset() {
    value_type* d = data_.get();
    if (d == nullptr) return;
    data_.set(nullptr);
    reset_arc(Core::header(d));
  }

  SWIM_MEM_API explicit operator bool() const { return data_.get() != nullptr; }
  /// The payload (which a Hard or Soft must not dereference: borrow a Ref or Mut).
  SWIM_MEM_API value_type* data() const { return data_.get(); }
  /// The resident's metadata, in the header.
  SWIM_MEM_API meta_type& meta() const { return head()->meta; }
  /// The hold that owns the object.
  SWIM_MEM_API HoldRef hold() const { return HoldRef::owner_of(head()); }
  /// The whole memory object (header included).
  SWIM_MEM_API Block block() const { return Core::block(head()); }

  // ---- The arc's state (of this lease's arc: no forwarding is followed) --------------
  /// The status word (a relaxed snapshot).
  SWIM_MEM_API std::uint64_t status() const {
    return data_.get() == nullptr ? 0 : head()->status.load(order::relaxed);
  }
  SWIM_MEM_API std::size_t hard_count() const { return S::hard(status()); }
  SWIM_MEM_API std::size_t soft_count() const { return S::soft(status()); }
  SWIM_MEM_API std::size_t ref_count() const { return S::ref(status()); }
  /// A Mut exists (or, on a relocated arc, the relocation is still running).
  SWIM_MEM_API bool is_mut() const { return (status() & S::mut_flag) != 0; }
  SWIM_MEM_API bool is_relocated() const { return (status() & S::relocated_flag) != 0; }
  SWIM_MEM_API bool is_aliased() const { return (status() & S::aliased_mask) != 0; }
  /// Whether two leases govern the same arc (not following forwards).
  template <ArcKind K2>
  SWIM_MEM_API bool same_arc(const As<K2>& other) const {
    return data() == other.data();
  }

  // ---- Clones and weakening --------------------------------------------------------
  /// Another lease of the same kind (Hard: hard + 1; Soft: soft + 1; Ref: hard + 1 and
  /// ref + 1). Overflow errors leave the status unchanged.
  SWIM_MEM_API Result<ArcLease> try_clone(unsigned retries = arc_default_retries) const
    requires(K != ArcKind::mut)
  {
    if (!*this) return Error::cleared;
    if constexpr (K == ArcKind::ref) {
      Header* out = nullptr;
      const Error e = Core::acquire(head(), false, ArcKind::ref, retries, true, out);
      if (e != Error::none) return e;
      return adopt(out);  // out == head(): a Ref pins its arc
    } else {
      const Error e =
          Core::add(head(), K == ArcKind::soft ? S::soft_one : S::hard_one, false, false, retries);
      if (e != Error::none) return e;
      return adopt(head());
    }
  }
  /// A Hard on this arc (hard + 1).
  SWIM_MEM_API Result<As<ArcKind::hard>> to_hard(unsigned retries = arc_default_retries) const
    requires(K == ArcKind::mut || K == ArcKind::ref)
  {
    if (!*this) return Error::cleared;
    const Error e = Core::add(head(), S::hard_one, false, false, retries);
    if (e != Error::none) return e;
    return As<ArcKind::hard>::adopt(head());
  }
  /// A Soft on this arc (soft + 1); no forwarding is followed.
  SWIM_MEM_API Result<As<ArcKind::soft>> to_soft(unsigned retries = arc_default_retries) const
    requires(K != ArcKind::soft)
  {
    if (!*this) return Error::cleared;
    const Error e = Core::add(head(), S::soft_one, false, false, retries);
    if (e != Error::none) return e;
    return As<ArcKind::soft>::adopt(head());
  }
  /// This strong lease becomes a Soft in one CAS (hard - 1, soft + 1, and ref - 1 or
  /// MUT cleared); if it was the last hard reference the resident is destroyed.
  SWIM_MEM_API Result<As<ArcKind::soft>> into_soft(unsigned retries = arc_default_retries) &&
    requires(K != ArcKind::soft)
  {
    if (!*this) return Error::cleared;
    Header* h = head();
    const Error e = Core::to_soft(h, detail::arc_holding(K), retries);
    if (e != Error::none) return e;
    data_.set(nullptr);
    return As<ArcKind::soft>::adopt(h);
  }
  /// A Ref or Mut given back, keeping its hard count (ref - 1, or MUT cleared).
  SWIM_MEM_API As<ArcKind::hard> into_hard() &&
    requires(K == ArcKind::mut || K == ArcKind::ref)
  {
    if (!*this) return {};
    Header* h = head();
    // One wait-free RMW: the bit or count is ours, so the subtraction cannot borrow.
    h->status.fetch_sub(K == ArcKind::mut ? S::mut_flag : S::ref_one, order::release);
    data_.set(nullptr);
    return As<ArcKind::hard>::adopt(h);
  }
  /// A Mut downgraded to a Ref (MUT cleared, ref + 1: ref is 0 under MUT).
  SWIM_MEM_API As<ArcKind::ref> into_ref() &&
    requires(K == ArcKind::mut)
  {
    if (!*this) return {};
    Header* h = head();
    h->status.fetch_add(S::ref_one - S::mut_flag, order::release);
    data_.set(nullptr);
    return As<ArcKind::ref>::adopt(h);
  }

  // ---- Soft upgrade ----------------------------------------------------------------
  /// A Hard on this Soft's resident (hard + 1; on a relocated arc, at the end of the
  /// forwarding chain), or cleared once the resident's last hard reference is gone.
  SWIM_MEM_API Result<As<ArcKind::hard>> try_upgrade(
      unsigned retries = arc_default_retries) const
    requires(K == ArcKind::soft)
  {
    if (!*this) return Error::cleared;
    if ((head()->status.load(order::relaxed) & S::relocated_flag) == 0) {
      const Error e = Core::add(head(), S::hard_one, true, false, retries);
      if (e == Error::none) return As<ArcKind::hard>::adopt(head());
      // Cleared here may mean relocated meanwhile, the stub's last Hard then gone.
      if (e != Error::cleared ||
          (head()->status.load(order::relaxed) & S::relocated_flag) == 0) {
        return e;
      }
    }
    // A stub: the resident lives at the end of the chain (or is gone).
    Header* out = nullptr;
    const Error e = Core::acquire(head(), true, ArcKind::hard, retries, true, out);
    if (e != Error::none) return e;
    return As<ArcKind::hard>::adopt(out);
  }
  /// The same, consuming the Soft (hard + 1, soft - 1 in one CAS).
  SWIM_MEM_API Result<As<ArcKind::hard>> try_into_hard(
      unsigned retries = arc_default_retries) &&
    requires(K == ArcKind::soft)
  {
    if (!*this) return Error::cleared;
    Header* h = head();
    if ((h->status.load(order::relaxed) & S::relocated_flag) == 0) {
      const Error e = Core::add(h, S::hard_one, true, true, retries);  // one CAS
      if (e == Error::none) {
        data_.set(nullptr);
        return As<ArcKind::hard>::adopt(h);
      }
      if (e != Error::cleared || (h->status.load(order::relaxed) & S::relocated_flag) == 0) {
        return e;
      }
    }
    Result<As<ArcKind::hard>> up = try_upgrade(retries);  // through the forwards
    if (up.ok()) reset();
    return up;
  }

  // ---- Borrows from a Hard or Soft -------------------------------------------------
  // poll_*: one attempt (aliased / relocating / contended instead of waiting).
  // try_*: up to `retries` attempts, then contended. Both are device-safe.
  // ref(), mut(): wait until the borrow succeeds or cannot (host only).
  // All follow forwarding addresses and return a lease on the arc where the borrow
  // succeeded (this lease keeps pointing where it did; see refresh()).

  SWIM_MEM_API Result<As<ArcKind::ref>> poll_ref() const
    requires(K == ArcKind::hard || K == ArcKind::soft)
  {
    return borrow<ArcKind::ref>(1, false);
  }
  SWIM_MEM_API Result<As<ArcKind::ref>> try_ref(unsigned retries = arc_default_retries) const
    requires(K == ArcKind::hard || K == ArcKind::soft)
  {
    return borrow<ArcKind::ref>(retries, true);
  }
  SWIM_MEM_API Result<As<ArcKind::mut>> poll_mut() const
    requires(K == ArcKind::hard || K == ArcKind::soft)
  {
    return borrow<ArcKind::mut>(1, false);
  }
  SWIM_MEM_API Result<As<ArcKind::mut>> try_mut(unsigned retries = arc_default_retries) const
    requires(K == ArcKind::hard || K == ArcKind::soft)
  {
    return borrow<ArcKind::mut>(retries, true);
  }

  // ---- Consuming borrows: the lease's own count is reused ---------------------------
  /// Hard -> Ref (ref + 1 on its own arc; through a forward: a Ref on the new arc, and
  /// this Hard's count on the stub is given back).
  SWIM_MEM_API Result<As<ArcKind::ref>> poll_into_ref() &&
    requires(K == ArcKind::hard)
  {
    return convert<ArcKind::ref>(1, false);
  }
  SWIM_MEM_API Result<As<ArcKind::ref>> try_into_ref(unsigned retries = arc_default_retries) &&
    requires(K == ArcKind::hard)
  {
    return convert<ArcKind::ref>(retries, true);
  }
  /// Hard -> Mut (MUT set on its own arc, or a Mut on the new arc as above);
  /// Ref -> Mut (only when this is the only Ref: ref 1 -> 0 and MUT in one CAS).
  SWIM_MEM_API Result<As<ArcKind::mut>> poll_into_mut() &&
    requires(K == ArcKind::hard || K == ArcKind::ref)
  {
    return convert<ArcKind::mut>(1, false);
  }
  SWIM_MEM_API Result<As<ArcKind::mut>> try_into_mut(unsigned retries = arc_default_retries) &&
    requires(K == ArcKind::hard || K == ArcKind::ref)
  {
    return convert<ArcKind::mut>(retries, true);
  }

  // ---- Host-only waiting forms ------------------------------------------------------
  /// Wait for a Ref (errors: cleared, overflow only). Host only: a spin in device
  /// code can deadlock a warp; use try_ref there.
  SWIM_MEM_HOST Result<As<ArcKind::ref>> ref() const
    requires(K == ArcKind::hard || K == ArcKind::soft)
  {
    return wait_borrow<ArcKind::ref>();
  }
  /// Wait for a Mut. Host only. Re-entrancy hazard: waiting while this thread holds a
  /// Ref or Mut of the same resident never ends.
  SWIM_MEM_HOST Result<As<ArcKind::mut>> mut() const
    requires(K == ArcKind::hard || K == ArcKind::soft)
  {
    return wait_borrow<ArcKind::mut>();
  }
  /// Wait for try_into_ref to succeed. Host only.
  SWIM_MEM_HOST Result<As<ArcKind::ref>> into_ref() &&
    requires(K == ArcKind::hard)
  {
    while (true) {
      Result<As<ArcKind::ref>> r = convert<ArcKind::ref>(arc_default_retries, true);
      if (r.ok() || !is_retryable(r.error())) return r;
      if (is_relocated()) (void)refresh();  // a chain longer than one borrow follows
      detail::arc_yield();
    }
  }
  /// Wait for try_into_mut to succeed. Host only (same hazard as mut()).
  SWIM_MEM_HOST Result<As<ArcKind::mut>> into_mut() &&
    requires(K == ArcKind::hard || K == ArcKind::ref)
  {
    while (true) {
      Result<As<ArcKind::mut>> r = convert<ArcKind::mut>(arc_default_retries, true);
      if (r.ok() || !is_retryable(r.error())) return r;
      if constexpr (K == ArcKind::hard) {
        if (is_relocated()) (void)refresh();
      }
      detail::arc_yield();
    }
  }

  // ---- Forwarding -------------------------------------------------------------------
  /// Move this Hard or Soft to the end of its forwarding chain (path compression): a
  /// count of its kind is taken on the arc reached, then the stub's is given back
  /// (which may free stubs). A chain longer than arc_max_hops takes more than one call.
  /// Nothing happens when the arc is not relocated; a Soft whose resident is gone
  /// reports cleared and stays where it was.
  SWIM_MEM_API Error refresh(unsigned retries = arc_default_retries)
    requires(K == ArcKind::hard || K == ArcKind::soft)
  {
    if (!*this) return Error::cleared;
    Header* h = head();
    const std::uint64_t s = h->status.load(order::relaxed);
    if ((s & S::relocated_flag) == 0 || (s & S::mut_flag) != 0) return Error::none;
    Header* out = nullptr;
    const Error e = Core::acquire(h, K == ArcKind::soft, K, retries, true, out);
    if (e != Error::none) return e;
    data_.set(Core::payload(out));
    reset_arc(h);
    return Error::none;
  }

  // ---- Unwrap ----------------------------------------------------------------------
  /// The unwrap primitive of the mixins (leases/resident.hpp; Box's try_unwrap): when
  /// this Mut, Ref or Hard is the resident's only strong reference, `take(data,
  /// meta)` moves the value out, the lease becomes null and the object is freed (or
  /// kept for the remaining Softs, which then report cleared). A Hard first moves
  /// to the end of its forwarding chain (refresh). Errors, nothing changed:
  /// invalid_argument (null lease, as for Raw and Ptr), aliased (other strong
  /// references exist), relocating (a relocation is running), contended (the retry
  /// bound was reached).
  template <class Take>
  SWIM_MEM_API Error try_release_for_unwrap(Take&& take, unsigned retries = arc_default_retries)
    requires(K != ArcKind::soft)
  {
    if (!*this) return Error::invalid_argument;
    if constexpr (K == ArcKind::hard) {
      const Error r = refresh(retries);
      if (r != Error::none) return r;
    }
    const Error e = Core::unwrap(head(), detail::arc_holding(K), take, retries);
    if (e != Error::none) return e;
    data_.set(nullptr);
    return Error::none;
  }

  // ---- Copy-on-write -----------------------------------------------------------------
  // A Mut that nobody else's strong lease sees: in place when the resident has no
  // other strong reference, else on a copy (R::clone, for residents that can be
  // cloned) in the same hold; the other leases keep the original. (Stricter than
  // the crate, whose Ref::try_into_unique mutates in place whenever no other Ref
  // exists, under the other Hards' feet.) Softs of the original are not moved to a
  // copy. Errors, nothing changed: cleared (null), aliased / relocating /
  // contended (a Mut exists, a relocation runs, or the retry bound was reached; a
  // Hard borrows a Ref first), and the hold's errors for the copy.

  /// Ref: always a copy (this Ref stays).
  template <detail::lease_cloneable<ArcLease> Self = ArcLease>
  SWIM_MEM_API Result<As<ArcKind::mut>> try_to_unique() const
    requires(K == ArcKind::ref)
  {
    if (!*this) return Error::cleared;
    return copy_into_mut(head());
  }
  /// Ref, consumed: in place if this is the only strong reference (ref 1 -> MUT in
  /// one CAS), else a copy and this Ref is given back.
  template <detail::lease_cloneable<ArcLease> Self = ArcLease>
  SWIM_MEM_API Result<As<ArcKind::mut>> try_into_unique(
      unsigned retries = arc_default_retries) &&
    requires(K == ArcKind::ref)
  {
    if (!*this) return Error::cleared;
    Header* h = head();
    std::uint64_t s = h->status.load(order::relaxed);
    for (unsigned attempt = 0; attempt < retries && S::hard(s) == 1; ++attempt) {
      if (h->status.compare_exchange(s, (s - S::ref_one) | S::mut_flag, order::acquire)) {
        data_.set(nullptr);
        return As<ArcKind::mut>::adopt(h);
      }
    }
    Result<As<ArcKind::mut>> copy = copy_into_mut(h);
    if (copy.ok()) reset();
    return copy;
  }
  /// Hard: a Mut in place when this Hard is the only strong reference (then this
  /// Hard and the Mut share the arc, and this Hard sees the writes: it is not
  /// another owner's), else a Mut on a copy. This Hard stays (moved to the end of
  /// its forwarding chain first, as refresh() does, so that a stale Hard that is
  /// the only one left is still unique).
  template <detail::lease_cloneable<ArcLease> Self = ArcLease>
  SWIM_MEM_API Result<As<ArcKind::mut>> try_to_unique(
      unsigned retries = arc_default_retries)
    requires(K == ArcKind::hard)
  {
    return hard_unique(retries, false);
  }
  /// Hard, consumed: the same, reusing this Hard's count in place.
  template <detail::lease_cloneable<ArcLease> Self = ArcLease>
  SWIM_MEM_API Result<As<ArcKind::mut>> try_into_unique(
      unsigned retries = arc_default_retries) &&
    requires(K == ArcKind::hard)
  {
    Result<As<ArcKind::mut>> m = hard_unique(retries, true);
    if (m.ok()) {
      if (m->data() == data()) {
        data_.set(nullptr);  // in place: this Hard's count went to the Mut
      } else {
        reset();  // a copy: this Hard's count is given back
      }
    }
    return m;
  }

  // ---- Dynamic lease (only while unique) ---------------------------------------------
  /// Give the payload room for `payload` (a new layout), as Raw/Ptr do: in place when
  /// the hold can; otherwise in a new object of the same hold, to which `move(from,
  /// to)` moves the contents (the header travels by itself). When other Hards or
  /// Softs exist, that move is a relocation (crate bug 11 let them keep the old
  /// address): the old object becomes a forwarding stub that they follow (a weak one
  /// if only Softs are left), and whose moved-out payload is never destroyed.
  /// Errors (nothing changes): the hold's, e.g. out_of_memory.
  template <class Move>
  SWIM_MEM_API Error try_regrow(Layout payload, Move&& move)
    requires(K == ArcKind::mut)
  {
    if (!*this) return Error::invalid_argument;
    Header* h = head();
    const Result<Layout> layout = Core::object_layout(payload);
    if (!layout) return layout.error();
    if (hold_resize(Core::block(h), *layout)) return Error::none;  // same address
    Header* n = nullptr;
    // Stable: with no other reference, no other thread can create one.
    if (h->status.load(order::acquire) == S::mut_status_init) {
      const Error e = Core::allocate_object(hold(), *layout, h->meta, S::mut_status_init, n);
      if (e != Error::none) return e;
      move(Core::payload(h), Core::payload(n));
      Core::free_block(h);  // its size from the old metadata, which the caller updates after
    } else {
      const Error e = Core::regrow_relocate(h, *layout, move, n);
      if (e != Error::none) return e;
    }
    data_.set(Core::payload(n));
    return Error::none;
  }

 private:
  template <resident, ArcKind, class>
  friend class ArcLease;
  template <class, class>
  friend struct stow_traits;

  SWIM_MEM_API static ArcLease adopt(Header* h) {
    ArcLease l;
    l.data_.set(Core::payload(h));
    return l;
  }
  SWIM_MEM_API Header* head() const { return Core::header(data_.get()); }
  // Give back this lease kind's holding on arc h (the drop protocol).
  SWIM_MEM_API static void reset_arc(Header* h) {
    if constexpr (K == ArcKind::soft) {
      Core::release_weak(h, S::soft_one);
    } else {
      Core::release(h, detail::arc_holding(K));
    }
  }

  // A Mut on a copy of arc `src` (borrowed by the caller) in src's hold.
  SWIM_MEM_API static Result<As<ArcKind::mut>> copy_into_mut(Header* src) {
    Header* b = nullptr;
    const Error e = Core::clone_arc(src, HoldRef::owner_of(src), b);
    if (e != Error::none) return e;
    return As<ArcKind::mut>::adopt(b);
  }

  // Hard -> unique Mut. With a Ref on the arc where the resident is now: when that
  // Ref and this Hard (on that very arc) are its only strong references, turn the
  // Ref into the Mut in place (and, when `consume`, hand this Hard's count over to
  // it: the caller then nulls this lease); else copy from the Ref.
  SWIM_MEM_API Result<As<ArcKind::mut>> hard_unique(unsigned retries, bool consume) {
    if (!*this) return Error::cleared;
    const Error f = refresh(retries);
    if (f != Error::none) return f;
    Result<As<ArcKind::ref>> r = borrow<ArcKind::ref>(retries, true);
    if (!r.ok()) return r.error();
    Header* x = r->head();
    if (x == head()) {
      std::uint64_t s = x->status.load(order::relaxed);
      for (unsigned attempt = 0; attempt < retries && S::hard(s) == 2 && S::ref(s) == 1;
           ++attempt) {
        const std::uint64_t n =
            ((s - S::ref_one) | S::mut_flag) - (consume ? S::hard_one : 0);
        if (x->status.compare_exchange(s, n, order::acquire)) {
          r->data_.set(nullptr);  // its counts went to the Mut
          return As<ArcKind::mut>::adopt(x);
        }
      }
    }
    return copy_into_mut(x);
  }

  // The waiting borrows. A chain longer than one borrow follows (arc_max_hops) keeps
  // reporting contended: go on from a count taken as far as refresh() gets, so that
  // every round makes progress.
  template <ArcKind Want>
  SWIM_MEM_HOST Result<As<Want>> wait_borrow() const {
    ArcLease cursor;
    const ArcLease* from = this;
    while (true) {
      Result<As<Want>> r = from->template borrow<Want>(arc_default_retries, true);
      if (r.ok() || !is_retryable(r.error())) return r;
      if (from->is_relocated()) {
        if (!cursor) {
          Result<ArcLease> c = try_clone();
          if (c.ok()) {
            cursor = c.take();
            from = &cursor;
          }
        }
        if (cursor) (void)cursor.refresh();
      }
      detail::arc_yield();
    }
  }

  template <ArcKind Want>
  SWIM_MEM_API Result<As<Want>> borrow(unsigned retries, bool wait) const {
    if (!*this) return Error::cleared;
    Header* out = nullptr;
    const Error e = Core::acquire(head(), K == ArcKind::soft, Want, retries, wait, out);
    if (e != Error::none) return e;
    return As<Want>::adopt(out);
  }

  template <ArcKind Want>
  SWIM_MEM_API Result<As<Want>> convert(unsigned retries, bool wait) {
    if (!*this) return Error::cleared;
    Header* h = head();
    std::uint64_t s = h->status.load(order::relaxed);
    for (unsigned failures = 0;;) {
      Error blocked = Error::none;
      std::uint64_t desired = 0;
      if constexpr (K == ArcKind::ref) {
        // Ref -> Mut: a Ref pins its arc (never relocated while it exists).
        if (S::ref(s) != 1) blocked = Error::aliased;
        desired = (s - S::ref_one) | S::mut_flag;
      } else {
        if ((s & S::relocated_flag) != 0) {
          if ((s & S::mut_flag) != 0) {
            blocked = Error::relocating;
          } else {
            // Borrow on the new arc, then give back the stub's count.
            Header* out = nullptr;
            const Error e = Core::acquire(h, false, Want, retries, wait, out);
            if (e != Error::none) return e;
            data_.set(nullptr);
            Core::release(h, S::hard_one);
            return As<Want>::adopt(out);
          }
        } else if constexpr (Want == ArcKind::ref) {
          if ((s & S::write_locked_mask) != 0) blocked = Error::aliased;
          if (S::ref(s) == S::ref_count_max) return Error::ref_count_overflow;
          desired = s + S::ref_one;
        } else {
          if ((s & S::read_locked_mask) != 0) blocked = Error::aliased;
          desired = s | S::mut_flag;
        }
      }
      if (blocked == Error::none) {
        if (h->status.compare_exchange(s, desired, order::acquire)) {
          data_.set(nullptr);
          return As<Want>::adopt(h);
        }
        blocked = Error::contended;
      }
      if (!wait || ++failures >= retries) return wait ? Error::contended : blocked;
      s = h->status.load(order::relaxed);
    }
  }

  typename Addr::template pointer<value_type> data_{};
};

/// Strong, mutable: the only borrow of its resident while it lives. Pins the arc.
template <resident R, class Addr = direct_address>
using Mut = ArcLease<R, ArcKind::mut, Addr>;
/// Strong, shared and immutable. Pins the arc.
template <resident R, class Addr = direct_address>
using Ref = ArcLease<R, ArcKind::ref, Addr>;
/// Strong, relocatable, not dereferenceable: lends Refs and Muts.
template <resident R, class Addr = direct_address>
using Hard = ArcLease<R, ArcKind::hard, Addr>;
/// Weak (keeps the block, not the resident), relocatable, not dereferenceable.
template <resident R, class Addr = direct_address>
using Soft = ArcLease<R, ArcKind::soft, Addr>;

// ---- Stow ---------------------------------------------------------------------------
// Stowing a Hard relocates its arc into the target (or shares a relocation already
// made: two Hards of one arc stowed separately end up at one new arc). The source
// Hard is unchanged (its arc becomes a forwarding stub); try_stow then drops it.
// Stowing a Soft whose arc is not relocated relocates it too, holding only a soft
// count on the result (so cycles through Softs land in the target as cycles); a
// Soft whose resident is gone stows to a null Soft. Ref and Mut pin their arcs and
// are not stowable.
// Transaction: every relocation stays locked and unpublished until the whole stow
// ends (StowContext, leases/stow.hpp): on success all forwards are published, on
// failure every copy is undone and every new arc freed, so the target holds nothing
// and the originals are as before, whatever the structure's sharing or cycles.
// Meanwhile other threads' Hards and Softs of those arcs may be cloned and dropped,
// and their Ref and Mut borrows wait (relocating). The lock waits (bounded) for
// Refs and Muts to be given back and for another thread's relocation of the same
// arc to end, then reports Error::contended. stow_traits of the payload must not
// throw.

template <resident R, class Addr>
struct stow_traits<ArcLease<R, ArcKind::hard, Addr>> {
  using L = ArcLease<R, ArcKind::hard, Addr>;
  using Core = detail::ArcCore<R>;
  SWIM_MEM_API static Error stow(const L* src, L* dst, StowContext& cx) {
    detail::construct_at(dst);
    if (!*src) return Error::none;
    typename Core::Header* out = nullptr;
    const Error e = Core::stow(Core::header(src->data()), false, cx, out);
    if (e == Error::none && out != nullptr) *dst = L::adopt(out);
    return e;
  }
  SWIM_MEM_API static void unstow(const L*, L* dst) {
    if (*dst) {
      Core::unstow(Core::header(dst->data()), false);
      dst->data_.set(nullptr);
    }
    dst->~L();
  }
};

template <resident R, class Addr>
struct stow_traits<ArcLease<R, ArcKind::soft, Addr>> {
  using L = ArcLease<R, ArcKind::soft, Addr>;
  using Core = detail::ArcCore<R>;
  SWIM_MEM_API static Error stow(const L* src, L* dst, StowContext& cx) {
    detail::construct_at(dst);
    if (!*src) return Error::none;
    typename Core::Header* out = nullptr;
    const Error e = Core::stow(Core::header(src->data()), true, cx, out);
    if (e == Error::none && out != nullptr) *dst = L::adopt(out);
    return e;
  }
  SWIM_MEM_API static void unstow(const L*, L* dst) {
    if (*dst) {
      Core::unstow(Core::header(dst->data()), true);
      dst->data_.set(nullptr);
    }
    dst->~L();
  }
};

}  // namespace swim::mem
