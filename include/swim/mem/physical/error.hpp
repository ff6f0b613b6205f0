// Layer 2 (physical): error codes and the Result type.
//
// Errors are values. Every operation that can fail returns an Error or a
// Result<T>; nothing in layers 1-7 throws or aborts on bad input or exhaustion.
#pragma once

#include <cstdint>

#include "swim/mem/config/macros.hpp"

namespace swim::mem {

enum class Error : std::uint8_t {
  none = 0,
  out_of_memory,    ///< the allocator (or its source) is exhausted
  oversized,        ///< size arithmetic overflowed, or larger than the allocator can ever serve
  misaligned,       ///< alignment not a power of two, or more than the allocator can guarantee
  invalid_argument, ///< a parameter outside its documented domain (e.g. a region too small)
  double_free,      ///< the block was already freed (its tag was already cleared)
  foreign_pointer,  ///< the block does not belong to this allocator
  contended,        ///< a bounded number of retries was used up; the caller may retry
  unsupported,      ///< the operation is not supported here (e.g. no GPU runtime)
};

/// A short, static description of an error. Valid on host and device.
SWIM_MEM_API constexpr const char* to_string(Error e) {
  switch (e) {
    case Error::none: return "none";
    case Error::out_of_memory: return "out of memory";
    case Error::oversized: return "oversized";
    case Error::misaligned: return "misaligned";
    case Error::invalid_argument: return "invalid argument";
    case Error::double_free: return "double free";
    case Error::foreign_pointer: return "foreign pointer";
    case Error::contended: return "contended";
    case Error::unsupported: return "unsupported";
  }
  return "unknown";
}

/// A value or an error (a small, device-safe stand-in for std::expected).
/// T must be default-constructible and trivially copyable.
template <class T>
class Result {
 public:
  SWIM_MEM_API constexpr Result(T value) : value_(value), error_(Error::none) {}  // NOLINT
  SWIM_MEM_API constexpr Result(Error e) : value_(), error_(e) {}                 // NOLINT

  SWIM_MEM_API constexpr bool ok() const { return error_ == Error::none; }
  SWIM_MEM_API constexpr explicit operator bool() const { return ok(); }
  SWIM_MEM_API constexpr Error error() const { return error_; }
  /// The value; only meaningful when ok().
  SWIM_MEM_API constexpr const T& value() const { return value_; }
  SWIM_MEM_API constexpr const T& operator*() const { return value_; }
  SWIM_MEM_API constexpr const T* operator->() const { return &value_; }

 private:
  T value_;
  Error error_;
};

}  // namespace swim::mem
