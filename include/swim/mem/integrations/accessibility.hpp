// Layer 8 (integrations), host only: where the memory of an allocator can be
// touched, as the GPU adapters (cuda_mr.hpp, hip_resource.hpp) advertise it.
//
// Sources say it with `static constexpr bool host_accessible, device_accessible`
// (sources/concept.hpp); an allocator that copies them from its source (the device
// extent arena does) is read the same way. An allocator that says nothing is
// taken for host memory only: claiming device access for memory a kernel cannot
// reach would be a lie the type system then repeats.
#pragma once

namespace swim::mem {

/// Whether the memory of allocator A is host-accessible: A::host_accessible when
/// A declares it, else true.
template <class A>
inline constexpr bool allocator_host_accessible = [] {
  if constexpr (requires { A::host_accessible; }) {
    return static_cast<bool>(A::host_accessible);
  } else {
    return true;
  }
}();

/// Whether the memory of allocator A is device-accessible: A::device_accessible
/// when A declares it, else false.
template <class A>
inline constexpr bool allocator_device_accessible = [] {
  if constexpr (requires { A::device_accessible; }) {
    return static_cast<bool>(A::device_accessible);
  } else {
    return false;
  }
}();

}  // namespace swim::mem
