// Layer 6 (leases): stow of the shared leases Hard and Soft (Ref and Mut pin their
// objects and are not stowable).
//
// Stowing a Hard relocates its arc into the target (or shares a relocation already
// made: two Hards of one arc stowed separately end up at one new arc). The source
// Hard is unchanged (its arc becomes a forwarding stub); try_stow then drops it.
// Stowing a Soft whose arc is not relocated relocates it too, holding only a soft
// count on the result (so cycles through Softs land in the target as cycles); a
// Soft whose resident is gone stows to a null Soft. Ref and Mut pin their arcs and
// are not stowable.
// Transaction: every relocation stays locked and unpublished until the whole stow
// ends (StowContext, leases/stow_context.hpp): on success all forwards are published, on
// failure every copy is undone and every new arc freed, so the target holds nothing
// and the originals are as before, whatever the structure's sharing or cycles.
// Meanwhile other threads' Hards and Softs of those arcs may be cloned and dropped,
// and their Ref and Mut borrows wait (relocating). The lock waits (bounded) for
// Refs and Muts to be given back and for another thread's relocation of the same
// arc to end, then reports Error::contended. stow_traits of the payload must not
// throw.
#pragma once

#include "swim/mem/leases/arc_core.hpp"
#include "swim/mem/leases/arc_lease.hpp"
#include "swim/mem/leases/stow.hpp"

namespace swim::mem {

namespace detail {
/// The stow of a Hard (Weak = false) or a Soft (Weak = true).
template <class L, bool Weak>
struct ArcStowTraits {
  using Core = ArcCore<typename L::resident_type>;
  SWIM_MEM_API static Error stow(const L* src, L* dst, StowContext& cx) {
    construct_at(dst);
    if (!*src) return Error::none;
    typename Core::Header* out = nullptr;
    const Error e = Core::stow(Core::header(src->data()), Weak, cx, out);
    if (e == Error::none && out != nullptr) *dst = L::adopt(out);
    return e;
  }
  SWIM_MEM_API static void unstow(const L*, L* dst) {
    if (*dst) {
      Core::unstow(Core::header(dst->data()), Weak);
      dst->data_.set(nullptr);
    }
    dst->~L();
  }
};
}  // namespace detail

template <resident R, class Addr>
struct stow_traits<ArcLease<R, ArcKind::hard, Addr>>
    : detail::ArcStowTraits<ArcLease<R, ArcKind::hard, Addr>, false> {};

template <resident R, class Addr>
struct stow_traits<ArcLease<R, ArcKind::soft, Addr>>
    : detail::ArcStowTraits<ArcLease<R, ArcKind::soft, Addr>, true> {};

}  // namespace swim::mem
