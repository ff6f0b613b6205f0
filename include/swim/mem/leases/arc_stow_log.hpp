// Layer 6 (leases): the log of a stow transaction's shared relocations.
//
// Shared (arc) leases relocate instead of copying, so that every existing pointer
// to them follows (leases/arc_core.hpp). Their relocations are one transaction:
// each relocated arc stays locked, and its copy unreachable from other threads,
// until the top-level stow ends. Then commit() publishes every forwarding
// address, or rollback() undoes every copy, frees every new arc and unlocks the
// originals. So a failed stow leaves the target holding nothing, even when the
// structure shares sub-objects (a DAG) or has cycles through Softs, and no other
// thread can have reached a copy that is then taken away.
#pragma once

#include <cstdint>

#include "swim/mem/config.hpp"
#include "swim/mem/leases/arc_status.hpp"
#include "swim/mem/physical.hpp"

namespace swim::mem::detail {

/// What the transaction asks of one logged arc relocation (leases/arc_core.hpp does it).
enum class ArcLogOp : std::uint8_t {
  commit,  ///< publish the forwarding address, open both arcs
  unstow,  ///< undo the copy's payload (its children's stows)
  revert,  ///< free the new arc, unlock the original
};
/// One resident type's handler of the log operations (a, b: old and new header).
using ArcLogFn = void (*)(ArcLogOp, ArcLinks* a, ArcLinks* b, bool weak);
/// The log of the shared arcs one stow transaction has relocated so far (part of
/// a StowContext, leases/stow_context.hpp). Lives on the stowing thread's stack;
/// not shared.
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
class ArcStowLog {
 public:
  SWIM_MEM_API explicit ArcStowLog(const void* salt) : tag_(transaction_tag(this, salt)) {}
  ArcStowLog(const ArcStowLog&) = delete;
  ArcStowLog& operator=(const ArcStowLog&) = delete;
  SWIM_MEM_API ~ArcStowLog() { SWIM_MEM_ASSERT(head_ == nullptr); }

  /// Publish every logged relocation (after the whole stow succeeded).
  SWIM_MEM_API void commit() {
    for (ArcLinks* a = head_; a != nullptr;) {
      ArcLinks* b = new_of(a);
      const std::uint64_t f = flags(b);
      ArcLinks* next = link(b);
      // A part whose own stow failed (and whose caller went on regardless) was never
      // handed out: undo it rather than publish an unconstructed copy. (A caller
      // that ignores a child's error breaks the stow_traits contract; a copy made
      // after that could refer to this part through a cycle.)
      SWIM_MEM_ASSERT((f & failed_bit) == 0);
      fns_[f & fn_mask]((f & constructed_bit) != 0 ? ArcLogOp::commit
                                                   : ArcLogOp::revert,
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
    for (ArcLinks* a = head_; a != nullptr;) {
      ArcLinks* b = new_of(a);
      const std::uint64_t f = flags(b);
      if ((f & constructed_bit) != 0) {
        fns_[f & fn_mask](ArcLogOp::unstow, a, b, (f & weak_bit) != 0);
      }
      a = link(b);
    }
    for (ArcLinks* a = head_; a != nullptr;) {
      ArcLinks* b = new_of(a);
      const std::uint64_t f = flags(b);
      ArcLinks* next = link(b);
      fns_[f & fn_mask](ArcLogOp::revert, a, b, (f & weak_bit) != 0);
      a = next;
    }
    head_ = nullptr;
  }

  // ---- For the shared leases' relocation (leases/arc_core.hpp) -----------------------

  /// This transaction's tag, for the ref field of the arcs it locks (1..16383).
  SWIM_MEM_API std::uint64_t tag() const { return tag_; }

  /// Log `a` (locked with tag()) relocating to `b`, handled by `fn`. Fails with
  /// unsupported when one stow meets more than 16 shared resident types.
  SWIM_MEM_API Error record(ArcLinks* a, ArcLinks* b, ArcLogFn fn,
                            bool weak) {
    std::uint64_t index = 0;
    while (index < fn_count_ && fns_[index] != fn) ++index;
    if (index == fn_count_) {
      if (fn_count_ == max_fns) return Error::unsupported;
      fns_[fn_count_++] = fn;
    }
    if (head_ == nullptr) {
      for (ArcLinks*& c : cache_) c = nullptr;
      for (ArcLinks*& c : hot_) c = nullptr;
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
    ArcLinks* a;
    const Frame* up;
  };
  /// Enter and leave the payload stow of a logged arc (for find()).
  SWIM_MEM_API void push(Frame& f) {
    f.up = frames_;
    frames_ = &f;
  }
  SWIM_MEM_API void pop(const Frame& f) { frames_ = f.up; }

  /// b's payload is complete (its stow succeeded).
  SWIM_MEM_API void mark_constructed(ArcLinks* b) { set_flags(b, constructed_bit); }
  /// b's stow failed: it must not be used by a later part of this stow.
  SWIM_MEM_API void mark_failed(ArcLinks* b) { set_flags(b, failed_bit); }
  /// The new header of `a` if this transaction is relocating it (`s`: a status of a
  /// seen with RELOCATED and MUT set), else null (another thread's relocation).
  SWIM_MEM_API ArcLinks* find(ArcLinks* a, std::uint64_t s) {
    if (head_ == nullptr || ArcStatus::ref(s) != tag_) return nullptr;
    ArcLinks* b = nullptr;
    if (cache_[slot(a)] == a) {
      b = new_of(a);
    } else {
      for (ArcLinks* h : hot_) {
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
        for (ArcLinks* x = head_; x != nullptr; x = link(new_of(x))) {
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
  SWIM_MEM_API static ArcLinks* at(std::uint64_t v) {
    return reinterpret_cast<ArcLinks*>(static_cast<std::uintptr_t>(v));
  }
  SWIM_MEM_API static ArcLinks* new_of(ArcLinks* a) {
    return at(a->relocation.load(order::relaxed));
  }
  SWIM_MEM_API static ArcLinks* link(ArcLinks* b) {
    return at(b->relocation.load(order::relaxed));
  }
  // Until commit a new arc is this thread's alone (nothing reachable refers to it),
  // so its status needs no read-modify-write.
  SWIM_MEM_API static void set_flags(ArcLinks* b, std::uint64_t f) {
    b->status.store(b->status.load(order::relaxed) | (f << ArcStatus::ref_shift),
                    order::relaxed);
  }
  SWIM_MEM_API static std::uint64_t flags(ArcLinks* b) {
    return ArcStatus::ref(b->status.load(order::relaxed));
  }
  SWIM_MEM_API static unsigned slot(const ArcLinks* a) {
    return static_cast<unsigned>((address(a) * 0x9E3779B97F4A7C15ull) >> 58);
  }
  // A filter only (find() is exact): different for concurrent transactions as a
  // rule, through the context's and the caller's addresses.
  SWIM_MEM_API static std::uint64_t transaction_tag(const void* self, const void* salt) {
    const std::uint64_t h = (address(self) ^ (address(salt) * 0xBF58476D1CE4E5B9ull)) *
                            0x94D049BB133111EBull;
    return (h >> 50) % ArcStatus::ref_count_max + 1;
  }

  ArcLinks* head_ = nullptr;
  const Frame* frames_ = nullptr;
  std::uint64_t tag_;
  std::uint64_t fn_count_ = 0;
  ArcLogFn fns_[max_fns] = {};
  ArcLinks* cache_[cache_slots];  // by address hash, filled by record()
  ArcLinks* hot_[hot_slots];      // entries found by a walk, round robin
  unsigned hot_next_ = 0;
};

}  // namespace swim::mem::detail
