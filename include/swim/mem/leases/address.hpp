// Layer 6 (leases): address policies, how a lease stores the address of its
// payload.
#pragma once

#include "swim/mem/config.hpp"

namespace swim::mem {

/// Address policies: how a lease stores the address of its payload. `direct` is a
/// plain pointer; an offset-from-base policy (for memory mapped at different
/// addresses in different processes, e.g. MPI shared windows) fits the same slot.
struct direct_address {
  template <class T>
  struct pointer {
    T* p = nullptr;
    SWIM_MEM_API T* get() const { return p; }
    SWIM_MEM_API void set(T* q) { p = q; }
  };
};

}  // namespace swim::mem
