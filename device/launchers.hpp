// Host launchers of the device suite: plain C functions, so that a test driver
// needs neither the GPU runtime's headers nor the GPU compiler (the HIP runner is
// compiled by g++; gtest stays out of .hip files, see README.md).
//
// Include after defining SWIM_MEM_LAUNCHER(name) to the backend's prefix:
//   #define SWIM_MEM_LAUNCHER(name) swim_mem_cuda_##name   (kernels.cu, gpu_tests.cpp)
//   #define SWIM_MEM_LAUNCHER(name) swim_mem_hip_##name    (kernels.hip, hip_runner.cpp)
// The definitions in kernels.inl see these same declarations, so a signature
// that drifts is a compile error ("conflicting declaration of C function").
//
// Every check_* launcher returns a status:
//    0                       every check passed
//   > 0                      the number of failed checks (capped at INT_MAX)
//   SWIM_MEM_GPU_NO_DEVICE   the runtime reports no device
//   SWIM_MEM_GPU_RUNTIME     a runtime call or a kernel launch failed; see last_error()
#ifndef SWIM_MEM_LAUNCHER
#error "define SWIM_MEM_LAUNCHER(name) before including device/launchers.hpp"
#endif

#ifndef SWIM_MEM_DEVICE_LAUNCHER_STATUS
#define SWIM_MEM_DEVICE_LAUNCHER_STATUS
enum swim_mem_gpu_status : int {
  SWIM_MEM_GPU_OK = 0,
  SWIM_MEM_GPU_NO_DEVICE = -1,
  SWIM_MEM_GPU_RUNTIME = -2,
};

/// What check_warp_front measured, the largest (or the sum) over its phases.
struct swim_mem_warp_front_figures {
  unsigned long long max_round;    ///< the latest round that served a lane (bound: its call's lanes)
  unsigned long long max_recalls;  ///< the most re-calls after contended one object needed
  unsigned long long largest_run;  ///< the most units one leader's run gave
  unsigned long long aggregated;   ///< objects claimed from runs
  unsigned long long per_lane;     ///< objects from the lanes' own try_allocate
};
#endif

extern "C" {

/// Devices the runtime sees (>= 0), or minus the runtime's error code.
int SWIM_MEM_LAUNCHER(device_count)(void);

/// What the last SWIM_MEM_GPU_RUNTIME status of this thread was about ("" if none).
const char* SWIM_MEM_LAUNCHER(last_error)(void);

/// Layout arithmetic on blocks x threads device threads: every result equals the
/// host's, and the overflow/alignment error codes are the documented ones.
int SWIM_MEM_LAUNCHER(check_layout)(unsigned blocks, unsigned threads);

/// atomic_ref and cell (concurrent and single_owner) under contention: no lost
/// update in fetch_add/sub/or/and, exchange, bounded CAS loops and raise_to.
int SWIM_MEM_LAUNCHER(check_atomics)(unsigned blocks, unsigned threads, unsigned iterations);

/// StaticRegion<RegionAccess::device> built in device memory and bumped by every
/// thread at once: blocks aligned, inside, disjoint (by address and by content);
/// exhaustion is out_of_memory; acquire/release storms keep the bump consistent.
int SWIM_MEM_LAUNCHER(check_static_region)(unsigned blocks, unsigned threads);

// The allocator checks. Every allocator is built in device memory by placement new in
// a kernel and destroyed in one; concurrent ones are driven by all blocks x threads
// threads, single_owner ones by thread 0 of block 0 alone. Device memory of a few
// hundred MiB is used at 132 x 256 (the Pool's upstream holds a 4 KiB hunk per object).

/// Slab<concurrent, true> and Slab<concurrent, false>: k units per thread, every unit
/// owned by one thread at a time (a per-unit owner word claimed with a CAS), stamps
/// intact, half of the frees by another thread; exhaustion is out_of_memory with every
/// unit handed out; alloc/free churn; live == 0 afterwards; double frees (checked) and
/// foreign pointers reported. Slab<single_owner, *> by one thread.
int SWIM_MEM_LAUNCHER(check_slab)(unsigned blocks, unsigned threads);

/// Pack<concurrent> bumped by every thread (alignments 8..256): aligned, disjoint (tags
/// included), intact; LIFO frees through the tag and typed; reset once all are freed
/// (bytes_free == capacity); double free through hold_deallocate; exhaustion; churn.
/// Exact LIFO/reset arithmetic by one thread on Pack<concurrent> and Pack<single_owner>.
int SWIM_MEM_LAUNCHER(check_pack)(unsigned blocks, unsigned threads);

/// Pool<Slab<concurrent, true>, concurrent> and Pool<AddrSpace<concurrent, true>,
/// concurrent>, upstream in device memory: objects of 16..512 bytes from every thread,
/// hunks grow, frees through hold_deallocate, live == 0, double frees, trim() in a
/// one-thread kernel leaves at most the head hunk upstream, churn, destruction in a
/// kernel gives every hunk back. single_owner Pools over single_owner heaps by one thread.
int SWIM_MEM_LAUNCHER(check_pool)(unsigned blocks, unsigned threads);

/// AddrSpace<concurrent, true> with 4096- and 256-byte pages: 1..16 pages per thread,
/// whole power-of-two blocks, aligned, disjoint, intact; after all frees the largest
/// block can be allocated again (coalescing); exhaustion; churn; double frees and
/// foreign pointers. AddrSpace<single_owner, true/false> by one thread.
int SWIM_MEM_LAUNCHER(check_addr_space)(unsigned blocks, unsigned threads);

/// ExtentHeap<concurrent> in-band in device memory, shared by every thread: exact
/// extents of 1..8 granules, disjoint and stamped, freed by partners through the
/// bounded try-lock; then one extent again, double frees and foreign pointers reported.
int SWIM_MEM_LAUNCHER(check_extent_heap)(unsigned blocks, unsigned threads);

/// Host-managed device memory: an ExtentArena over the runtime's device memory with
/// `buffers` DeviceBufs filled by kernels; half freed, one borrowed during a
/// compaction with device copies: it stays put, every buffer keeps its contents,
/// the free space becomes one extent.
int SWIM_MEM_LAUNCHER(check_device_buffers)(unsigned buffers);

/// SizeClasses over an in-band ExtentHeap in device memory, shared by every thread:
/// mixed sizes (and 40 KB heap blocks) stamped, freed by partners through the tag;
/// the hold is empty afterwards and a double free through the tag is reported.
int SWIM_MEM_LAUNCHER(check_size_classes)(unsigned blocks, unsigned threads);

/// The warp front (warp_try_allocate with swim::mem::Warp) of a SizeClasses over an
/// in-band ExtentHeap in device memory, every thread of the grid but the last 3
/// (those sit out of their warp's call): k objects per lane of a few shared classes
/// and some large or over-aligned ones, disjoint and stamped, freed by partners
/// through the tag; the hold is empty afterwards, double frees are reported. Then
/// a heap far too short: every failure is out_of_memory and everything comes back.
/// The lane work is device/warp_workers.hpp's (also run on the host by
/// tests/test_warp_front.cpp). `figures` (may be null) receives what was measured.
int SWIM_MEM_LAUNCHER(check_warp_front)(unsigned blocks, unsigned threads,
                                        struct swim_mem_warp_front_figures* figures);

// The lease checks (leases.inl, in leases.cu / leases.hip). They raise the CUDA
// per-thread stack limit to 8 KiB while they run (stow and lease destruction
// recurse) and put the old one back.

/// Raw, Ptr, Box, Buf and stow in device code. A Pool<Slab<concurrent, true>> with
/// 256-byte hunks is built in device memory; every thread, through HoldRef::of(pool),
/// makes a Raw<Box<u64>> and a Ptr<Box<u64, int>> (metadata in the object), writes and
/// reads them, and pushes 1..32 into a Raw<Buf<u32>> (growth through the hold; after
/// 16 the two boxes sit above the buffer, so it must move), checks and pops it. The
/// same again in the thread's private Pack<single_owner> (its own slice of device
/// memory), where growth is exact: 4 in place, 1 move. Then a 3-node list of
/// Raw<Box<Node>> (stow_members) built in that Pack is stowed into a 64-byte Pack,
/// which fails at the third node (the list untouched, the small Pack empty), then into
/// the pool with try_stow (the list moved, the scratch Pack empty). Everything is
/// freed: the pool has live == 0 and destroying it returns every hunk. Run twice: with
/// 16 hunks per thread (no error allowed), and with one hunk for the whole grid,
/// where every thread must meet out_of_memory at least once, never crash, and still
/// free all it made.
int SWIM_MEM_LAUNCHER(check_leases)(unsigned blocks, unsigned threads);

/// The shared family's try forms in device code: one Hard<Box<u64>> made by one
/// thread; every thread try_clones it (bounded), then takes poll_ref (one attempt,
/// contention counted) and try_ref (bounded retries) and reads, or, every 8th thread,
/// try_mut and increments (exclusive: the final value counts every Mut); keeps a Soft
/// and upgrades it while a Hard lives; drops the rest. Then the arc has one Hard, no
/// borrow and a Soft per thread; after the last Hard is dropped every Soft's
/// try_upgrade and try_ref report cleared, and dropping the Softs frees the block
/// (the pool's live == 0).
int SWIM_MEM_LAUNCHER(check_shared_leases)(unsigned blocks, unsigned threads);

/// Parallel compaction (residents/compact_share.hpp) by a whole grid, for a
/// SizeClasses and a Pool, each over an ExtentHeap of its own in device memory:
/// every thread makes 16 leases in the old hold (Raw<Box<u64>>, short and long
/// Raw<Buf<u32>>, 3-node Raw<Box<Node>> lists); after a launch boundary three of each
/// four are freed, scattered; then every thread moves its share of the lease arrays
/// (leases made by other threads) into the fresh hold with try_compact_share, in
/// rounds while any stayed (at most 4). Every survivor is then in the fresh hold with
/// its contents, the fresh hold's live count and bytes in use are the old hold's,
/// the old hold is empty, and release_compacted (one thread, a launch later) gives
/// every one of its hunks back to its heap. Run again with a short fresh heap (a
/// ballast extent leaves room for less than the survivors): the first round must stop
/// part way with out_of_memory, every survivor intact in one hold or the other and
/// each object in exactly one; the ballast goes and further rounds finish. Up to
/// 2 x (16 KiB per thread + 1 GiB) of device memory.
int SWIM_MEM_LAUNCHER(check_compaction)(unsigned blocks, unsigned threads);

}  // extern "C"
