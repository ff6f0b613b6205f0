// Layer 2 (physical), host only: exceptions for users who prefer them to Error
// values.
//
// Everything in swim-mem reports failure as an Error or a Result<T>. Host code
// that would rather throw converts at the call:
//
//   Block b = value_or_throw(pool.try_allocate(layout));  // OutOfMemory, or MemoryError
//   throw_if_error(hold_deallocate(b));                    // MemoryError(double_free), ...
//
// OutOfMemory derives from std::bad_alloc, so code that already catches
// std::bad_alloc handles exhaustion unchanged; every other code is a MemoryError
// that carries its Error. Not included by the device-reachable umbrella headers;
// <swim/mem.hpp> includes it when the compiler has exceptions enabled.
#pragma once

#include <exception>
#include <new>

#include "swim/mem/config/macros.hpp"
#include "swim/mem/physical/error.hpp"
#include "swim/mem/physical/result.hpp"

#if !SWIM_MEM_HAS_EXCEPTIONS
#error "swim/mem/physical/exceptions.hpp needs C++ exceptions (use the Error values instead)"
#endif

namespace swim::mem {

/// Error::out_of_memory as an exception; a std::bad_alloc.
class OutOfMemory : public std::bad_alloc {
 public:
  Error code() const noexcept { return Error::out_of_memory; }
  const char* what() const noexcept override { return "swim::mem: out of memory"; }
};

/// Any other Error as an exception.
class MemoryError : public std::exception {
 public:
  explicit MemoryError(Error e) noexcept : code_(e) {}
  Error code() const noexcept { return code_; }
  /// "swim::mem: " and the Error's to_string, with a hint for the errors whose
  /// cause is not in the call (a static string).
  const char* what() const noexcept override {
    switch (code_) {
      case Error::unsupported:
        return "swim::mem: unsupported (not here: e.g. no GPU device or driver for a CUDA/HIP source)";
      case Error::contended: return "swim::mem: contended (still busy after bounded retries)";
      case Error::misaligned: return "swim::mem: misaligned (not a power of two, or too large)";
      case Error::foreign_pointer: return "swim::mem: foreign pointer";
      case Error::double_free: return "swim::mem: double free";
      case Error::oversized: return "swim::mem: oversized (more than the allocator can ever serve)";
      case Error::invalid_argument: return "swim::mem: invalid argument";
      case Error::cleared:
        return "swim::mem: cleared (the object, or the binding it was to come from, is gone)";
      case Error::none: return "swim::mem: none";
      case Error::out_of_memory: return "swim::mem: out of memory";
      case Error::aliased: return "swim::mem: aliased (a conflicting borrow exists)";
      case Error::relocating: return "swim::mem: relocating (a relocation is in progress)";
      case Error::hard_count_overflow: return "swim::mem: hard count overflow";
      case Error::soft_count_overflow: return "swim::mem: soft count overflow";
      case Error::ref_count_overflow: return "swim::mem: ref count overflow";
      case Error::malformed: return "swim::mem: malformed";
      default: return to_string(code_);
    }
  }

 private:
  Error code_;
};

/// Throw `e` as OutOfMemory or MemoryError. `e` must not be Error::none.
[[noreturn]] inline void throw_error(Error e) {
  if (e == Error::out_of_memory) throw OutOfMemory();
  throw MemoryError(e);
}

/// Nothing for Error::none; otherwise throw_error(e).
inline void throw_if_error(Error e) {
  if (e != Error::none) throw_error(e);
}

/// The value of `r`, or throw its error.
template <class T>
T value_or_throw(Result<T>&& r) {
  if (!r.ok()) throw_error(r.error());
  return r.take();
}
template <class T>
T value_or_throw(const Result<T>& r)
  requires(std::is_copy_constructible_v<T>)
{
  if (!r.ok()) throw_error(r.error());
  return *r;
}

}  // namespace swim::mem
