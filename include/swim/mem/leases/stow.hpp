// Layer 6 (leases): stow, the customization point that moves a data structure
// into another hold, recursively and transactionally.
//
// stow_traits<T> says how to stow a T:
//   static Error stow(const T* src, T* dst, StowContext& cx)
//       Construct *dst (raw memory) as a copy of *src whose owned memory lives in
//       cx.target(), children included (stow them with the same cx). *src is not
//       changed. On error nothing is left constructed in dst, and everything this
//       call allocated or counted has been given back (shared arcs it relocated stay
//       in cx's log until the transaction ends: see below).
//   static void unstow(const T* src, T* dst)
//       Undo a successful stow: release what it allocated in the target and leave
//       *dst unconstructed; *src is as before the stow.
// A whole stow is copy-then-destroy: try_stow() copies the structure, and only if
// every part succeeded destroys the source (which frees the old memory).
//
// Shared (arc) leases relocate instead of copying, so that every existing pointer
// to them follows (leases/arc.hpp). Their relocations are one transaction, kept in
// the StowContext: each relocated arc stays locked, and its copy unreachable from
// other threads, until the top-level stow ends. Then cx.commit() publishes every
// forwarding address, or cx.rollback() undoes every copy, frees every new arc and
// unlocks the originals. So a failed stow leaves the target holding nothing, even
// when the structure shares sub-objects (a DAG) or has cycles through Softs, and
// no other thread can have reached a copy that is then taken away.
//
// Provided: every trivially copyable type (a bitwise copy), every lease and
// resident of swim-mem, and stow_members<T, &T::a, &T::b, ...> for user structs.
#pragma once

#include <cstdint>
#include <type_traits>

#include "swim/mem/holds.hpp"
#include "swim/mem/leases/arc_status.hpp"
#include "swim/mem/leases/resident.hpp"

namespace swim::mem {

namespace detail {
/// What the transaction asks of one logged arc relocation (leases/arc.hpp does it).
enum class ArcLogOp : std::uint8_t {
  commit,  ///< publish the forwarding address, open both arcs
  unstow,  ///< undo the copy's payload (its children's stows)
  revert,  ///< free the new arc, unlock the original
};
/// One resident type's handler of the log operations (a, b: old and new header).
using ArcLogFn = void (*)(ArcLogOp, ArcLinks* a, ArcLinks* b, bool weak);
}  // namespace detail

/// The state of one stow transaction: the target hold and the log of the shared
/// arcs relocated so far. Made by try_stow / try_stow_all / try_compact (or by a
/// caller driving stow_traits directly, who must then call commit() after success
/// or rollback() after failure). Lives on the stowing thread's stack; not shared.
///
/// The log takes no memory of its own: it is threaded through the headers it
/// logs. While an arc `a` is relocated by this transaction, a is locked
/// (RELOCATED | MUT, and this transaction's 14-bit tag in its ref field, which is
/// otherwise 0 under that lock), a.relocation holds the new header b, and b (not
/// reachable by any other thread yet) holds the previous logged header in
/// b.relocation and the entry's flags in its ref field. Finding whether a locked
/// arc is this transaction's own (a DAG edge or a cycle back into the structure) is
/// a tag test, then a 64-slot cache of recent records, 8 slots of entries met again
/// and the 16 innermost relocations in progress, then a walk of the log: exact, and
/// O(1) in the usual cases (a parent or back pointer, a recent sibling, a node
/// shared by many).
class StowContext {
 public:
  SWIM_MEM_API explicit StowContext(HoldRef target, const void* salt = nullptr)
      : target_(target), tag_(make_tag(this, salt)) {}
  StowContext(const StowContext&) = delete;
  StowContext& operator=(const StowContext&) = delete;
  SWIM_MEM_API ~StowContext() { SWIM_MEM_ASSERT(head_ == nullptr); }

  /// Where the stowed copies go.
  SWIM_MEM_API HoldRef target() const { return target_; }

  /// Publish every logged relocation (after the whole stow succeeded).
  SWIM_MEM_API void commit() {
    for (detail::ArcLinks* a = head_; a != nullptr;) {
      detail::ArcLinks* b = new_of(a);
      const std::uint64_t f = flags(b);
      detail::ArcLinks* next = link(b);
      // A part whose own stow failed (and whose caller went on regardless) was never
      // handed out: undo it rather than publish an unconstructed copy. (A caller
      // that ignores a child's error breaks the stow_traits contract; a copy made
      // after that could refer to this part through a cycle.)
      SWIM_MEM_ASSERT((f & failed_bit) == 0);
      fns_[f & fn_mask]((f & constructed_bit) != 0 ? detail::ArcLogOp::commit
                                                   : detail::ArcLogOp::revert,
                        a, b, (f & weak_bit) != 0);
      a = next;
    }
    head_ = nullptr;
  }

  /// Undo every logged relocation (after the stow failed and every dst it made was
  /// unstowed). First every copy's payload is unstowed, which gives back the counts
  /// the copies hold on one another (so cycles need no order), then every new arc
  /// is freed and every original unlocked.
  SWIM_MEM_API void rollback() {
    for (detail::ArcLinks* a = head_; a != nullptr;) {
      detail::ArcLinks* b = new_of(a);
      const std::uint64_t f = flags(b);
      if ((f & constructed_bit) != 0) {
        fns_[f & fn_mask](detail::ArcLogOp::unstow, a, b, (f & weak_bit) != 0);
      }
      a = link(b);
    }
    for (detail::ArcLinks* a = head_; a != nullptr;) {
      detail::ArcLinks* b = new_of(a);
      const std::uint64_t f = flags(b);
      detail::ArcLinks* next = link(b);
      fns_[f & fn_mask](detail::ArcLogOp::revert, a, b, (f & weak_bit) != 0);
      a = next;
    }
    head_ = nullptr;
  }

  // ---- For leases/arc.hpp ---------------------------------------------------------

  /// This transaction's tag, for the ref field of the arcs it locks (1..16383).
  SWIM_MEM_API std::uint64_t tag() const { return tag_; }

  /// Log `a` (locked with tag()) relocating to `b`, handled by `fn`. Fails with
  /// unsupported when one stow meets more than 16 shared resident types.
  SWIM_MEM_API Error record(detail::ArcLinks* a, detail::ArcLinks* b, detail::ArcLogFn fn,
                            bool weak) {
    std::uint64_t index = 0;
    while (index < fn_count_ && fns_[index] != fn) ++index;
    if (index == fn_count_) {
      if (fn_count_ == max_fns) return Error::unsupported;
      fns_[fn_count_++] = fn;
    }
    if (head_ == nullptr) {
      for (detail::ArcLinks*& c : cache_) c = nullptr;
      for (detail::ArcLinks*& c : hot_) c = nullptr;
    }
    a->relocation.store(address(b), order::relaxed);
    b->relocation.store(address(head_), order::relaxed);
    set_flags(b, index | (weak ? weak_bit : 0));
    head_ = a;
    cache_[slot(a)] = a;
    return Error::none;
  }
  /// A relocation whose payload is being stowed, on the stowing function's stack.
  struct Frame {
    detail::ArcLinks* a;
    const Frame* up;
  };
  /// Enter and leave the payload stow of a logged arc (for find()).
  SWIM_MEM_API void push(Frame& f) {
    f.up = frames_;
    frames_ = &f;
  }
  SWIM_MEM_API void pop(const Frame& f) { frames_ = f.up; }

  /// b's payload is complete (its stow succeeded).
  SWIM_MEM_API void mark_constructed(detail::ArcLinks* b) { set_flags(b, constructed_bit); }
  /// b's stow failed: it must not be used by a later part of this stow.
  SWIM_MEM_API void mark_failed(detail::ArcLinks* b) { set_flags(b, failed_bit); }
  /// The new header of `a` if this transaction is relocating it (`s`: a status of a
  /// seen with RELOCATED and MUT set), else null (another thread's relocation).
  SWIM_MEM_API detail::ArcLinks* find(detail::ArcLinks* a, std::uint64_t s) {
    if (head_ == nullptr || ArcStatus::ref(s) != tag_) return nullptr;
    detail::ArcLinks* b = nullptr;
    if (cache_[slot(a)] == a) {
      b = new_of(a);
    } else {
      for (detail::ArcLinks* h : hot_) {
        if (h == a) b = new_of(a);
      }
      // The relocations in progress (the recursion's ancestors): a parent pointer
      // or a list's back pointer.
      unsigned depth = 0;
      for (const Frame* f = frames_; b == nullptr && f != nullptr && depth < frame_probe;
           f = f->up, ++depth) {
        if (f->a == a) b = new_of(a);
      }
      if (b == nullptr) {
        for (detail::ArcLinks* x = head_; x != nullptr; x = link(new_of(x))) {
          if (x == a) {
            b = new_of(x);
            break;
          }
        }
        // Reached again but no longer cached: likely shared widely (a DAG's common
        // node), so keep it where later records do not evict it.
        if (b != nullptr) hot_[hot_next_++ % hot_slots] = a;
      }
    }
    if (b == nullptr || (flags(b) & failed_bit) != 0) return nullptr;
    return b;
  }

 private:
  static constexpr std::uint64_t max_fns = 16;
  static constexpr std::uint64_t fn_mask = 0xF;
  static constexpr std::uint64_t constructed_bit = 0x10;
  static constexpr std::uint64_t weak_bit = 0x20;
  static constexpr std::uint64_t failed_bit = 0x40;
  static constexpr unsigned cache_slots = 64;
  static constexpr unsigned hot_slots = 8;
  static constexpr unsigned frame_probe = 16;

  SWIM_MEM_API static std::uint64_t address(const void* p) {
    return static_cast<std::uint64_t>(reinterpret_cast<std::uintptr_t>(p));
  }
  SWIM_MEM_API static detail::ArcLinks* at(std::uint64_t v) {
    return reinterpret_cast<detail::ArcLinks*>(static_cast<std::uintptr_t>(v));
  }
  SWIM_MEM_API static detail::ArcLinks* new_of(detail::ArcLinks* a) {
    return at(a->relocation.load(order::relaxed));
  }
  SWIM_MEM_API static detail::ArcLinks* link(detail::ArcLinks* b) {
    return at(b->relocation.load(order::relaxed));
  }
  // Until commit a new arc is this thread's alone (nothing reachable refers to it),
  // so its status needs no read-modify-write.
  SWIM_MEM_API static void set_flags(detail::ArcLinks* b, std::uint64_t f) {
    b->status.store(b->status.load(order::relaxed) | (f << ArcStatus::ref_shift),
                    order::relaxed);
  }
  SWIM_MEM_API static std::uint64_t flags(detail::ArcLinks* b) {
    return ArcStatus::ref(b->status.load(order::relaxed));
  }
  SWIM_MEM_API static unsigned slot(const detail::ArcLinks* a) {
    return static_cast<unsigned>((address(a) * 0x9E3779B97F4A7C15ull) >> 58);
  }
  // A filter only (find() is exact): different for concurrent transactions as a
  // rule, through the context's and the caller's addresses.
  SWIM_MEM_API static std::uint64_t make_tag(const void* self, const void* salt) {
    const std::uint64_t h = (address(self) ^ (address(salt) * 0xBF58476D1CE4E5B9ull)) *
                            0x94D049BB133111EBull;
    return (h >> 50) % ArcStatus::ref_count_max + 1;
  }

  HoldRef target_;
  detail::ArcLinks* head_ = nullptr;
  const Frame* frames_ = nullptr;
  std::uint64_t tag_;
  std::uint64_t fn_count_ = 0;
  detail::ArcLogFn fns_[max_fns] = {};
  detail::ArcLinks* cache_[cache_slots];  // by address hash, filled by record()
  detail::ArcLinks* hot_[hot_slots];      // entries found by a walk, round robin
  unsigned hot_next_ = 0;
};

/// The stow customization point; specialize it for your types (or derive the
/// specialization from stow_members). Left undefined for types that cannot be
/// stowed, so that stowing them is a compile error.
template <class T, class Enable = void>
struct stow_traits;

template <class T>
struct stow_traits<T, std::enable_if_t<std::is_trivially_copyable_v<T>>> {
  SWIM_MEM_API static Error stow(const T* src, T* dst, StowContext&) {
    detail::construct_at(dst, *src);
    return Error::none;
  }
  SWIM_MEM_API static void unstow(const T*, T* dst) { dst->~T(); }
};

template <class T>
concept stowable = requires(const T* s, T* d, StowContext& cx) {
  { stow_traits<T>::stow(s, d, cx) } -> std::same_as<Error>;
  stow_traits<T>::unstow(s, d);
};

/// Stow the members of a struct, in order, rolling back in reverse on failure.
/// T must be default-constructible and its members move-assignable; each member
/// type must be stowable. Use: `template <> struct swim::mem::stow_traits<Node>
/// : swim::mem::stow_members<Node, &Node::value, &Node::next> {};`
template <class T, auto... Members>
struct stow_members {
  SWIM_MEM_API static Error stow(const T* src, T* dst, StowContext& cx) {
    detail::construct_at(dst);
    const Error e = stow_from<0, Members...>(src, dst, cx);
    if (e != Error::none) dst->~T();
    return e;
  }
  SWIM_MEM_API static void unstow(const T* src, T* dst) {
    unstow_from<0, Members...>(src, dst);
    dst->~T();
  }

 private:
  template <class M>
  struct storage {
    alignas(M) unsigned char bytes[sizeof(M)];
    SWIM_MEM_API M* get() { return reinterpret_cast<M*>(bytes); }
  };

  template <int I>
  SWIM_MEM_API static Error stow_from(const T*, T*, StowContext&) {
    return Error::none;
  }
  template <int I, auto First, auto... Rest>
  SWIM_MEM_API static Error stow_from(const T* src, T* dst, StowContext& cx) {
    using M = std::remove_reference_t<decltype(src->*First)>;
    storage<std::remove_const_t<M>> tmp;
    Error e = stow_traits<std::remove_const_t<M>>::stow(&(src->*First), tmp.get(), cx);
    if (e != Error::none) return e;
    dst->*First = detail::move(*tmp.get());
    tmp.get()->~M();
    e = stow_from<I + 1, Rest...>(src, dst, cx);
    if (e != Error::none) unstow_one<First>(src, dst);
    return e;
  }

  template <int I>
  SWIM_MEM_API static void unstow_from(const T*, T*) {}
  template <int I, auto First, auto... Rest>
  SWIM_MEM_API static void unstow_from(const T* src, T* dst) {
    unstow_from<I + 1, Rest...>(src, dst);  // reverse order
    unstow_one<First>(src, dst);
  }

  // Move the member out of dst, undo its stow, and leave dst's member as if
  // default-constructed.
  template <auto Member>
  SWIM_MEM_API static void unstow_one(const T* src, T* dst) {
    using M = std::remove_const_t<std::remove_reference_t<decltype(src->*Member)>>;
    storage<M> tmp;
    detail::construct_at(tmp.get(), detail::move(dst->*Member));
    dst->*Member = M{};
    stow_traits<M>::unstow(&(src->*Member), tmp.get());
  }
};

/// Stow `src` into `target`. On success the result owns a copy in `target` and
/// `src` has been destroyed and reset (its old memory freed); on failure `src` is
/// untouched and nothing was left in `target`.
/// Thread-safety: `src` must not be used concurrently (shared leases inside it may
/// be, see leases/arc.hpp). Host and device.
template <stowable L>
SWIM_MEM_API Result<L> try_stow(L& src, HoldRef target) {
  alignas(L) unsigned char bytes[sizeof(L)];
  L* dst = reinterpret_cast<L*>(bytes);
  StowContext cx(target, &src);
  const Error e = stow_traits<L>::stow(&src, dst, cx);
  if (e != Error::none) {
    cx.rollback();
    return e;
  }
  cx.commit();
  Result<L> out(detail::move(*dst));
  dst->~L();
  src = L{};
  return out;
}

namespace detail {

template <class T>
struct StowSlot {
  alignas(T) unsigned char bytes[sizeof(T)];
  SWIM_MEM_API T* get() { return reinterpret_cast<T*>(bytes); }
};

// The end of the chain: every copy succeeded; `all_copied` runs, then the shared
// relocations are published, before any lease is replaced.
template <class Gate>
SWIM_MEM_API Error stow_chain(StowContext& cx, Gate& all_copied) {
  all_copied();
  cx.commit();
  return Error::none;
}

// Copy `first`, then the rest; replace `first` only once everything after it was
// copied (and committed), else undo its copy. So commits happen only when every
// copy succeeded, and a failure anywhere leaves every lease untouched.
template <class Gate, class L, class... Rest>
SWIM_MEM_API Error stow_chain(StowContext& cx, Gate& all_copied, L& first, Rest&... rest) {
  StowSlot<L> slot;
  Error e = stow_traits<L>::stow(&first, slot.get(), cx);
  if (e != Error::none) return e;
  e = stow_chain(cx, all_copied, rest...);
  if (e != Error::none) {
    stow_traits<L>::unstow(&first, slot.get());
    return e;
  }
  first = detail::move(*slot.get());
  slot.get()->~L();
  return Error::none;
}

/// stow_chain as one transaction: rolled back on failure.
template <class Gate, class... L>
SWIM_MEM_API Error stow_transaction(HoldRef target, Gate& all_copied, L&... leases) {
  StowContext cx(target, &all_copied);
  const Error e = stow_chain(cx, all_copied, leases...);
  if (e != Error::none) cx.rollback();
  return e;
}

}  // namespace detail

/// Stow several leases into `target` as one transaction: on success each lease is
/// replaced by its stowed copy (the originals destroyed, freeing their memory); on
/// failure every lease is untouched and nothing is left in the target.
template <stowable... L>
SWIM_MEM_API Error try_stow_all(HoldRef target, L&... leases) {
  auto nothing = [] {};
  return detail::stow_transaction(target, nothing, leases...);
}

}  // namespace swim::mem
