// Layer 6 (leases): the protocol of the shared ("arc") leases Mut, Ref, Hard and
// Soft on one object, independent of the lease kind (leases/arc_lease.hpp is the
// lease class, leases/arc_stow.hpp their stow).
//
// All four are one pointer to the payload of an object laid out as
//   [tag][ArcHeader{relocation, status, meta}][pad][payload]
// The status word (leases/arc_status.hpp) packs the counters and flags:
//   bits  0-23  hard count      strong references (every Mut and Ref holds one too)
//   bits 24-47  soft count      weak references: keep the block, not the resident
//   bits 48-61  ref count       shared borrows (Ref); on a relocated arc: followers
//   bit  62     MUT             one exclusive borrow (Mut); on a relocated arc: the
//                               forward is not usable (relocation or revert running)
//   bit  63     RELOCATED       the resident moved; `relocation` is the forward, the
//                               distance to its new arc (forward_word)
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
// - Last hard reference: the resident is destroyed by the thread that takes
//   the hard count from 1 to 0. If soft references remain it first takes a
//   keep-alive count in the same CAS, so a concurrent last-Soft drop cannot free the
//   block while the destructor runs; the block is freed by whoever takes the last
//   count of any kind. (The keep-alive goes in the ref field, which is provably 0
//   once hard is 0, so unlike a temporary soft count it cannot overflow.)
// - Relocation is the stow of a Hard (leases/arc_stow.hpp): lock the arc
//   (RELOCATED|MUT, refused while a Mut or Ref exists), copy the resident into a
//   new arc in the target (status 2 hard | MUT: one for the new lease, one for the
//   forward); when the whole stow succeeded, publish the forward and
//   clear MUT on both (a failed stow frees the copy and unlocks). Existing Hards and
//   Softs follow the forward; new borrows land on the new arc. Stow copies, so the
//   old payload is destroyed when the old arc's last hard reference goes, and then
//   the forward is released. A reader sees the old or the new object, never a
//   half-copied one: borrows on the old arc stop before the copy starts, and the
//   new arc is borrowable only after the copy is complete.
// - Followers register on each stub they pass (hard + ref, hand over hand), so a
//   stub's forward cannot be released, nor a relocation reverted, under them.
#pragma once

#include <cstddef>
#include <cstdint>
#include <type_traits>

#include "swim/mem/holds.hpp"
#include "swim/mem/leases/arc_status.hpp"
#include "swim/mem/leases/arc_stow_log.hpp"
#include "swim/mem/leases/resident.hpp"
#include "swim/mem/leases/stow_context.hpp"

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
  /// A stub's forward (its relocation word once RELOCATED is set and MUT clear): the
  /// distance from the stub's header to the new arc's header, modulo 2^64. A distance,
  /// not an address, so that a stub and the arc it forwards to, in memory that several
  /// processes map at different addresses (an MPI shared window, a memfd mapped
  /// twice), agree in every mapping, as relative_address does for the leases
  /// (physical/address.hpp). Never 0 (two live blocks start at different bytes): 0
  /// means no forward. Headers are 8-aligned, so the low bit is free for moved_bit:
  /// the stub's payload was moved out (a Mut's growth), not copied, so the stub must
  /// not destroy it.
  static constexpr std::uint64_t moved_bit = 1;
  SWIM_MEM_API static std::uint64_t forward_word(const Header* from, const Header* to) {
    return static_cast<std::uint64_t>(reinterpret_cast<std::uintptr_t>(to)) -
           static_cast<std::uint64_t>(reinterpret_cast<std::uintptr_t>(from));
  }
  /// The arc a forward word `w` of the stub `from` names.
  SWIM_MEM_API static Header* forward_of(const Header* from, std::uint64_t w) {
    return reinterpret_cast<Header*>(reinterpret_cast<std::uintptr_t>(from) +
                                     static_cast<std::uintptr_t>(w & ~moved_bit));
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
      Header* next = forward_of(h, to);
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
    Header* const next = to != 0 ? forward_of(h, to) : nullptr;
    free_block(h);
    if (next != nullptr) release_weak(next, S::soft_one);
  }

  /// Give back `sub` (hard_one plus ref_one or mut_flag for a Ref or Mut, or a
  /// follower's hard_one + ref_one). The drop protocol (see the header comment): the
  /// last hard reference destroys the resident, the last reference of any kind frees
  /// the block.
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
      Header* const next = to != 0 ? forward_of(h, to) : nullptr;
      free_block(h);
      h = next;
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
                                       detail::ArcStowLog* log = nullptr) {
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
        cur = forward_of(cur, to);
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
            Header* next = forward_of(cur, cur->relocation.load(order::acquire));
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
        if (in_progress && log != nullptr) {
          // Relocated by this very stow (a DAG edge or a cycle): count on the new arc.
          if (detail::ArcLinks* to = log->find(cur, s)) {
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
    h->relocation.store(forward_word(h, n) | moved_bit, order::relaxed);
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
                                     arc_stow_retries, true, out, &cx.arc_log());
          if (e == Error::cleared) {
            out = nullptr;
            return Error::none;
          }
          return e;
        }
        // Being relocated: by this very stow (reached again), or by another thread.
        if (detail::ArcLinks* to = cx.arc_log().find(a, s)) {
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
                                    (cx.arc_log().tag() << S::ref_shift)) +
                                   (weak ? S::hard_one : 0);
      if (a->status.compare_exchange(s, locked, order::acq_rel)) break;
    }
    // New arc: one count for dst and one hard for the forward; MUT until committed.
    const std::uint64_t initial = (S::hard_one + unit) | S::mut_flag;
    Header* b = nullptr;
    Error e = allocate(cx.target(), R::stow_meta(a->meta), initial, b);
    if (e == Error::none) {
      e = cx.arc_log().record(a, b, &log_op, weak);
      if (e != Error::none) free_block(b);
    }
    if (e != Error::none) {
      unlock(a, weak);
      return e;
    }
    detail::ArcStowLog::Frame frame{a, nullptr};
    cx.arc_log().push(frame);
    e = R::stow(payload(a), a->meta, payload(b), b->meta, cx);
    cx.arc_log().pop(frame);
    if (e != Error::none) {
      // The payload's own stow gave back what it took; dst's count was never handed
      // out. The entry stays logged (a locked, b holding the forward only) and is
      // undone when the transaction ends.
      b->status.store(b->status.load(order::relaxed) - unit, order::relaxed);  // (b is ours)
      cx.arc_log().mark_failed(b);
      return e;
    }
    cx.arc_log().mark_constructed(b);
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
        a->relocation.store(forward_word(a, b), order::relaxed);
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

}  // namespace detail
}  // namespace swim::mem
