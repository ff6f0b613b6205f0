// Layer 1 (config): the warp operations, spelled once for every backend.
//
//   nvcc           -> %laneid, __activemask, __ballot_sync, __shfl_sync, __syncwarp
//   hipcc (clang)  -> __lane_id, __ballot, __shfl, a wavefront barrier with fences
//   host code      -> a warp of one lane (the calling thread)
//
// A warp algorithm is a template over its warp type W (the concept warp_ops
// below), so that the same code runs on a GPU with Warp and on host threads with
// the emulation in tests/support/emulated_warp.hpp (W std::threads acting as one
// warp), which CI runs under ThreadSanitizer. Masks are 64-bit for both vendors
// (CUDA's 32-bit masks are the low half).
//
// The contract every warp type keeps, as CUDA's *_sync intrinsics state it: every
// lane of `among` calls the same operation with the same `among`, and the calling
// lane is in it. Only sync() orders memory between lanes: a value that arrived by
// ballot or broadcast carries no happens-before, so a lane that reads memory
// another lane acquired must sync() with it first.
#pragma once

#include <concepts>
#include <cstdint>

#include "swim/mem/config/bits.hpp"
#include "swim/mem/config/macros.hpp"

namespace swim::mem {

/// A set of lanes: bit l is lane l (64 bits: HIP wavefronts have 64 lanes).
using WarpMask = std::uint64_t;

/// What a warp algorithm needs of its warp type (Warp on a GPU, EmulatedWarp on
/// host threads): its width, the calling lane, the lanes running now, and the
/// three exchanges.
template <class W>
concept warp_ops = requires(const W& w, WarpMask among, bool p, std::uint32_t a, std::uint64_t b,
                            unsigned lane) {
  { W::size } -> std::convertible_to<unsigned>;
  { w.lane() } -> std::same_as<unsigned>;
  { w.active() } -> std::same_as<WarpMask>;
  { w.ballot(among, p) } -> std::same_as<WarpMask>;
  { w.broadcast(among, a, lane) } -> std::same_as<std::uint32_t>;
  { w.broadcast(among, b, lane) } -> std::same_as<std::uint64_t>;
  w.sync(among);
};

/// The leader of a non-empty set: its lowest lane.
SWIM_MEM_API SWIM_MEM_FORCEINLINE unsigned warp_leader(WarpMask lanes) {
  return detail::countr_zero(lanes);
}

/// The rank of `lane` among `lanes`: how many of them are below it (0 for the leader).
SWIM_MEM_API SWIM_MEM_FORCEINLINE unsigned warp_rank(WarpMask lanes, unsigned lane) {
  return detail::popcount(lanes & ((WarpMask(1) << lane) - 1));
}

/// The hardware warp (CUDA) or wavefront (HIP) of the calling thread; in host
/// code, a warp of one lane (lane 0, alone), so that a warp algorithm called on
/// the host serves the calling thread by itself.
///
/// - Thread-safety: a view of the calling thread's warp; stateless.
/// - Contract: see the file comment (every lane of `among` calls, same `among`).
struct Warp {
  using Mask = WarpMask;
  /// Lanes of the hardware warp (SWIM_MEM_WARP_SIZE: 32 CUDA, 64 on CDNA, 1 with a
  /// host compiler). A constant of the translation unit: the host code of a .cu or
  /// .hip file sees the device's width, while its lane() and active() there are
  /// still those of a warp of one lane (lane 0, mask 1).
  static constexpr unsigned size = SWIM_MEM_WARP_SIZE;
  static_assert(size >= 1 && size <= 64, "a warp has 1 to 64 lanes");

  /// The calling thread's lane.
  SWIM_MEM_API SWIM_MEM_FORCEINLINE unsigned lane() const {
    unsigned l = 0;
#if defined(SWIM_MEM_COMPILER_CUDA)
    SWIM_MEM_IF_TARGET((l = 0;), (asm("mov.u32 %0, %%laneid;" : "=r"(l));))
#elif defined(SWIM_MEM_COMPILER_HIP)
    SWIM_MEM_IF_TARGET((l = 0;), (l = static_cast<unsigned>(__lane_id());))
#endif
    return l;
  }

  /// The lanes running this code now (CUDA: those converged with the caller).
  SWIM_MEM_API SWIM_MEM_FORCEINLINE Mask active() const {
    Mask m = 1;
#if defined(SWIM_MEM_COMPILER_CUDA)
    SWIM_MEM_IF_TARGET((m = 1;), (m = __activemask();))
#elif defined(SWIM_MEM_COMPILER_HIP)
    SWIM_MEM_IF_TARGET((m = 1;), (m = static_cast<Mask>(__ballot(1));))
#endif
    return m;
  }

  /// The lanes of `among` whose `p` is true.
  SWIM_MEM_API SWIM_MEM_FORCEINLINE Mask ballot(Mask among, bool p) const {
    Mask m = p ? among & 1 : 0;
#if defined(SWIM_MEM_COMPILER_CUDA)
    SWIM_MEM_IF_TARGET((m = p ? among & 1 : 0;),
                       (m = __ballot_sync(static_cast<unsigned>(among), p);))
#elif defined(SWIM_MEM_COMPILER_HIP)
    SWIM_MEM_IF_TARGET((m = p ? among & 1 : 0;),
                       (m = static_cast<Mask>(__ballot(p ? 1 : 0)) & among;))
#endif
    return m;
  }

  /// Lane `from`'s `v`, on every lane of `among` (from is one of them).
  SWIM_MEM_API SWIM_MEM_FORCEINLINE std::uint32_t broadcast(Mask among, std::uint32_t v,
                                                            unsigned from) const {
    (void)among;
    (void)from;
#if defined(SWIM_MEM_COMPILER_CUDA)
    SWIM_MEM_IF_TARGET((), (v = __shfl_sync(static_cast<unsigned>(among), v, static_cast<int>(from));))
#elif defined(SWIM_MEM_COMPILER_HIP)
    SWIM_MEM_IF_TARGET((), (v = __shfl(v, static_cast<int>(from), static_cast<int>(size));))
#endif
    return v;
  }
  SWIM_MEM_API SWIM_MEM_FORCEINLINE std::uint64_t broadcast(Mask among, std::uint64_t v,
                                                            unsigned from) const {
    (void)among;
    (void)from;
    unsigned long long w = v;
#if defined(SWIM_MEM_COMPILER_CUDA)
    SWIM_MEM_IF_TARGET((), (w = __shfl_sync(static_cast<unsigned>(among), w, static_cast<int>(from));))
#elif defined(SWIM_MEM_COMPILER_HIP)
    SWIM_MEM_IF_TARGET((), (w = __shfl(w, static_cast<int>(from), static_cast<int>(size));))
#endif
    return static_cast<std::uint64_t>(w);
  }

  /// A barrier for the lanes of `among` that also orders their memory accesses:
  /// what a lane did before it happens-before what any of them does after.
  SWIM_MEM_API SWIM_MEM_FORCEINLINE void sync(Mask among) const {
    (void)among;
#if defined(SWIM_MEM_COMPILER_CUDA)
    SWIM_MEM_IF_TARGET((), (__syncwarp(static_cast<unsigned>(among));))
#elif defined(SWIM_MEM_COMPILER_HIP)
    // A wavefront runs its lanes in lockstep; the fences order the memory of the
    // lanes (and keep the compiler from moving accesses across).
    SWIM_MEM_IF_TARGET((), (__builtin_amdgcn_fence(__ATOMIC_RELEASE, "wavefront");
                            __builtin_amdgcn_wave_barrier();
                            __builtin_amdgcn_fence(__ATOMIC_ACQUIRE, "wavefront");))
#endif
  }
};

static_assert(warp_ops<Warp>);

}  // namespace swim::mem
