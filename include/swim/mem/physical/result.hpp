// Layer 2 (physical): Result<T>, a value or an Error: the one carrier of the
// library (a small, device-safe stand-in for std::expected).
//
// For trivially copyable values (blocks, layouts, counts) a Result is itself
// trivially copyable and usable in constant expressions. For other values
// (leases, residents' elements) it owns the value: move-only (move-assignable), the
// value lives in a union and is destroyed exactly once. No exceptions, no std::variant, so the
// same type works in kernels.
#pragma once

#include <new>
#include <type_traits>

#include "swim/mem/config/macros.hpp"
#include "swim/mem/physical/error.hpp"

namespace swim::mem {
namespace detail {

template <class T>
inline constexpr bool plain_result =
    std::is_trivially_copyable_v<T> && std::is_default_constructible_v<T>;

// An Error of `none` carries no value: it is recorded as `unsupported`, so that a
// Result is ok() exactly when it holds a value.
SWIM_MEM_API constexpr Error result_error(Error e) {
  return e == Error::none ? Error::unsupported : e;
}

/// Storage of a trivially copyable value: plain members, trivially copyable.
template <class T, bool Plain = plain_result<T>>
class ResultStorage {
 protected:
  SWIM_MEM_API constexpr ResultStorage(const T& v) : value_(v), error_(Error::none) {}
  SWIM_MEM_API constexpr ResultStorage(Error e) : value_(), error_(result_error(e)) {}
  SWIM_MEM_API constexpr T& get() { return value_; }
  SWIM_MEM_API constexpr const T& get() const { return value_; }

  T value_;
  Error error_;
};

/// Storage of any other value: owned, move-only, destroyed exactly once. The
/// value may be a host-only type (a DeviceBuf): nvcc's host/device check is then
/// deferred to real device uses (config/macros.hpp).
template <class T>
class ResultStorage<T, false> {
 public:
  SWIM_MEM_EXEC_CHECK_DISABLE
  SWIM_MEM_API ResultStorage(ResultStorage&& other) : error_(other.error_) {
    if (error_ == Error::none) ::new (static_cast<void*>(&value_)) T(static_cast<T&&>(other.value_));
  }
  ResultStorage(const ResultStorage&) = delete;
  ResultStorage& operator=(const ResultStorage&) = delete;
  /// Replace the value or error (a retry loop assigns the next attempt's Result).
  SWIM_MEM_EXEC_CHECK_DISABLE
  SWIM_MEM_API ResultStorage& operator=(ResultStorage&& other) {
    if (this != &other) {
      if (error_ == Error::none) value_.~T();
      error_ = other.error_;
      if (error_ == Error::none) ::new (static_cast<void*>(&value_)) T(static_cast<T&&>(other.value_));
    }
    return *this;
  }
  SWIM_MEM_EXEC_CHECK_DISABLE
  SWIM_MEM_API ~ResultStorage() {
    if (error_ == Error::none) value_.~T();
  }

 protected:
  SWIM_MEM_EXEC_CHECK_DISABLE
  SWIM_MEM_API ResultStorage(T&& v) : error_(Error::none) {
    ::new (static_cast<void*>(&value_)) T(static_cast<T&&>(v));
  }
  SWIM_MEM_EXEC_CHECK_DISABLE
  SWIM_MEM_API ResultStorage(const T& v) : error_(Error::none) {
    ::new (static_cast<void*>(&value_)) T(v);
  }
  SWIM_MEM_EXEC_CHECK_DISABLE
  SWIM_MEM_API ResultStorage(Error e) : error_(result_error(e)) {}
  SWIM_MEM_EXEC_CHECK_DISABLE
  SWIM_MEM_API T& get() { return value_; }
  SWIM_MEM_EXEC_CHECK_DISABLE
  SWIM_MEM_API const T& get() const { return value_; }

  union {
    T value_;
  };
  Error error_;
};

}  // namespace detail

/// A value of type T, or the Error that kept it from being made.
///
/// - ok() / explicit bool: a value is there; error() is Error::none exactly then.
/// - value(), *, ->: the value; only meaningful when ok().
/// - take(): move the value out (when ok()).
/// - value_or(v): the value, or v on error.
/// Constructed implicitly from a T (success) or an Error (failure; Error::none is
/// not a failure and is recorded as Error::unsupported).
template <class T>
class Result : public detail::ResultStorage<T> {
  static_assert(!std::is_reference_v<T>, "Result holds values");
  static_assert(!std::is_same_v<std::remove_cv_t<T>, Error>, "a Result<Error> is an Error");
  using Base = detail::ResultStorage<T>;

 public:
  SWIM_MEM_EXEC_CHECK_DISABLE
  SWIM_MEM_API constexpr Result(const T& value) : Base(value) {}  // NOLINT: implicit on purpose
  SWIM_MEM_EXEC_CHECK_DISABLE
  SWIM_MEM_API constexpr Result(T&& value)                         // NOLINT
    requires(!detail::plain_result<T>)
      : Base(static_cast<T&&>(value)) {}
  SWIM_MEM_API constexpr Result(Error e) : Base(e) {}  // NOLINT

  SWIM_MEM_API constexpr bool ok() const { return this->error_ == Error::none; }
  SWIM_MEM_API constexpr explicit operator bool() const { return ok(); }
  SWIM_MEM_API constexpr Error error() const { return this->error_; }

  SWIM_MEM_API constexpr T& value() & { return this->get(); }
  SWIM_MEM_API constexpr const T& value() const& { return this->get(); }
  SWIM_MEM_API constexpr T& operator*() & { return this->get(); }
  /// On a temporary Result, the value itself (moved from: `Buf b = *make();`).
  SWIM_MEM_API constexpr T&& operator*() && { return static_cast<T&&>(this->get()); }
  SWIM_MEM_API constexpr T&& value() && { return static_cast<T&&>(this->get()); }
  SWIM_MEM_API constexpr const T& operator*() const& { return this->get(); }
  SWIM_MEM_API constexpr T* operator->() { return &this->get(); }
  SWIM_MEM_API constexpr const T* operator->() const { return &this->get(); }
  /// Move the value out (only when ok()); the Result keeps a moved-from value.
  SWIM_MEM_EXEC_CHECK_DISABLE
  SWIM_MEM_API constexpr T take() { return static_cast<T&&>(this->get()); }
  /// The value, or `fallback` when there is none.
  SWIM_MEM_EXEC_CHECK_DISABLE
  SWIM_MEM_API constexpr T value_or(T fallback) && {
    return ok() ? static_cast<T&&>(this->get()) : static_cast<T&&>(fallback);
  }
  SWIM_MEM_EXEC_CHECK_DISABLE
  SWIM_MEM_API constexpr T value_or(T fallback) const&
    requires(std::is_copy_constructible_v<T>)
  {
    return ok() ? this->get() : fallback;
  }
};

static_assert(std::is_trivially_copyable_v<Result<int>>);

}  // namespace swim::mem
