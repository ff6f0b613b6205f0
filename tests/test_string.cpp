// String<M>, the UTF-8 resident, under Raw and Ptr over a Pack and a Pool: the
// bytes a short string takes, UTF-8 validation against an independent reference,
// boundaries, slices, stow with fault injection, and differential runs against
// std::string.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "support/lease_env.hpp"
#include "swim/mem.hpp"

namespace swim::mem {
namespace {

alignas(4096) std::byte g_a0[4096];
alignas(4096) std::byte g_a1[4096];
using testing::Combo;
using testing::expect_same_stats;
using testing::g_big;
using testing::PackEnv;
using testing::PoolEnv;
using testing::PtrKind;
using testing::RawKind;

template <class S>
std::string text(const S& s) {
  const StringView v = s.view();
  return std::string(v.data(), v.size());
}

using Combos = ::testing::Types<Combo<RawKind, PackEnv>, Combo<PtrKind, PackEnv>,
                                Combo<RawKind, PoolEnv>, Combo<PtrKind, PoolEnv>>;

// ---- An independent UTF-8 reference (decode, then judge the scalar value) --------

/// The code points of s, or false if s is not well-formed UTF-8.
bool reference_decode(const std::string& s, std::vector<char32_t>* out = nullptr) {
  std::size_t i = 0;
  while (i < s.size()) {
    const auto b0 = static_cast<unsigned char>(s[i]);
    int n;
    std::uint32_t cp;
    if (b0 < 0x80) { n = 1; cp = b0; }
    else if ((b0 >> 5) == 0x6) { n = 2; cp = b0 & 0x1F; }
    else if ((b0 >> 4) == 0xE) { n = 3; cp = b0 & 0x0F; }
    else if ((b0 >> 3) == 0x1E) { n = 4; cp = b0 & 0x07; }
    else return false;
    if (i + static_cast<std::size_t>(n) > s.size()) return false;
    for (int k = 1; k < n; ++k) {
      const auto b = static_cast<unsigned char>(s[i + static_cast<std::size_t>(k)]);
      if ((b >> 6) != 0x2) return false;
      cp = (cp << 6) | (b & 0x3F);
    }
    const std::uint32_t min_for[] = {0, 0, 0x80, 0x800, 0x10000};
    if (cp < min_for[n]) return false;                 // overlong
    if (cp >= 0xD800 && cp <= 0xDFFF) return false;    // surrogate
    if (cp > 0x10FFFF) return false;
    if (out != nullptr) out->push_back(static_cast<char32_t>(cp));
    i += static_cast<std::size_t>(n);
  }
  return true;
}

std::string reference_encode(char32_t c) {
  const auto cp = static_cast<std::uint32_t>(c);
  std::string s;
  if (cp < 0x80) {
    s += static_cast<char>(cp);
  } else if (cp < 0x800) {
    s += static_cast<char>(0xC0 | (cp >> 6));
    s += static_cast<char>(0x80 | (cp & 0x3F));
  } else if (cp < 0x10000) {
    s += static_cast<char>(0xE0 | (cp >> 12));
    s += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    s += static_cast<char>(0x80 | (cp & 0x3F));
  } else {
    s += static_cast<char>(0xF0 | (cp >> 18));
    s += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
    s += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    s += static_cast<char>(0x80 | (cp & 0x3F));
  }
  return s;
}

bool is_scalar(char32_t c) { return c <= 0x10FFFF && !(c >= 0xD800 && c <= 0xDFFF); }

bool reference_boundary(const std::string& s, std::size_t i) {
  if (i == 0 || i == s.size()) return true;
  if (i > s.size()) return false;
  return (static_cast<unsigned char>(s[i]) & 0xC0) != 0x80;
}

// ---- The bytes of a short string ----------------------------------------------------

// Raw<String<>> from "test" takes 8 bytes (4 rounded up) plus the tag.
TEST(StringCrate, RawFromStr) {
  Pack<> pack(Block{g_a0, sizeof g_a0});
  {
    Result<Raw<String<>>> x = Raw<String<>>::try_from(HoldRef::of(pack), "test");
    ASSERT_TRUE(x.ok());
    EXPECT_EQ(pack.stats().live, 1u);
    EXPECT_EQ(pack.stats().bytes_in_use, 8u);
    EXPECT_EQ(pack.stats().bytes_free, 4080u);
    EXPECT_EQ(x->size(), 4u);
    EXPECT_TRUE(*x == "test");
    EXPECT_TRUE("test" == *x);
    EXPECT_FALSE(*x == "tes");
    EXPECT_FALSE(*x == "tests");
    EXPECT_FALSE(*x == nullptr);
  }
  EXPECT_EQ(pack.stats().live, 0u);
  EXPECT_EQ(pack.stats().bytes_free, 4096u);
}

// ---- UTF-8 -------------------------------------------------------------------------

TEST(StringUtf8, KnownSequences) {
  const struct {
    const char* bytes;
    std::size_t n;
    bool valid;
  } cases[] = {
      {"", 0, true},
      {"\x7F", 1, true},
      {"\xC2\x80", 2, true},              // U+0080
      {"\xDF\xBF", 2, true},              // U+07FF
      {"\xE0\xA0\x80", 3, true},          // U+0800
      {"\xED\x9F\xBF", 3, true},          // U+D7FF
      {"\xEE\x80\x80", 3, true},          // U+E000
      {"\xEF\xBF\xBF", 3, true},          // U+FFFF
      {"\xF0\x90\x80\x80", 4, true},      // U+10000
      {"\xF4\x8F\xBF\xBF", 4, true},      // U+10FFFF
      {"a\0b", 3, true},                  // U+0000 is text too
      {"\x80", 1, false},                 // stray continuation
      {"\xC0\x80", 2, false},             // overlong NUL
      {"\xC1\xBF", 2, false},             // overlong
      {"\xE0\x9F\xBF", 3, false},         // overlong
      {"\xF0\x8F\xBF\xBF", 4, false},     // overlong
      {"\xED\xA0\x80", 3, false},         // U+D800
      {"\xED\xBF\xBF", 3, false},         // U+DFFF
      {"\xF4\x90\x80\x80", 4, false},     // U+110000
      {"\xF5\x80\x80\x80", 4, false},
      {"\xFF", 1, false},
      {"\xC2", 1, false},                 // truncated
      {"\xE2\x82", 2, false},             // truncated
      {"\xF0\x9F\x98", 3, false},         // truncated
      {"\xE2\x28\xA1", 3, false},         // bad continuation
      {"ab\xC3", 3, false},               // truncated at the end
  };
  Pack<> pack(Block{g_a0, sizeof g_a0});
  for (const auto& c : cases) {
    SCOPED_TRACE(::testing::PrintToString(std::string(c.bytes, c.n)));
    EXPECT_EQ(detail::utf8_valid(c.bytes, c.n), c.valid);
    EXPECT_EQ(reference_decode(std::string(c.bytes, c.n)), c.valid) << "the reference agrees";
    Result<Raw<String<>>> s = Raw<String<>>::try_from(HoldRef::of(pack), c.bytes, c.n);
    EXPECT_EQ(s.ok(), c.valid);
    if (!c.valid) {
      EXPECT_EQ(s.error(), Error::invalid_argument);
    }
  }
  EXPECT_EQ(pack.stats().live, 0u) << "a rejected string takes nothing";
}

TEST(StringUtf8, RandomBytesAgreeWithTheReference) {
  std::mt19937 rng(7);
  // Bytes biased to the interesting ranges: ASCII, continuation, lead bytes.
  const unsigned char palette[] = {0x00, 0x41, 0x7F, 0x80, 0x8F, 0x90, 0x9F, 0xA0, 0xBF,
                                   0xC0, 0xC1, 0xC2, 0xDF, 0xE0, 0xE1, 0xEC, 0xED, 0xEE,
                                   0xEF, 0xF0, 0xF1, 0xF3, 0xF4, 0xF5, 0xFF};
  int valid = 0;
  for (int t = 0; t < 200000; ++t) {
    std::string s(1 + rng() % 6, '\0');
    for (char& c : s) {
      c = static_cast<char>(rng() % 4 == 0 ? rng() % 256 : palette[rng() % sizeof palette]);
    }
    const bool expect = reference_decode(s);
    valid += expect;
    ASSERT_EQ(detail::utf8_valid(s.data(), s.size()), expect)
        << ::testing::PrintToString(s);
  }
  EXPECT_GT(valid, 1000);
}

TEST(StringUtf8, EveryCodePointEncodesDecodesAndPops) {
  Pack<> pack(Block{g_a0, sizeof g_a0});
  auto s = Raw<String<>>::try_with_capacity(HoldRef::of(pack), 64).take();
  for (std::uint32_t c = 0; c <= 0x110010; c += (c < 0x20000 ? 1 : 97)) {
    const char32_t cp = static_cast<char32_t>(c);
    s.clear();
    ASSERT_EQ(s.try_append("x"), Error::none);
    const Error e = s.try_push(cp);
    if (!is_scalar(cp)) {
      ASSERT_EQ(e, Error::invalid_argument) << c;
      ASSERT_EQ(text(s), "x");
      continue;
    }
    ASSERT_EQ(e, Error::none) << c;
    // (Built by append: GCC 12's -Wrestrict misreads `"x" + std::string` here.)
    std::string expected = "x";
    expected.append(reference_encode(cp));
    ASSERT_EQ(text(s), expected) << c;
    Result<char32_t> back = s.pop();
    ASSERT_TRUE(back.ok());
    ASSERT_EQ(*back, cp);
    ASSERT_EQ(text(s), "x");
  }
  EXPECT_EQ(s.try_push(static_cast<char32_t>(0xFFFFFFFFu)), Error::invalid_argument);
  EXPECT_EQ(s.capacity(), 64u) << "never needed to grow";
}

// ---- Interface -----------------------------------------------------------------------

TEST(String, BoundariesSlicesInsertRemove) {
  Pack<> pack(Block{g_a0, sizeof g_a0});
  // "a" (1) "é" (2) "€" (3) "😀" (4) "z" (1): byte offsets 0 1 3 6 10 11
  const char* src = "a\xC3\xA9\xE2\x82\xAC\xF0\x9F\x98\x80z";
  auto s = Ptr<String<>>::try_from(HoldRef::of(pack), src).take();
  ASSERT_EQ(s.size(), 11u);
  const bool boundary[] = {1, 1, 0, 1, 0, 0, 1, 0, 0, 0, 1, 1};
  for (std::size_t i = 0; i <= 11; ++i) EXPECT_EQ(s.is_char_boundary(i), boundary[i]) << i;
  EXPECT_FALSE(s.is_char_boundary(12));

  Result<StringView> sl = s.slice(1, 6);
  ASSERT_TRUE(sl.ok());
  EXPECT_TRUE(*sl == "\xC3\xA9\xE2\x82\xAC");
  EXPECT_EQ(s.slice(2, 6).error(), Error::invalid_argument);
  EXPECT_EQ(s.slice(1, 5).error(), Error::invalid_argument);
  EXPECT_EQ(s.slice(6, 3).error(), Error::invalid_argument);
  EXPECT_EQ(s.slice(0, 12).error(), Error::invalid_argument);
  EXPECT_TRUE(s.slice(11, 11)->empty());
  EXPECT_EQ(s.slice(0, 11)->size(), 11u);

  const std::size_t cap = s.capacity();
  EXPECT_EQ(s.try_insert(2, "x"), Error::invalid_argument) << "inside é";
  EXPECT_EQ(s.try_insert(12, "x"), Error::invalid_argument);
  EXPECT_EQ(s.try_insert(1, "\xC3", 1), Error::invalid_argument) << "not UTF-8";
  EXPECT_EQ(s.try_append("\xED\xA0\x80"), Error::invalid_argument);
  EXPECT_EQ(s.capacity(), cap);
  EXPECT_TRUE(s == src);

  ASSERT_EQ(s.try_insert(3, "--"), Error::none);
  EXPECT_EQ(text(s), "a\xC3\xA9--\xE2\x82\xAC\xF0\x9F\x98\x80z");
  EXPECT_EQ(s.remove(4).error(), Error::none);  // '-'
  EXPECT_EQ(s.remove(5).error(), Error::invalid_argument) << "inside €";
  Result<char32_t> euro = s.remove(4);
  ASSERT_TRUE(euro.ok());
  EXPECT_EQ(*euro, U'\u20AC');
  EXPECT_EQ(text(s), "a\xC3\xA9-\xF0\x9F\x98\x80z");
  EXPECT_EQ(s.remove(s.size()).error(), Error::invalid_argument);
  EXPECT_EQ(*s.pop(), U'z');
  EXPECT_EQ(*s.pop(), U'\U0001F600');
  EXPECT_EQ(s.truncate(2), Error::invalid_argument) << "inside é";
  EXPECT_EQ(s.truncate(1), Error::none);
  EXPECT_TRUE(s == "a");
  EXPECT_EQ(*s.pop(), U'a');
  EXPECT_EQ(s.pop().error(), Error::invalid_argument);
  EXPECT_TRUE(s.empty());
  EXPECT_TRUE(s == "");
}

TEST(String, AppendAndInsertFromItself) {
  Pack<> pack(Block{g_a0, sizeof g_a0});
  auto s = Raw<String<>>::try_from(HoldRef::of(pack), "ab\xC3\xA9").take();  // "abé"
  auto blocker = Raw<Box<int>>::try_new(HoldRef::of(pack), 1);  // growth must move
  ASSERT_EQ(s.capacity(), s.size());
  ASSERT_EQ(s.try_append(s.data(), s.size()), Error::none);
  EXPECT_EQ(text(s), "ab\xC3\xA9" "ab\xC3\xA9");
  ASSERT_EQ(s.try_insert(2, s.data() + 1, 3), Error::none);  // "bé" at 2
  EXPECT_EQ(text(s), "abb\xC3\xA9\xC3\xA9" "ab\xC3\xA9");
  ASSERT_EQ(s.try_insert(0, s.view().data() + 5, 4), Error::none);  // "éab" at 0
  EXPECT_EQ(text(s), "\xC3\xA9" "ababb\xC3\xA9\xC3\xA9" "ab\xC3\xA9");
  ASSERT_EQ(s.try_append(s.view()), Error::none);
  EXPECT_EQ(text(s), "\xC3\xA9" "ababb\xC3\xA9\xC3\xA9" "ab\xC3\xA9"
                     "\xC3\xA9" "ababb\xC3\xA9\xC3\xA9" "ab\xC3\xA9");
}

TEST(String, MetadataViewsAndNullLeases) {
  Pack<> pack(Block{g_a0, sizeof g_a0});
  {
    auto s = Ptr<String<int>>::try_from(HoldRef::of(pack), "hi", 2, 5).take();
    EXPECT_EQ(s.metadata(), 5);
    s.metadata() = 6;
    const Ptr<String<int>>& cs = s;
    EXPECT_EQ(cs.metadata(), 6);
    EXPECT_EQ(cs[1], 'i');
    EXPECT_TRUE(cs.view() == StringView::of("hi"));
    EXPECT_EQ(StringView::of(nullptr).size(), 0u);
    Ptr<String<int>> moved = detail::move(s);
    EXPECT_EQ(s.size(), 0u);
    EXPECT_TRUE(s.view().empty());
    EXPECT_EQ(s.try_push(U'x'), Error::invalid_argument);
    EXPECT_EQ(s.try_append("x"), Error::invalid_argument);
    EXPECT_EQ(s.try_insert(0, "x"), Error::invalid_argument);
    EXPECT_EQ(s.pop().error(), Error::invalid_argument);
    s.clear();
    EXPECT_TRUE(moved == "hi");
    EXPECT_EQ(Raw<String<>>::try_from(HoldRef::of(pack), nullptr).error(), Error::invalid_argument);
    auto e = Raw<String<>>::try_empty(HoldRef::of(pack)).take();
    EXPECT_TRUE(e == "");
    EXPECT_EQ(e.capacity(), 0u);
  }
  EXPECT_EQ(pack.stats().live, 0u);
}

// ---- Growth, exhaustion, stow (typed over lease and hold) -------------------------------

template <class C>
class StringGrowing : public ::testing::Test {};
TYPED_TEST_SUITE(StringGrowing, Combos);

TYPED_TEST(StringGrowing, GrowthNotOnTopKeepsTheText) {
  using S = typename TypeParam::template Lease<String<>>;
  typename TypeParam::Env env;
  {
    S s = S::try_from(env.hold(), "h\xC3\xA9llo").take();
    auto blocker = Raw<Box<int>>::try_new(env.hold(), 3);
    const char* before = s.data();
    ASSERT_EQ(s.try_push(U'\u20AC'), Error::none);
    EXPECT_NE(s.data(), before);
    EXPECT_TRUE(s == "h\xC3\xA9llo\xE2\x82\xAC");
    EXPECT_EQ(s.capacity(), 16u);
    EXPECT_EQ(env.hold().stats().live, 2u);
  }
  EXPECT_EQ(env.hold().stats().live, 0u);
}

TYPED_TEST(StringGrowing, ExhaustedHoldLeavesTheStringUnchanged) {
  using S = typename TypeParam::template Lease<String<>>;
  Slab<concurrent, true> slab(Block{g_a1, sizeof g_a1}, 1024);
  Pool<Slab<concurrent, true>> pool(slab, 1024);
  Pack<> pack(Block{g_a0, sizeof g_a0});
  const HoldRef hold = std::is_same_v<typename TypeParam::Env, PackEnv> ? HoldRef::of(pack)
                                                                        : HoldRef::of(pool);
  {
    S s = S::try_empty(hold).take();
    std::string model;
    Error e = Error::none;
    for (int i = 0; i < 100000 && e == Error::none; ++i) {
      e = s.try_append("\xC3\xA9-");
      if (e == Error::none) model += "\xC3\xA9-";
    }
    ASSERT_NE(e, Error::none);
    const Stats before = hold.stats();
    const std::size_t cap = s.capacity();
    EXPECT_EQ(s.try_reserve(cap), e);
    EXPECT_EQ(text(s), model);
    EXPECT_EQ(s.capacity(), cap);
    expect_same_stats(hold.stats(), before);
    EXPECT_EQ(s.try_reserve(~std::size_t(0)), Error::oversized);
  }
  EXPECT_EQ(hold.stats().live, 0u);
}

TEST(StringStow, PtrStringMovesAndShrinksToFit) {
  Pack<> p0(Block{g_a0, sizeof g_a0});
  Pack<> p1(Block{g_a1, sizeof g_a1});
  {
    auto src = Ptr<String<int>>::try_with_capacity(HoldRef::of(p1), 100, 42).take();
    ASSERT_EQ(src.try_append("stow me \xE2\x9C\x93"), Error::none);
    const std::string expect = text(src);
    Result<Ptr<String<int>>> dst = try_stow(src, HoldRef::of(p0));
    ASSERT_TRUE(dst.ok());
    EXPECT_EQ(text(*dst), expect);
    EXPECT_EQ(dst->capacity(), expect.size()) << "shrunk to fit";
    EXPECT_EQ(dst->metadata(), 42);
    EXPECT_FALSE(src);
    EXPECT_EQ(p1.stats().live, 0u);
    EXPECT_EQ(p1.stats().bytes_free, 4096u);
    EXPECT_EQ(p0.stats().live, 1u);
    static_assert(sizeof(BufMeta<int>) == 24);
    EXPECT_EQ(p0.stats().bytes_in_use, 40u) << "metadata (24) + 11 bytes, rounded to 8";
  }
  EXPECT_EQ(p0.stats().live, 0u);
}

TEST(StringStow, TargetTooSmallLeavesTheSourceIntact) {
  Pack<> p1(Block{g_a1, sizeof g_a1});
  auto src = Ptr<String<>>::try_from(HoldRef::of(p1), "0123456789abcdef\xC3\xA9").take();
  const Stats before = p1.stats();
  const std::size_t need = 8 + 40;  // tag, then metadata (16) + 18 bytes rounded to 8
  {
    Pack<> target(Block{g_a0, need - 8});
    Result<Ptr<String<>>> r = try_stow(src, HoldRef::of(target));
    EXPECT_EQ(r.error(), Error::out_of_memory);
    EXPECT_EQ(target.stats().live, 0u);
    EXPECT_EQ(target.stats().bytes_in_use, 0u);
    expect_same_stats(p1.stats(), before);
    EXPECT_TRUE(src == "0123456789abcdef\xC3\xA9");
  }
  Pack<> target(Block{g_a0, need});
  Result<Ptr<String<>>> r = try_stow(src, HoldRef::of(target));
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(*r == "0123456789abcdef\xC3\xA9");
  EXPECT_EQ(p1.stats().live, 0u);
  *r = Ptr<String<>>{};
  EXPECT_EQ(target.stats().live, 0u);
}

// A Buf of Strings: the recursion reaches every String, and a failure part-way
// undoes the ones already stowed.
TEST(StringStow, BufOfStringsIsTransactional) {
  using Strings = Raw<Buf<Raw<String<>>>>;
  Pack<> source(Block{g_a1, sizeof g_a1});
  Strings src = Strings::try_empty(HoldRef::of(source)).take();
  const char* words[] = {"un", "deux", "tr\xC3\xB4is", "quatre", "cinq"};
  for (const char* w : words) {
    ASSERT_EQ(src.try_push(Raw<String<>>::try_from(HoldRef::of(source), w).take()), Error::none);
  }
  const Stats before = source.stats();
  std::size_t room = 8 + 5 * sizeof(Raw<String<>>);
  for (int fail_at = 0; fail_at <= 5; ++fail_at) {
    const std::size_t next = fail_at == 0 ? room : 16;  // every word fits 8 bytes
    Pack<> target(Block{g_a0, (fail_at == 0 ? 0 : room) + next - 8});
    Result<Strings> r = try_stow(src, HoldRef::of(target));
    ASSERT_FALSE(r.ok()) << fail_at;
    EXPECT_EQ(target.stats().live, 0u);
    expect_same_stats(source.stats(), before);
    if (fail_at > 0) room += 16;
  }
  Pack<> target(Block{g_a0, room});
  Result<Strings> r = try_stow(src, HoldRef::of(target));
  ASSERT_TRUE(r.ok());
  for (std::size_t i = 0; i < 5; ++i) EXPECT_TRUE((*r)[i] == words[i]);
  EXPECT_EQ(source.stats().live, 0u);
  *r = Strings{};
  EXPECT_EQ(target.stats().live, 0u);
}

// ---- Differential runs against std::string ------------------------------------------------

enum class Op { push, push_bad, append, append_bad, append_self, insert, insert_bad, remove,
                pop, truncate, clear, reserve, reserve_exact, shrink, slice, block, unblock };

char32_t random_scalar(std::mt19937& rng) {
  switch (rng() % 5) {
    case 0: return static_cast<char32_t>(0x20 + rng() % 0x5F);
    case 1: return static_cast<char32_t>(0x80 + rng() % (0x800 - 0x80));
    case 2: {
      char32_t c = static_cast<char32_t>(0x800 + rng() % (0x10000 - 0x800));
      return (c >= 0xD800 && c <= 0xDFFF) ? U'\uFFFD' : c;
    }
    case 3: return static_cast<char32_t>(0x10000 + rng() % (0x110000 - 0x10000));
    default: return static_cast<char32_t>('a' + rng() % 26);
  }
}

std::string random_text(std::mt19937& rng, std::size_t chars) {
  std::string s;
  for (std::size_t i = 0; i < chars; ++i) s += reference_encode(random_scalar(rng));
  return s;
}

std::size_t pow2_at_least(std::size_t n) {
  std::size_t p = 1;
  while (p < n) p *= 2;
  return p;
}

template <class S, class Env>
void differential(Env& env, unsigned seed, int ops) {
  std::mt19937 rng(seed);
  auto pick = [&](std::size_t n) { return static_cast<std::size_t>(rng() % n); };
  std::string model;
  std::size_t model_cap = 0;
  std::vector<Raw<Box<std::uint64_t>>> blockers;
  S s = S::try_empty(env.hold()).take();
  int moved = 0, rejected = 0;
  auto grow_model = [&](std::size_t extra, bool exact) {
    if (model_cap - model.size() >= extra) return;
    model_cap = exact ? model.size() + extra : pow2_at_least(model.size() + extra);
  };
  for (int step = 0; step < ops; ++step) {
    const bool long_text = model.size() > 600;
    const unsigned roll = static_cast<unsigned>(pick(100));
    Op op;
    if (roll < 18) op = long_text ? Op::pop : Op::push;
    else if (roll < 21) op = Op::push_bad;
    else if (roll < 31) op = long_text ? Op::remove : Op::append;
    else if (roll < 34) op = Op::append_bad;
    else if (roll < 36) op = long_text ? Op::truncate : Op::append_self;
    else if (roll < 48) op = Op::insert;
    else if (roll < 51) op = Op::insert_bad;
    else if (roll < 61) op = Op::remove;
    else if (roll < 69) op = Op::pop;
    else if (roll < 71) op = Op::truncate;
    else if (roll < 72) op = pick(8) == 0 ? Op::clear : Op::push;
    else if (roll < 75) op = Op::reserve;
    else if (roll < 77) op = Op::reserve_exact;
    else if (roll < 78) op = Op::shrink;
    else if (roll < 90) op = Op::slice;
    else if (roll < 95) op = Op::block;
    else op = Op::unblock;

    const void* data_before = s.data();
    const std::size_t len_before = model.size();
    switch (op) {
      case Op::push: {
        const char32_t c = random_scalar(rng);
        ASSERT_EQ(s.try_push(c), Error::none);
        const std::string enc = reference_encode(c);
        grow_model(enc.size(), false);
        model += enc;
        break;
      }
      case Op::push_bad: {
        const char32_t c = rng() % 2 ? static_cast<char32_t>(0xD800 + rng() % 0x800)
                                     : static_cast<char32_t>(0x110000 + rng() % 0x1000000);
        ASSERT_EQ(s.try_push(c), Error::invalid_argument);
        ++rejected;
        break;
      }
      case Op::append: {
        const std::string t = random_text(rng, pick(12));
        ASSERT_EQ(s.try_append(t.data(), t.size()), Error::none);
        grow_model(t.size(), false);
        model += t;
        break;
      }
      case Op::append_bad: {
        // Valid text with one bad byte sequence somewhere.
        std::string t = random_text(rng, 1 + pick(6));
        const char* bad[] = {"\x80", "\xC0\xAF", "\xED\xB0\x80", "\xF4\x90\x80\x80", "\xE2\x82"};
        t.insert(reference_boundary(t, t.size() / 2) ? t.size() / 2 : 0, bad[pick(5)]);
        ASSERT_FALSE(reference_decode(t));
        ASSERT_EQ(s.try_append(t.data(), t.size()), Error::invalid_argument);
        ++rejected;
        break;
      }
      case Op::append_self: {
        // A whole-character range of the text itself.
        std::size_t b = pick(model.size() + 1), e = pick(model.size() + 1);
        if (b > e) std::swap(b, e);
        while (!reference_boundary(model, b)) --b;
        while (!reference_boundary(model, e)) ++e;
        const std::string piece = model.substr(b, e - b);
        ASSERT_EQ(s.try_append(s.data() + b, e - b), Error::none);
        grow_model(piece.size(), false);
        model += piece;
        break;
      }
      case Op::insert: {
        std::size_t at = pick(model.size() + 1);
        while (!reference_boundary(model, at)) --at;
        const std::string t = random_text(rng, 1 + pick(4));
        ASSERT_EQ(s.try_insert(at, t.data(), t.size()), Error::none);
        grow_model(t.size(), false);
        model.insert(at, t);
        break;
      }
      case Op::insert_bad: {
        // Either inside a character or past the end.
        const std::size_t at = pick(model.size() + 3);
        if (reference_boundary(model, at)) break;
        ASSERT_EQ(s.try_insert(at, "ok"), Error::invalid_argument) << at;
        ++rejected;
        break;
      }
      case Op::remove: {
        const std::size_t at = pick(model.size() + 2);
        Result<char32_t> r = s.remove(at);
        if (at >= model.size() || !reference_boundary(model, at)) {
          ASSERT_EQ(r.error(), Error::invalid_argument);
          ++rejected;
          break;
        }
        std::size_t end = at + 1;
        while (!reference_boundary(model, end)) ++end;
        std::vector<char32_t> cps;
        ASSERT_TRUE(reference_decode(model.substr(at, end - at), &cps));
        ASSERT_TRUE(r.ok());
        ASSERT_EQ(*r, cps.at(0));
        model.erase(at, end - at);
        break;
      }
      case Op::pop: {
        Result<char32_t> r = s.pop();
        if (model.empty()) {
          ASSERT_EQ(r.error(), Error::invalid_argument);
          break;
        }
        std::size_t start = model.size() - 1;
        while (!reference_boundary(model, start)) --start;
        std::vector<char32_t> cps;
        ASSERT_TRUE(reference_decode(model.substr(start), &cps));
        ASSERT_TRUE(r.ok());
        ASSERT_EQ(*r, cps.at(0));
        model.resize(start);
        break;
      }
      case Op::truncate: {
        const std::size_t n = pick(model.size() + 1);
        const Error e = s.truncate(n);
        if (reference_boundary(model, n)) {
          ASSERT_EQ(e, Error::none);
          model.resize(n);
        } else {
          ASSERT_EQ(e, Error::invalid_argument);
          ++rejected;
        }
        break;
      }
      case Op::clear:
        s.clear();
        model.clear();
        break;
      case Op::reserve: {
        const std::size_t extra = pick(100);
        ASSERT_EQ(s.try_reserve(extra), Error::none);
        grow_model(extra, false);
        break;
      }
      case Op::reserve_exact: {
        const std::size_t extra = pick(100);
        ASSERT_EQ(s.try_reserve_exact(extra), Error::none);
        grow_model(extra, true);
        break;
      }
      case Op::shrink:
        ASSERT_EQ(s.try_shrink_to_fit(), Error::none);
        model_cap = model.size();
        break;
      case Op::slice: {
        const std::size_t b = pick(model.size() + 2), e = pick(model.size() + 2);
        Result<StringView> v = s.slice(b, e);
        const bool ok = b <= e && e <= model.size() && reference_boundary(model, b) &&
                        reference_boundary(model, e);
        ASSERT_EQ(v.ok(), ok) << b << ".." << e;
        if (ok) {
          ASSERT_EQ(std::string(v->data(), v->size()), model.substr(b, e - b));
          ASSERT_TRUE(reference_decode(std::string(v->data(), v->size())));
        } else {
          ASSERT_EQ(v.error(), Error::invalid_argument);
        }
        break;
      }
      case Op::block:
        blockers.push_back(Raw<Box<std::uint64_t>>::try_new(env.hold(), 1u).take());
        break;
      case Op::unblock:
        if (!blockers.empty()) {
          blockers.erase(blockers.begin() + static_cast<std::ptrdiff_t>(pick(blockers.size())));
        }
        break;
    }
    if (s.data() != data_before && len_before != 0 && op != Op::shrink) ++moved;
    ASSERT_EQ(s.size(), model.size()) << "step " << step;
    ASSERT_EQ(s.capacity(), model_cap) << "step " << step;
    if (step % 8 == 0 || model.size() < 64) {
      ASSERT_EQ(text(s), model) << "step " << step;
      ASSERT_TRUE(s == model.c_str() || model.find('\0') != std::string::npos);
    }
  }
  ASSERT_EQ(text(s), model);
  ASSERT_TRUE(reference_decode(model));
  EXPECT_GT(moved, ops / 200) << "growth that had to move the text";
  EXPECT_GT(rejected, ops / 50);
  s = S{};
  blockers.clear();
  EXPECT_EQ(env.hold().stats().live, 0u);
}

template <class C>
class StringDifferential : public ::testing::Test {};
TYPED_TEST_SUITE(StringDifferential, Combos);

TYPED_TEST(StringDifferential, AgainstStdString) {
  using S = typename TypeParam::template Lease<String<>>;
  for (unsigned seed : {21u, 22u, 23u}) {
    typename TypeParam::Env env;
    SCOPED_TRACE(seed);
    differential<S>(env, seed, 5000);
  }
}

}  // namespace
}  // namespace swim::mem
