// Layer 1 (config): compile-time lists of types, and the dispatch over them.
//
// The closed sets of the library (the hold kinds a tag names, the heap kinds a
// Pool can grow from) are type_lists. A kind is a type's 1-based position in its
// list (0 is "none"), so adding a kind is adding one type to one list, and every
// operation that dispatches on a kind is generated from the list by
// dispatch_kind(): a chain of compares the compiler turns into a switch. No
// vtables and no function pointers, so it works the same in kernels.
#pragma once

#include <cstddef>
#include <type_traits>

#include "swim/mem/config/macros.hpp"

namespace swim::mem::detail {

template <class... Ts>
struct type_list {
  static constexpr unsigned size = sizeof...(Ts);
};

/// The 1-based position of T in type_list<Ts...>, or 0 when T is not in it.
template <class T, class List>
struct list_index;
template <class T, class... Ts>
struct list_index<T, type_list<Ts...>> {
  static constexpr unsigned find() {
    unsigned i = 0;
    unsigned at = 0;
    ((++i, at = (at == 0 && std::is_same_v<T, Ts>) ? i : at), ...);
    return at;
  }
  static constexpr unsigned value = find();
};

/// Call f(static_cast<T*>(nullptr)) for the T at 1-based position `kind` of the
/// list (nothing for 0 or a kind past the end). The null pointer only carries the
/// type: f casts its own object pointer. Returns whether a T was found.
template <class F, class... Ts>
SWIM_MEM_API SWIM_MEM_FORCEINLINE bool dispatch_kind(type_list<Ts...>, unsigned kind, F&& f) {
  unsigned i = 0;
  return ((++i == kind ? (f(static_cast<Ts*>(nullptr)), true) : false) || ...);
}

}  // namespace swim::mem::detail
