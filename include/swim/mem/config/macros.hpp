// Layer 1 (config): the only place that looks at compiler and target macros.
//
// Everything else in swim-mem uses these SWIM_MEM_* names; templates never test
// __CUDA_ARCH__ / __HIP_DEVICE_COMPILE__ themselves (that breaks single-pass
// compilers such as nvc++). Configuration comes from compiler macros and
// user-overridable #ifndef defaults, never from a generated header.
#pragma once

// ---- Which compiler family is driving this translation unit -------------------
#if defined(__HIPCC__) || defined(__HIP__)
#define SWIM_MEM_COMPILER_HIP 1
#include <hip/hip_runtime.h>
#elif defined(__CUDACC__)
#define SWIM_MEM_COMPILER_CUDA 1
#include <nv/target>
#endif

// ---- Host/device annotations ---------------------------------------------------
#if defined(SWIM_MEM_COMPILER_HIP) || defined(SWIM_MEM_COMPILER_CUDA)
#define SWIM_MEM_HOST __host__
#define SWIM_MEM_DEVICE __device__
#define SWIM_MEM_HOST_DEVICE __host__ __device__
#else
#define SWIM_MEM_HOST
#define SWIM_MEM_DEVICE
#define SWIM_MEM_HOST_DEVICE
#endif

#if defined(_MSC_VER) && !defined(__clang__)
#define SWIM_MEM_FORCEINLINE __forceinline
#else
#define SWIM_MEM_FORCEINLINE inline __attribute__((always_inline))
#endif

// Keep a function out of line. Used on the tag-dispatch entry points (free,
// resize, allocate through a HoldRef) and on recursion points such as stow: inlined
// into every destructor and every level of a recursive stow, the switch over all
// hold kinds (Pool growth included) made ptxas need > 20 GB for a small kernel.
#if defined(_MSC_VER) && !defined(__clang__)
#define SWIM_MEM_NOINLINE __declspec(noinline)
#else
#define SWIM_MEM_NOINLINE __attribute__((noinline))
#endif

/// Annotation for every function in layers 1-7: callable from host and device.
#define SWIM_MEM_API SWIM_MEM_HOST_DEVICE

#define SWIM_MEM_LIKELY(x) __builtin_expect(!!(x), 1)
#define SWIM_MEM_UNLIKELY(x) __builtin_expect(!!(x), 0)

// ---- If-target: pick host or device code without raw arch tests in templates ----
// Usage: SWIM_MEM_IF_TARGET((host statements;), (device statements;))
#define SWIM_MEM_DETAIL_UNPAREN(...) __VA_ARGS__
#if defined(SWIM_MEM_COMPILER_CUDA)
#define SWIM_MEM_IF_TARGET(host_code, device_code) \
  NV_IF_ELSE_TARGET(NV_IS_HOST, host_code, device_code)
#elif defined(SWIM_MEM_COMPILER_HIP) && defined(__HIP_DEVICE_COMPILE__)
// HIP compiles host and device in separate passes; this is the device pass.
#define SWIM_MEM_IF_TARGET(host_code, device_code) \
  { SWIM_MEM_DETAIL_UNPAREN device_code }
#else  // plain host compiler, or the host pass of HIP
#define SWIM_MEM_IF_TARGET(host_code, device_code) \
  { SWIM_MEM_DETAIL_UNPAREN host_code }
#endif

// ---- Warp width -------------------------------------------------------------------
// SWIM_MEM_WARP_SIZE: the lanes of the hardware warp that config/warp.hpp's Warp
// names: 32 under nvcc; under HIP the wavefront size clang defines for the target
// in both passes (64 on the CDNA targets gfx90a/gfx940, 32 on wave32 targets); 1 on
// a host compiler, where a Warp is the calling thread alone. Override with
// -DSWIM_MEM_WARP_SIZE=<n> only together with the target's own wavefront size.
#ifndef SWIM_MEM_WARP_SIZE
#if defined(SWIM_MEM_COMPILER_CUDA)
#define SWIM_MEM_WARP_SIZE 32
#elif defined(SWIM_MEM_COMPILER_HIP) && defined(__AMDGCN_WAVEFRONT_SIZE)
#define SWIM_MEM_WARP_SIZE __AMDGCN_WAVEFRONT_SIZE
#elif defined(SWIM_MEM_COMPILER_HIP)
#define SWIM_MEM_WARP_SIZE 64
#else
#define SWIM_MEM_WARP_SIZE 1
#endif
#endif

// ---- Host/device templates over host-only parameters ------------------------------
// nvcc checks a host/device template's calls against the template's own marking
// and rejects, say, SourceHeap<OsPages> (host-only functions) even when only the
// host calls it. This pragma, put before such a template function, defers the
// check to real device uses (CCCL and rmm do the same).
#ifndef SWIM_MEM_EXEC_CHECK_DISABLE
#if defined(SWIM_MEM_COMPILER_CUDA)
#define SWIM_MEM_EXEC_CHECK_DISABLE _Pragma("nv_exec_check_disable")
#else
#define SWIM_MEM_EXEC_CHECK_DISABLE
#endif
#endif

// ---- Waiting a little -------------------------------------------------------------
// SWIM_MEM_DETAIL_HOST_PAUSE(): the processor's spin-wait hint (x86 pause, Arm
// yield, POWER's low-priority no-op; nothing elsewhere). SWIM_MEM_DETAIL_DEVICE_SLEEP(ns):
// put the calling GPU thread to sleep for about `ns` nanoseconds (CUDA __nanosleep,
// sm_70 and newer; AMD s_sleep, in steps of about 64 cycles); nothing on a host
// compiler. Only config/backoff.hpp uses them, each on its side of SWIM_MEM_IF_TARGET.
#if defined(__x86_64__) || defined(__i386__)
#define SWIM_MEM_DETAIL_HOST_PAUSE() __builtin_ia32_pause()
#elif defined(__aarch64__) || defined(__arm__)
#define SWIM_MEM_DETAIL_HOST_PAUSE() __asm__ __volatile__("yield" ::: "memory")
#elif defined(__powerpc64__) || defined(__powerpc__)
#define SWIM_MEM_DETAIL_HOST_PAUSE() __asm__ __volatile__("or 27,27,27" ::: "memory")
#else
#define SWIM_MEM_DETAIL_HOST_PAUSE() ((void)0)
#endif
#if defined(SWIM_MEM_COMPILER_CUDA)
#define SWIM_MEM_DETAIL_DEVICE_SLEEP(ns) NV_IF_TARGET(NV_PROVIDES_SM_70, (__nanosleep(ns);))
#elif defined(SWIM_MEM_COMPILER_HIP) && defined(__HIP_DEVICE_COMPILE__)
#define SWIM_MEM_DETAIL_DEVICE_SLEEP(ns)                           \
  do {                                                            \
    for (unsigned swim_mem_k_ = 0; swim_mem_k_ <= (ns) / 64u; ++swim_mem_k_) \
      __builtin_amdgcn_s_sleep(1);                                \
  } while (0)
#else
#define SWIM_MEM_DETAIL_DEVICE_SLEEP(ns) ((void)(ns))
#endif

// ---- Checked builds --------------------------------------------------------------
// SWIM_MEM_CHECKED selects the default for the allocators' `Checked` template
// parameter (foreign-pointer and double-free detection on untagged heaps). It is
// on unless NDEBUG is set; override with -DSWIM_MEM_CHECKED=0/1.
#ifndef SWIM_MEM_CHECKED
#ifdef NDEBUG
#define SWIM_MEM_CHECKED 0
#else
#define SWIM_MEM_CHECKED 1
#endif
#endif

// SWIM_MEM_TRAP: stop the program on a broken internal invariant (see
// SWIM_MEM_ASSERT for the only user inputs that may reach it).
#if defined(SWIM_MEM_COMPILER_CUDA)
#define SWIM_MEM_TRAP() SWIM_MEM_IF_TARGET((__builtin_trap();), (__trap();))
#else
#define SWIM_MEM_TRAP() __builtin_trap()
#endif

// SWIM_MEM_ASSERT: internal invariants, and the documented preconditions of the
// unchecked accessors (an index given to Buf's operator[], the metadata of a null
// lease), debug builds only. Every other bad input gets an Error value.
#if !defined(NDEBUG) && !defined(SWIM_MEM_NO_ASSERT)
#define SWIM_MEM_ASSERT(cond) \
  do {                        \
    if (!(cond)) {            \
      SWIM_MEM_TRAP();        \
    }                         \
  } while (0)
#else
#define SWIM_MEM_ASSERT(cond) ((void)0)
#endif

// ---- Exceptions (host throwing wrappers only) -----------------------------------
#ifndef SWIM_MEM_HAS_EXCEPTIONS
#if defined(__cpp_exceptions) || defined(__EXCEPTIONS)
#define SWIM_MEM_HAS_EXCEPTIONS 1
#else
#define SWIM_MEM_HAS_EXCEPTIONS 0
#endif
#endif

// ---- Sanitizer hooks ------------------------------------------------------------
#if defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define SWIM_MEM_TSAN 1
#endif
#if __has_feature(address_sanitizer)
#define SWIM_MEM_ASAN 1
#endif
#endif
#if defined(__SANITIZE_THREAD__)
#define SWIM_MEM_TSAN 1
#endif
#if defined(__SANITIZE_ADDRESS__)
#define SWIM_MEM_ASAN 1
#endif

// A lock-free stack pop reads the `next` link of a node another thread may have
// just popped and begun to use. The value is discarded when the tagged CAS
// fails, so the read is harmless; this keeps TSan from reporting it.
#if defined(SWIM_MEM_TSAN) && !defined(SWIM_MEM_COMPILER_CUDA) && !defined(SWIM_MEM_COMPILER_HIP)
#define SWIM_MEM_NO_SANITIZE_THREAD __attribute__((no_sanitize("thread")))
#else
#define SWIM_MEM_NO_SANITIZE_THREAD
#endif
