// Layer 2 (physical): address policies, how an object stores an address.
//
// Every type that keeps an address and may live in memory mapped at different
// addresses takes its policy as a template parameter (direct by default, which
// costs nothing). A policy P provides P::pointer<T>, a standard-layout value with
// T* get() const and void set(T*); copying one keeps its target.
#pragma once

#include <concepts>
#include <cstdint>

#include "swim/mem/config.hpp"

namespace swim::mem {

/// A plain pointer: valid only in the address space that stored it.
struct direct_address {
  template <class T>
  struct pointer {
    T* p = nullptr;
    SWIM_MEM_API T* get() const { return p; }
    SWIM_MEM_API void set(T* q) { p = q; }
  };
};

/// The distance from the pointer's own location to its target, 0 for null (so
/// zeroed memory holds null pointers). A pointer may designate the object it is the
/// first member of (a shared lease in its own payload: a Soft back to its node), at
/// distance 0: that is stored as 1, a distance no target can have (it would start
/// inside the pointer's own bytes). Valid in every mapping of memory that holds
/// both the pointer and its target: one memfd or MPI shared window mapped at
/// different addresses by several processes, or at two addresses by one. Copying
/// a pointer recomputes the distance from its new location, so a copy designates
/// the same target in the copying address space. Copying its bytes (memcpy)
/// elsewhere does not: an object that holds one must be copied as an object, or
/// moved together with its target. One add per access.
struct relative_address {
  template <class T>
  struct pointer {
    std::intptr_t d = 0;  // target - this (1 for this itself), or 0 for null

    constexpr pointer() = default;
    SWIM_MEM_API pointer(const pointer& o) { set(o.get()); }
    SWIM_MEM_API pointer& operator=(const pointer& o) {
      set(o.get());
      return *this;
    }
    SWIM_MEM_API T* get() const {
      return d == 0 ? nullptr
                    : reinterpret_cast<T*>(reinterpret_cast<std::uintptr_t>(this) +
                                           static_cast<std::uintptr_t>(d == 1 ? 0 : d));
    }
    SWIM_MEM_API void set(T* q) {
      const auto to = static_cast<std::intptr_t>(reinterpret_cast<std::uintptr_t>(q) -
                                                 reinterpret_cast<std::uintptr_t>(this));
      d = q == nullptr ? 0 : to == 0 ? 1 : to;
    }
  };
};

/// An address policy (see the file comment).
template <class P>
concept address_policy = requires(typename P::template pointer<int>& p,
                                  const typename P::template pointer<int>& cp, int* q) {
  { cp.get() } -> std::same_as<int*>;
  p.set(q);
};

}  // namespace swim::mem
