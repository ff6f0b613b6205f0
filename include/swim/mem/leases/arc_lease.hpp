// Layer 6 (leases): the shared leases Mut, Ref, Hard and Soft, one class template
// over the protocol of leases/arc_core.hpp.
//
//   lease | deref   | strength | relocatable | holds
//   Mut   | mutable | strong   | no (pins)   | 1 hard + MUT
//   Ref   | const   | strong   | no (pins)   | 1 hard + 1 ref
//   Hard  | none    | strong   | yes         | 1 hard
//   Soft  | none    | weak     | yes         | 1 soft
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
#include "swim/mem/leases/address.hpp"
#include "swim/mem/leases/arc_core.hpp"
#include "swim/mem/leases/resident.hpp"
#include "swim/mem/leases/stow.hpp"

namespace swim::mem {
namespace detail {

template <class L, bool Weak>
struct ArcStowTraits;

}  // namespace detail

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
  /// `other` may live inside the object this lease holds (`list = move(list->next)`):
  /// it is emptied first, then the old holding goes, as unique_ptr's assignment does.
  SWIM_MEM_API ArcLease& operator=(ArcLease&& other) {
    if (this != &other) {
      ArcLease taken(static_cast<ArcLease&&>(other));
      reset();
      data_ = taken.data_;
      taken.data_.set(nullptr);
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
  /// The resident's metadata, in the header. The lease must not be null.
  SWIM_MEM_API meta_type& meta() const { return head()->meta; }
  /// The hold that owns the object (a null HoldRef for a null lease).
  SWIM_MEM_API HoldRef hold() const { return *this ? HoldRef::owner_of(head()) : HoldRef(); }
  /// The whole memory object, header included (an empty Block for a null lease).
  SWIM_MEM_API Block block() const { return *this ? Core::block(head()) : Block{}; }

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
      detail::host_yield();
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
      detail::host_yield();
    }
  }

  // ---- Forwarding -------------------------------------------------------------------
  /// Move this Hard or Soft to the end of its forwarding chain (path compression): a
  /// count of its kind is taken on the arc reached, then the stub's is given back
  /// (which may free stubs). A chain longer than arc_max_hops takes more than one call:
  /// each moves the lease arc_max_hops on and answers none, whatever lies at the end.
  /// Nothing happens when the arc is not relocated; a Soft whose resident is gone
  /// (seen within arc_max_hops) reports cleared and stays where it was.
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
  // cloned) in the same hold; the other leases keep the original. (Having no other
  // Ref is not enough: another Hard owns the resident too, and would see its value
  // change under it.) Softs of the original are not moved to a copy. Errors,
  // nothing changed: cleared (null), aliased / relocating / contended (a Mut
  // exists, a relocation runs, or the retry bound was reached; a Hard borrows a
  // Ref first), and the hold's errors for the copy.

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
  /// Softs exist, that move is a relocation, so that none of them keeps the old
  /// address: the old object becomes a forwarding stub that they follow (a weak one
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
  template <class, bool>
  friend struct detail::ArcStowTraits;  // (leases/arc_stow.hpp)

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
      detail::host_yield();
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

namespace detail {

/// Test and debugging access to an arc's header (e.g. to forge a status near the
/// counters' maxima). Not for ordinary use.
struct ArcAccess {
  template <resident R, ArcKind K, class Addr>
  SWIM_MEM_API static ArcHeader<typename R::meta_type>* header(const ArcLease<R, K, Addr>& l) {
    return l.data() == nullptr ? nullptr : ArcCore<R>::header(l.data());
  }
};

}  // namespace detail
}  // namespace swim::mem
