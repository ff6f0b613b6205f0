// The device suite, shared helpers: what every section of kernels.inl uses.
//
// The element type u64, global_id() and check() (count a failed check on the device);
// the host side's record of the last runtime failure (g_last_error) and the macros
// that turn a runtime error into a launcher status (SWIM_MEM_GPU_TRY,
// SWIM_MEM_GPU_LAUNCHED; kernels.inl undefines them at its end); DeviceArray (device
// memory freed on scope exit); failures_status() and no_device_or_zero(); Grant (what
// one thread got) and tally() (the host's count of granted, exhausted and overlapping
// blocks). Also the two launchers that are about the runtime, not an allocator:
// device_count and last_error.
//
// Needs the runtime shim and SWIM_MEM_LAUNCHER of kernels.cu / kernels.hip (see
// kernels.inl). Checks nothing itself.
#pragma once

#include <algorithm>
#include <climits>
#include <cstddef>
#include <cstdint>
#include <new>
#include <vector>

#include "../launchers.hpp"
#include "swim/mem/config.hpp"
#include "swim/mem/physical.hpp"

namespace swim::mem::device_suite {

using u64 = unsigned long long;

SWIM_MEM_DEVICE inline u64 global_id() {
  return static_cast<u64>(blockIdx.x) * blockDim.x + threadIdx.x;
}

/// Count a failed check (device side).
SWIM_MEM_DEVICE inline void check(bool ok, u64* failures) {
  if (!ok) atomic_ref<u64>(*failures).fetch_add(1, order::relaxed);
}

// Host only; the launchers are not meant to be called from several threads at once.
inline const char* g_last_error = "";

/// Record a runtime failure for last_error() and turn it into a status.
inline int runtime_failure(swim_mem_gpu::error_t e, const char* what) {
  g_last_error = what;
  (void)e;
  return SWIM_MEM_GPU_RUNTIME;
}

#define SWIM_MEM_GPU_TRY(call)                                                  \
  do {                                                                          \
    const swim_mem_gpu::error_t swim_mem_gpu_e_ = (call);                       \
    if (swim_mem_gpu_e_ != swim_mem_gpu::success) {                             \
      return ::swim::mem::device_suite::runtime_failure(                        \
          swim_mem_gpu_e_, swim_mem_gpu::describe(swim_mem_gpu_e_));            \
    }                                                                           \
  } while (0)

// A kernel launch: its own error, then the kernel's (a fault surfaces at sync).
#define SWIM_MEM_GPU_LAUNCHED()                    \
  do {                                             \
    SWIM_MEM_GPU_TRY(swim_mem_gpu::launch_error()); \
    SWIM_MEM_GPU_TRY(swim_mem_gpu::synchronize());  \
  } while (0)

/// Device memory for n T's, freed on scope exit.
template <class T>
class DeviceArray {
 public:
  explicit DeviceArray(std::size_t n) : n_(n) {
    status_ = swim_mem_gpu::allocate(reinterpret_cast<void**>(&p_), n == 0 ? 1 : n * sizeof(T));
    if (status_ == swim_mem_gpu::success) status_ = swim_mem_gpu::zero(p_, n * sizeof(T));
  }
  ~DeviceArray() {
    if (p_ != nullptr) (void)swim_mem_gpu::release(p_);
  }
  DeviceArray(const DeviceArray&) = delete;
  DeviceArray& operator=(const DeviceArray&) = delete;

  swim_mem_gpu::error_t status() const { return status_; }
  T* get() const { return p_; }
  std::size_t bytes() const { return n_ * sizeof(T); }
  swim_mem_gpu::error_t to_host(std::vector<T>& out) const {
    out.resize(n_);
    return swim_mem_gpu::to_host(out.data(), p_, bytes());
  }
  swim_mem_gpu::error_t to_host(T& out) const { return swim_mem_gpu::to_host(&out, p_, sizeof(T)); }
  swim_mem_gpu::error_t to_device(const T& in) { return swim_mem_gpu::to_device(p_, &in, sizeof(T)); }

 private:
  T* p_ = nullptr;
  std::size_t n_;
  swim_mem_gpu::error_t status_ = swim_mem_gpu::success;
};

inline int failures_status(u64 failures) {
  return failures > static_cast<u64>(INT_MAX) ? INT_MAX : static_cast<int>(failures);
}

inline int no_device_or_zero() {
  int n = 0;
  if (swim_mem_gpu::device_count(&n) != swim_mem_gpu::success || n == 0) {
    g_last_error = "no device";
    return SWIM_MEM_GPU_NO_DEVICE;
  }
  return SWIM_MEM_GPU_OK;
}

/// What one thread got.
struct Grant {
  Block block;
  unsigned error;
  unsigned attempts;
};

/// Host: disjoint granted blocks, and the tallies of a phase.
struct Tally {
  u64 granted = 0, out_of_memory = 0, other = 0, bytes = 0, overlaps = 0;
};

/// `prefix`: bytes in front of each block that belong to it too (a hold's tag word).
inline Tally tally(const std::vector<Grant>& grants, std::size_t prefix = 0) {
  Tally t;
  std::vector<Block> blocks;
  for (const Grant& g : grants) {
    if (g.error == static_cast<unsigned>(Error::none)) {
      ++t.granted;
      t.bytes += g.block.size;
      blocks.push_back(g.block);
    } else if (g.error == static_cast<unsigned>(Error::out_of_memory)) {
      ++t.out_of_memory;
    } else {
      ++t.other;
    }
  }
  std::sort(blocks.begin(), blocks.end(),
            [](const Block& a, const Block& b) { return a.address() < b.address(); });
  for (std::size_t k = 1; k < blocks.size(); ++k) {
    if (blocks[k - 1].address() + blocks[k - 1].size + prefix > blocks[k].address()) {
      ++t.overlaps;
    }
  }
  return t;
}

}  // namespace swim::mem::device_suite

extern "C" int SWIM_MEM_LAUNCHER(device_count)(void) {
  int n = 0;  // left unwritten when the call fails
  const swim_mem_gpu::error_t e = swim_mem_gpu::device_count(&n);
  if (e != swim_mem_gpu::success) return -static_cast<int>(e);
  return n;
}

extern "C" const char* SWIM_MEM_LAUNCHER(last_error)(void) {
  return swim::mem::device_suite::g_last_error;
}
