// The device suite, atomic_ref and cell: check_atomics.
//
// Every thread of the grid hammers one AtomicState: fetch_add/fetch_sub on
// atomic_ref and on cell<u64, concurrent> and cell<unsigned, concurrent>, bounded
// CAS loops, fetch_or, fetch_and, exchange and raise_to; the host checks that no
// update was lost and that no CAS loop gave up. Each thread also runs a
// cell<u64, single_owner> through the same operations (plain loads and stores,
// same results).
#pragma once

#include "common.inl"

namespace swim::mem::device_suite {

struct AtomicState {
  u64 sum;                       // atomic_ref fetch_add(1) per iteration
  cell<u64, concurrent> sum64;   // cell fetch_add(2) per iteration
  cell<unsigned, concurrent> sum32;  // cell<u32> fetch_add(1) per iteration
  unsigned pad;
  u64 down;                      // fetch_sub(1) per iteration from threads*iterations
  u64 cas_sum;                   // bounded CAS increment per iteration
  u64 cas_gave_up;               // bounded CAS loops that ran out
  u64 bits;                      // fetch_or(1 << (id % 64))
  u64 mask;                      // fetch_and(~(1 << (id % 64))) from all ones
  u64 swapped;                   // exchange(id + 1)
  u64 swapped_out;               // sum of the values exchange returned
  cell<u64, concurrent> peak;    // raise_to(id)
};

__global__ void atomics_kernel(AtomicState* s, u64 n, unsigned iterations, u64* failures) {
  const u64 id = global_id();
  if (id >= n) return;
  const atomic_ref<u64> sum(s->sum), down(s->down), cas_sum(s->cas_sum), bits(s->bits),
      mask(s->mask), swapped(s->swapped), swapped_out(s->swapped_out), gave_up(s->cas_gave_up);
  for (unsigned k = 0; k < iterations; ++k) {
    sum.fetch_add(1, order::relaxed);
    s->sum64.fetch_add(2, order::relaxed);
    s->sum32.fetch_add(1u, order::relaxed);
    down.fetch_sub(1, order::acq_rel);
    bool done = false;
    u64 cur = cas_sum.load(order::relaxed);
    for (unsigned attempt = 0; attempt < (1u << 20) && !done; ++attempt) {
      done = cas_sum.compare_exchange(cur, cur + 1, order::acq_rel);
    }
    if (!done) gave_up.fetch_add(1, order::relaxed);
  }
  bits.fetch_or(u64(1) << (id % 64), order::release);
  mask.fetch_and(~(u64(1) << (id % 64)), order::acq_rel);
  swapped_out.fetch_add(swapped.exchange(id + 1, order::acq_rel), order::relaxed);
  raise_to(s->peak, id);

  // single_owner: plain loads and stores, same results.
  cell<u64, single_owner> own{id};
  check(own.fetch_add(5) == id && own.load() == id + 5, failures);
  u64 expected = id;
  check(!own.compare_exchange(expected, 1) && expected == id + 5, failures);
  check(own.compare_exchange(expected, 7) && own.exchange(9) == 7, failures);
  check(own.fetch_or(6) == 9 && own.fetch_and(3) == 15 && own.fetch_sub(3) == 3, failures);
  check(own.load() == 0, failures);
}

}  // namespace swim::mem::device_suite

extern "C" int SWIM_MEM_LAUNCHER(check_atomics)(unsigned blocks, unsigned threads,
                                                unsigned iterations) {
  using namespace swim::mem::device_suite;
  if (const int s = no_device_or_zero(); s != SWIM_MEM_GPU_OK) return s;
  const u64 n = static_cast<u64>(blocks) * threads;
  const u64 total = n * iterations;
  AtomicState init{};
  init.down = total;
  init.mask = ~u64(0);
  DeviceArray<AtomicState> state(1);
  DeviceArray<u64> failures(1);
  SWIM_MEM_GPU_TRY(state.status());
  SWIM_MEM_GPU_TRY(failures.status());
  SWIM_MEM_GPU_TRY(state.to_device(init));
  atomics_kernel<<<blocks, threads>>>(state.get(), n, iterations, failures.get());
  SWIM_MEM_GPU_LAUNCHED();

  AtomicState s{};
  u64 failed = 0;
  SWIM_MEM_GPU_TRY(state.to_host(s));
  SWIM_MEM_GPU_TRY(failures.to_host(failed));
  const u64 lanes = n < 64 ? n : 64;
  const u64 lane_bits = lanes == 64 ? ~u64(0) : (u64(1) << lanes) - 1;
  failed += s.sum != total;
  failed += s.sum64.raw != 2 * total;
  failed += s.sum32.raw != static_cast<unsigned>(total);
  failed += s.down != 0;
  failed += s.cas_sum + s.cas_gave_up != total;
  failed += s.cas_gave_up != 0;  // 2^20 attempts each: giving up means livelock
  failed += s.bits != lane_bits;
  failed += s.mask != ~lane_bits;
  // Every id + 1 went in once and came out once (or is still there).
  failed += s.swapped_out + s.swapped != n * (n + 1) / 2;
  failed += n != 0 && s.peak.raw != n - 1;
  return failures_status(failed);
}
