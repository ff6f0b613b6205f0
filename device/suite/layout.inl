// The device suite, Layout: check_layout.
//
// Every Layout operation (from_size_align, array, padded, extend, repeat,
// aligned_to) on inputs derived from the thread's id, folded into one digest per
// thread; the host computes the same digests with the same function, so any
// host/device divergence shows. Each thread also checks the documented error codes
// (misaligned, oversized) on the device.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "common.inl"

namespace swim::mem::device_suite {

SWIM_MEM_API inline u64 mix(u64 h, u64 v) {
  return h ^ (v + 0x9e3779b97f4a7c15ull + (h << 6) + (h >> 2));
}

SWIM_MEM_API inline u64 fold(u64 h, const Result<Layout>& r) {
  h = mix(h, static_cast<u64>(r.error()));
  return r ? mix(mix(h, r->size), r->align) : h;
}
SWIM_MEM_API inline u64 fold(u64 h, const Result<Extended>& r) {
  h = mix(h, static_cast<u64>(r.error()));
  return r ? mix(mix(mix(h, r->layout.size), r->layout.align), r->offset) : h;
}
SWIM_MEM_API inline u64 fold(u64 h, const Result<Repeated>& r) {
  h = mix(h, static_cast<u64>(r.error()));
  return r ? mix(mix(mix(h, r->layout.size), r->layout.align), r->stride) : h;
}

/// Every Layout operation on inputs derived from i, folded into one number. The
/// same function runs on the host, so any host/device divergence shows.
SWIM_MEM_API inline u64 layout_digest(u64 i) {
  constexpr std::size_t kMax = ~std::size_t(0);
  const std::size_t size = static_cast<std::size_t>((i * 2654435761ull) % 100000ull);
  const std::size_t align = std::size_t(1) << (i % 33);  // up to 2^32: past max_align
  const std::size_t near_max = kMax - static_cast<std::size_t>(i % 200);
  u64 h = i;
  const Result<Layout> l = Layout::from_size_align(size, align);
  h = fold(h, l);
  h = fold(h, Layout::from_size_align(near_max, std::size_t(1) << (i % 9)));
  h = fold(h, Layout::array<double>(kMax / (1 + i % 16)));
  h = fold(h, Layout::array<std::uint16_t>(static_cast<std::size_t>(i * 977)));
  if (l) {
    h = fold(h, l->padded());
    h = fold(h, l->extend(Layout{size % 97, std::size_t(1) << (i % 7)}));
    h = fold(h, l->extend(Layout{near_max, 1}));
    h = fold(h, l->repeat(static_cast<std::size_t>(i % 1000)));
    h = fold(h, l->repeat(kMax / (1 + i % 5)));
    h = fold(h, l->aligned_to(std::size_t(1) << ((i + 3) % 40)));
  }
  return h;
}

__global__ void layout_kernel(u64* digests, u64 n, u64* failures) {
  const u64 i = global_id();
  if (i >= n) return;
  digests[i] = layout_digest(i);

  // The documented error codes, on the device.
  const std::size_t kMax = ~std::size_t(0);
  const std::size_t align = std::size_t(1) << (i % 32);
  check(Layout::from_size_align(i, align).ok(), failures);
  check(Layout::from_size_align(i, align)->align == align, failures);
  check(Layout::from_size_align(8, 3 + 2 * (i % 50)).error() == Error::misaligned, failures);
  check(Layout::from_size_align(8, 0).error() == Error::misaligned, failures);
  check(Layout::from_size_align(kMax - i % (align == 1 ? 1 : align - 1), align).error() ==
            (align == 1 ? Error::none : Error::oversized),
        failures);
  check(Layout::array<u64>(kMax / 8 + 1 + i).error() == Error::oversized, failures);
  check(Layout{kMax, 1}.extend(Layout{1, 2}).error() == Error::oversized, failures);
  check(Layout{8, 8}.repeat(kMax / 8 + 1).error() == Error::oversized, failures);
  const Result<Extended> e = Layout{i % 13, 1}.extend(Layout{8, 8});
  check(e.ok() && e->offset == ((i % 13) + 7) / 8 * 8 && e->layout.align == 8, failures);
}

}  // namespace swim::mem::device_suite

extern "C" int SWIM_MEM_LAUNCHER(check_layout)(unsigned blocks, unsigned threads) {
  using namespace swim::mem::device_suite;
  if (const int s = no_device_or_zero(); s != SWIM_MEM_GPU_OK) return s;
  const u64 n = static_cast<u64>(blocks) * threads;
  DeviceArray<u64> digests(n);
  DeviceArray<u64> failures(1);
  SWIM_MEM_GPU_TRY(digests.status());
  SWIM_MEM_GPU_TRY(failures.status());
  layout_kernel<<<blocks, threads>>>(digests.get(), n, failures.get());
  SWIM_MEM_GPU_LAUNCHED();

  std::vector<u64> got;
  u64 failed = 0;
  SWIM_MEM_GPU_TRY(digests.to_host(got));
  SWIM_MEM_GPU_TRY(failures.to_host(failed));
  for (u64 i = 0; i < n; ++i) {
    if (got[i] != layout_digest(i)) ++failed;
  }
  return failures_status(failed);
}
