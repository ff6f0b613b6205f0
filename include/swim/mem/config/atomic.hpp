// Layer 1 (config): the one atomic wrapper.
//
//   host compiler  -> std::atomic_ref<T>
//   nvcc           -> cuda::atomic_ref<T, cuda::thread_scope_device>
//   hipcc (clang)  -> __hip_atomic_* builtins, agent (device) scope
//
// Only 4- and 8-byte unsigned integers are supported: that is what every GPU
// does natively and lock-free. The wrapper is a view (like atomic_ref): the word
// it refers to is an ordinary, trivially copyable member, so control blocks can
// be built on the host and copied to device memory.
//
// Mode policies choose, at compile time, between the lock-free algorithm and a
// cheap single-owner variant that uses plain loads and stores (for per-thread or
// per-warp fronts where the caller guarantees a single user).
#pragma once

#include <concepts>
#include <cstdint>
#include <type_traits>

#include "swim/mem/config/macros.hpp"

#if defined(SWIM_MEM_COMPILER_CUDA)
#include <cuda/atomic>
#elif !defined(SWIM_MEM_COMPILER_HIP)
#include <atomic>
#endif

namespace swim::mem {

/// Memory orders, spelled once for every backend.
enum class order : int { relaxed, acquire, release, acq_rel, seq_cst };

namespace detail {

#if defined(SWIM_MEM_COMPILER_HIP)
SWIM_MEM_API constexpr int hip_order(order o) {
  switch (o) {
    case order::relaxed: return __ATOMIC_RELAXED;
    case order::acquire: return __ATOMIC_ACQUIRE;
    case order::release: return __ATOMIC_RELEASE;
    case order::acq_rel: return __ATOMIC_ACQ_REL;
    default: return __ATOMIC_SEQ_CST;
  }
}
// A failure order may not be release/acq_rel.
SWIM_MEM_API constexpr int hip_fail_order(order o) {
  return o == order::acq_rel ? __ATOMIC_ACQUIRE
         : o == order::release ? __ATOMIC_RELAXED
                               : hip_order(o);
}
#elif defined(SWIM_MEM_COMPILER_CUDA)
SWIM_MEM_API constexpr cuda::std::memory_order std_order(order o) {
  switch (o) {
    case order::relaxed: return cuda::std::memory_order_relaxed;
    case order::acquire: return cuda::std::memory_order_acquire;
    case order::release: return cuda::std::memory_order_release;
    case order::acq_rel: return cuda::std::memory_order_acq_rel;
    default: return cuda::std::memory_order_seq_cst;
  }
}
#else
constexpr std::memory_order std_order(order o) {
  switch (o) {
    case order::relaxed: return std::memory_order_relaxed;
    case order::acquire: return std::memory_order_acquire;
    case order::release: return std::memory_order_release;
    case order::acq_rel: return std::memory_order_acq_rel;
    default: return std::memory_order_seq_cst;
  }
}
#endif

// The order a failed compare-exchange uses: the load part of `success`.
SWIM_MEM_API constexpr order failure_order(order success) {
  return success == order::acq_rel ? order::acquire
         : success == order::release ? order::relaxed
                                     : success;
}

}  // namespace detail

/// A lock-free atomic view of a 4- or 8-byte unsigned integer in host or device memory.
/// Thread-safe: yes (that is its purpose). Valid on host and device.
template <class T>
class atomic_ref {
  static_assert(std::is_unsigned_v<T> && (sizeof(T) == 4 || sizeof(T) == 8),
                "swim::mem::atomic_ref supports 4- and 8-byte unsigned integers only");

 public:
  SWIM_MEM_API explicit atomic_ref(T& word) : p_(&word) {}

  SWIM_MEM_API SWIM_MEM_FORCEINLINE T load(order o = order::seq_cst) const {
#if defined(SWIM_MEM_COMPILER_HIP)
    return __hip_atomic_load(p_, detail::hip_order(o), __HIP_MEMORY_SCOPE_AGENT);
#elif defined(SWIM_MEM_COMPILER_CUDA)
    return cuda::atomic_ref<T, cuda::thread_scope_device>(*p_).load(detail::std_order(o));
#else
    return std::atomic_ref<T>(*p_).load(detail::std_order(o));
#endif
  }

  SWIM_MEM_API SWIM_MEM_FORCEINLINE void store(T v, order o = order::seq_cst) const {
#if defined(SWIM_MEM_COMPILER_HIP)
    __hip_atomic_store(p_, v, detail::hip_order(o), __HIP_MEMORY_SCOPE_AGENT);
#elif defined(SWIM_MEM_COMPILER_CUDA)
    cuda::atomic_ref<T, cuda::thread_scope_device>(*p_).store(v, detail::std_order(o));
#else
    std::atomic_ref<T>(*p_).store(v, detail::std_order(o));
#endif
  }

  SWIM_MEM_API SWIM_MEM_FORCEINLINE T exchange(T v, order o = order::seq_cst) const {
#if defined(SWIM_MEM_COMPILER_HIP)
    return __hip_atomic_exchange(p_, v, detail::hip_order(o), __HIP_MEMORY_SCOPE_AGENT);
#elif defined(SWIM_MEM_COMPILER_CUDA)
    return cuda::atomic_ref<T, cuda::thread_scope_device>(*p_).exchange(v, detail::std_order(o));
#else
    return std::atomic_ref<T>(*p_).exchange(v, detail::std_order(o));
#endif
  }

  /// Strong compare-exchange; on failure `expected` receives the current value.
  SWIM_MEM_API SWIM_MEM_FORCEINLINE bool compare_exchange(T& expected, T desired,
                                                          order o = order::seq_cst) const {
#if defined(SWIM_MEM_COMPILER_HIP)
    return __hip_atomic_compare_exchange_strong(p_, &expected, desired, detail::hip_order(o),
                                                detail::hip_fail_order(o),
                                                __HIP_MEMORY_SCOPE_AGENT);
#elif defined(SWIM_MEM_COMPILER_CUDA)
    return cuda::atomic_ref<T, cuda::thread_scope_device>(*p_).compare_exchange_strong(
        expected, desired, detail::std_order(o), detail::std_order(detail::failure_order(o)));
#else
    return std::atomic_ref<T>(*p_).compare_exchange_strong(
        expected, desired, detail::std_order(o), detail::std_order(detail::failure_order(o)));
#endif
  }

  SWIM_MEM_API SWIM_MEM_FORCEINLINE T fetch_add(T v, order o = order::seq_cst) const {
#if defined(SWIM_MEM_COMPILER_HIP)
    return __hip_atomic_fetch_add(p_, v, detail::hip_order(o), __HIP_MEMORY_SCOPE_AGENT);
#elif defined(SWIM_MEM_COMPILER_CUDA)
    return cuda::atomic_ref<T, cuda::thread_scope_device>(*p_).fetch_add(v, detail::std_order(o));
#else
    return std::atomic_ref<T>(*p_).fetch_add(v, detail::std_order(o));
#endif
  }

  SWIM_MEM_API SWIM_MEM_FORCEINLINE T fetch_sub(T v, order o = order::seq_cst) const {
    return fetch_add(static_cast<T>(T(0) - v), o);
  }

  SWIM_MEM_API SWIM_MEM_FORCEINLINE T fetch_or(T v, order o = order::seq_cst) const {
#if defined(SWIM_MEM_COMPILER_HIP)
    return __hip_atomic_fetch_or(p_, v, detail::hip_order(o), __HIP_MEMORY_SCOPE_AGENT);
#elif defined(SWIM_MEM_COMPILER_CUDA)
    return cuda::atomic_ref<T, cuda::thread_scope_device>(*p_).fetch_or(v, detail::std_order(o));
#else
    return std::atomic_ref<T>(*p_).fetch_or(v, detail::std_order(o));
#endif
  }

  SWIM_MEM_API SWIM_MEM_FORCEINLINE T fetch_and(T v, order o = order::seq_cst) const {
#if defined(SWIM_MEM_COMPILER_HIP)
    return __hip_atomic_fetch_and(p_, v, detail::hip_order(o), __HIP_MEMORY_SCOPE_AGENT);
#elif defined(SWIM_MEM_COMPILER_CUDA)
    return cuda::atomic_ref<T, cuda::thread_scope_device>(*p_).fetch_and(v, detail::std_order(o));
#else
    return std::atomic_ref<T>(*p_).fetch_and(v, detail::std_order(o));
#endif
  }

 private:
  T* p_;
};

/// A fence of order `o` between this thread's atomic operations (device scope on a
/// GPU, as atomic_ref's). With a release fence before a store that another thread
/// reads through an acquire fence, what came before the first fence is seen after
/// the second, whatever the orders of the store and the read themselves.
SWIM_MEM_API SWIM_MEM_FORCEINLINE void atomic_fence(order o = order::seq_cst) {
#if defined(SWIM_MEM_COMPILER_HIP)
  __atomic_thread_fence(detail::hip_order(o));
#elif defined(SWIM_MEM_COMPILER_CUDA)
  cuda::atomic_thread_fence(detail::std_order(o), cuda::thread_scope_device);
#elif defined(__SANITIZE_THREAD__)
  // ThreadSanitizer does not model fences (GCC refuses them under -Werror=tsan):
  // there a fence keeps only the compiler from moving accesses across it. The
  // atomics themselves stay atomics, and TSan checks the plain data around them.
  (void)o;
  __atomic_signal_fence(__ATOMIC_SEQ_CST);
#else
  std::atomic_thread_fence(detail::std_order(o));
#endif
}

// ---- Concurrency modes ---------------------------------------------------------

/// Lock-free mode: every shared word is accessed through atomic_ref.
struct concurrent {
  static constexpr bool is_concurrent = true;
};

/// Single-owner mode: the caller guarantees that one thread (or one warp leader)
/// uses the allocator at a time; words are plain loads and stores, no atomics.
struct single_owner {
  static constexpr bool is_concurrent = false;
};

template <class M>
concept concurrency_mode = requires {
  { M::is_concurrent } -> std::convertible_to<bool>;
};

/// A word of allocator state, accessed atomically or plainly according to Mode.
/// Trivially copyable and standard-layout, so control blocks holding it can live in
/// device memory. Thread-safety: that of Mode.
template <class T, concurrency_mode Mode>
struct cell {
  T raw;

  SWIM_MEM_API SWIM_MEM_FORCEINLINE T load(order o = order::seq_cst) const {
    if constexpr (Mode::is_concurrent) {
      return atomic_ref<T>(const_cast<T&>(raw)).load(o);
    } else {
      return raw;
    }
  }
  SWIM_MEM_API SWIM_MEM_FORCEINLINE void store(T v, order o = order::seq_cst) {
    if constexpr (Mode::is_concurrent) {
      atomic_ref<T>(raw).store(v, o);
    } else {
      raw = v;
    }
  }
  SWIM_MEM_API SWIM_MEM_FORCEINLINE T exchange(T v, order o = order::seq_cst) {
    if constexpr (Mode::is_concurrent) {
      return atomic_ref<T>(raw).exchange(v, o);
    } else {
      T old = raw;
      raw = v;
      return old;
    }
  }
  SWIM_MEM_API SWIM_MEM_FORCEINLINE bool compare_exchange(T& expected, T desired,
                                                          order o = order::seq_cst) {
    if constexpr (Mode::is_concurrent) {
      return atomic_ref<T>(raw).compare_exchange(expected, desired, o);
    } else {
      if (raw != expected) {
        expected = raw;
        return false;
      }
      raw = desired;
      return true;
    }
  }
  SWIM_MEM_API SWIM_MEM_FORCEINLINE T fetch_add(T v, order o = order::seq_cst) {
    if constexpr (Mode::is_concurrent) {
      return atomic_ref<T>(raw).fetch_add(v, o);
    } else {
      T old = raw;
      raw = static_cast<T>(old + v);
      return old;
    }
  }
  SWIM_MEM_API SWIM_MEM_FORCEINLINE T fetch_sub(T v, order o = order::seq_cst) {
    return fetch_add(static_cast<T>(T(0) - v), o);
  }
  SWIM_MEM_API SWIM_MEM_FORCEINLINE T fetch_or(T v, order o = order::seq_cst) {
    if constexpr (Mode::is_concurrent) {
      return atomic_ref<T>(raw).fetch_or(v, o);
    } else {
      T old = raw;
      raw = old | v;
      return old;
    }
  }
  SWIM_MEM_API SWIM_MEM_FORCEINLINE T fetch_and(T v, order o = order::seq_cst) {
    if constexpr (Mode::is_concurrent) {
      return atomic_ref<T>(raw).fetch_and(v, o);
    } else {
      T old = raw;
      raw = old & v;
      return old;
    }
  }
};

/// Raise a running maximum (statistics "peak"); relaxed, lock-free.
template <class T, concurrency_mode Mode>
SWIM_MEM_API SWIM_MEM_FORCEINLINE void raise_to(cell<T, Mode>& peak, T value) {
  T cur = peak.load(order::relaxed);
  while (cur < value && !peak.compare_exchange(cur, value, order::relaxed)) {
  }
}

}  // namespace swim::mem
