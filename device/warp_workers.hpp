// The device suite's warp-front workers: what one lane of check_warp_front does
// (device/suite/warp_front.inl), as plain SWIM_MEM_API templates over the warp
// type, so that the same code runs in CUDA/HIP kernels with swim::mem::Warp and on
// host threads with the emulated warps of tests/support/emulated_warp.hpp
// (tests/test_warp_front.cpp, which CI runs under the plain, ASan+UBSan and TSan
// presets where no GPU exists).
//
// The hold is a SizeClasses<ExtentHeap<concurrent>, concurrent, true> (in device
// memory in the kernels, in a host arena in the test). wf_allocate: each lane asks
// the warp front for k objects (wf_layout: per call, lanes share a few classes, and
// a few ask for large or over-aligned objects that take the per-lane path), calls
// again while the front answers contended (a bounded number of times, the lanes
// that call again forming the new mask), checks size and alignment and stamps what
// it got. wf_release: another thread checks the stamps and frees the objects
// through hold_deallocate. Counters (WarpCounters) record failed checks, what was
// served how, and the largest rounds / re-calls / runs seen.
//
// Nothing here names a runtime API, a kernel built-in or a host-only library: the
// kernels, the launcher and the runtime shim stay in suite/warp_front.inl.
#pragma once

#include <cstddef>
#include <cstdint>

#include "swim/mem/config.hpp"
#include "swim/mem/heaps/extent_heap.hpp"
#include "swim/mem/holds/hold.hpp"
#include "swim/mem/holds/size_classes.hpp"
#include "swim/mem/holds/warp_front.hpp"
#include "swim/mem/physical.hpp"

namespace swim::mem::warp_workers {

using u64 = unsigned long long;
using WfHeap = ExtentHeap<concurrent>;
using WfHold = SizeClasses<WfHeap, concurrent, true>;

/// Calls of the warp front for one object after Error::contended, at most.
inline constexpr unsigned kRecalls = 1u << 10;
/// Attempts of a free that reports contended, at most.
inline constexpr unsigned kFreeRetries = 1u << 16;

/// What the workers count, in memory they all share; updated only atomically.
struct WarpCounters {
  cell<u64, concurrent> failures;       ///< failed checks
  cell<u64, concurrent> first_failure;  ///< the line of a failed check (0: none)
  cell<u64, concurrent> granted;        ///< objects handed out
  cell<u64, concurrent> exhausted;      ///< out_of_memory results (short heap only)
  cell<u64, concurrent> aggregated;     ///< objects claimed from a run
  cell<u64, concurrent> per_lane;       ///< objects from the lane's own try_allocate
  cell<u64, concurrent> max_round;      ///< the latest round that served a lane
  cell<u64, concurrent> max_recalls;    ///< the most re-calls one object needed
  cell<u64, concurrent> recalls;        ///< re-calls after contended, in all
  cell<u64, concurrent> largest_run;    ///< the most units one run gave
  cell<u64, concurrent> freed;          ///< objects freed by wf_release
};

/// What one lane got for one request.
struct WarpGrant {
  Block block;
  std::uint32_t error;
  std::uint32_t size;  ///< bytes asked for
};

SWIM_MEM_API inline void wf_expect(bool ok, WarpCounters* c, unsigned line) {
  if (ok) return;
  c->failures.fetch_add(1, order::relaxed);
  u64 none = 0;
  (void)c->first_failure.compare_exchange(none, line, order::relaxed);
}
#define SWIM_MEM_WF_EXPECT(cond) ::swim::mem::warp_workers::wf_expect((cond), c, __LINE__)

/// Lane i's j-th request. Per call, the lanes of a warp share four class sizes
/// (i * 7 cycles through the residues mod 4), and one lane in 32 asks for a large
/// object (40 000 bytes: a heap block) or for 100 bytes aligned to 64 (also a heap
/// block): both take the per-lane path.
SWIM_MEM_API inline Layout wf_layout(u64 i, unsigned j) {
  const unsigned u = static_cast<unsigned>((i * 7 + j * 3) % 32);
  if (u == 31) return Layout{40000, 8};
  if (u == 30) return Layout{100, 64};
  return Layout{24 + 40 * (u % 4) + 200 * (j % 3), 8};
}

/// A word that names (owner, j), never 0, distinct for distinct names.
SWIM_MEM_API inline u64 wf_stamp(u64 owner, u64 j) {
  return (((owner << 8) | (j & 0xFF)) + 1) * 0x9e3779b97f4a7c15ull;
}
SWIM_MEM_API inline void wf_fill(void* p, std::size_t bytes, u64 v) {
  u64* w = static_cast<u64*>(p);
  for (std::size_t q = 0; q < bytes / 8; ++q) w[q] = v ^ q;
}
SWIM_MEM_API inline bool wf_intact(const void* p, std::size_t bytes, u64 v) {
  const u64* w = static_cast<const u64*>(p);
  bool ok = true;
  for (std::size_t q = 0; q < bytes / 8; ++q) ok = ok && w[q] == (v ^ q);
  return ok;
}

/// The lane whose objects lane t frees: itself for even t; for odd t, the odd
/// lanes in reverse order (a bijection), so half the frees are of objects another
/// warp allocated.
SWIM_MEM_API inline u64 wf_partner(u64 t, u64 n) {
  if (t % 2 == 0) return t;
  const u64 odd = n / 2;
  return 2 * (odd - 1 - (t - 1) / 2) + 1;
}

/// Lane i of the lanes `among` (every one of which calls this at once): k objects
/// through the warp front, each stamped; the results in out[i * k + j]. With
/// `short_heap`, out_of_memory is expected (counted); otherwise every error fails.
template <warp_ops W, class Hold>
SWIM_MEM_API void wf_allocate(const W& warp, Hold& hold, WarpMask among, u64 i, unsigned k,
                              bool short_heap, WarpGrant* out, WarpCounters* c) {
  const unsigned lane = warp.lane();
  for (unsigned j = 0; j < k; ++j) {
    const Layout layout = wf_layout(i, j);
    Result<Block> r = Error::contended;
    WarpTrace t{0, 0, 0, false};
    unsigned recalls = 0;
    // The lanes whose last answer was contended call again, together; the others
    // wait at the ballot. At most kRecalls calls after the first.
    WarpMask ask = among;
    for (unsigned call = 0; ask != 0 && call <= kRecalls; ++call) {
      if (((ask >> lane) & 1) != 0) {
        if (call != 0) ++recalls;
        r = warp_try_allocate(warp, hold, layout, ask, &t);
      }
      ask = warp.ballot(among, r.error() == Error::contended);
    }
    raise_to(c->max_recalls, static_cast<u64>(recalls));
    c->recalls.fetch_add(recalls, order::relaxed);
    raise_to(c->max_round, static_cast<u64>(t.round));
    raise_to(c->largest_run, static_cast<u64>(t.granted));
    out[i * k + j] = WarpGrant{r.ok() ? *r : Block{}, static_cast<std::uint32_t>(r.error()),
                               static_cast<std::uint32_t>(layout.size)};
    if (!r.ok()) {
      SWIM_MEM_WF_EXPECT(short_heap && r.error() == Error::out_of_memory);
      if (r.error() == Error::out_of_memory) c->exhausted.fetch_add(1, order::relaxed);
      continue;
    }
    c->granted.fetch_add(1, order::relaxed);
    (t.per_lane ? c->per_lane : c->aggregated).fetch_add(1, order::relaxed);
    // Rounds: one per distinct class (wf_layout gives a call at most four), never
    // more than the lanes that called.
    SWIM_MEM_WF_EXPECT(t.round <= 4 && t.round <= detail::popcount(among));
    SWIM_MEM_WF_EXPECT(t.granted <= t.asked);
    SWIM_MEM_WF_EXPECT(r->size >= layout.size && r->address() % layout.align == 0 &&
                       r->address() % 16 == 0);
    wf_fill(r->ptr, layout.size / 8 * 8, wf_stamp(i, j));
  }
}

/// Lane t: check the stamps of lane `owner`'s objects and free them through the tag.
SWIM_MEM_API inline void wf_release(const WarpGrant* in, u64 owner, unsigned k, WarpCounters* c) {
  for (unsigned j = 0; j < k; ++j) {
    const WarpGrant g = in[owner * k + j];
    if (g.error != static_cast<std::uint32_t>(Error::none)) continue;
    SWIM_MEM_WF_EXPECT(wf_intact(g.block.ptr, g.size / 8 * 8, wf_stamp(owner, j)));
    Error e = Error::contended;
    for (unsigned a = 0; a < kFreeRetries && e == Error::contended; ++a) e = hold_deallocate(g.block);
    SWIM_MEM_WF_EXPECT(e == Error::none);
    if (e == Error::none) c->freed.fetch_add(1, order::relaxed);
  }
}

/// After every free of lanes [0, n)'s k objects each: the hold is empty, and a
/// second free through the tag is a double free (for the first `probes` class
/// objects that were granted).
template <class Hold>
SWIM_MEM_API void wf_after(Hold& hold, const WarpGrant* in, u64 n, unsigned k, u64 probes,
                           WarpCounters* c) {
  const Stats s = hold.stats();
  SWIM_MEM_WF_EXPECT(s.live == 0 && s.bytes_in_use == 0);
  for (u64 g = 0; g < n * k && probes != 0; ++g) {
    if (in[g].error != static_cast<std::uint32_t>(Error::none)) continue;
    // A class object's hunk stays: its freed tag reads as such. (A large object's
    // block went back to the heap, which may have handed it out again: not probed.)
    if (!detail::class_request(wf_layout(g / k, static_cast<unsigned>(g % k)))) continue;
    SWIM_MEM_WF_EXPECT(hold_deallocate(in[g].block) == Error::double_free);
    --probes;
  }
}

}  // namespace swim::mem::warp_workers
