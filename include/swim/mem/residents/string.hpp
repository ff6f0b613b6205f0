// Layer 7 (residents): String<M>, UTF-8 text (and optional user metadata M) in a
// leased object.
//
// The storage is that of Buf<char, M> (metadata BufMeta<M>, capacity in bytes,
// the same growth and stow), with one invariant on top: the bytes are always
// valid UTF-8 (no overlong forms, no surrogates, nothing above U+10FFFF). Every
// operation that adds bytes validates them, every byte index that splits the text
// must be a character boundary; violations return Error::invalid_argument and
// change nothing. The text is not NUL-terminated (it may contain U+0000).
//
// StringView is a {pointer, size} span of bytes, the device-safe stand-in for
// std::string_view (which is constexpr-only host code under nvcc).
//
// Contracts as for Buf (residents/buf.hpp): errors are values, a failed operation
// leaves the String as it was, growth may move the bytes (invalidating views),
// const-ness is deep. Thread-safety: that of the lease. Host/device: every member.
#pragma once

#include <cstddef>
#include <cstdint>

#include "swim/mem/leases.hpp"
#include "swim/mem/residents/buf.hpp"

namespace swim::mem {

/// A read-only span of bytes (usually UTF-8 text). Trivially copyable.
struct StringView {
  const char* ptr = nullptr;
  std::size_t len = 0;

  /// The bytes of a NUL-terminated string (a null pointer gives an empty view).
  SWIM_MEM_API static StringView of(const char* cstr) {
    std::size_t n = 0;
    if (cstr != nullptr) {
      while (cstr[n] != '\0') ++n;
    }
    return StringView{cstr, n};
  }

  SWIM_MEM_API const char* data() const { return ptr; }
  SWIM_MEM_API std::size_t size() const { return len; }
  SWIM_MEM_API bool empty() const { return len == 0; }
  SWIM_MEM_API const char* begin() const { return ptr; }
  SWIM_MEM_API const char* end() const { return ptr + len; }
  /// Unchecked byte access (debug builds assert i < size()).
  SWIM_MEM_API char operator[](std::size_t i) const {
    SWIM_MEM_ASSERT(i < len);
    return ptr[i];
  }

  /// Byte-wise equality.
  SWIM_MEM_API friend bool operator==(StringView a, StringView b) {
    if (a.len != b.len) return false;
    for (std::size_t i = 0; i < a.len; ++i) {
      if (a.ptr[i] != b.ptr[i]) return false;
    }
    return true;
  }
  /// Equality with a NUL-terminated string (a null pointer equals nothing).
  SWIM_MEM_API bool operator==(const char* cstr) const {
    if (cstr == nullptr) return false;
    for (std::size_t i = 0; i < len; ++i) {
      if (cstr[i] == '\0' || cstr[i] != ptr[i]) return false;
    }
    return cstr[len] == '\0';
  }
};

namespace detail {

SWIM_MEM_API inline bool utf8_continuation(unsigned char b) { return (b & 0xC0u) == 0x80u; }

/// Length of the well-formed UTF-8 sequence starting at s[i] (Unicode Table 3-7),
/// or 0 if there is none.
SWIM_MEM_API inline std::size_t utf8_sequence(const char* s, std::size_t n, std::size_t i) {
  const auto at = [&](std::size_t k) { return static_cast<unsigned char>(s[i + k]); };
  const unsigned char b0 = at(0);
  if (b0 < 0x80u) return 1;
  std::size_t len = 0;
  unsigned char lo = 0x80u, hi = 0xBFu;  // range of the second byte
  if (b0 >= 0xC2u && b0 <= 0xDFu) {
    len = 2;
  } else if (b0 >= 0xE0u && b0 <= 0xEFu) {
    len = 3;
    if (b0 == 0xE0u) lo = 0xA0u;  // overlong
    if (b0 == 0xEDu) hi = 0x9Fu;  // surrogates
  } else if (b0 >= 0xF0u && b0 <= 0xF4u) {
    len = 4;
    if (b0 == 0xF0u) lo = 0x90u;  // overlong
    if (b0 == 0xF4u) hi = 0x8Fu;  // above U+10FFFF
  } else {
    return 0;  // continuation byte, C0/C1 (overlong) or F5..FF
  }
  if (n - i < len) return 0;
  if (at(1) < lo || at(1) > hi) return 0;
  for (std::size_t k = 2; k < len; ++k) {
    if (!utf8_continuation(at(k))) return 0;
  }
  return len;
}

/// Whether s[0, n) is well-formed UTF-8.
SWIM_MEM_API inline bool utf8_valid(const char* s, std::size_t n) {
  std::size_t i = 0;
  while (i < n) {  // bounded: i grows by at least 1
    const std::size_t k = utf8_sequence(s, n, i);
    if (k == 0) return false;
    i += k;
  }
  return true;
}

/// Encode a code point; 0 for surrogates and values above U+10FFFF.
SWIM_MEM_API inline std::size_t utf8_encode(char32_t cp, char out[4]) {
  const auto c = static_cast<std::uint32_t>(cp);
  if (c < 0x80u) {
    out[0] = static_cast<char>(c);
    return 1;
  }
  if (c < 0x800u) {
    out[0] = static_cast<char>(0xC0u | (c >> 6));
    out[1] = static_cast<char>(0x80u | (c & 0x3Fu));
    return 2;
  }
  if (c >= 0xD800u && c <= 0xDFFFu) return 0;
  if (c < 0x10000u) {
    out[0] = static_cast<char>(0xE0u | (c >> 12));
    out[1] = static_cast<char>(0x80u | ((c >> 6) & 0x3Fu));
    out[2] = static_cast<char>(0x80u | (c & 0x3Fu));
    return 3;
  }
  if (c <= 0x10FFFFu) {
    out[0] = static_cast<char>(0xF0u | (c >> 18));
    out[1] = static_cast<char>(0x80u | ((c >> 12) & 0x3Fu));
    out[2] = static_cast<char>(0x80u | ((c >> 6) & 0x3Fu));
    out[3] = static_cast<char>(0x80u | (c & 0x3Fu));
    return 4;
  }
  return 0;
}

/// Decode the (valid) sequence of k bytes at s.
SWIM_MEM_API inline char32_t utf8_decode(const char* s, std::size_t k) {
  const auto b = [&](std::size_t i) {
    return static_cast<std::uint32_t>(static_cast<unsigned char>(s[i]));
  };
  switch (k) {
    case 1: return static_cast<char32_t>(b(0));
    case 2: return static_cast<char32_t>(((b(0) & 0x1Fu) << 6) | (b(1) & 0x3Fu));
    case 3:
      return static_cast<char32_t>(((b(0) & 0x0Fu) << 12) | ((b(1) & 0x3Fu) << 6) | (b(2) & 0x3Fu));
    default:
      return static_cast<char32_t>(((b(0) & 0x07u) << 18) | ((b(1) & 0x3Fu) << 12) |
                                   ((b(2) & 0x3Fu) << 6) | (b(3) & 0x3Fu));
  }
}

/// Whether byte index i of valid UTF-8 text s[0, n) is a character boundary
/// (0 and n are).
SWIM_MEM_API inline bool utf8_boundary(const char* s, std::size_t n, std::size_t i) {
  if (i == 0 || i == n) return true;
  if (i > n) return false;
  return !utf8_continuation(static_cast<unsigned char>(s[i]));
}

/// Reverse s[first, last) in place.
SWIM_MEM_API inline void reverse_bytes(char* s, std::size_t first, std::size_t last) {
  while (first + 1 < last) {  // bounded: the range shrinks by 2
    const char t = s[first];
    s[first] = s[last - 1];
    s[last - 1] = t;
    ++first;
    --last;
  }
}

}  // namespace detail

template <class M = NoMeta>
struct String {
  using value_type = char;
  using meta_type = BufMeta<M>;
  using user_meta_type = M;

 private:
  using Storage = Buf<char, M>;

 public:
  SWIM_MEM_API static Layout layout(const meta_type& meta) { return Storage::layout(meta); }
  SWIM_MEM_API static meta_type stow_meta(const meta_type& meta) {
    return Storage::stow_meta(meta);
  }
  SWIM_MEM_API static void destroy(char*, meta_type&) {}
  SWIM_MEM_API static Error stow(const char* src, const meta_type& src_meta, char* dst,
                                 meta_type& dst_meta, StowContext& cx) {
    return Storage::stow(src, src_meta, dst, dst_meta, cx);
  }
  SWIM_MEM_API static void unstow(const char*, const meta_type&, char*, meta_type&) {}
  SWIM_MEM_API static std::size_t stow_bytes(const char*, const meta_type&) { return 0; }
  /// Rebase (leases/rebase.hpp): the length within the capacity, the bytes UTF-8.
  SWIM_MEM_API static Error rebase(char* data, meta_type& meta, RebaseContext&) {
    if (meta.len > meta.cap || !detail::utf8_valid(data, meta.len)) return Error::malformed;
    return Error::none;
  }

  // Clone (leases/resident.hpp, optional part): the bytes, shrunk to fit, as for Buf.
  SWIM_MEM_API static meta_type clone_meta(const meta_type& meta) {
    return Storage::clone_meta(meta);
  }
  SWIM_MEM_API static Error clone(const char* src, const meta_type& src_meta, char* dst,
                                  meta_type& dst_meta) {
    return Storage::clone(src, src_meta, dst, dst_meta);
  }

  /// What a lease of a String offers (L is the lease type). No unwrap, as for Buf
  /// (no device-safe owning string type to move the bytes into).
  template <class L>
  class interface {
    using Growth = detail::BufGrowth<char, L>;

   public:
    // ---- Construction -------------------------------------------------------------

    /// An empty String with no room (a zero-size payload).
    SWIM_MEM_API static Result<L> try_empty(HoldRef hold, const M& user = M{}) {
      return try_with_capacity(hold, 0, user);
    }
    /// An empty String with room for n bytes.
    SWIM_MEM_API static Result<L> try_with_capacity(HoldRef hold, std::size_t n,
                                                     const M& user = M{}) {
      return L::try_make(hold, meta_type{0, n, user},
                         [](char*, meta_type&) { return Error::none; });
    }
    /// A copy of the UTF-8 text s[0, n) (capacity n). Error::invalid_argument if it
    /// is not valid UTF-8 (or s is null and n != 0).
    SWIM_MEM_API static Result<L> try_from(HoldRef hold, const char* s, std::size_t n,
                                            const M& user = M{}) {
      if (s == nullptr && n != 0) return Error::invalid_argument;
      if (!detail::utf8_valid(s, n)) return Error::invalid_argument;
      return L::try_make(hold, meta_type{n, n, user}, [&](char* data, meta_type&) {
        detail::copy_bytes(data, s, n);
        return Error::none;
      });
    }
    /// A copy of a NUL-terminated UTF-8 string (Error::invalid_argument if null or
    /// not valid UTF-8).
    SWIM_MEM_API static Result<L> try_from(HoldRef hold, const char* cstr) {
      if (cstr == nullptr) return Error::invalid_argument;
      const StringView v = StringView::of(cstr);
      return try_from(hold, v.ptr, v.len);
    }

    // ---- Reading ------------------------------------------------------------------

    /// Length in bytes.
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
    /// The whole text (valid until the String grows or changes).
    template <detail::lease_readable<L> Self = L>
    SWIM_MEM_API StringView view() const {
      return StringView{live() ? self().data() : nullptr, size()};
    }
    /// Byte i (unchecked; debug builds assert i < size()).
    template <detail::lease_readable<L> Self = L>
    SWIM_MEM_API char operator[](std::size_t i) const {
      SWIM_MEM_ASSERT(i < size());
      return self().data()[i];
    }
    /// Whether byte index i is a character boundary (0 and size() are; beyond
    /// size() is not).
    template <detail::lease_readable<L> Self = L>
    SWIM_MEM_API bool is_char_boundary(std::size_t i) const {
      return detail::utf8_boundary(view().ptr, size(), i);
    }
    /// Bytes [begin, end). Error::invalid_argument unless begin <= end <= size()
    /// and both are character boundaries.
    template <detail::lease_readable<L> Self = L>
    SWIM_MEM_API Result<StringView> slice(std::size_t begin, std::size_t end) const {
      const StringView v = view();
      if (begin > end || end > v.len) return Error::invalid_argument;
      if (!detail::utf8_boundary(v.ptr, v.len, begin) ||
          !detail::utf8_boundary(v.ptr, v.len, end)) {
        return Error::invalid_argument;
      }
      return StringView{v.ptr + begin, end - begin};
    }
    /// Text equality with a NUL-terminated string (a null pointer equals nothing).
    template <detail::lease_readable<L> Self = L>
    SWIM_MEM_API bool operator==(const char* cstr) const {
      return view() == cstr;
    }
    template <detail::lease_readable<L> Self = L>
    SWIM_MEM_API bool operator==(StringView other) const {
      return view() == other;
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

    // ---- Capacity (as for Buf, in bytes) -----------------------------------------------

    template <detail::lease_mutable<L> Self = L>
    SWIM_MEM_API Error try_reserve(std::size_t extra) {
      return Growth::reserve(self(), extra, false, Growth::nothing_before_move);
    }
    template <detail::lease_mutable<L> Self = L>
    SWIM_MEM_API Error try_reserve_exact(std::size_t extra) {
      return Growth::reserve(self(), extra, true, Growth::nothing_before_move);
    }
    template <detail::lease_mutable<L> Self = L>
    SWIM_MEM_API Error try_shrink_to_fit() {
      return Growth::shrink_to_fit(self());
    }

    // ---- Modifiers ------------------------------------------------------------------

    /// Append one character. Error::invalid_argument for surrogates (U+D800 to
    /// U+DFFF) and values above U+10FFFF.
    template <detail::lease_mutable<L> Self = L>
    SWIM_MEM_API Error try_push(char32_t codepoint) {
      char bytes[4];
      const std::size_t k = detail::utf8_encode(codepoint, bytes);
      if (k == 0) return Error::invalid_argument;
      return append_valid(bytes, k);
    }
    /// Append the UTF-8 text s[0, n) (which may be part of this String).
    template <detail::lease_mutable<L> Self = L>
    SWIM_MEM_API Error try_append(const char* s, std::size_t n) {
      if (s == nullptr && n != 0) return Error::invalid_argument;
      if (!detail::utf8_valid(s, n)) return Error::invalid_argument;
      return append_valid(s, n);
    }
    /// Append a NUL-terminated UTF-8 string.
    template <detail::lease_mutable<L> Self = L>
    SWIM_MEM_API Error try_append(const char* cstr) {
      if (cstr == nullptr) return Error::invalid_argument;
      const StringView v = StringView::of(cstr);
      return try_append(v.ptr, v.len);
    }
    template <detail::lease_mutable<L> Self = L>
    SWIM_MEM_API Error try_append(StringView v) {
      return try_append(v.ptr, v.len);
    }
    /// Insert the UTF-8 text s[0, n) at byte index `index`, which must be a
    /// character boundary <= size(). s may be part of this String.
    template <detail::lease_mutable<L> Self = L>
    SWIM_MEM_API Error try_insert(std::size_t index, const char* s, std::size_t n) {
      if (!live()) return Error::invalid_argument;
      const std::size_t len = size();
      if (index > len || !detail::utf8_boundary(self().data(), len, index)) {
        return Error::invalid_argument;
      }
      if (s == nullptr && n != 0) return Error::invalid_argument;
      if (!detail::utf8_valid(s, n)) return Error::invalid_argument;
      // Append (alias-safe), then rotate the new bytes into place: no temporary
      // buffer, and s may point anywhere into the old text.
      const Error e = append_valid(s, n);
      if (e != Error::none) return e;
      char* d = self().data();
      detail::reverse_bytes(d, index, len);
      detail::reverse_bytes(d, len, len + n);
      detail::reverse_bytes(d, index, len + n);
      return Error::none;
    }
    template <detail::lease_mutable<L> Self = L>
    SWIM_MEM_API Error try_insert(std::size_t index, const char* cstr) {
      if (cstr == nullptr) return Error::invalid_argument;
      const StringView v = StringView::of(cstr);
      return try_insert(index, v.ptr, v.len);
    }

    /// Remove and return the last character; Error::invalid_argument when empty.
    template <detail::lease_mutable<L> Self = L>
    SWIM_MEM_API Result<char32_t> pop() {
      const std::size_t len = size();
      if (len == 0) return Error::invalid_argument;
      const char* d = self().data();
      std::size_t start = len - 1;
      // At most 3 continuation bytes precede the end of a valid text's last character.
      for (int k = 0; k < 3 && start > 0; ++k) {
        if (!detail::utf8_continuation(static_cast<unsigned char>(d[start]))) break;
        --start;
      }
      const char32_t cp = detail::utf8_decode(d + start, len - start);
      self().meta().len = start;
      return cp;
    }
    /// Remove and return the character that starts at byte index `index`.
    /// Error::invalid_argument unless index < size() is a character boundary.
    template <detail::lease_mutable<L> Self = L>
    SWIM_MEM_API Result<char32_t> remove(std::size_t index) {
      const std::size_t len = size();
      if (index >= len) return Error::invalid_argument;
      char* d = self().data();
      if (!detail::utf8_boundary(d, len, index)) return Error::invalid_argument;
      const std::size_t k = detail::utf8_sequence(d, len, index);
      SWIM_MEM_ASSERT(k != 0);
      const char32_t cp = detail::utf8_decode(d + index, k);
      detail::move_bytes(d + index, d + index + k, len - index - k);
      self().meta().len = len - k;
      return cp;
    }
    /// Keep the first n bytes; n must be a character boundary (n >= size() keeps
    /// everything). Error::invalid_argument otherwise.
    template <detail::lease_mutable<L> Self = L>
    SWIM_MEM_API Error truncate(std::size_t n) {
      const std::size_t len = size();
      if (n >= len) return Error::none;
      if (!detail::utf8_boundary(self().data(), len, n)) return Error::invalid_argument;
      self().meta().len = n;
      return Error::none;
    }
    template <detail::lease_mutable<L> Self = L>
    SWIM_MEM_API void clear() {
      if (live()) self().meta().len = 0;
    }

   private:
    // Append bytes already known to be valid UTF-8; s may point into the text.
    SWIM_MEM_API Error append_valid(const char* s, std::size_t n) {
      if (!live()) return Error::invalid_argument;
      L& me = self();
      const std::size_t len = me.meta().len;
      const bool aliased = detail::points_into(s, me.data(), me.meta().cap);
      const std::size_t offset = aliased ? static_cast<std::size_t>(s - me.data()) : 0;
      const Error e = Growth::reserve(me, n, false, Growth::nothing_before_move);
      if (e != Error::none) return e;
      // The old bytes kept their offsets whether the text grew in place or moved.
      if (aliased) {
        detail::move_bytes(me.data() + len, me.data() + offset, n);
      } else {
        detail::copy_bytes(me.data() + len, s, n);
      }
      me.meta().len = len + n;
      return Error::none;
    }

    SWIM_MEM_API bool live() const { return self().data() != nullptr; }
    SWIM_MEM_API const L& self() const { return static_cast<const L&>(*this); }
    SWIM_MEM_API L& self() { return static_cast<L&>(*this); }
  };
};

}  // namespace swim::mem
