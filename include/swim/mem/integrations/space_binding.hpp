// Layer 8 (integrations), host only: an allocator bound for a framework's memory
// space (Kokkos' spaces in swim/mem/integrations/kokkos.hpp), counted and checked.
//
//   SourceHeap<OsPages> pages;
//   Pool<SourceHeap<OsPages>> pool(pages, 64 << 10);
//   SpaceBinding binding(pool, "solver");        // the instance: pool + counters
//   SpaceRef ref = binding.ref();                // what a space object keeps
//   void* p = ref.allocate(4096, 64);            // throws OutOfMemory / MemoryError
//   ref.deallocate(p, 4096);
//   binding.stats().live;                         // 0
//
// A framework copies its space objects freely (Kokkos keeps one in every
// allocation record), so a space keeps a SpaceRef: a counted reference to the
// binding's control block, which lives until the binding and every SpaceRef are
// gone. The SpaceBinding is the instance's lifetime as the user sees it:
//  - destroying it with allocations still live reports a leak (the leak handler,
//    physical/leak.hpp: kind "SpaceBinding", its counters); those allocations'
//    later frees are counted as orphaned and never reach the allocator, which may
//    be gone by then;
//  - an allocation through a SpaceRef whose binding is gone throws
//    MemoryError(Error::cleared) and touches nothing (no crash, no allocator use).
// The allocator must outlive the binding (the binding refers to it, as
// MemoryResource does; a HoldRef is kept by value).
//
// default_space_binding() is the process-wide instance (src/space_binding.cpp):
// try_malloc / try_free (holds/process_hold.hpp), never destroyed.
//
// Errors: allocation failures throw as the other adapters do
// (integrations/detail/upstream.hpp: OutOfMemory for exhaustion, MemoryError
// otherwise, after bounded retries of a retryable error), the allocator then
// unchanged; a refused free goes to the leak handler. Thread-safety: counters
// and reference counts are atomic; the allocator's own thread-safety applies to
// allocate and deallocate.
#pragma once

#include <atomic>
#include <cstddef>
#include <utility>

#include "swim/mem/holds/hold.hpp"
#include "swim/mem/integrations/block_allocator.hpp"
#include "swim/mem/integrations/detail/upstream.hpp"
#include "swim/mem/physical.hpp"
#include "swim/mem/physical/exceptions.hpp"

namespace swim::mem {

/// A binding's counters.
struct SpaceStats {
  std::size_t allocations = 0;    ///< successful allocations
  std::size_t deallocations = 0;  ///< frees (orphaned ones included)
  std::size_t failed = 0;         ///< allocations that threw
  std::size_t live = 0;           ///< allocations not yet freed
  std::size_t bytes_in_use = 0;   ///< their bytes, as requested
  std::size_t peak_bytes = 0;     ///< high-water mark of bytes_in_use
  std::size_t orphaned = 0;       ///< frees after the binding was gone (not given back)
};

namespace detail {

/// The shared state of a binding and every SpaceRef to it (see the file comment).
/// Created by SpaceBinding (or src/space_binding.cpp for the default); freed by
/// whichever of them lets go last.
struct SpaceControl {
  using allocate_fn = Result<Block> (*)(void* allocator, Layout layout);
  using deallocate_fn = Error (*)(void* allocator, Block block);

  void* allocator = nullptr;  ///< the allocator, or &handle for a HoldRef
  HoldRef handle{};           ///< the hold, where the binding is over a HoldRef
  allocate_fn do_allocate = nullptr;
  deallocate_fn do_deallocate = nullptr;
  const char* name = "";
  bool immortal = false;  ///< the process-wide default: never counted, never freed

  std::atomic<std::size_t> refs{1};
  std::atomic<bool> alive{true};
  /// Calls inside allocate / deallocate now: the binding's end waits for them, so
  /// none reaches the allocator after it (a Dekker pair with `alive`, seq_cst).
  std::atomic<std::size_t> busy{0};
  std::atomic<std::size_t> allocations{0}, deallocations{0}, failed{0}, live{0},
      bytes_in_use{0}, peak_bytes{0}, orphaned{0};

  void retain() noexcept {
    if (!immortal) refs.fetch_add(1, std::memory_order_relaxed);
  }
  void release() noexcept {
    if (!immortal && refs.fetch_sub(1, std::memory_order_acq_rel) == 1) delete this;
  }
  SpaceStats stats() const noexcept {
    SpaceStats s;
    s.allocations = allocations.load(std::memory_order_relaxed);
    s.deallocations = deallocations.load(std::memory_order_relaxed);
    s.failed = failed.load(std::memory_order_relaxed);
    s.live = live.load(std::memory_order_relaxed);
    s.bytes_in_use = bytes_in_use.load(std::memory_order_relaxed);
    s.peak_bytes = peak_bytes.load(std::memory_order_relaxed);
    s.orphaned = orphaned.load(std::memory_order_relaxed);
    return s;
  }
};

/// Bounded tries of a retryable error, as the other adapters (upstream.hpp).
inline constexpr unsigned space_retries = 64;

/// A call inside a binding's allocator (see SpaceControl::busy).
class SpaceCall {
 public:
  explicit SpaceCall(SpaceControl& c) noexcept : c_(c) {
    c_.busy.fetch_add(1, std::memory_order_seq_cst);
  }
  ~SpaceCall() { c_.busy.fetch_sub(1, std::memory_order_release); }
  SpaceCall(const SpaceCall&) = delete;
  SpaceCall& operator=(const SpaceCall&) = delete;
  /// Whether the binding still lives (read after the call is announced).
  bool alive() const noexcept { return c_.alive.load(std::memory_order_seq_cst); }

 private:
  SpaceControl& c_;
};

}  // namespace detail

/// A counted reference to a binding: what a framework's space object keeps.
/// Copyable, cheap (one pointer; copies touch one atomic counter). A
/// default-constructed SpaceRef refers to default_space_binding().
class SpaceRef {
 public:
  SpaceRef() noexcept;
  explicit SpaceRef(detail::SpaceControl* control) noexcept : control_(control) {
    control_->retain();
  }
  SpaceRef(const SpaceRef& other) noexcept : control_(other.control_) { control_->retain(); }
  SpaceRef& operator=(const SpaceRef& other) noexcept {
    other.control_->retain();
    control_->release();
    control_ = other.control_;
    return *this;
  }
  ~SpaceRef() { control_->release(); }

  /// `bytes` (0 takes 1) aligned to `align`. Throws MemoryError(Error::cleared) if
  /// the binding is gone, MemoryError(Error::misaligned) for a bad alignment,
  /// OutOfMemory when the allocator is exhausted (the allocator then unchanged).
  void* allocate(std::size_t bytes, std::size_t align) const {
    detail::SpaceControl& c = *control_;
    const detail::SpaceCall call(c);
    if (!call.alive()) fail(Error::cleared);
    if (bytes == 0) bytes = 1;
    const Result<Layout> layout = Layout::from_size_align(bytes, align);
    if (!layout.ok()) fail(layout.error());
    Result<Block> r = c.do_allocate(c.allocator, *layout);
    for (unsigned i = 0; !r.ok() && is_retryable(r.error()) && i + 1 < detail::space_retries; ++i) {
      backoff(i);
      r = c.do_allocate(c.allocator, *layout);
    }
    if (!r.ok()) fail(r.error());
    c.allocations.fetch_add(1, std::memory_order_relaxed);
    c.live.fetch_add(1, std::memory_order_relaxed);
    const std::size_t now = c.bytes_in_use.fetch_add(bytes, std::memory_order_relaxed) + bytes;
    std::size_t peak = c.peak_bytes.load(std::memory_order_relaxed);
    while (now > peak && !c.peak_bytes.compare_exchange_weak(peak, now, std::memory_order_relaxed)) {
    }
    return r->ptr;
  }

  /// Give back what allocate(bytes, ...) returned (null: nothing). Never throws.
  /// After the binding is gone the block is counted as orphaned and not freed; a
  /// free the allocator refuses (a foreign pointer, a double free) is reported to
  /// the leak handler and changes no counter.
  void deallocate(void* p, std::size_t bytes) const noexcept {
    if (p == nullptr) return;
    detail::SpaceControl& c = *control_;
    if (bytes == 0) bytes = 1;
    const detail::SpaceCall call(c);
    if (call.alive()) {
      const Block block{p, bytes};
      Error e = c.do_deallocate(c.allocator, block);
      for (unsigned i = 0; e != Error::none && is_retryable(e) && i + 1 < detail::space_retries;
           ++i) {
        backoff(i);
        e = c.do_deallocate(c.allocator, block);
      }
      if (e != Error::none) {  // not this binding's block, or freed twice: counters untouched
        report_leak(LeakReport{"SpaceBinding: free refused", control_, Stats{1, bytes, 0, 0}});
        return;
      }
    } else {
      c.orphaned.fetch_add(1, std::memory_order_relaxed);
    }
    c.deallocations.fetch_add(1, std::memory_order_relaxed);
    c.live.fetch_sub(1, std::memory_order_relaxed);
    c.bytes_in_use.fetch_sub(bytes, std::memory_order_relaxed);
  }

  /// The binding's counters.
  SpaceStats stats() const noexcept { return control_->stats(); }
  /// Whether the binding still exists (allocations would succeed or fail normally).
  bool alive() const noexcept { return control_->alive.load(std::memory_order_acquire); }
  /// The binding's name.
  const char* name() const noexcept { return control_->name; }
  /// Same binding.
  friend bool operator==(const SpaceRef& a, const SpaceRef& b) noexcept {
    return a.control_ == b.control_;
  }

 private:
  friend class DefaultBindingScope;

  [[noreturn]] void fail(Error e) const {
    control_->failed.fetch_add(1, std::memory_order_relaxed);
    throw_error(e == Error::oversized ? Error::out_of_memory : e);
  }

  detail::SpaceControl* control_;
};

/// The binding of spaces made without one: this thread's innermost
/// DefaultBindingScope's, else the process-wide one (try_malloc / try_free).
SpaceRef default_space_binding() noexcept;

namespace detail {
/// This thread's default control (null: the process-wide one); returns the previous.
SpaceControl* exchange_thread_default(SpaceControl* control) noexcept;
}  // namespace detail

/// The other process-wide bindings: of default spaces whose allocator needs
/// headers libswim_mem is built without (a GPU runtime's). The header that
/// defines such a space passes `make`, called once (under a lock) the first time
/// the slot is asked for; its control block must be `immortal`.
/// src/space_binding.cpp keeps the result for the rest of the process.
enum class DefaultSpace : unsigned { cuda_device = 0, hip_device = 1 };
SpaceRef default_space_binding(DefaultSpace slot, detail::SpaceControl* (*make)());

/// An allocator bound for a framework's spaces: the instance the user owns (see
/// the file comment). Not copyable or movable: spaces refer to it.
class SpaceBinding {
 public:
  /// Over `allocator` (a heap or hold, by address: it must outlive the binding).
  template <block_allocator A>
    requires(!detail::is_allocator_handle_v<A>)
  explicit SpaceBinding(A& allocator, const char* name = "swim-mem")
      : control_(new detail::SpaceControl) {
    control_->allocator = &allocator;
    control_->do_allocate = [](void* a, Layout l) { return static_cast<A*>(a)->try_allocate(l); };
    control_->do_deallocate = [](void* a, Block b) {
      return static_cast<A*>(a)->try_deallocate(b);
    };
    control_->name = name;
  }
  /// Over the hold `hold` names (kept by value).
  explicit SpaceBinding(HoldRef hold, const char* name = "swim-mem")
      : control_(new detail::SpaceControl) {
    control_->handle = hold;
    control_->allocator = &control_->handle;
    control_->do_allocate = [](void* a, Layout l) { return static_cast<HoldRef*>(a)->try_allocate(l); };
    control_->do_deallocate = [](void* a, Block b) {
      return static_cast<HoldRef*>(a)->try_deallocate(b);
    };
    control_->name = name;
  }
  SpaceBinding(const SpaceBinding&) = delete;
  SpaceBinding& operator=(const SpaceBinding&) = delete;

  /// Ends the instance: later allocations through its spaces throw
  /// MemoryError(Error::cleared); live allocations are reported as a leak. Calls
  /// that other threads have under way finish first (each is bounded), so after
  /// the destructor none of them touches the allocator.
  ~SpaceBinding() {
    control_->alive.store(false, std::memory_order_seq_cst);
    for (unsigned i = 0; control_->busy.load(std::memory_order_seq_cst) != 0; ++i) {
      backoff(i < 64 ? i : 64);
    }
    const SpaceStats s = control_->stats();
    if (s.live != 0) {
      report_leak(LeakReport{"SpaceBinding", control_, Stats{s.live, s.bytes_in_use, 0, s.peak_bytes}});
    }
    control_->release();
  }

  /// A reference for a space object.
  SpaceRef ref() const noexcept { return SpaceRef(control_); }
  /// The counters.
  SpaceStats stats() const noexcept { return control_->stats(); }
  const char* name() const noexcept { return control_->name; }

 private:
  detail::SpaceControl* control_;
};

inline SpaceRef::SpaceRef() noexcept : SpaceRef(default_space_binding()) {}

/// While it lives, spaces default-constructed on this thread draw from `binding`
/// instead of the process-wide binding: View("label", n), and what a framework
/// allocates itself through a default space (Kokkos' resize, realloc,
/// create_mirror, create_mirror_view), so a whole phase of a program stays in one
/// binding. Scopes nest (the innermost wins) and must end in reverse order, on the
/// thread that made them. The scope keeps the binding's control block alive; if the
/// binding itself ends first, allocations in the scope throw MemoryError(Error::cleared).
class DefaultBindingScope {
 public:
  explicit DefaultBindingScope(const SpaceBinding& binding) noexcept
      : ref_(binding.ref()), previous_(detail::exchange_thread_default(ref_.control_)) {}
  ~DefaultBindingScope() { (void)detail::exchange_thread_default(previous_); }
  DefaultBindingScope(const DefaultBindingScope&) = delete;
  DefaultBindingScope& operator=(const DefaultBindingScope&) = delete;

 private:
  SpaceRef ref_;
  detail::SpaceControl* previous_;
};

}  // namespace swim::mem
