// The lease workers' exclusive family (one step of lease_worker, in
// lease_worker.hpp): Raw<Box<u64>>, Ptr<Box<u64, int>> (metadata in the object) and
// Raw<Buf<u32>> made, written and read back in a hold, the Buf grown through the
// hold (exact in a private Pack: 4 growths in place, 1 move), a Box cloned and
// unwrapped, the Buf popped empty, the hold's statistics as before. Then a 3-node
// Raw<Box<LeaseNode>> list stowed into a Pack too small for it (the stow fails part
// way: the list untouched, that Pack empty) and into the shared Pool (the list
// moved, the scratch Pack empty; refused and intact on a short heap).
#pragma once

#include <climits>
#include <cstddef>

#include "common.hpp"
#include "swim/mem/holds/hold.hpp"
#include "swim/mem/leases.hpp"
#include "swim/mem/leases/exclusive.hpp"
#include "swim/mem/leases/stow.hpp"
#include "swim/mem/residents/box.hpp"
#include "swim/mem/residents/buf.hpp"

namespace swim::mem::device_leases {

using BoxLease = Raw<Box<u64>>;
using PtrLease = Ptr<Box<u64, int>>;  // metadata in the object: the handle is one word
using BufLease = Raw<Buf<u32>>;
static_assert(sizeof(BoxLease) == sizeof(void*) && sizeof(PtrLease) == sizeof(void*));

/// Elements pushed into each Buf. The blockers (a Box and a Ptr) are made after
/// kPush / 2 of them, so the growth from 16 to 32 elements finds the buffer no longer
/// on top of its hold and must move it. In a private Pack that is exact: growths to
/// 1 (the first object), then 2, 4, 8, 16 in place, then 32 moved.
inline constexpr u32 kPush = 32;
inline constexpr u64 kInPlace = 4;
inline constexpr u64 kMoved = 1;

/// A singly linked list node: the smallest recursive structure to stow.
struct LeaseNode {
  u64 value = 0;
  Raw<Box<LeaseNode>> next;
};
using NodeLease = Raw<Box<LeaseNode>>;

/// Nodes per list. Stow and destruction recurse once per node, on a GPU thread's
/// small stack, so the list is short (the launcher raises the CUDA stack limit).
inline constexpr unsigned kNodes = 3;

}  // namespace swim::mem::device_leases

template <>
struct swim::mem::stow_traits<swim::mem::device_leases::LeaseNode>
    : swim::mem::stow_members<swim::mem::device_leases::LeaseNode,
                              &swim::mem::device_leases::LeaseNode::value,
                              &swim::mem::device_leases::LeaseNode::next> {};

namespace swim::mem::device_leases {

/// Push, retrying Error::contended; a failed push leaves the Buf as it was.
SWIM_MEM_API inline Error push_bounded(BufLease& buf, u32 v, LeaseCounters* c) {
  Error e = Error::contended;
  for (unsigned t = 0; t < kRetries; ++t) {
    e = buf.try_push(v);
    if (e != Error::contended) break;
    bump(c->retried);
    backoff(t);
  }
  return e;
}

/// Raw<Box<u64>>, Ptr<Box<u64, int>> and Raw<Buf<u32>> in hold `h`, by thread i.
/// `exact`: h is this thread's private Pack, so growth in place or by moving is
/// predictable and the hold's statistics are this thread's alone. `short_heap`:
/// out_of_memory is expected (the shared Pool's heap is small on purpose).
SWIM_MEM_LEASES_NOINLINE SWIM_MEM_API inline void exclusive_step(HoldRef h, u64 i, bool exact,
                                                                 bool short_heap,
                                                                 LeaseCounters* c) {
  const Stats before = h.stats();
  BufLease buf;
  Error e = make_bounded(buf, c, [&] { return BufLease::try_empty(h); });
  if (e != Error::none) {
    SWIM_MEM_LEASES_NOTE(e, short_heap);
    return;
  }
  SWIM_MEM_LEASES_EXPECT(buf.size() == 0 && buf.capacity() == 0);

  BoxLease box;
  PtrLease ptr;
  u64 first = 0, in_place = 0, moved = 0;
  bool full = true;
  for (u32 v = 1; v <= kPush; ++v) {
    if (v == kPush / 2 + 1) {
      e = make_bounded(box, c, [&] { return BoxLease::try_new(h, stamp(i, 1)); });
      if (e != Error::none) SWIM_MEM_LEASES_NOTE(e, short_heap);
      e = make_bounded(ptr, c, [&] {
        return PtrLease::try_new_with_meta(h, static_cast<int>(i % INT_MAX), stamp(i, 2));
      });
      if (e != Error::none) SWIM_MEM_LEASES_NOTE(e, short_heap);
    }
    const u32* old = buf.data();
    const std::size_t cap = buf.capacity();
    e = push_bounded(buf, v, c);
    if (e != Error::none) {
      // Nothing changed: same length, capacity and buffer.
      SWIM_MEM_LEASES_NOTE(e, short_heap);
      SWIM_MEM_LEASES_EXPECT(buf.size() == v - 1 && buf.capacity() == cap && buf.data() == old);
      full = false;
      break;
    }
    if (buf.capacity() != cap) {
      if (cap == 0) {
        ++first;
      } else if (buf.data() == old) {
        ++in_place;
      } else {
        ++moved;
      }
    }
  }
  const std::size_t len = buf.size();
  for (std::size_t j = 0; j < len; ++j) SWIM_MEM_LEASES_EXPECT(buf[j] == j + 1);

  // The blockers: write through them and read back; the hold is h; Ptr keeps its
  // metadata in the object, in front of the value.
  if (box) {
    SWIM_MEM_LEASES_EXPECT(*box == stamp(i, 1) && box.hold() == h && box.block().size == 8);
    *box = ~stamp(i, 1);
    SWIM_MEM_LEASES_EXPECT(*box.data() == ~stamp(i, 1));
    bump(c->leases);
    // A clone is a separate object of h; unwrapping it gives the value and frees it.
    BoxLease twin;
    e = make_bounded(twin, c, [&] { return box.try_clone(); });
    if (e == Error::none) {
      SWIM_MEM_LEASES_EXPECT(twin.data() != box.data() && twin.hold() == h);
      Result<u64> v = detail::move(twin).try_unwrap();
      SWIM_MEM_LEASES_EXPECT(v.ok() && *v == ~stamp(i, 1) && !twin);
    } else {
      SWIM_MEM_LEASES_NOTE(e, short_heap);
    }
  }
  if (ptr) {
    const Block b = ptr.block();
    SWIM_MEM_LEASES_EXPECT(*ptr == stamp(i, 2) && ptr.metadata() == static_cast<int>(i % INT_MAX));
    SWIM_MEM_LEASES_EXPECT(ptr.hold() == h && b.size == 16 &&
                           reinterpret_cast<std::byte*>(ptr.data()) == b.begin() + 8);
    *ptr = ~stamp(i, 2);
    ptr.metadata() = -1;
    SWIM_MEM_LEASES_EXPECT(*ptr.data() == ~stamp(i, 2) && ptr.metadata() == -1);
    bump(c->leases);
  }
  if (exact) {
    SWIM_MEM_LEASES_EXPECT(full && box && ptr);
    SWIM_MEM_LEASES_EXPECT(first == 1 && in_place == kInPlace && moved == kMoved);
    bump(c->grown_in_place, in_place);
    bump(c->moved, moved);
  }

  // Pop everything, newest first; popping an empty Buf is an error that changes nothing.
  for (std::size_t j = len; j > 0; --j) {
    Result<u32> p = buf.pop();
    SWIM_MEM_LEASES_EXPECT(p.ok() && *p == j);
  }
  SWIM_MEM_LEASES_EXPECT(buf.pop().error() == Error::invalid_argument && buf.empty());
  if (full) bump(c->bufs);

  box.reset();
  ptr.reset();
  buf.reset();
  SWIM_MEM_LEASES_EXPECT(!box && !ptr && !buf);
  if (exact) {
    const Stats after = h.stats();
    SWIM_MEM_LEASES_EXPECT(after.live == before.live && after.bytes_in_use == before.bytes_in_use);
  }
}

/// Free a list node by node (a long list would recurse in the destructors).
SWIM_MEM_API inline void free_list(NodeLease& head) {
  for (unsigned k = 0; k <= kNodes && head; ++k) {
    NodeLease next = detail::move(head->next);
    head = detail::move(next);
  }
}

/// Whether `head` is thread i's list (values in order, kNodes of them) in hold `h`.
SWIM_MEM_API inline bool list_intact(const NodeLease& head, u64 i, HoldRef h) {
  const NodeLease* p = &head;
  unsigned k = 0;
  for (; k <= kNodes && *p; ++k, p = &(*p)->next) {
    if ((*p)->value != stamp(i, 16 + k) || p->hold() != h) return false;
  }
  return k == kNodes && !*p;
}

/// Thread i builds a list in its private Pack `scratch`, stows it into `tiny` (which
/// runs out at the third node: the stow fails, the list is untouched, `tiny` holds
/// nothing), then into `pool`: on success the source list is gone and the scratch
/// Pack is empty (reset), the copy is in the pool with the same values; on failure
/// (a short heap) the list is untouched where it was. Everything is freed.
SWIM_MEM_LEASES_NOINLINE SWIM_MEM_API inline void stow_step(HoldRef scratch, HoldRef tiny,
                                                            HoldRef pool, u64 i, bool short_heap,
                                                            LeaseCounters* c) {
  NodeLease head;
  for (unsigned k = kNodes; k-- > 0;) {
    NodeLease node;
    const Error e = make_bounded(node, c, [&] { return NodeLease::try_new(scratch); });
    if (e != Error::none) {
      SWIM_MEM_LEASES_NOTE(e, false);  // the private Pack has room for it
      free_list(head);
      return;
    }
    node->value = stamp(i, 16 + k);
    node->next = detail::move(head);
    head = detail::move(node);
  }
  SWIM_MEM_LEASES_EXPECT(list_intact(head, i, scratch) && scratch.stats().live == kNodes);

  NodeLease copy;
  Error e = stow_bounded(head, tiny, copy, c);
  const Stats t = tiny.stats();
  SWIM_MEM_LEASES_EXPECT(e == Error::out_of_memory && !copy && t.live == 0 &&
                         t.bytes_in_use == 0);
  if (e == Error::out_of_memory && list_intact(head, i, scratch) &&
      scratch.stats().live == kNodes) {
    bump(c->rolled_back);
  } else {
    SWIM_MEM_LEASES_EXPECT(false);
  }
  free_list(copy);  // only if the stow wrongly succeeded

  e = stow_bounded(head, pool, copy, c);
  if (e == Error::none) {
    const Stats s = scratch.stats();
    SWIM_MEM_LEASES_EXPECT(!head && s.live == 0 && s.bytes_in_use == 0);
    SWIM_MEM_LEASES_EXPECT(list_intact(copy, i, pool));
    bump(c->stowed);
  } else {
    SWIM_MEM_LEASES_NOTE(e, short_heap);
    SWIM_MEM_LEASES_EXPECT(!copy && list_intact(head, i, scratch) &&
                           scratch.stats().live == kNodes);
    bump(c->stow_refused);
  }
  free_list(copy);
  free_list(head);
  SWIM_MEM_LEASES_EXPECT(scratch.stats().live == 0);
}

}  // namespace swim::mem::device_leases
