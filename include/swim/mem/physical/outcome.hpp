// Layer 2 (physical): Outcome<T>, a move-only value or an Error.
//
// Result<T> covers trivially copyable values (blocks, layouts); Outcome<T> holds
// objects with owning semantics (leases). Device-safe: no exceptions, no
// std::variant; the value lives in a union and is destroyed exactly once.
#pragma once

#include <new>
#include <type_traits>

#include "swim/mem/config/macros.hpp"
#include "swim/mem/physical/error.hpp"

namespace swim::mem {

template <class T>
class Outcome {
  static_assert(!std::is_reference_v<T>, "Outcome holds values");

 public:
  SWIM_MEM_API Outcome(T&& value) : error_(Error::none) {  // NOLINT: implicit on purpose
    ::new (static_cast<void*>(&value_)) T(static_cast<T&&>(value));
  }
  SWIM_MEM_API Outcome(Error e) : error_(e == Error::none ? Error::unsupported : e) {}  // NOLINT
  SWIM_MEM_API Outcome(Outcome&& other) : error_(other.error_) {
    if (ok()) ::new (static_cast<void*>(&value_)) T(static_cast<T&&>(other.value_));
  }
  Outcome(const Outcome&) = delete;
  Outcome& operator=(const Outcome&) = delete;
  Outcome& operator=(Outcome&&) = delete;
  SWIM_MEM_API ~Outcome() {
    if (ok()) value_.~T();
  }

  SWIM_MEM_API bool ok() const { return error_ == Error::none; }
  SWIM_MEM_API explicit operator bool() const { return ok(); }
  SWIM_MEM_API Error error() const { return error_; }

  /// The value; only when ok().
  SWIM_MEM_API T& value() & { return value_; }
  SWIM_MEM_API const T& value() const& { return value_; }
  SWIM_MEM_API T& operator*() & { return value_; }
  SWIM_MEM_API const T& operator*() const& { return value_; }
  SWIM_MEM_API T* operator->() { return &value_; }
  SWIM_MEM_API const T* operator->() const { return &value_; }
  /// Move the value out (only when ok()); the Outcome keeps a moved-from value.
  SWIM_MEM_API T take() { return static_cast<T&&>(value_); }

 private:
  union {
    T value_;
  };
  Error error_;
};

}  // namespace swim::mem
