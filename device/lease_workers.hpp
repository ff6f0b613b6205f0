// The device suite's lease workers: what one thread of the lease kernels does
// (device/leases.inl), as plain SWIM_MEM_API functions with no GPU built-in, so that
// the same code runs inside CUDA/HIP kernels (leases.cu, leases.hip) and on the
// host, on std::threads (tests/test_device_workers.cpp, which CI runs under the
// plain, ASan+UBSan and TSan presets where no GPU exists).
//
// This header only includes the workers, one header per lease family:
//   lease_workers/common.hpp        counters, check macros, retry helpers, the shared
//                                   Pool's types (LeaseHeap, LeasePool, slab_bytes)
//   lease_workers/exclusive.hpp     Raw, Ptr, Box, Buf (growth), list stow and rollback
//   lease_workers/shared.hpp        one thread's Hard/Soft cycle stow and rollback,
//                                   copy-on-write and unwrap
//   lease_workers/scope.hpp         LocalScope and keep
//   lease_workers/lease_worker.hpp  lease_worker: one thread of check_leases
//   lease_workers/shared_storm.hpp  arc_make, arc_share, arc_after, arc_snapshot: the
//                                   threads of check_shared_leases on one Hard
//   lease_workers/compaction.hpp    check_compaction: a fragmented hold compacted in
//                                   parallel into a fresh one (compact_build,
//                                   compact_move, compact_verify, compact_free and
//                                   the one-thread setup, release and teardown)
// The rules they follow (no runtime API, atomic counters, the macros leases.inl
// #undefs) are in common.hpp. A failed check records its line: a line of one of
// those headers.
#pragma once

#include "lease_workers/common.hpp"
#include "lease_workers/compaction.hpp"
#include "lease_workers/exclusive.hpp"
#include "lease_workers/lease_worker.hpp"
#include "lease_workers/scope.hpp"
#include "lease_workers/shared.hpp"
#include "lease_workers/shared_storm.hpp"
