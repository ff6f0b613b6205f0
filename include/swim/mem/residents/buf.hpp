// Layer 7 (residents): Buf<T, M>, a growable array of T (and optional user
// metadata M) in a leased object.
//
//   Raw<Buf<T>>     like a vector: {data, len, cap} in the handle, [tag][T * cap]
//   Ptr<Buf<T, M>>  one word: [tag][len, cap, M][pad][T * cap]
// The metadata is BufMeta<M>; where it lives is the lease's business.
//
// Contracts (every lease):
// - Errors are values. A failed operation (out of memory, arithmetic overflow, an
//   index out of range, a null lease) returns an Error and leaves the Buf exactly as
//   it was: length, capacity, contents and the hold's statistics.
// - Growth goes through the lease's try_regrow: in place when the hold can resize
//   the object, otherwise into a new object of the same hold, to which the elements
//   are move-constructed (and the old ones destroyed), so that growth never loses
//   the contents. Growth invalidates pointers, references and iterators into the
//   Buf, as for std::vector.
// - operator[], front() and back() are unchecked like std::vector's (a
//   SWIM_MEM_ASSERT in debug builds); try_insert, remove and pop check and return
//   Error::invalid_argument instead.
// - A null (moved-from or default) lease has size 0; mutating it returns
//   Error::invalid_argument.
// - Const-ness is deep, as for a vector: a const lease gives const elements (the
//   lease's own data() still returns a plain pointer).
// Thread-safety: that of the lease (an exclusive lease is used by one thread at a
// time). Host/device: every member is valid on both sides, for holds reachable there.
#pragma once

#include <concepts>
#include <cstddef>
#include <cstdint>
#include <type_traits>

#include "swim/mem/leases.hpp"

namespace swim::mem {

/// The metadata of a Buf or String: length and capacity in elements, and the
/// user's metadata (which takes no room when empty).
template <class M = NoMeta>
struct BufMeta {
  std::size_t len = 0;
  std::size_t cap = 0;
  [[no_unique_address]] M user{};
};

namespace detail {

/// memcpy that the device side can call too (non-overlapping ranges).
SWIM_MEM_API inline void copy_bytes(void* to, const void* from, std::size_t n) {
  if (n != 0) __builtin_memcpy(to, from, n);
}

/// memmove that the device side can call too (nvcc has no device __builtin_memmove).
SWIM_MEM_API inline void move_bytes(void* to, const void* from, std::size_t n) {
  if (n == 0 || to == from) return;
  SWIM_MEM_IF_TARGET((__builtin_memmove(to, from, n);), ({
                       auto* d = static_cast<unsigned char*>(to);
                       const auto* s = static_cast<const unsigned char*>(from);
                       if (d < s) {
                         for (std::size_t i = 0; i < n; ++i) d[i] = s[i];
                       } else {
                         for (std::size_t i = n; i-- > 0;) d[i] = s[i];
                       }
                     }))
}

/// Smallest power of two >= x (x >= 1); 0 if it does not fit a size_t.
SWIM_MEM_API inline std::size_t next_pow2(std::size_t x) {
  const unsigned k = ceil_log2(x);
  return k >= sizeof(std::size_t) * 8 ? 0 : std::size_t(1) << k;
}

/// Move-construct n elements from `from` into raw memory `to` (non-overlapping) and
/// destroy the originals.
template <class T>
SWIM_MEM_API inline void relocate_elements(T* from, T* to, std::size_t n) {
  if constexpr (std::is_trivially_copyable_v<T>) {
    copy_bytes(to, from, n * sizeof(T));
  } else {
    for (std::size_t i = 0; i < n; ++i) {
      construct_at(to + i, static_cast<T&&>(from[i]));
      from[i].~T();
    }
  }
}

/// Destroy elements [first, last) of d, last one first.
template <class T>
SWIM_MEM_API inline void destroy_elements(T* d, std::size_t first, std::size_t last) {
  if constexpr (!std::is_trivially_destructible_v<T>) {
    for (std::size_t i = last; i > first; --i) d[i - 1].~T();
  } else {
    (void)d, (void)first, (void)last;
  }
}

/// Whether p points into the first n elements of d (an argument that aliases the
/// buffer must be copied before the buffer moves or shifts).
template <class T>
SWIM_MEM_API inline bool points_into(const T* p, const T* d, std::size_t n) {
  const auto a = reinterpret_cast<std::uintptr_t>(p);
  const auto b = reinterpret_cast<std::uintptr_t>(d);
  return d != nullptr && a >= b && a - b < n * sizeof(T);
}

/// The growth machinery shared by Buf and String, over any dynamic lease L of a
/// resident whose meta_type is BufMeta<...> and whose value_type is T.
template <class T, class L>
struct BufGrowth {
  /// Give the buffer exactly `new_cap` elements of room (new_cap >= len).
  /// `before_move(to)` runs when the contents must move to a new object, before
  /// they do (an emplaced element's arguments may point into the old buffer).
  template <class F>
  SWIM_MEM_API static Error regrow_to(L& lease, std::size_t new_cap, F&& before_move) {
    const Result<Layout> layout = Layout::array<T>(new_cap);
    if (!layout) return layout.error();
    const std::size_t len = lease.meta().len;
    const Error e = lease.try_regrow(*layout, [&](T* from, T* to) {
      before_move(to);
      relocate_elements(from, to, len);
    });
    // After a move the metadata is the new object's (for Ptr): set it only now.
    if (e == Error::none) lease.meta().cap = new_cap;
    return e;
  }

  /// Room for `extra` more elements: nothing if there is; else the next power of
  /// two of len + extra (exactly len + extra when that overflows, or when `exact`).
  template <class F>
  SWIM_MEM_API static Error reserve(L& lease, std::size_t extra, bool exact, F&& before_move) {
    if (lease.data() == nullptr) return Error::invalid_argument;
    const std::size_t len = lease.meta().len;
    const std::size_t cap = lease.meta().cap;
    if (cap - len >= extra) return Error::none;
    if (extra > ~std::size_t(0) - len) return Error::oversized;
    const std::size_t need = len + extra;
    std::size_t new_cap = need;
    if (!exact) {
      const std::size_t p = next_pow2(need);
      if (p != 0 && Layout::array<T>(p).ok()) new_cap = p;
    }
    return regrow_to(lease, new_cap, static_cast<F&&>(before_move));
  }

  SWIM_MEM_API static void nothing_before_move(T*) {}

  /// Capacity down to the length (in place when the hold can).
  SWIM_MEM_API static Error shrink_to_fit(L& lease) {
    if (lease.data() == nullptr) return Error::invalid_argument;
    if (lease.meta().cap == lease.meta().len) return Error::none;
    return regrow_to(lease, lease.meta().len, nothing_before_move);
  }
};

}  // namespace detail

template <class T, class M = NoMeta>
struct Buf {
  static_assert(!std::is_reference_v<T> && !std::is_const_v<T>, "Buf holds mutable objects");

  using value_type = T;
  using meta_type = BufMeta<M>;
  using user_meta_type = M;

  /// An array of cap T. Overflow cannot come from a Buf's own operations (they
  /// check first); for a forged capacity the layout is one that every hold
  /// refuses with Error::oversized.
  SWIM_MEM_API static Layout layout(const meta_type& meta) {
    const Result<Layout> l = Layout::array<T>(meta.cap);
    if (l) return *l;
    return Layout{~std::size_t(0) - (alignof(T) - 1), alignof(T)};
  }
  /// Stowed copies are shrunk to fit.
  SWIM_MEM_API static meta_type stow_meta(const meta_type& meta) {
    meta_type m = meta;
    m.cap = m.len;
    return m;
  }
  SWIM_MEM_API static void destroy(T* data, meta_type& meta) {
    detail::destroy_elements(data, 0, meta.len);
  }
  /// Element by element through stow_traits<T>; on failure the elements already
  /// stowed are undone, last first.
  SWIM_MEM_API static Error stow(const T* src, const meta_type& src_meta, T* dst, meta_type&,
                                 StowContext& cx) {
    if constexpr (std::is_trivially_copyable_v<T>) {
      (void)cx;
      detail::copy_bytes(dst, src, src_meta.len * sizeof(T));
      return Error::none;
    } else {
      for (std::size_t i = 0; i < src_meta.len; ++i) {
        const Error e = stow_traits<T>::stow(src + i, dst + i, cx);
        if (e != Error::none) {
          for (std::size_t j = i; j > 0; --j) stow_traits<T>::unstow(src + j - 1, dst + j - 1);
          return e;
        }
      }
      return Error::none;
    }
  }
  SWIM_MEM_API static void unstow(const T* src, const meta_type& src_meta, T* dst, meta_type&) {
    if constexpr (!std::is_trivially_copyable_v<T>) {
      for (std::size_t j = src_meta.len; j > 0; --j) {
        stow_traits<T>::unstow(src + j - 1, dst + j - 1);
      }
    } else {
      (void)src, (void)src_meta, (void)dst;
    }
  }
  /// The bytes a stow of the elements takes (leases/stow.hpp, stow_bytes; 0 for a T
  /// that cannot say, which makes the estimate short, not wrong).
  SWIM_MEM_API static std::size_t stow_bytes(const T* data, const meta_type& meta) {
    if constexpr (std::is_trivially_copyable_v<T> || !stow_measurable<T>) {
      (void)data, (void)meta;
      return 0;
    } else {
      std::size_t n = 0;
      for (std::size_t i = 0; i < meta.len; ++i) n += stow_traits<T>::stow_bytes(data + i);
      return n;
    }
  }
  /// Rebase (leases/rebase.hpp): the length must be within the capacity (the
  /// object's size was checked for the capacity), then element by element.
  SWIM_MEM_API static Error rebase(T* data, meta_type& meta, RebaseContext& cx) {
    if (meta.len > meta.cap) return Error::malformed;
    if constexpr (!std::is_trivially_copyable_v<T>) {
      static_assert(shippable<T>, "Buf<T>: T cannot be rebased (shipped)");
      for (std::size_t i = 0; i < meta.len; ++i) {
        const Error e = stow_traits<T>::rebase(data + i, cx);
        if (e != Error::none) return e;
      }
    } else {
      (void)data, (void)cx;
    }
    return Error::none;
  }

  // Clone (leases/resident.hpp, optional part): a clone is shrunk to fit, like a
  // stowed copy; its elements are copy-constructed from src, in order (never read
  // from dst, which is raw memory).
  SWIM_MEM_API static meta_type clone_meta(const meta_type& meta) {
    meta_type m = meta;
    m.cap = m.len;
    return m;
  }
  template <class U = T>
    requires std::is_copy_constructible_v<U>
  SWIM_MEM_API static Error clone(const U* src, const meta_type& src_meta, U* dst,
                                  meta_type&) {
    const std::size_t n = src_meta.len;
    if constexpr (std::is_trivially_copyable_v<U>) {
      detail::copy_bytes(dst, src, n * sizeof(U));
    } else {
      for (std::size_t i = 0; i < n; ++i) {
        // Copy constructors are assumed not to throw; a fallible per-element
        // copy would return its error here, after the copies made so far are
        // destroyed, so that nothing is left constructed in dst.
        const Error e = clone_element(src + i, dst + i);
        if (e != Error::none) {
          detail::destroy_elements(dst, 0, i);
          return e;
        }
      }
    }
    return Error::none;
  }

  /// What a lease of a Buf offers (L is the lease type). No unwrap (unlike Box):
  /// there is no device-safe owning container to move the elements into.
  template <class L>
  class interface {
    using Growth = detail::BufGrowth<T, L>;

   public:
    using iterator = T*;
    using const_iterator = const T*;

    // ---- Construction (static; every lease kind that has try_make) ---------------

    /// An empty Buf with no room: a zero-size object (no bytes taken in a Pack for
    /// Raw; Ptr still has its metadata).
    SWIM_MEM_API static Result<L> try_empty(HoldRef hold, const M& user = M{}) {
      return try_with_capacity(hold, 0, user);
    }
    /// An empty Buf with room for n elements (Error::oversized if n * sizeof(T)
    /// overflows).
    SWIM_MEM_API static Result<L> try_with_capacity(HoldRef hold, std::size_t n,
                                                     const M& user = M{}) {
      const Result<Layout> l = Layout::array<T>(n);
      if (!l) return l.error();
      return L::try_make(hold, meta_type{0, n, user}, [](T*, meta_type&) { return Error::none; });
    }
    /// A copy of first[0, n) with capacity n. first may be null only when n == 0.
    SWIM_MEM_API static Result<L> try_from(HoldRef hold, const T* first, std::size_t n,
                                            const M& user = M{})
      requires(std::is_copy_constructible_v<T>)
    {
      if (first == nullptr && n != 0) return Error::invalid_argument;
      const Result<Layout> l = Layout::array<T>(n);
      if (!l) return l.error();
      return L::try_make(hold, meta_type{n, n, user}, [&](T* data, meta_type&) {
        if constexpr (std::is_trivially_copyable_v<T>) {
          detail::copy_bytes(data, first, n * sizeof(T));
        } else {
          for (std::size_t i = 0; i < n; ++i) detail::construct_at(data + i, first[i]);
        }
        return Error::none;
      });
    }
    /// n copies of value, capacity n.
    SWIM_MEM_API static Result<L> try_filled(HoldRef hold, std::size_t n, const T& value,
                                              const M& user = M{})
      requires(std::is_copy_constructible_v<T>)
    {
      const Result<Layout> l = Layout::array<T>(n);
      if (!l) return l.error();
      return L::try_make(hold, meta_type{n, n, user}, [&](T* data, meta_type&) {
        for (std::size_t i = 0; i < n; ++i) detail::construct_at(data + i, value);
        return Error::none;
      });
    }

    // ---- Reading ----------------------------------------------------------------

    template <detail::lease_readable<L> Self = L>
    SWIM_MEM_API std::size_t size() const {
      return live() ? self().meta().len : 0;
    }
    template <detail::lease_readable<L> Self = L>
    SWIM_MEM_API std::size_t capacity() const {
      return live() ? self().meta().cap : 0;
    }
    template <detail::lease_readable<L> Self = L>
    SWIM_MEM_API bool empty() const {
      return size() == 0;
    }

    /// Unchecked element access (debug builds assert i < size()).
    template <detail::lease_mutable<L> Self = L>
    SWIM_MEM_API T& operator[](std::size_t i) {
      SWIM_MEM_ASSERT(i < size());
      return self().data()[i];
    }
    template <detail::lease_readable<L> Self = L>
    SWIM_MEM_API const T& operator[](std::size_t i) const {
      SWIM_MEM_ASSERT(i < size());
      return self().data()[i];
    }
    template <detail::lease_mutable<L> Self = L>
    SWIM_MEM_API T& front() {
      return (*this)[0];
    }
    template <detail::lease_readable<L> Self = L>
    SWIM_MEM_API const T& front() const {
      return (*this)[0];
    }
    template <detail::lease_mutable<L> Self = L>
    SWIM_MEM_API T& back() {
      SWIM_MEM_ASSERT(size() != 0);
      return self().data()[size() - 1];
    }
    template <detail::lease_readable<L> Self = L>
    SWIM_MEM_API const T& back() const {
      SWIM_MEM_ASSERT(size() != 0);
      return self().data()[size() - 1];
    }

    template <detail::lease_mutable<L> Self = L>
    SWIM_MEM_API T* begin() {
      return self().data();
    }
    template <detail::lease_mutable<L> Self = L>
    SWIM_MEM_API T* end() {
      return self().data() + size();
    }
    template <detail::lease_readable<L> Self = L>
    SWIM_MEM_API const T* begin() const {
      return self().data();
    }
    template <detail::lease_readable<L> Self = L>
    SWIM_MEM_API const T* end() const {
      return self().data() + size();
    }
    template <detail::lease_readable<L> Self = L>
    SWIM_MEM_API const T* cbegin() const {
      return begin();
    }
    template <detail::lease_readable<L> Self = L>
    SWIM_MEM_API const T* cend() const {
      return end();
    }

    /// The user metadata.
    template <detail::lease_mutable<L> Self = L>
    SWIM_MEM_API M& metadata() {
      SWIM_MEM_ASSERT(live());
      return self().meta().user;
    }
    template <detail::lease_readable<L> Self = L>
    SWIM_MEM_API const M& metadata() const {
      SWIM_MEM_ASSERT(live());
      return self().meta().user;
    }

    // ---- Capacity -----------------------------------------------------------------

    /// Room for `extra` more elements: capacity becomes the next power of two of
    /// size() + extra (exactly that sum if the power of two overflows). Errors:
    /// oversized (arithmetic overflow), the hold's (out_of_memory...), invalid_argument
    /// for a null lease. On error nothing changes.
    template <detail::lease_mutable<L> Self = L>
    SWIM_MEM_API Error try_reserve(std::size_t extra) {
      return Growth::reserve(self(), extra, false, Growth::nothing_before_move);
    }
    /// The same with capacity exactly size() + extra when it must grow.
    template <detail::lease_mutable<L> Self = L>
    SWIM_MEM_API Error try_reserve_exact(std::size_t extra) {
      return Growth::reserve(self(), extra, true, Growth::nothing_before_move);
    }
    /// Capacity down to size() (in place when the hold can: Pack and Pool shrink
    /// any object in place).
    template <detail::lease_mutable<L> Self = L>
    SWIM_MEM_API Error try_shrink_to_fit() {
      return Growth::shrink_to_fit(self());
    }

    // ---- Modifiers -------------------------------------------------------------------

    /// Append a T constructed from args (which may refer to elements of this Buf).
    template <detail::lease_mutable<L> Self = L, class... Args>
    SWIM_MEM_API Error try_emplace(Args&&... args) {
      if (!live()) return Error::invalid_argument;
      L& me = self();
      const std::size_t len = me.meta().len;
      if (len == me.meta().cap) {
        bool built = false;
        // When the contents move, build the new element first, while args that
        // point into the old buffer are still valid.
        const Error e = Growth::reserve(me, 1, false, [&](T* to) {
          detail::construct_at(to + len, static_cast<Args&&>(args)...);
          built = true;
        });
        if (e != Error::none) return e;
        if (built) {
          me.meta().len = len + 1;
          return Error::none;
        }
      }
      detail::construct_at(me.data() + len, static_cast<Args&&>(args)...);
      me.meta().len = len + 1;
      return Error::none;
    }
    template <detail::lease_mutable<L> Self = L>
    SWIM_MEM_API Error try_push(const T& value)
      requires(std::is_copy_constructible_v<T>)
    {
      return try_emplace(value);
    }
    template <detail::lease_mutable<L> Self = L>
    SWIM_MEM_API Error try_push(T&& value) {
      return try_emplace(static_cast<T&&>(value));
    }

    /// Remove and return the last element; Error::invalid_argument when empty.
    template <detail::lease_mutable<L> Self = L>
    SWIM_MEM_API Result<T> pop() {
      if (size() == 0) return Error::invalid_argument;
      L& me = self();
      T* last = me.data() + (me.meta().len - 1);
      Result<T> out(static_cast<T&&>(*last));
      last->~T();
      me.meta().len -= 1;
      return out;
    }

    /// Insert before position `index` (index == size() appends), shifting the
    /// elements from index on up by one. Error::invalid_argument if index > size().
    template <detail::lease_mutable<L> Self = L>
    SWIM_MEM_API Error try_insert(std::size_t index, const T& value)
      requires(std::is_copy_constructible_v<T>)
    {
      return insert_impl(index, value);
    }
    template <detail::lease_mutable<L> Self = L>
    SWIM_MEM_API Error try_insert(std::size_t index, T&& value) {
      return insert_impl(index, static_cast<T&&>(value));
    }

    /// Remove and return the element at `index` (< size()), shifting the rest down.
    /// Error::invalid_argument if index >= size().
    template <detail::lease_mutable<L> Self = L>
    SWIM_MEM_API Result<T> remove(std::size_t index) {
      const std::size_t len = size();
      if (index >= len) return Error::invalid_argument;
      L& me = self();
      T* d = me.data();
      Result<T> out(static_cast<T&&>(d[index]));
      d[index].~T();
      if constexpr (std::is_trivially_copyable_v<T>) {
        detail::move_bytes(d + index, d + index + 1, (len - index - 1) * sizeof(T));
      } else {
        for (std::size_t i = index; i + 1 < len; ++i) {
          detail::construct_at(d + i, static_cast<T&&>(d[i + 1]));
          d[i + 1].~T();
        }
      }
      me.meta().len = len - 1;
      return out;
    }

    /// Keep the first n elements (nothing happens if n >= size()).
    template <detail::lease_mutable<L> Self = L>
    SWIM_MEM_API void truncate(std::size_t n) {
      const std::size_t len = size();
      if (n >= len) return;
      detail::destroy_elements(self().data(), n, len);
      self().meta().len = n;
    }
    template <detail::lease_mutable<L> Self = L>
    SWIM_MEM_API void clear() {
      truncate(0);
    }

    /// Make size() == n: truncate, or append copies of value (which may be an
    /// element of this Buf). Growth follows try_reserve.
    template <detail::lease_mutable<L> Self = L>
    SWIM_MEM_API Error try_resize(std::size_t n, const T& value)
      requires(std::is_copy_constructible_v<T>)
    {
      if (!live()) return Error::invalid_argument;
      const std::size_t len = size();
      if (n <= len) {
        truncate(n);
        return Error::none;
      }
      if (detail::points_into(&value, self().data(), len)) {
        const T copy(value);
        return try_resize(n, copy);
      }
      const Error e = try_reserve(n - len);
      if (e != Error::none) return e;
      T* d = self().data();
      for (std::size_t i = len; i < n; ++i) detail::construct_at(d + i, value);
      self().meta().len = n;
      return Error::none;
    }
    /// Make size() == n, appending value-initialized elements.
    template <detail::lease_mutable<L> Self = L>
    SWIM_MEM_API Error try_resize(std::size_t n)
      requires(std::is_default_constructible_v<T>)
    {
      if (!live()) return Error::invalid_argument;
      const std::size_t len = size();
      if (n <= len) {
        truncate(n);
        return Error::none;
      }
      const Error e = try_reserve(n - len);
      if (e != Error::none) return e;
      T* d = self().data();
      for (std::size_t i = len; i < n; ++i) detail::construct_at(d + i);
      self().meta().len = n;
      return Error::none;
    }

   private:
    template <class U>
    SWIM_MEM_API Error insert_impl(std::size_t index, U&& value) {
      if (!live()) return Error::invalid_argument;
      const std::size_t len = size();
      if (index > len) return Error::invalid_argument;
      if (detail::points_into(&value, self().data(), len)) {
        T copy(static_cast<U&&>(value));  // the shift would move it under our feet
        return insert_impl(index, static_cast<T&&>(copy));
      }
      const Error e = try_reserve(1);
      if (e != Error::none) return e;
      T* d = self().data();
      // Shift [index, len) up by one, starting at the top so that no element is
      // overwritten before it moved, then construct the new one at `index`.
      if constexpr (std::is_trivially_copyable_v<T>) {
        detail::move_bytes(d + index + 1, d + index, (len - index) * sizeof(T));
      } else {
        for (std::size_t i = len; i > index; --i) {
          detail::construct_at(d + i, static_cast<T&&>(d[i - 1]));
          d[i - 1].~T();
        }
      }
      detail::construct_at(d + index, static_cast<U&&>(value));
      self().meta().len = len + 1;
      return Error::none;
    }

    SWIM_MEM_API bool live() const { return self().data() != nullptr; }
    SWIM_MEM_API const L& self() const { return static_cast<const L&>(*this); }
    SWIM_MEM_API L& self() { return static_cast<L&>(*this); }
  };

 private:
  template <class U>
  SWIM_MEM_API static Error clone_element(const U* src, U* dst) {
    detail::construct_at(dst, *src);
    return Error::none;
  }
};

}  // namespace swim::mem
