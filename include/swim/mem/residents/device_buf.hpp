// Layer 7 (residents): DeviceBuf<T, Arena>, a buffer of T in an ExtentArena
// (device memory managed from the host) that compaction may move, and its
// borrows DeviceRef / DeviceMut, the only way to reach its memory.
//
// In the model's terms: a lease over a resident whose header lives in host
// memory (detail::MovableHeader, heaps/extent_arena.hpp) and whose payload is an
// extent of the arena. A pointer to the payload exists only inside a borrow; a
// borrowed buffer is never moved, so a kernel given data() of a live borrow sees
// its memory stay put. ExtentArena::try_compact moves every buffer nobody borrows.
//
//   auto buf = DeviceBuf<float, Arena>::try_make(arena, n);   // Result<DeviceBuf>
//   {
//     auto m = buf->try_borrow_mut();                           // Result<DeviceMut>
//     kernel<<<g, b, 0, s>>>(m->data(), n);
//     cudaStreamSynchronize(s);        // the kernel is done before the borrow ends
//   }
//   arena.try_compact();               // may move buf's payload (contents kept)
//
// Rules: a borrow must outlive the device work that uses its pointer (the
// library cannot see a kernel; end the borrow after synchronising), and must not
// outlive the arena (its pointer would name memory given back to the source).
// Borrows are host objects. Thread-safety: a DeviceBuf is used by one thread at a time;
// borrows of one buffer may be taken and dropped on any threads (their state is
// one atomic word), concurrently with a compaction on another thread.
// Host only.
#pragma once

#include <atomic>
#include <cstddef>
#include <new>
#include <thread>
#include <type_traits>

#include "swim/mem/heaps/extent_arena.hpp"

namespace swim::mem {

template <class T>
class DeviceRef;
template <class T>
class DeviceMut;

/// Bounded attempts of a borrow's compare-exchange before Error::contended.
inline constexpr unsigned device_borrow_spins = 64;

/// A buffer of `size()` elements of T in `Arena` (see the file comment). T must
/// be trivially copyable: compaction moves it with a byte copy (on the device).
/// Move-only; the destructor frees the payload and the header.
template <class T, class Arena>
class DeviceBuf {
  static_assert(std::is_trivially_copyable_v<T>, "a DeviceBuf moves its elements as bytes");
  using Header = detail::MovableHeader;

 public:
  DeviceBuf() = default;
  DeviceBuf(DeviceBuf&& o) noexcept : header_(o.header_), count_(o.count_) {
    o.header_ = nullptr;
    o.count_ = 0;
  }
  DeviceBuf& operator=(DeviceBuf&& o) noexcept {
    if (this != &o) {
      release_or_report();
      header_ = o.header_;
      count_ = o.count_;
      o.header_ = nullptr;
      o.count_ = 0;
    }
    return *this;
  }
  DeviceBuf(const DeviceBuf&) = delete;
  DeviceBuf& operator=(const DeviceBuf&) = delete;

  /// Frees the buffer: waits out a move in progress; a buffer still borrowed (or
  /// one its arena refuses) is reported as a leak through the host leak handler
  /// and left alone (its borrows stay valid). Move-assignment does the same to the
  /// buffer it replaces.
  ~DeviceBuf() { release_or_report(); }

  /// A buffer of `count` elements in `arena` (contents unspecified; an empty one
  /// still takes a granule, so that it belongs to the arena like any other).
  /// Errors: oversized (count * sizeof(T) overflows), those of the arena
  /// (out_of_memory, unsupported: no GPU, ...), out_of_memory (no host memory
  /// for the header).
  static Result<DeviceBuf> try_make(Arena& arena, std::size_t count) {
    if (count > ~std::size_t(0) / sizeof(T)) return Error::oversized;
    Header* h = new (std::nothrow) Header;
    if (h == nullptr) return Error::out_of_memory;
    const std::size_t align = alignof(T) > arena.granule() ? alignof(T) : arena.granule();
    const std::size_t bytes = count == 0 ? 1 : count * sizeof(T);
    Result<Block> b = arena.try_allocate_movable(Layout{bytes, align}, h);
    if (!b) {
      delete h;
      return b.error();
    }
    h->extent = *b;
    h->align = align;
    h->arena.store(&arena, std::memory_order_release);
    DeviceBuf buf;
    buf.header_ = h;
    buf.count_ = count;
    return buf;
  }

  explicit operator bool() const { return header_ != nullptr; }
  /// Elements.
  std::size_t size() const { return count_; }
  std::size_t size_bytes() const { return count_ * sizeof(T); }
  /// Bytes of the extent (whole granules).
  std::size_t capacity_bytes() const { return header_ ? header_->extent.size : 0; }
  /// The arena, or null (no buffer, or the arena was destroyed first).
  Arena* arena() const {
    return header_ ? static_cast<Arena*>(header_->arena.load(std::memory_order_acquire)) : nullptr;
  }
  /// Whether a borrow (or a move) holds the buffer now.
  bool borrowed() const { return header_ && header_->state.load(std::memory_order_acquire) != 0; }

  /// A shared borrow: const data() for readers. Errors: invalid_argument (no
  /// buffer), cleared (the arena is gone), aliased (a DeviceMut exists),
  /// relocating (compaction is moving it; retry), ref_count_overflow, contended.
  Result<DeviceRef<T>> try_borrow() const {
    const Error e = check();
    if (e != Error::none) return e;
    std::uint32_t s = header_->state.load(std::memory_order_relaxed);
    for (unsigned k = 0; k < device_borrow_spins; ++k) {
      if ((s & Header::moving_bit) != 0) return Error::relocating;
      if ((s & Header::mut_bit) != 0) return Error::aliased;
      if (s + 1 == Header::mut_bit) return Error::ref_count_overflow;
      if (header_->state.compare_exchange_weak(s, s + 1, std::memory_order_acquire,
                                               std::memory_order_relaxed)) {
        return DeviceRef<T>(header_, count_);
      }
    }
    return Error::contended;
  }

  /// The exclusive borrow: data() for writers. Errors as try_borrow (aliased: any
  /// other borrow exists).
  Result<DeviceMut<T>> try_borrow_mut() {
    const Error e = check();
    if (e != Error::none) return e;
    std::uint32_t s = 0;
    if (header_->state.compare_exchange_strong(s, Header::mut_bit, std::memory_order_acquire,
                                               std::memory_order_relaxed)) {
      return DeviceMut<T>(header_, count_);
    }
    return (s & Header::moving_bit) != 0 ? Error::relocating : Error::aliased;
  }

  /// Free the payload and the header; the DeviceBuf is then empty. Errors, the
  /// buffer kept: aliased (borrowed now), contended, relocating; an orphaned
  /// buffer (arena gone) frees its header only (once no borrow is left).
  Error try_release() {
    if (header_ == nullptr) return Error::none;
    std::uint32_t s = 0;
    if (!header_->state.compare_exchange_strong(s, Header::moving_bit, std::memory_order_acquire,
                                                std::memory_order_relaxed)) {
      return (s & Header::moving_bit) != 0 ? Error::relocating : Error::aliased;
    }
    if (Arena* a = arena()) {
      const Error e = a->try_deallocate_movable(header_->extent, header_);
      if (e != Error::none) {
        header_->state.store(0, std::memory_order_release);
        return e;
      }
    }
    delete header_;
    header_ = nullptr;
    count_ = 0;
    return Error::none;
  }

 private:
  /// try_release, waiting out a move in progress; a buffer still borrowed (or one
  /// its arena refuses) is reported as a leak and left alone (its borrows stay
  /// valid: they hold the header).
  void release_or_report() {
    Error e = try_release();
    while (e == Error::relocating || e == Error::contended) {
      std::this_thread::yield();  // a compaction's single move: bounded
      e = try_release();
    }
    if (e != Error::none) {
      Stats s;
      s.live = 1;
      s.bytes_in_use = capacity_bytes();
      detail::leaked("DeviceBuf (released while borrowed)", this, s);
    }
  }

  Error check() const {
    if (header_ == nullptr) return Error::invalid_argument;
    if (header_->arena.load(std::memory_order_acquire) == nullptr) return Error::cleared;
    return Error::none;
  }

  Header* header_ = nullptr;
  std::size_t count_ = 0;
};

/// A shared borrow of a DeviceBuf: its payload stays where it is while this lives.
template <class T>
class DeviceRef {
 public:
  DeviceRef(DeviceRef&& o) noexcept : header_(o.header_), count_(o.count_) { o.header_ = nullptr; }
  DeviceRef& operator=(DeviceRef&&) = delete;
  DeviceRef(const DeviceRef&) = delete;
  ~DeviceRef() {
    if (header_ != nullptr) header_->state.fetch_sub(1, std::memory_order_release);
  }
  /// The payload (device memory for a device arena), valid while this lives.
  const T* data() const { return static_cast<const T*>(header_->extent.ptr); }
  std::size_t size() const { return count_; }

 private:
  template <class, class>
  friend class DeviceBuf;
  DeviceRef(detail::MovableHeader* h, std::size_t n) : header_(h), count_(n) {}
  detail::MovableHeader* header_;
  std::size_t count_;
};

/// The exclusive borrow of a DeviceBuf: its payload stays where it is while this
/// lives, and nobody else borrows it.
template <class T>
class DeviceMut {
 public:
  DeviceMut(DeviceMut&& o) noexcept : header_(o.header_), count_(o.count_) { o.header_ = nullptr; }
  DeviceMut& operator=(DeviceMut&&) = delete;
  DeviceMut(const DeviceMut&) = delete;
  ~DeviceMut() {
    if (header_ != nullptr) header_->state.store(0, std::memory_order_release);
  }
  T* data() const { return static_cast<T*>(header_->extent.ptr); }
  std::size_t size() const { return count_; }

 private:
  template <class, class>
  friend class DeviceBuf;
  DeviceMut(detail::MovableHeader* h, std::size_t n) : header_(h), count_(n) {}
  detail::MovableHeader* header_;
  std::size_t count_;
};

}  // namespace swim::mem
