// libFuzzer harness: leases and residents (include/swim/mem/leases/,
// include/swim/mem/residents/) in small holds, where growth runs out of memory.
//
// Input: the same bytes drive each hold in turn (a Pack, a Pool over an AddrSpace, a
// SizeClasses over an ExtentHeap, all small; the first bytes set their sizes, and
// that of a Pack that stows and clones go into). Then up to max_ops operations, one
// byte each (which lease, which operation) followed by its arguments, on these
// leases:
//   Raw<Buf<u32>>, Ptr<Buf<u32, Meta>>   make, push, pop, insert, remove, resize,
//                                        reserve(_exact), shrink_to_fit, truncate,
//                                        clear, clone, clone into, stow, reset
//   Raw<String<>>, Ptr<String<Meta>>     make from bytes (UTF-8 or not), push a code
//                                        point (valid or not), append, insert, remove,
//                                        pop, truncate, slice, reserve, shrink, clone,
//                                        stow, reset
//   Raw<Box<Big>>, Ptr<Box<Big, Meta>>   new, write, clone, unwrap, stow, reset
//   Raw<Buf<Raw<Box<u64>>>>              push boxes, pop, remove, insert, stow (deep)
//   Hard<Buf<u32>> with Hards, Softs     make, clone, to_soft, drop, push through a
//                                        Mut (a relocation when others share it),
//                                        read through Refs and upgraded Softs,
//                                        try_to_unique, stow (the others follow)
//
// Invariants, after every step: each lease equals its model (std::vector,
// std::string, the Big value; null when the model says so); lengths, capacities
// (the documented growth: the next power of two, exact for reserve_exact and for
// copies) and user metadata are kept; strings stay valid UTF-8 (checked here
// independently) and refuse invalid input with invalid_argument; every failed
// operation (out_of_memory in the small holds, invalid_argument for a bad index or a
// null lease, aliased for a borrow that conflicts) leaves the lease, its contents and
// its hold's statistics as they were; a failed stow or clone leaves nothing in the
// target; a Soft upgrades while a Hard lives and reports cleared after; once every
// lease is gone the holds are empty and report no leak.
#include <algorithm>
#include <optional>
#include <string>
#include <vector>

#include "fuzz_common.hpp"

namespace swim::mem::fuzz {

/// User metadata kept in the object (Ptr) or the handle (Raw).
struct Meta {
  std::uint32_t v = 0;
  friend bool operator==(Meta a, Meta b) { return a.v == b.v; }
};
/// A value larger than a word, so that a Box is a real object.
struct Big {
  std::uint64_t w[5] = {};
  friend bool operator==(const Big& a, const Big& b) {
    return std::equal(std::begin(a.w), std::end(a.w), std::begin(b.w));
  }
};

}  // namespace swim::mem::fuzz

namespace swim::mem::fuzz {
namespace {

constexpr unsigned max_ops = 96;

using RawBufU = Raw<Buf<std::uint32_t>>;
using PtrBufU = Ptr<Buf<std::uint32_t, Meta>>;
using RawStr = Raw<String<>>;
using PtrStr = Ptr<String<Meta>>;
using RawBig = Raw<Box<Big>>;
using PtrBig = Ptr<Box<Big, Meta>>;
using RawU64 = Raw<Box<std::uint64_t>>;
using Nest = Raw<Buf<RawU64>>;
using HardBuf = Hard<Buf<std::uint32_t>>;
using SoftBuf = Soft<Buf<std::uint32_t>>;

// ---- UTF-8, independently of the library -------------------------------------------------------

/// Length of the well-formed UTF-8 sequence at s[i] (shortest form, no surrogates,
/// at most U+10FFFF), or 0.
std::size_t utf8_len(const std::string& s, std::size_t i) {
  const auto c = [&](std::size_t k) { return static_cast<unsigned>(static_cast<unsigned char>(s[i + k])); };
  const unsigned b = c(0);
  std::size_t n = 0;
  std::uint32_t cp = 0;
  if (b < 0x80) return 1;
  if ((b & 0xE0) == 0xC0) {
    n = 2;
    cp = b & 0x1F;
  } else if ((b & 0xF0) == 0xE0) {
    n = 3;
    cp = b & 0x0F;
  } else if ((b & 0xF8) == 0xF0) {
    n = 4;
    cp = b & 0x07;
  } else {
    return 0;
  }
  if (s.size() - i < n) return 0;
  for (std::size_t k = 1; k < n; ++k) {
    if ((c(k) & 0xC0) != 0x80) return 0;
    cp = (cp << 6) | (c(k) & 0x3F);
  }
  static constexpr std::uint32_t least[] = {0, 0, 0x80, 0x800, 0x10000};
  if (cp < least[n] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return 0;
  return n;
}
bool utf8_ok(const std::string& s) {
  for (std::size_t i = 0; i < s.size();) {
    const std::size_t n = utf8_len(s, i);
    if (n == 0) return false;
    i += n;
  }
  return true;
}
bool boundary(const std::string& s, std::size_t i) {
  return i == 0 || i == s.size() || (i < s.size() && (static_cast<unsigned char>(s[i]) & 0xC0) != 0x80);
}
std::string encode(char32_t cp) {
  std::string out;
  const auto c = static_cast<std::uint32_t>(cp);
  if (c < 0x80) {
    out += static_cast<char>(c);
  } else if (c < 0x800) {
    out += static_cast<char>(0xC0 | (c >> 6));
    out += static_cast<char>(0x80 | (c & 0x3F));
  } else if (c < 0x10000) {
    out += static_cast<char>(0xE0 | (c >> 12));
    out += static_cast<char>(0x80 | ((c >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (c & 0x3F));
  } else {
    out += static_cast<char>(0xF0 | (c >> 18));
    out += static_cast<char>(0x80 | ((c >> 12) & 0x3F));
    out += static_cast<char>(0x80 | ((c >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (c & 0x3F));
  }
  return out;
}
char32_t decode(const std::string& s, std::size_t i, std::size_t n) {
  const auto c = [&](std::size_t k) { return static_cast<std::uint32_t>(static_cast<unsigned char>(s[i + k])); };
  static constexpr std::uint32_t lead_mask[] = {0, 0x7F, 0x1F, 0x0F, 0x07};
  std::uint32_t cp = c(0) & lead_mask[n];
  for (std::size_t k = 1; k < n; ++k) cp = (cp << 6) | (c(k) & 0x3F);
  return static_cast<char32_t>(cp);
}

/// Bytes for a string operation: mostly text (ASCII and multi-byte characters), now
/// and then with a malformed sequence in it (an overlong form, a surrogate, a code
/// point past U+10FFFF, a stray or missing continuation byte), or raw bytes.
std::string text(Input& in) {
  const std::uint8_t how = in.u8();
  const std::size_t n = how % 24;
  std::string s;
  if ((how & 0xC0) == 0xC0) {
    for (std::size_t i = 0; i < n; ++i) s += static_cast<char>(in.u8());
    return s;
  }
  static constexpr char32_t sample[] = {U'a', U'Z', U'0', U' ', 0xE9, 0x3B1, 0x20AC, 0x4E2D, 0x1F600, 0x10FFFF, 0, 0x7F,
                                        0x7FF, 0x800, 0xFFFF, 0x10000, 0xD7FF, 0xE000};
  static constexpr const char* bad[] = {
      "\xC0\x80",          // overlong U+0000
      "\xC1\xBF",          // overlong
      "\xE0\x80\x80",      // overlong
      "\xE0\x9F\xBF",      // overlong
      "\xED\xA0\x80",      // U+D800, a surrogate
      "\xED\xBF\xBF",      // U+DFFF
      "\xF0\x80\x80\x80",  // overlong
      "\xF0\x8F\xBF\xBF",  // overlong
      "\xF4\x90\x80\x80",  // U+110000
      "\xF5\x80\x80\x80",  // no such lead byte
      "\xFF",
      "\x80",              // a continuation byte alone
      "\xE2\x82",          // a sequence cut short
      "\xF0\x9F\x98",
      "\xC3",
      "\xE2\x28\xA1",      // a sequence broken by ASCII
  };
  for (std::size_t i = 0; i < n; ++i) s += encode(sample[in.u8() % 18]);
  if (how & 0x80) s.insert(in.u8() % (s.size() + 1), bad[in.u8() % 16]);
  return s;
}
/// A code point: mostly valid ones, now and then a surrogate or one past U+10FFFF.
char32_t code_point(Input& in) {
  const std::uint32_t v = in.u32();
  switch (v & 7) {
    case 0: return static_cast<char32_t>(0xD800 + (v >> 3) % 0x800);  // a surrogate
    case 1: return static_cast<char32_t>(0x110000 + (v >> 3) % 0x1000);  // too large
    case 2: return static_cast<char32_t>((v >> 3) % 0x80);
    default: {
      const std::uint32_t c = (v >> 3) % 0x110000;
      return static_cast<char32_t>(c >= 0xD800 && c <= 0xDFFF ? c - 0x800 : c);
    }
  }
}

bool is_growth_error(Error e) { return e == Error::out_of_memory || e == Error::oversized; }

/// The next power of two of n (n >= 1), or n when that overflows.
std::size_t pow2_up(std::size_t n) {
  std::size_t p = 1;
  while (p < n && p <= (~std::size_t(0) >> 1)) p <<= 1;
  return p >= n ? p : n;
}

// ---- The holds ------------------------------------------------------------------------------------

/// The hold the leases are made in (one of three kinds), and a small Pack that stows
/// and clones go into. Their statistics are what "nothing changed" is checked with.
class Holds {
 public:
  Holds() : arena_(512 * 1024), target_arena_(64 * 1024) {}

  const char* name() const {
    static constexpr const char* names[] = {"residents in a Pack", "residents in a Pool<AddrSpace>",
                                            "residents in a SizeClasses<ExtentHeap>"};
    return names[kind_];
  }
  void set_up(unsigned kind, Input& in) {
    kind_ = kind;
    const std::size_t bytes = std::size_t(512) << (in.u8() % 9);  // 512 B .. 128 KiB
    switch (kind_) {
      case 0:
        pack_.emplace(arena_.take(in.u8() % 64, bytes, 0x5A));
        main_ = HoldRef::of(*pack_);
        break;
      case 1:
        pages_.emplace(arena_.take(0, std::max<std::size_t>(bytes, 4096) * 2, 0x5A), 256);
        pool_.emplace(*pages_, std::size_t(256) << (in.u8() % 6));
        main_ = HoldRef::of(*pool_);
        break;
      default:
        extents_.emplace(arena_.take(0, std::size_t(160) << (10 + in.u8() % 2), 0x5A), 1024);
        classes_.emplace(*extents_);
        main_ = HoldRef::of(*classes_);
        break;
    }
    target_.emplace(target_arena_.take(0, std::size_t(256) << (in.u8() % 9), 0xA5));
  }
  void tear_down() {
    target_.reset();
    classes_.reset();
    extents_.reset();
    pool_.reset();
    pages_.reset();
    pack_.reset();
    arena_.release();
    target_arena_.release();
  }

  HoldRef main() const { return main_; }
  HoldRef target() { return HoldRef::of(*target_); }
  /// Both holds' counters, to compare before and after an operation.
  struct Snapshot {
    Stats main;
    Stats target;
  };
  Snapshot snapshot() const { return Snapshot{main_.stats(), target_->stats()}; }
  static bool same(const Stats& a, const Stats& b) {
    return a.live == b.live && a.bytes_in_use == b.bytes_in_use;
  }
  bool unchanged(const Snapshot& s) const {
    const Snapshot now = snapshot();
    return same(s.main, now.main) && same(s.target, now.target);
  }

 private:
  Arena arena_;
  Arena target_arena_;
  unsigned kind_ = 0;
  HoldRef main_;
  std::optional<Pack<single_owner>> pack_;
  std::optional<AddrSpace<concurrent, true>> pages_;
  std::optional<Pool<AddrSpace<concurrent, true>>> pool_;
  std::optional<ExtentHeap<concurrent>> extents_;
  std::optional<SizeClasses<ExtentHeap<concurrent>>> classes_;
  std::optional<Pack<single_owner>> target_;
};

// ---- Buf leases ------------------------------------------------------------------------------------

template <class L>
constexpr bool has_meta = std::is_same_v<typename L::resident_type::user_meta_type, Meta>;

/// A lease of a Buf of u32 and its model.
template <class L>
struct BufSlot {
  L lease;
  bool live = false;
  std::vector<std::uint32_t> v;
  Meta meta{};
};

template <class L>
void check_buf(const BufSlot<L>& s) {
  if (!s.live) {
    FUZZ_CHECK(!s.lease);
    FUZZ_CHECK_EQ(s.lease.size(), 0);
    return;
  }
  FUZZ_CHECK(static_cast<bool>(s.lease));
  FUZZ_CHECK_EQ(s.lease.size(), s.v.size());
  FUZZ_CHECK(s.lease.capacity() >= s.lease.size());
  for (std::size_t i = 0; i < s.v.size(); ++i) FUZZ_CHECK_EQ(s.lease.data()[i], s.v[i]);
  if constexpr (has_meta<L>) FUZZ_CHECK(s.lease.metadata() == s.meta);
  FUZZ_CHECK(static_cast<bool>(s.lease.hold()));
}

/// What a lease looks like, to tell that a failed operation left it alone.
struct Shape {
  const void* data;
  std::size_t size;
  std::size_t cap;
};
template <class L>
Shape shape(const L& l) {
  return Shape{l.data(), l.size(), l.capacity()};
}
inline bool same_shape(const Shape& a, const Shape& b) {
  return a.data == b.data && a.size == b.size && a.cap == b.cap;
}

/// After a growing operation on a lease of `len` elements and capacity `cap` that
/// needed room for `need` in all: the capacity it must have now.
inline std::size_t grown(std::size_t cap, std::size_t need, bool exact) {
  if (cap >= need) return cap;
  return exact ? need : pow2_up(need);
}

template <class L>
class BufOps {
 public:
  BufOps(BufSlot<L>& s, Holds& holds) : s_(s), holds_(holds) {}

  void run(Input& in) {
    const std::uint8_t op = in.u8();
    switch (op % 14) {
      case 0: make(in); break;
      case 1:
      case 2: push(in); break;
      case 3: pop(); break;
      case 4: insert(in); break;
      case 5: remove(in); break;
      case 6: resize(in); break;
      case 7: reserve(in); break;
      case 8: shrink(); break;
      case 9: truncate(in); break;
      case 10: clone(in); break;
      case 11: stow(); break;
      case 12:
        s_.lease.reset();
        s_.live = false;
        s_.v.clear();
        break;
      default: push(in); break;
    }
  }

 private:
  void make(Input& in) {
    const std::uint8_t how = in.u8();
    const std::size_t n = (how & 0x80) ? in.u16() % 4096u : in.u8() % 48u;
    const std::uint32_t value = in.u32();
    const Meta meta{in.u8()};
    s_.lease.reset();
    s_.live = false;
    s_.v.clear();
    const HoldRef hold = (how & 0x40) ? holds_.target() : holds_.main();
    const auto snap = holds_.snapshot();
    std::vector<std::uint32_t> want;
    Result<L> r = Error::unsupported;
    const auto user = [&] {
      if constexpr (has_meta<L>) {
        return meta;
      } else {
        return NoMeta{};
      }
    }();
    switch (how % 4) {
      case 0: r = L::try_empty(hold, user); break;
      case 1: r = L::try_with_capacity(hold, n, user); break;
      case 2:
        for (std::size_t i = 0; i < n; ++i) want.push_back(value + static_cast<std::uint32_t>(i));
        r = L::try_from(hold, want.data(), want.size(), user);
        break;
      default:
        want.assign(n, value);
        r = L::try_filled(hold, n, value, user);
        break;
    }
    if (!r.ok()) {
      FUZZ_CHECK(is_growth_error(r.error()));
      FUZZ_CHECK(holds_.unchanged(snap));
      return;
    }
    s_.lease = r.take();
    s_.live = true;
    s_.v = want;
    s_.meta = meta;
    FUZZ_CHECK_EQ(s_.lease.capacity(), how % 4 == 0 ? 0 : n);
  }

  /// A growing operation's outcome: on success the new capacity is as documented, on
  /// failure (out of memory only when room was needed) nothing changed.
  void after_growth(Error e, const Shape& before, const Holds::Snapshot& snap, std::size_t need,
                    bool exact) {
    if (e == Error::none) {
      FUZZ_CHECK_EQ(s_.lease.capacity(), grown(before.cap, need, exact));
      if (before.cap >= need) FUZZ_CHECK(s_.lease.data() == before.data);  // no growth, no move
      return;
    }
    FUZZ_CHECK(is_growth_error(e) && before.cap < need);
    FUZZ_CHECK(same_shape(shape(s_.lease), before));
    FUZZ_CHECK(holds_.unchanged(snap));
  }

  void push(Input& in) {
    const std::uint32_t value = in.u32();
    if (!s_.live) {
      FUZZ_CHECK_ERROR(s_.lease.try_push(value), Error::invalid_argument);
      return;
    }
    const Shape before = shape(s_.lease);
    const auto snap = holds_.snapshot();
    const Error e = s_.lease.try_push(value);
    after_growth(e, before, snap, before.size + 1, false);
    if (e == Error::none) s_.v.push_back(value);
  }

  void pop() {
    Result<std::uint32_t> r = s_.lease.pop();
    if (s_.v.empty()) {
      FUZZ_CHECK(!r.ok());
      FUZZ_CHECK_ERROR(r.error(), Error::invalid_argument);
      return;
    }
    FUZZ_CHECK(r.ok() && *r == s_.v.back());
    s_.v.pop_back();
  }

  void insert(Input& in) {
    const std::size_t at = in.u8();
    const std::uint8_t how = in.u8();
    std::uint32_t value = in.u32();
    if (!s_.live) {
      FUZZ_CHECK_ERROR(s_.lease.try_insert(at, value), Error::invalid_argument);
      return;
    }
    const std::size_t len = s_.v.size();
    const Shape before = shape(s_.lease);
    const auto snap = holds_.snapshot();
    Error e = Error::none;
    if ((how & 1) && len != 0) {
      // The value is an element of this Buf: it must survive the shift and the move.
      const std::size_t j = how % len;
      value = s_.v[j];
      e = s_.lease.try_insert(at, s_.lease[j]);
    } else {
      e = s_.lease.try_insert(at, value);
    }
    if (at > len) {
      FUZZ_CHECK_ERROR(e, Error::invalid_argument);
      FUZZ_CHECK(same_shape(shape(s_.lease), before));
      return;
    }
    after_growth(e, before, snap, len + 1, false);
    if (e == Error::none) s_.v.insert(s_.v.begin() + static_cast<std::ptrdiff_t>(at), value);
  }

  void remove(Input& in) {
    const std::size_t at = in.u8();
    Result<std::uint32_t> r = s_.lease.remove(at);
    if (at >= s_.v.size()) {
      FUZZ_CHECK(!r.ok());
      FUZZ_CHECK_ERROR(r.error(), Error::invalid_argument);
      return;
    }
    FUZZ_CHECK(r.ok() && *r == s_.v[at]);
    s_.v.erase(s_.v.begin() + static_cast<std::ptrdiff_t>(at));
  }

  void resize(Input& in) {
    const std::uint8_t how = in.u8();
    const std::size_t n = (how & 0x80) ? in.u16() % 8192u : in.u8() % 80u;
    std::uint32_t value = in.u32();
    if (!s_.live) {
      FUZZ_CHECK_ERROR(s_.lease.try_resize(n, value), Error::invalid_argument);
      return;
    }
    const std::size_t len = s_.v.size();
    const Shape before = shape(s_.lease);
    const auto snap = holds_.snapshot();
    Error e = Error::none;
    if ((how & 1) && len != 0) {
      value = s_.v[how % len];
      e = s_.lease.try_resize(n, s_.lease[how % len]);  // an element of this Buf
    } else if (how & 2) {
      value = 0;
      e = s_.lease.try_resize(n);
    } else {
      e = s_.lease.try_resize(n, value);
    }
    if (n <= len) {
      FUZZ_CHECK_ERROR(e, Error::none);
      s_.v.resize(n);
      return;
    }
    after_growth(e, before, snap, n, false);
    if (e == Error::none) s_.v.resize(n, value);
  }

  void reserve(Input& in) {
    const std::uint8_t how = in.u8();
    std::size_t extra = (how & 0x80) ? in.u16() : in.u8() % 64u;
    if ((how & 0x60) == 0x60) extra = ~std::size_t(0) - in.u8();  // more than can ever be
    const bool exact = how & 1;
    if (!s_.live) {
      FUZZ_CHECK_ERROR(exact ? s_.lease.try_reserve_exact(extra) : s_.lease.try_reserve(extra),
                       Error::invalid_argument);
      return;
    }
    const Shape before = shape(s_.lease);
    const auto snap = holds_.snapshot();
    const Error e = exact ? s_.lease.try_reserve_exact(extra) : s_.lease.try_reserve(extra);
    const std::size_t len = s_.v.size();
    if (extra > ~std::size_t(0) - len) {
      FUZZ_CHECK_ERROR(e, Error::oversized);
      FUZZ_CHECK(same_shape(shape(s_.lease), before) && holds_.unchanged(snap));
      return;
    }
    after_growth(e, before, snap, len + extra, exact);
  }

  void shrink() {
    if (!s_.live) {
      FUZZ_CHECK_ERROR(s_.lease.try_shrink_to_fit(), Error::invalid_argument);
      return;
    }
    const Shape before = shape(s_.lease);
    // Every hold here shrinks an object in place; only an empty Raw Buf becomes the
    // zero-size object.
    FUZZ_CHECK_ERROR(s_.lease.try_shrink_to_fit(), Error::none);
    FUZZ_CHECK_EQ(s_.lease.capacity(), s_.v.size());
    if (s_.v.size() != 0 || has_meta<L>) FUZZ_CHECK(s_.lease.data() == before.data);
  }

  void truncate(Input& in) {
    const std::size_t n = in.u8() % 64u;
    if (in.u8() & 1) {
      s_.lease.clear();
      s_.v.clear();
      return;
    }
    s_.lease.truncate(n);
    if (n < s_.v.size()) s_.v.resize(n);
  }

  /// A copy (in the lease's hold or in the target), shrunk to fit, equal, and
  /// independent: pushing to it leaves the original alone.
  void clone(Input& in) {
    const bool into = in.u8() & 1;
    const std::uint32_t value = in.u32();
    const auto snap = holds_.snapshot();
    Result<L> c = into ? s_.lease.try_clone_into(holds_.target()) : s_.lease.try_clone();
    if (!s_.live) {
      FUZZ_CHECK(!c.ok());
      FUZZ_CHECK_ERROR(c.error(), Error::invalid_argument);
      return;
    }
    if (!c.ok()) {
      FUZZ_CHECK(is_growth_error(c.error()));
      FUZZ_CHECK(holds_.unchanged(snap));
      return;
    }
    BufSlot<L> copy;
    copy.lease = c.take();
    copy.live = true;
    copy.v = s_.v;
    copy.meta = s_.meta;
    check_buf(copy);
    FUZZ_CHECK_EQ(copy.lease.capacity(), s_.v.size());
    if (!s_.v.empty()) FUZZ_CHECK(copy.lease.data() != s_.lease.data());
    if (copy.lease.try_push(value) == Error::none) copy.v.push_back(value);
    check_buf(copy);
    check_buf(s_);
  }

  /// Stowed into the target Pack: a copy there (shrunk to fit), the original freed;
  /// or, when the target is full, nothing changed anywhere.
  void stow() {
    const auto snap = holds_.snapshot();
    const Shape before = shape(s_.lease);
    Result<L> r = try_stow(s_.lease, holds_.target());
    if (!r.ok()) {
      FUZZ_CHECK(is_growth_error(r.error()));
      FUZZ_CHECK(same_shape(shape(s_.lease), before) && holds_.unchanged(snap));
      return;
    }
    FUZZ_CHECK(!s_.lease);  // the source is reset
    s_.lease = r.take();
    FUZZ_CHECK(static_cast<bool>(s_.lease) == s_.live);
    if (s_.live) {
      FUZZ_CHECK_EQ(s_.lease.capacity(), s_.v.size());
      FUZZ_CHECK(s_.lease.hold() == holds_.target());
    }
  }

  BufSlot<L>& s_;
  Holds& holds_;
};

// ---- String leases ---------------------------------------------------------------------------------

template <class L>
struct StrSlot {
  L lease;
  bool live = false;
  std::string s;
  Meta meta{};
};

template <class L>
void check_str(const StrSlot<L>& s) {
  if (!s.live) {
    FUZZ_CHECK(!s.lease);
    return;
  }
  FUZZ_CHECK(static_cast<bool>(s.lease));
  const StringView v = s.lease.view();
  FUZZ_CHECK_EQ(v.size(), s.s.size());
  FUZZ_CHECK(v.size() == 0 || std::memcmp(v.data(), s.s.data(), v.size()) == 0);
  FUZZ_CHECK(s.lease.capacity() >= v.size());
  FUZZ_CHECK(utf8_ok(std::string(v.data() == nullptr ? "" : v.data(), v.size())));
  if constexpr (has_meta<L>) FUZZ_CHECK(s.lease.metadata() == s.meta);
}

template <class L>
class StrOps {
 public:
  StrOps(StrSlot<L>& s, Holds& holds) : s_(s), holds_(holds) {}

  void run(Input& in) {
    const std::uint8_t op = in.u8();
    switch (op % 13) {
      case 0: make(in); break;
      case 1: push(in); break;
      case 2:
      case 3: append(in); break;
      case 4: insert(in); break;
      case 5: remove(in); break;
      case 6: pop(); break;
      case 7: truncate(in); break;
      case 8: slice(in); break;
      case 9: reserve_or_shrink(in); break;
      case 10: clone(in); break;
      case 11: stow(); break;
      default:
        s_.lease.reset();
        s_.live = false;
        s_.s.clear();
        break;
    }
  }

 private:
  void make(Input& in) {
    const std::uint8_t how = in.u8();
    const std::string t = text(in);
    const Meta meta{in.u8()};
    s_.lease.reset();
    s_.live = false;
    s_.s.clear();
    const HoldRef hold = (how & 0x40) ? holds_.target() : holds_.main();
    const auto snap = holds_.snapshot();
    Result<L> r = Error::unsupported;
    const auto user = [&] {
      if constexpr (has_meta<L>) {
        return meta;
      } else {
        return NoMeta{};
      }
    }();
    if (how & 1) {
      r = L::try_with_capacity(hold, t.size(), user);
    } else {
      r = L::try_from(hold, t.data(), t.size(), user);
      if (!utf8_ok(t)) {  // refused, whatever the hold
        FUZZ_CHECK(!r.ok());
        FUZZ_CHECK_ERROR(r.error(), Error::invalid_argument);
        FUZZ_CHECK(holds_.unchanged(snap));
        return;
      }
    }
    if (!r.ok()) {
      FUZZ_CHECK(is_growth_error(r.error()));
      FUZZ_CHECK(holds_.unchanged(snap));
      return;
    }
    s_.lease = r.take();
    s_.live = true;
    s_.s = (how & 1) ? std::string() : t;
    s_.meta = meta;
    FUZZ_CHECK_EQ(s_.lease.capacity(), t.size());
  }

  /// Adding `add` bytes: on success the text grew as documented, on failure
  /// (invalid text, no room) nothing changed.
  void after_add(Error e, const Shape& before, const Holds::Snapshot& snap, std::size_t add) {
    if (e == Error::none) {
      FUZZ_CHECK_EQ(s_.lease.capacity(), grown(before.cap, before.size + add, false));
      return;
    }
    FUZZ_CHECK(is_growth_error(e) && before.cap < before.size + add);
    FUZZ_CHECK(same_shape(shape(s_.lease), before) && holds_.unchanged(snap));
  }

  void push(Input& in) {
    const char32_t cp = code_point(in);
    const bool valid = cp <= 0x10FFFF && !(cp >= 0xD800 && cp <= 0xDFFF);
    const Shape before = shape(s_.lease);
    const auto snap = holds_.snapshot();
    const Error e = s_.lease.try_push(cp);
    if (!valid || !s_.live) {
      FUZZ_CHECK_ERROR(e, Error::invalid_argument);
      FUZZ_CHECK(same_shape(shape(s_.lease), before));
      return;
    }
    const std::string bytes = encode(cp);
    after_add(e, before, snap, bytes.size());
    if (e == Error::none) s_.s += bytes;
  }

  void append(Input& in) {
    const std::uint8_t how = in.u8();
    std::string t = text(in);
    const Shape before = shape(s_.lease);
    const auto snap = holds_.snapshot();
    Error e = Error::none;
    if ((how & 1) && s_.live && !s_.s.empty()) {
      // A part of its own text (between character boundaries): it may move as the
      // text grows.
      std::size_t a = how % (s_.s.size() + 1), b = in.u8() % (s_.s.size() + 1);
      if (a > b) std::swap(a, b);
      while (!boundary(s_.s, a)) --a;
      while (!boundary(s_.s, b)) ++b;
      t = s_.s.substr(a, b - a);
      e = s_.lease.try_append(s_.lease.data() + a, b - a);
    } else {
      e = s_.lease.try_append(t.data(), t.size());
    }
    if (!s_.live || !utf8_ok(t)) {
      FUZZ_CHECK_ERROR(e, Error::invalid_argument);
      FUZZ_CHECK(same_shape(shape(s_.lease), before) && holds_.unchanged(snap));
      return;
    }
    after_add(e, before, snap, t.size());
    if (e == Error::none) s_.s += t;
  }

  void insert(Input& in) {
    const std::size_t at = in.u8();
    const std::uint8_t how = in.u8();
    std::string t = text(in);
    const Shape before = shape(s_.lease);
    const auto snap = holds_.snapshot();
    Error e = Error::none;
    if ((how & 1) && s_.live && !s_.s.empty()) {
      std::size_t a = how % (s_.s.size() + 1);
      while (!boundary(s_.s, a)) --a;
      t = s_.s.substr(a);
      e = s_.lease.try_insert(at, s_.lease.data() + a, s_.s.size() - a);  // its own tail
    } else {
      e = s_.lease.try_insert(at, t.data(), t.size());
    }
    if (!s_.live || at > s_.s.size() || !boundary(s_.s, at) || !utf8_ok(t)) {
      FUZZ_CHECK_ERROR(e, Error::invalid_argument);
      FUZZ_CHECK(same_shape(shape(s_.lease), before) && holds_.unchanged(snap));
      return;
    }
    after_add(e, before, snap, t.size());
    if (e == Error::none) s_.s.insert(at, t);
  }

  void remove(Input& in) {
    const std::size_t at = in.u8();
    const Result<char32_t> r = s_.lease.remove(at);
    if (at >= s_.s.size() || !boundary(s_.s, at)) {
      FUZZ_CHECK(!r.ok());
      FUZZ_CHECK_ERROR(r.error(), Error::invalid_argument);
      return;
    }
    const std::size_t n = utf8_len(s_.s, at);
    FUZZ_CHECK(r.ok() && *r == decode(s_.s, at, n));
    s_.s.erase(at, n);
  }

  void pop() {
    const Result<char32_t> r = s_.lease.pop();
    if (s_.s.empty()) {
      FUZZ_CHECK(!r.ok());
      FUZZ_CHECK_ERROR(r.error(), Error::invalid_argument);
      return;
    }
    std::size_t at = s_.s.size() - 1;
    while (!boundary(s_.s, at)) --at;
    FUZZ_CHECK(r.ok() && *r == decode(s_.s, at, s_.s.size() - at));
    s_.s.erase(at);
  }

  void truncate(Input& in) {
    const std::size_t n = in.u8();
    if (n > 250 && s_.live) {
      s_.lease.clear();
      s_.s.clear();
      return;
    }
    const Error e = s_.lease.truncate(n);
    if (n >= s_.s.size()) {
      FUZZ_CHECK_ERROR(e, Error::none);
    } else if (!boundary(s_.s, n)) {
      FUZZ_CHECK_ERROR(e, Error::invalid_argument);
    } else {
      FUZZ_CHECK_ERROR(e, Error::none);
      s_.s.resize(n);
    }
  }

  void slice(Input& in) {
    const std::size_t a = in.u8(), b = in.u8();
    const Result<StringView> r = s_.lease.slice(a, b);
    const bool ok = a <= b && b <= s_.s.size() && boundary(s_.s, a) && boundary(s_.s, b);
    FUZZ_CHECK(r.ok() == ok);
    if (!ok) {
      FUZZ_CHECK_ERROR(r.error(), Error::invalid_argument);
    } else {
      FUZZ_CHECK(std::string(r->data() == nullptr ? "" : r->data(), r->size()) == s_.s.substr(a, b - a));
    }
    for (std::size_t i = 0; i <= s_.s.size() + 1; i += 1 + (a % 3)) {
      FUZZ_CHECK(s_.lease.is_char_boundary(i) == (i <= s_.s.size() && boundary(s_.s, i)));
    }
  }

  void reserve_or_shrink(Input& in) {
    const std::uint8_t how = in.u8();
    const std::size_t extra = in.u16() >> (how % 16);
    if (!s_.live) {
      FUZZ_CHECK_ERROR(s_.lease.try_shrink_to_fit(), Error::invalid_argument);
      return;
    }
    if (how & 0x80) {
      FUZZ_CHECK_ERROR(s_.lease.try_shrink_to_fit(), Error::none);
      FUZZ_CHECK_EQ(s_.lease.capacity(), s_.s.size());
      return;
    }
    const bool exact = how & 0x40;
    const Shape before = shape(s_.lease);
    const auto snap = holds_.snapshot();
    const Error e = exact ? s_.lease.try_reserve_exact(extra) : s_.lease.try_reserve(extra);
    const std::size_t need = before.size + extra;
    if (e == Error::none) {
      FUZZ_CHECK_EQ(s_.lease.capacity(), grown(before.cap, need, exact));
      return;
    }
    FUZZ_CHECK(is_growth_error(e) && before.cap < need);
    FUZZ_CHECK(same_shape(shape(s_.lease), before) && holds_.unchanged(snap));
  }

  void clone(Input& in) {
    if constexpr (requires { s_.lease.try_clone(); }) {
      const bool into = in.u8() & 1;
      const auto snap = holds_.snapshot();
      Result<L> c = into ? s_.lease.try_clone_into(holds_.target()) : s_.lease.try_clone();
      if (!s_.live) {
        FUZZ_CHECK(!c.ok());
        FUZZ_CHECK_ERROR(c.error(), Error::invalid_argument);
        return;
      }
      if (!c.ok()) {
        FUZZ_CHECK(is_growth_error(c.error()));
        FUZZ_CHECK(holds_.unchanged(snap));
        return;
      }
      StrSlot<L> copy;
      copy.lease = c.take();
      copy.live = true;
      copy.s = s_.s;
      copy.meta = s_.meta;
      check_str(copy);
      FUZZ_CHECK_EQ(copy.lease.capacity(), s_.s.size());
      if (copy.lease.try_push(U'x') == Error::none) copy.s += 'x';
      check_str(copy);
      check_str(s_);
    } else {
      (void)in;
    }
  }

  void stow() {
    if constexpr (stowable<L>) {
      const auto snap = holds_.snapshot();
      const Shape before = shape(s_.lease);
      Result<L> r = try_stow(s_.lease, holds_.target());
      if (!r.ok()) {
        FUZZ_CHECK(is_growth_error(r.error()));
        FUZZ_CHECK(same_shape(shape(s_.lease), before) && holds_.unchanged(snap));
        return;
      }
      FUZZ_CHECK(!s_.lease);
      s_.lease = r.take();
      FUZZ_CHECK(static_cast<bool>(s_.lease) == s_.live);
      if (s_.live) FUZZ_CHECK_EQ(s_.lease.capacity(), s_.s.size());
    }
  }

  StrSlot<L>& s_;
  Holds& holds_;
};

// ---- Box leases ------------------------------------------------------------------------------------

template <class L>
struct BoxSlot {
  L lease;
  bool live = false;
  Big value{};
  Meta meta{};
};

template <class L>
void check_box(const BoxSlot<L>& s) {
  FUZZ_CHECK(static_cast<bool>(s.lease) == s.live);
  if (!s.live) return;
  FUZZ_CHECK(*s.lease == s.value);
  if constexpr (has_meta<L>) FUZZ_CHECK(s.lease.metadata() == s.meta);
}

Big big_of(Input& in) {
  Big b;
  const std::uint64_t seed = in.u64();
  for (std::size_t i = 0; i < 5; ++i) b.w[i] = seed * (i + 1) ^ (seed >> (i * 7));
  return b;
}

template <class L>
void box_op(BoxSlot<L>& s, Holds& holds, Input& in) {
  const std::uint8_t op = in.u8();
  switch (op % 6) {
    case 0: {  // new, in the hold or the target
      const Big v = big_of(in);
      const Meta meta{in.u8()};
      s.lease.reset();
      s.live = false;
      const HoldRef hold = (op & 0x40) ? holds.target() : holds.main();
      const auto snap = holds.snapshot();
      Result<L> r = Error::unsupported;
      if constexpr (has_meta<L>) {
        r = L::try_new_with_meta(hold, meta, v);
      } else {
        r = L::try_new(hold, v);
      }
      if (!r.ok()) {
        FUZZ_CHECK(is_growth_error(r.error()) && holds.unchanged(snap));
        return;
      }
      s.lease = r.take();
      s.live = true;
      s.value = v;
      s.meta = meta;
      return;
    }
    case 1: {  // write through the lease
      const std::uint64_t w = in.u64();
      if (!s.live) return;
      s.lease->w[w % 5] = w;
      s.value.w[w % 5] = w;
      return;
    }
    case 2: {  // a copy, equal and independent
      const auto snap = holds.snapshot();
      Result<L> c = (op & 0x40) ? s.lease.try_clone_into(holds.target()) : s.lease.try_clone();
      if (!s.live) {
        FUZZ_CHECK(!c.ok());
        FUZZ_CHECK_ERROR(c.error(), Error::invalid_argument);
        return;
      }
      if (!c.ok()) {
        FUZZ_CHECK(is_growth_error(c.error()) && holds.unchanged(snap));
        return;
      }
      FUZZ_CHECK(*c.value() == s.value && c.value().data() != s.lease.data());
      c.value()->w[0] ^= 1;
      check_box(s);
      return;
    }
    case 3: {  // unwrap: the value out, the object freed, the lease null
      Result<Big> r = std::move(s.lease).try_unwrap();
      if (!s.live) {
        FUZZ_CHECK(!r.ok());
        FUZZ_CHECK_ERROR(r.error(), Error::invalid_argument);
        return;
      }
      FUZZ_CHECK(r.ok() && *r == s.value && !s.lease);
      s.live = false;
      return;
    }
    case 4: {  // stow into the target
      const auto snap = holds.snapshot();
      Result<L> r = try_stow(s.lease, holds.target());
      if (!r.ok()) {
        FUZZ_CHECK(is_growth_error(r.error()) && holds.unchanged(snap));
        return;
      }
      FUZZ_CHECK(!s.lease);
      s.lease = r.take();
      return;
    }
    default:
      s.lease.reset();
      s.live = false;
      return;
  }
}

// ---- A Buf of leases: moves of non-trivial elements, a deep stow --------------------------------------

struct NestSlot {
  Nest lease;
  bool live = false;
  std::vector<std::uint64_t> v;
};

void check_nest(const NestSlot& s) {
  FUZZ_CHECK(static_cast<bool>(s.lease) == s.live);
  if (!s.live) return;
  FUZZ_CHECK_EQ(s.lease.size(), s.v.size());
  for (std::size_t i = 0; i < s.v.size(); ++i) {
    FUZZ_CHECK(static_cast<bool>(s.lease[i]) && *s.lease[i] == s.v[i]);
  }
}

void nest_op(NestSlot& s, Holds& holds, Input& in) {
  const std::uint8_t op = in.u8();
  switch (op % 6) {
    case 0: {
      const std::size_t n = in.u8() % 16;
      s.lease.reset();
      s.live = false;
      s.v.clear();
      const auto snap = holds.snapshot();
      Result<Nest> r = Nest::try_with_capacity(holds.main(), n);
      if (!r.ok()) {
        FUZZ_CHECK(is_growth_error(r.error()) && holds.unchanged(snap));
        return;
      }
      s.lease = r.take();
      s.live = true;
      return;
    }
    case 1:
    case 2: {  // push (or insert) a new box; a failed push leaves the box with us
      const std::uint64_t value = in.u64();
      const std::size_t at = in.u8();
      if (!s.live) return;
      Result<RawU64> box = RawU64::try_new(s.lease.hold(), value);
      if (!box.ok()) {
        FUZZ_CHECK(is_growth_error(box.error()));
        return;
      }
      const auto snap = holds.snapshot();
      const Shape before = shape(s.lease);
      const bool insert = op % 6 == 2 && at <= s.v.size();
      const Error e = insert ? s.lease.try_insert(at, std::move(*box)) : s.lease.try_push(std::move(*box));
      if (e != Error::none) {
        FUZZ_CHECK(is_growth_error(e) && before.size == before.cap);
        FUZZ_CHECK(same_shape(shape(s.lease), before) && holds.unchanged(snap));
        FUZZ_CHECK(static_cast<bool>(*box) && **box == value);  // not consumed
        return;
      }
      FUZZ_CHECK(!*box);  // moved into the Buf
      if (insert) {
        s.v.insert(s.v.begin() + static_cast<std::ptrdiff_t>(at), value);
      } else {
        s.v.push_back(value);
      }
      return;
    }
    case 3: {
      const std::size_t at = in.u8();
      if (!s.live || s.v.empty()) return;
      if (op & 0x80) {
        Result<RawU64> r = s.lease.pop();
        FUZZ_CHECK(r.ok() && static_cast<bool>(*r) && **r == s.v.back());
        s.v.pop_back();
      } else {
        const std::size_t i = at % s.v.size();
        Result<RawU64> r = s.lease.remove(i);
        FUZZ_CHECK(r.ok() && static_cast<bool>(*r) && **r == s.v[i]);
        s.v.erase(s.v.begin() + static_cast<std::ptrdiff_t>(i));
      }
      return;
    }
    case 4: {  // a deep stow: every box goes too, or nothing does
      const auto snap = holds.snapshot();
      Result<Nest> r = try_stow(s.lease, holds.target());
      if (!r.ok()) {
        FUZZ_CHECK(is_growth_error(r.error()) && holds.unchanged(snap));
        return;
      }
      s.lease = r.take();
      for (std::size_t i = 0; i < s.v.size(); ++i) FUZZ_CHECK(s.lease[i].hold() == holds.target());
      return;
    }
    default:
      s.lease.reset();
      s.live = false;
      s.v.clear();
      return;
  }
}

// ---- Shared leases: Hards, Softs, and the Muts and Refs they lend -------------------------------------

struct ArcSlot {
  std::vector<HardBuf> hards;
  std::vector<SoftBuf> softs;
  bool alive = false;  // some Hard keeps the resident
  std::vector<std::uint32_t> v;
};

template <class R>
void check_ref(const R& r, const std::vector<std::uint32_t>& v) {
  FUZZ_CHECK_EQ(r.size(), v.size());
  FUZZ_CHECK(r.capacity() >= r.size());
  for (std::size_t i = 0; i < v.size(); ++i) FUZZ_CHECK_EQ(r[i], v[i]);
}

void check_arc(const ArcSlot& s) {
  FUZZ_CHECK(s.alive == !s.hards.empty());
  for (const HardBuf& h : s.hards) {
    Result<Ref<Buf<std::uint32_t>>> r = h.try_ref();
    FUZZ_CHECK(r.ok());
    check_ref(*r, s.v);
  }
}

void arc_op(ArcSlot& s, Holds& holds, Input& in) {
  const std::uint8_t op = in.u8();
  const std::size_t i = in.u8();
  switch (op % 10) {
    case 0: {  // a new resident (the old leases go)
      const std::size_t n = in.u8() % 32;
      const std::uint32_t first = in.u32();
      s.hards.clear();
      s.softs.clear();
      s.alive = false;
      s.v.clear();
      std::vector<std::uint32_t> want;
      for (std::size_t k = 0; k < n; ++k) want.push_back(first ^ static_cast<std::uint32_t>(k * 0x9E37));
      const auto snap = holds.snapshot();
      Result<HardBuf> r = HardBuf::try_from(holds.main(), want.data(), want.size());
      if (!r.ok()) {
        FUZZ_CHECK(is_growth_error(r.error()) && holds.unchanged(snap));
        return;
      }
      s.hards.push_back(r.take());
      s.alive = true;
      s.v = want;
      return;
    }
    case 1: {  // another Hard
      if (s.hards.empty() || s.hards.size() >= 4) return;
      Result<HardBuf> c = s.hards[i % s.hards.size()].try_clone();
      FUZZ_CHECK(c.ok());
      s.hards.push_back(c.take());
      return;
    }
    case 2: {  // a Soft
      if (s.hards.empty() || s.softs.size() >= 4) return;
      Result<SoftBuf> c = s.hards[i % s.hards.size()].to_soft();
      FUZZ_CHECK(c.ok());
      s.softs.push_back(c.take());
      return;
    }
    case 3: {  // a Hard or a Soft goes; the last Hard takes the resident with it
      if ((op & 0x80) && !s.softs.empty()) {
        s.softs.erase(s.softs.begin() + static_cast<std::ptrdiff_t>(i % s.softs.size()));
      } else if (!s.hards.empty()) {
        s.hards.erase(s.hards.begin() + static_cast<std::ptrdiff_t>(i % s.hards.size()));
        if (s.hards.empty()) {
          s.alive = false;
          s.v.clear();
        }
      }
      return;
    }
    case 4:
    case 5: {  // push through a Mut: a relocation that every other lease follows
      const std::uint32_t value = in.u32();
      if (s.hards.empty()) return;
      Result<Mut<Buf<std::uint32_t>>> m = s.hards[i % s.hards.size()].try_mut();
      FUZZ_CHECK(m.ok());
      // While the Mut lives, nobody else borrows (a poll says why; a waiting borrow
      // gives up as contended).
      FUZZ_CHECK_ERROR(s.hards[(i + 1) % s.hards.size()].poll_ref().error(), Error::aliased);
      FUZZ_CHECK_ERROR(s.hards[i % s.hards.size()].try_mut(1).error(), Error::contended);
      const auto snap = holds.snapshot();
      const Shape before = shape(*m);
      const Error e = m->try_push(value);
      if (e != Error::none) {
        FUZZ_CHECK(is_growth_error(e) && before.size == before.cap);
        FUZZ_CHECK(same_shape(shape(*m), before) && holds.unchanged(snap));
        return;
      }
      FUZZ_CHECK_EQ(m->capacity(), grown(before.cap, before.size + 1, false));
      s.v.push_back(value);
      return;
    }
    case 6: {  // a Soft upgraded: the resident while a Hard lives, cleared after
      if (s.softs.empty()) return;
      Result<HardBuf> h = s.softs[i % s.softs.size()].try_upgrade();
      if (!s.alive) {
        FUZZ_CHECK(!h.ok());
        FUZZ_CHECK_ERROR(h.error(), Error::cleared);
        return;
      }
      FUZZ_CHECK(h.ok());
      Result<Ref<Buf<std::uint32_t>>> r = h->try_ref();
      FUZZ_CHECK(r.ok());
      check_ref(*r, s.v);
      return;
    }
    case 7: {  // copy-on-write: in place for the only Hard, else a copy
      const std::uint32_t value = in.u32();
      if (s.hards.empty()) return;
      HardBuf& h = s.hards[i % s.hards.size()];
      // It first follows its forwards as refresh() does (which may free stubs): done
      // here first now and then, so that a failed copy must change nothing at all.
      const bool refreshed = (op & 0x40) != 0;
      if (refreshed) FUZZ_CHECK_ERROR(h.refresh(), Error::none);
      const auto snap = holds.snapshot();
      Result<Mut<Buf<std::uint32_t>>> m = h.try_to_unique();
      FUZZ_TRACE("[%u] try_to_unique of %zu hards -> %s\n", g_step, s.hards.size(), to_string(m.error()));
      if (!m.ok()) {
        FUZZ_CHECK(is_growth_error(m.error()) && s.hards.size() > 1);
        // Nothing of the copy is left (stubs may have gone).
        const Holds::Snapshot now = holds.snapshot();
        FUZZ_CHECK(now.main.live <= snap.main.live && now.main.bytes_in_use <= snap.main.bytes_in_use);
        FUZZ_CHECK(now.target.live <= snap.target.live &&
                   now.target.bytes_in_use <= snap.target.bytes_in_use);
        if (refreshed) FUZZ_CHECK(holds.unchanged(snap));
        return;
      }
      const bool in_place = m->data() == h.data();
      FUZZ_CHECK(in_place == (s.hards.size() == 1));
      check_ref(*m, s.v);
      if (m->try_push(value) == Error::none) {
        if (in_place) s.v.push_back(value);
      }
      return;  // (a copy goes with the Mut; the others never saw it)
    }
    case 8: {  // stow a Hard into the target: the others follow the relocation
      if (s.hards.empty()) return;
      HardBuf& h = s.hards[i % s.hards.size()];
      const auto snap = holds.snapshot();
      Result<HardBuf> r = try_stow(h, holds.target());
      if (!r.ok()) {
        FUZZ_CHECK(is_growth_error(r.error()) && holds.unchanged(snap));
        return;
      }
      FUZZ_CHECK(!h);
      h = r.take();
      return;
    }
    default:  // follow forwards now
      for (HardBuf& h : s.hards) FUZZ_CHECK_ERROR(h.refresh(), Error::none);
      return;
  }
}

// ---- The run -----------------------------------------------------------------------------------------

struct Slots {
  BufSlot<RawBufU> raw_buf;
  BufSlot<PtrBufU> ptr_buf;
  StrSlot<RawStr> raw_str;
  StrSlot<PtrStr> ptr_str;
  StrSlot<Mut<String<>>> mut_str;
  BoxSlot<RawBig> raw_box;
  BoxSlot<PtrBig> ptr_box;
  NestSlot nest;
  ArcSlot arc;

  void check() const {
    check_buf(raw_buf);
    check_buf(ptr_buf);
    check_str(raw_str);
    check_str(ptr_str);
    check_str(mut_str);
    check_box(raw_box);
    check_box(ptr_box);
    check_nest(nest);
    check_arc(arc);
  }
};

void run_residents(unsigned kind, const std::uint8_t* data, std::size_t size) {
  Input in(data, size);
  static Holds holds;
  holds.set_up(kind, in);
  g_context = holds.name();
  g_step = 0;
  {
    Slots s;
    for (unsigned op = 0; op < max_ops && !in.empty(); ++op) {
      g_step = op + 1;
      const std::uint8_t which = in.u8();
      switch (which % 10) {
        case 0: BufOps<RawBufU>(s.raw_buf, holds).run(in); break;
        case 1: BufOps<PtrBufU>(s.ptr_buf, holds).run(in); break;
        case 2: StrOps<RawStr>(s.raw_str, holds).run(in); break;
        case 3: StrOps<PtrStr>(s.ptr_str, holds).run(in); break;
        case 4: StrOps<Mut<String<>>>(s.mut_str, holds).run(in); break;
        case 5: box_op(s.raw_box, holds, in); break;
        case 6: box_op(s.ptr_box, holds, in); break;
        case 7: nest_op(s.nest, holds, in); break;
        default: arc_op(s.arc, holds, in); break;
      }
      s.check();
    }
    g_step = max_ops + 1;
  }  // every lease goes: both holds are empty again
  const Holds::Snapshot end = holds.snapshot();
  FUZZ_CHECK_EQ(end.main.live, 0);
  FUZZ_CHECK_EQ(end.main.bytes_in_use, 0);
  FUZZ_CHECK_EQ(end.target.live, 0);
  FUZZ_CHECK_EQ(end.target.bytes_in_use, 0);
  holds.tear_down();
  FUZZ_CHECK_EQ(g_leaks, 0);
}

}  // namespace
}  // namespace swim::mem::fuzz

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace swim::mem::fuzz;
  install_leak_counter();
  for (unsigned kind = 0; kind < 3; ++kind) run_residents(kind, data, size);
  return 0;
}
