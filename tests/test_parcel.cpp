// Parcel (residents/parcel.hpp): a structure stowed into one object, its image
// copied elsewhere and unpacked into working leases; and every kind of bad image.
#include <gtest/gtest.h>

#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "support/arena.hpp"
#include "support/leak_capture.hpp"
#include "support/parcel_tree.hpp"
#include "swim/mem.hpp"

namespace parcel_test {
using namespace swim::mem;
using swim::mem::testing::Node;
using swim::mem::testing::Tree;
using swim::mem::testing::build;
using swim::mem::testing::same;

// A list: nesting as deep as it is long.
struct Link {
  std::int64_t v = 0;
  Raw<Box<Link>> next;
};

// Metadata in the object (Ptr) and user metadata.
struct Tagged {
  std::uint32_t a = 0, b = 0;
};
struct Rec {
  Ptr<Box<std::int64_t, Tagged>> one;
  Ptr<Buf<std::int32_t>> many;
  Raw<Buf<Raw<String<>>>> words;
};

// A member its stow_members does not list: it does not travel.
struct Cached {
  std::int64_t v = 0;
  Raw<Box<std::int64_t>> cache;
};

struct alignas(256) Wide {
  std::int64_t x[32];
};

// A root larger than the 4 KiB a Parcel starts from.
struct Big {
  std::int64_t x[1000];
};
}  // namespace parcel_test

template <>
struct swim::mem::stow_traits<parcel_test::Link>
    : stow_members<parcel_test::Link, &parcel_test::Link::v, &parcel_test::Link::next> {};
template <>
struct swim::mem::stow_traits<parcel_test::Cached>
    : stow_members<parcel_test::Cached, &parcel_test::Cached::v> {};
template <>
struct swim::mem::stow_traits<parcel_test::Rec>
    : stow_members<parcel_test::Rec, &parcel_test::Rec::one, &parcel_test::Rec::many,
                   &parcel_test::Rec::words> {};

namespace parcel_test {
namespace {

static_assert(shippable<Tree> && shippable<Node> && shippable<Raw<Buf<Raw<String<>>>>>);
static_assert(!shippable<Hard<Box<int>>>, "shared leases do not travel");

std::vector<std::byte> image_of(Parcel<Tree>& p) {
  const Block b = p.seal();
  const auto* at = static_cast<const std::byte*>(b.ptr);
  return std::vector<std::byte>(at, at + b.size);
}

// The header's checksum made right again after a test changed the image.
void reseal(std::vector<std::byte>& image) {
  ParcelHeader h;
  std::memcpy(&h, image.data(), sizeof h);
  constexpr std::size_t at = offsetof(ParcelHeader, checksum);
  const std::uint64_t head = detail::parcel_checksum(image.data(), at, ParcelHeader::magic_value);
  h.checksum = detail::parcel_checksum(image.data() + at + 8, image.size() - at - 8, head);
  std::memcpy(image.data(), &h, sizeof h);
}

constexpr std::int64_t kNodes = 10000;

TEST(Parcel, TenThousandNodeTreeArrivesWholeInAnotherHold) {
  HoldRef home = process_hold();
  const std::size_t before = process_hold_stats().live;
  Tree tree = build(home, 0, kNodes);
  Result<Parcel<Tree>> packed = Parcel<Tree>::try_pack(tree, home);
  ASSERT_TRUE(packed) << to_string(packed.error());
  EXPECT_FALSE(tree) << "the structure moved into the Parcel";
  // Everything of the tree went: only the Parcel's own object is left in the hold.
  EXPECT_EQ(process_hold_stats().live, before + 1);
  std::size_t nodes = 0;
  EXPECT_TRUE(same(packed->root(), 0, kNodes, nodes));
  EXPECT_EQ(nodes, static_cast<std::size_t>(kNodes));

  const std::vector<std::byte> image = image_of(*packed);
  const Stats sent = packed->stats();
  packed->reset();  // the sender's copy goes before the receiver's exists

  Result<Parcel<Tree>> got = Parcel<Tree>::try_unpack(image.data(), image.size(), home);
  ASSERT_TRUE(got) << to_string(got.error());
  nodes = 0;
  EXPECT_TRUE(same(got->root(), 0, kNodes, nodes));
  EXPECT_EQ(nodes, static_cast<std::size_t>(kNodes));
  EXPECT_EQ(got->stats().live, sent.live);
  EXPECT_EQ(got->stats().bytes_in_use, sent.bytes_in_use);
  EXPECT_EQ(got->hold().kind(), hold_kind_v<Pack<concurrent>>);

  // Working leases: moved out of the Parcel into the receiver's own hold by stow.
  Result<Tree> mine = try_stow(got->root(), home);
  ASSERT_TRUE(mine) << to_string(mine.error());
  EXPECT_EQ(got->stats().live, 0u) << "the Parcel's Pack emptied";
  nodes = 0;
  EXPECT_TRUE(same(*mine, 0, kNodes, nodes));
  got->reset();
  mine->reset();
  EXPECT_EQ(process_hold_stats().live, before);
}

TEST(Parcel, ArrivedLeasesGrowAndFreeInTheParcel) {
  HoldRef home = process_hold();
  Tree tree = build(home, 0, 100);
  Parcel<Tree> p = Parcel<Tree>::try_pack(tree, home).take();
  const Block img = p.seal();
  UnpackOptions o;
  o.extra_capacity = 1 << 16;
  Parcel<Tree> got = Parcel<Tree>::try_unpack(img.ptr, img.size, home, o).take();
  Tree& root = got.root();
  for (int i = 0; i < 1000; ++i) ASSERT_EQ(root->values.try_push(i), Error::none) << i;
  ASSERT_EQ(root->label.try_append("-grown"), Error::none);
  EXPECT_EQ(root->values.size(), 1000u + static_cast<std::size_t>(root->key % 4));
  EXPECT_EQ(root->left.hold(), got.hold());
  root->left.reset();  // frees a whole subtree into the Parcel's Pack
  // Without spare room, growth fails cleanly.
  Parcel<Tree> tight = Parcel<Tree>::try_unpack(img.ptr, img.size, home).take();
  Error e = Error::none;
  for (int i = 0; i < 100000 && e == Error::none; ++i) e = tight.root()->values.try_push(i);
  EXPECT_EQ(e, Error::out_of_memory);
}

// A structure changed in the Parcel (Bufs regrown, leaving holes; a subtree freed)
// ships again as it now is; and one built in place needs no stow at all.
TEST(Parcel, ChangedInPlaceAndBuiltInPlaceShip) {
  HoldRef home = process_hold();
  Tree tree = build(home, 0, 300);
  Parcel<Tree> p = Parcel<Tree>::try_pack(tree, home).take();
  const Block img = p.seal();
  UnpackOptions o;
  o.extra_capacity = 1 << 20;
  Parcel<Tree> changed = Parcel<Tree>::try_unpack(img.ptr, img.size, home, o).take();
  for (int i = 0; i < 100; ++i) ASSERT_EQ(changed.root()->left->values.try_push(i), Error::none);
  changed.root()->right.reset();
  const Block img2 = changed.seal();
  Result<Parcel<Tree>> again = Parcel<Tree>::try_unpack(img2.ptr, img2.size, home);
  ASSERT_TRUE(again) << to_string(again.error());
  EXPECT_FALSE(again->root()->right);
  EXPECT_EQ(again->root()->left->values.size(), changed.root()->left->values.size());
  std::size_t nodes = 0;
  EXPECT_TRUE(same(again->root()->left->left, 0, 300 / 2 / 2, nodes));

  Parcel<Tree> built = Parcel<Tree>::try_create(home, 1 << 20).take();
  built.root() = build(built.hold(), 0, 500);
  const Block img3 = built.seal();
  Result<Parcel<Tree>> got = Parcel<Tree>::try_unpack(img3.ptr, img3.size, home);
  ASSERT_TRUE(got) << to_string(got.error());
  nodes = 0;
  EXPECT_TRUE(same(got->root(), 0, 500, nodes));
  EXPECT_EQ(Parcel<Tree>::try_create(HoldRef(), 100).error(), Error::invalid_argument);
}

// What seal() needs and a rebase checks: every object of the Parcel reachable from
// the root, nothing reachable outside it.
TEST(Parcel, AStrayObjectOrAnOutsideChildMakesTheImageMalformed) {
  HoldRef home = process_hold();
  Parcel<Tree> stray = Parcel<Tree>::try_create(home, 1 << 16).take();
  stray.root() = build(stray.hold(), 0, 20);
  Tree lost = Tree::try_new(stray.hold()).take();  // in the Parcel, not in the tree
  Block img = stray.seal();
  EXPECT_EQ(Parcel<Tree>::try_unpack(img.ptr, img.size, home).error(), Error::malformed);
  lost.reset();
  img = stray.seal();
  EXPECT_TRUE(Parcel<Tree>::try_unpack(img.ptr, img.size, home));

  Parcel<Tree> outside = Parcel<Tree>::try_create(home, 1 << 16).take();
  outside.root() = build(outside.hold(), 0, 20);
  outside.root()->left->left = build(home, 100, 110);  // a child in another hold
  img = outside.seal();
  EXPECT_EQ(Parcel<Tree>::try_unpack(img.ptr, img.size, home).error(), Error::malformed);
}

// try_pack_copy sizes the Parcel from stow_bytes: one try, and enough.
TEST(Parcel, TheStructureSaysItsSizeAndOneTryIsEnough) {
  HoldRef home = process_hold();
  Tree tree = build(home, 0, 3000);
  const std::size_t estimate = stow_traits<Tree>::stow_bytes(&tree);
  std::vector<std::byte> room(16 << 20);
  Pack<> exact(Block{room.data(), room.size()});  // gives exactly what is asked (8-rounded)
  Parcel<Tree> p = Parcel<Tree>::try_pack_copy(tree, HoldRef::of(exact)).take();
  EXPECT_EQ(p.block().size, Parcel<Tree>::region_offset + ((estimate + 63) & ~std::size_t(63)))
      << "sized by the estimate, in one try";
  const Block img = p.seal();
  EXPECT_LE(img.size - Parcel<Tree>::region_offset, estimate);
  EXPECT_GE(img.size - Parcel<Tree>::region_offset, estimate * 9 / 10) << "and close";
  std::size_t nodes = 0;
  EXPECT_TRUE(same(tree, 0, 3000, nodes)) << "a copy: the original stays";
  // An explicit hint that is too small still works: the region doubles.
  Parcel<Tree> q = Parcel<Tree>::try_pack_copy(tree, HoldRef::of(exact), 100).take();
  nodes = 0;
  EXPECT_TRUE(same(q.root(), 0, 3000, nodes));
}

// A member stow_members does not list arrives default-constructed: the bytes that came
// for it (here forged to point anywhere) are never followed, not even by a destructor.
TEST(Parcel, AMemberNotListedDoesNotTravelWhateverItsBytesSay) {
  HoldRef home = process_hold();
  using C = Raw<Box<Cached>>;
  C c = C::try_new(home).take();
  c->v = 7;
  c->cache = Raw<Box<std::int64_t>>::try_new(home, 99).take();
  Parcel<C> p = Parcel<C>::try_pack_copy(c, home).take();
  EXPECT_FALSE(p.root()->cache) << "stow left it default";
  const Block b = p.seal();
  std::vector<std::byte> img(static_cast<std::byte*>(b.ptr), static_cast<std::byte*>(b.ptr) + b.size);
  ParcelHeader h;
  std::memcpy(&h, img.data(), sizeof h);
  std::uint64_t root_payload = 0;
  std::memcpy(&root_payload, img.data() + Parcel<C>::root_offset, 8);
  const std::size_t cache_at =
      static_cast<std::size_t>(root_payload - h.old_base) + offsetof(Cached, cache);
  const std::uint64_t wild = 0x414141414140ULL;
  std::memcpy(img.data() + cache_at, &wild, 8);
  reseal(img);
  Result<Parcel<C>> got = Parcel<C>::try_unpack(img.data(), img.size(), home);
  ASSERT_TRUE(got) << to_string(got.error());
  EXPECT_EQ(got->root()->v, 7);
  EXPECT_FALSE(got->root()->cache) << "never the forged address";
  got->reset();  // would free the forged address if it had been kept
}

// Objects aligned up to a Parcel's own 4096 bytes keep their alignment wherever the
// receiving hold puts the Parcel.
TEST(Parcel, ObjectsAlignedPast64BytesArriveAligned) {
  HoldRef home = process_hold();
  using W = Raw<Buf<Wide>>;
  W w = W::try_empty(home).take();
  for (int i = 0; i < 5; ++i) ASSERT_EQ(w.try_push(Wide{{i}}), Error::none);
  Parcel<W> p = Parcel<W>::try_pack_copy(w, home).take();
  const Block b = p.seal();
  std::vector<std::byte> room(1 << 20);
  for (std::size_t skew : {std::size_t(8), std::size_t(64), std::size_t(136), std::size_t(2048)}) {
    Pack<> hold(Block{room.data(), room.size()});
    const Result<Block> before = hold.try_allocate(Layout{skew, 8});  // moves the next block
    ASSERT_TRUE(before);
    Result<Parcel<W>> got = Parcel<W>::try_unpack(b.ptr, b.size, HoldRef::of(hold));
    ASSERT_TRUE(got) << to_string(got.error()) << " skew " << skew;
    EXPECT_EQ(reinterpret_cast<std::uintptr_t>(got->root().data()) % 256, 0u);
    EXPECT_EQ(got->root().data()[4].x[0], 4);
    got->reset();
    EXPECT_EQ(hold.try_deallocate(*before), Error::none);
  }
}

TEST(Parcel, PtrMetadataUserMetadataNestedBufsAndEmptyOnes) {
  HoldRef home = process_hold();
  Raw<Box<Rec>> r = Raw<Box<Rec>>::try_new(home).take();
  r->one = Ptr<Box<std::int64_t, Tagged>>::try_new_with_meta(home, Tagged{7, 9}, 42).take();
  const std::int32_t xs[] = {1, 2, 3};
  r->many = Ptr<Buf<std::int32_t>>::try_from(home, xs, 3).take();
  r->words = Raw<Buf<Raw<String<>>>>::try_empty(home).take();
  for (const char* w : {"alpha", "", "\xce\xbb"}) {
    ASSERT_EQ(r->words.try_push(Raw<String<>>::try_from(home, w).take()), Error::none);
  }
  using P = Parcel<Raw<Box<Rec>>>;
  P p = P::try_pack(r, home).take();
  const Block img = p.seal();
  std::vector<std::byte> copy(static_cast<std::byte*>(img.ptr),
                              static_cast<std::byte*>(img.ptr) + img.size);
  p.reset();
  P got = P::try_unpack(copy.data(), copy.size(), home).take();
  const Rec& g = *got.root();
  EXPECT_EQ(*g.one, 42);
  EXPECT_EQ(g.one.metadata().a, 7u);
  EXPECT_EQ(g.one.metadata().b, 9u);
  ASSERT_EQ(g.many.size(), 3u);
  EXPECT_EQ(g.many.data()[2], 3);
  ASSERT_EQ(g.words.size(), 3u);
  EXPECT_EQ(std::string(g.words.data()[0].view().ptr, g.words.data()[0].view().len), "alpha");
  EXPECT_EQ(g.words.data()[1].size(), 0u);
  EXPECT_EQ(g.words.data()[2].size(), 2u);
}

TEST(Parcel, NullRootAndEmptyBuf) {
  HoldRef home = process_hold();
  Tree none;
  Parcel<Tree> p = Parcel<Tree>::try_pack(none, home).take();
  const Block img = p.seal();
  Parcel<Tree> got = Parcel<Tree>::try_unpack(img.ptr, img.size, home).take();
  EXPECT_FALSE(got.root());
  using B = Raw<Buf<std::int64_t>>;
  B empty = B::try_empty(home).take();
  Parcel<B> q = Parcel<B>::try_pack(empty, home).take();
  const Block qi = q.seal();
  Parcel<B> qg = Parcel<B>::try_unpack(qi.ptr, qi.size, home).take();
  EXPECT_EQ(qg.root().size(), 0u);
  EXPECT_EQ(qg.stats().live, 1u) << "the empty Buf's zero-size object";
  // No spare room was asked for: the block's rounding is all there is.
  Error e = Error::none;
  for (int i = 0; i < 1000000 && e == Error::none; ++i) e = qg.root().try_push(i);
  EXPECT_TRUE(e == Error::out_of_memory || e == Error::oversized) << to_string(e);
}

TEST(Parcel, HoldTooSmallLeavesTheStructureAndNothingAllocated) {
  swim::mem::testing::Arena arena(64 * 1024);
  Pack<> small(arena.block());
  HoldRef home = process_hold();
  Tree tree = build(home, 0, 2000);
  Result<Parcel<Tree>> p = Parcel<Tree>::try_pack(tree, HoldRef::of(small));
  ASSERT_FALSE(p);
  EXPECT_EQ(p.error(), Error::oversized) << "the hold can never give a block that large";
  std::size_t nodes = 0;
  EXPECT_TRUE(same(tree, 0, 2000, nodes)) << "the structure is untouched";
  EXPECT_EQ(small.stats().live, 0u);
  // And the receiving side: an image larger than the hold.
  Parcel<Tree> ok = Parcel<Tree>::try_pack(tree, home).take();
  const Block img = ok.seal();
  Result<Parcel<Tree>> got = Parcel<Tree>::try_unpack(img.ptr, img.size, HoldRef::of(small));
  EXPECT_EQ(got.error(), Error::oversized);
  EXPECT_EQ(small.stats().live, 0u);
  EXPECT_EQ(Parcel<Tree>::try_pack(tree, HoldRef()).error(), Error::invalid_argument);
  EXPECT_EQ(Parcel<Tree>::try_unpack(nullptr, 10, home).error(), Error::invalid_argument);
}

// Sizes a caller passes are bounded before they are rounded: a hint near SIZE_MAX
// once rounded to 0 and try_pack_copy doubled 0 forever.
TEST(Parcel, HugeSizesAreErrorsNotLoops) {
  HoldRef home = process_hold();
  Tree tree = build(home, 0, 100);
  const std::size_t live = home.stats().live;
  const std::size_t huge[] = {~std::size_t(0), ~std::size_t(0) - 62, ~std::size_t(0) - 63,
                              ~std::size_t(0) >> 2, (~std::size_t(0) >> 2) - 4096};
  for (const std::size_t n : huge) {
    const Result<Parcel<Tree>> c = Parcel<Tree>::try_pack_copy(tree, home, n);
    ASSERT_FALSE(c) << n;
    EXPECT_TRUE(c.error() == Error::out_of_memory || c.error() == Error::oversized) << n;
    const Result<Parcel<Tree>> e = Parcel<Tree>::try_create(home, n);
    ASSERT_FALSE(e) << n;
    EXPECT_TRUE(e.error() == Error::out_of_memory || e.error() == Error::oversized) << n;
  }
  EXPECT_EQ(home.stats().live, live) << "nothing left allocated";
  Parcel<Tree> ok = Parcel<Tree>::try_pack_copy(tree, home).take();
  const Block img = ok.seal();
  const std::size_t live_ok = home.stats().live;
  for (const std::size_t n : huge) {
    UnpackOptions o;
    o.extra_capacity = n;
    const Result<Parcel<Tree>> got = Parcel<Tree>::try_unpack(img.ptr, img.size, home, o);
    ASSERT_FALSE(got) << n;
    EXPECT_TRUE(got.error() == Error::out_of_memory || got.error() == Error::oversized) << n;
  }
  EXPECT_EQ(home.stats().live, live_ok) << "nothing left allocated";
  std::size_t nodes = 0;
  EXPECT_TRUE(same(tree, 0, 100, nodes)) << "the structure is untouched";
}

// A root of 8 KB: sizing once wrapped round below 4 KiB, and every pack was
// out_of_memory.
TEST(Parcel, ARootLargerThanFourKibibytesPacks) {
  HoldRef home = process_hold();
  parcel_test::Big big;
  for (int i = 0; i < 1000; ++i) big.x[i] = i * 7;
  Result<Parcel<parcel_test::Big>> p = Parcel<parcel_test::Big>::try_pack_copy(big, home);
  ASSERT_TRUE(p) << to_string(p.error());
  const Block img = p->seal();
  Result<Parcel<parcel_test::Big>> got =
      Parcel<parcel_test::Big>::try_unpack(img.ptr, img.size, home);
  ASSERT_TRUE(got) << to_string(got.error());
  for (int i = 0; i < 1000; ++i) ASSERT_EQ(got->root().x[i], i * 7);
}

class BadImage : public ::testing::Test {
 protected:
  void SetUp() override {
    {
      Tree tree = build(home, 0, 64);
      Parcel<Tree> p = Parcel<Tree>::try_pack(tree, home).take();
      good = image_of(p);
    }
    before = process_hold_stats().live;
  }
  // Unpacking `image` fails with `want` and leaves the hold as it was.
  void refused(const std::vector<std::byte>& image, Error want = Error::malformed,
               UnpackOptions o = {}) {
    Result<Parcel<Tree>> got = Parcel<Tree>::try_unpack(image.data(), image.size(), home, o);
    ASSERT_FALSE(got) << "accepted: " << note;
    EXPECT_EQ(got.error(), want) << to_string(got.error());
    EXPECT_EQ(process_hold_stats().live, before);
  }
  ParcelHeader header(const std::vector<std::byte>& image) {
    ParcelHeader h;
    std::memcpy(&h, image.data(), sizeof h);
    return h;
  }
  // The bytes of the root lease and of the object at old address `p`.
  static std::uint64_t word_at(const std::vector<std::byte>& image, std::size_t off) {
    std::uint64_t w;
    std::memcpy(&w, image.data() + off, 8);
    return w;
  }
  static void set_word(std::vector<std::byte>& image, std::size_t off, std::uint64_t w) {
    std::memcpy(image.data() + off, &w, 8);
  }
  std::size_t offset_of_old(const std::vector<std::byte>& image, std::uint64_t addr) {
    return static_cast<std::size_t>(addr - header(image).old_base);
  }

  HoldRef home = process_hold();
  std::string note;
  std::vector<std::byte> good;
  std::size_t before = 0;
};

TEST_F(BadImage, TheGoodOneIsAccepted) {
  Result<Parcel<Tree>> got = Parcel<Tree>::try_unpack(good.data(), good.size(), home);
  ASSERT_TRUE(got) << to_string(got.error());
  std::size_t nodes = 0;
  EXPECT_TRUE(same(got->root(), 0, 64, nodes));
}

TEST_F(BadImage, EveryTruncationIsRefused) {
  for (std::size_t n = 1; n < good.size(); n += (n < 512 ? 1 : 37)) {
    std::vector<std::byte> cut(good.begin(), good.begin() + static_cast<std::ptrdiff_t>(n));
    refused(cut);
  }
  std::vector<std::byte> longer = good;
  longer.resize(good.size() + 8);
  refused(longer);
}

TEST_F(BadImage, EveryFlippedByteIsRefused) {
  for (std::size_t i = 0; i < good.size(); i += (i < 1024 ? 1 : 13)) {
    std::vector<std::byte> bad = good;
    bad[i] ^= std::byte{0x20};
    note = "byte " + std::to_string(i);
    refused(bad);
  }
}

TEST_F(BadImage, AnotherTypeIsRefused) {
  using Other = Raw<Box<Link>>;
  Result<Parcel<Other>> got = Parcel<Other>::try_unpack(good.data(), good.size(), home);
  EXPECT_EQ(got.error(), Error::malformed);
}

// Forged images with a right checksum: what the rebase itself must catch.
TEST_F(BadImage, RootOutsideTheCopy) {
  std::vector<std::byte> bad = good;
  const std::size_t root = Parcel<Tree>::root_offset;
  for (std::uint64_t forged : {std::uint64_t{8}, word_at(good, root) + (1u << 30),
                               header(good).old_base + 16, word_at(good, root) + 8,
                               word_at(good, root) - 8, ~std::uint64_t{0} - 7}) {
    set_word(bad, root, forged);
    reseal(bad);
    refused(bad);
  }
}

TEST_F(BadImage, ATagThatIsNotTheSendersIsRefused) {
  std::vector<std::byte> bad = good;
  const std::size_t obj = offset_of_old(good, word_at(good, Parcel<Tree>::root_offset));
  set_word(bad, obj - 8, word_at(good, obj - 8) ^ 0x40);
  reseal(bad);
  refused(bad);
}

TEST_F(BadImage, TwoLeasesOnOneObjectAndCyclesAreRefused) {
  const std::size_t obj = offset_of_old(good, word_at(good, Parcel<Tree>::root_offset));
  const std::size_t left = obj + offsetof(Node, left);
  const std::size_t right = obj + offsetof(Node, right);
  std::vector<std::byte> bad = good;
  set_word(bad, right, word_at(good, left));  // both children the same subtree
  reseal(bad);
  refused(bad);
  bad = good;
  set_word(bad, left, word_at(good, Parcel<Tree>::root_offset));  // a cycle to the root
  reseal(bad);
  refused(bad);
  bad = good;
  set_word(bad, right, word_at(good, left) + 8);  // inside another object
  reseal(bad);
  refused(bad);
}

TEST_F(BadImage, ALengthPastTheCapacityIsRefused) {
  const std::size_t obj = offset_of_old(good, word_at(good, Parcel<Tree>::root_offset));
  const std::size_t meta = obj + offsetof(Node, values) + sizeof(void*);  // BufMeta: len, cap
  std::vector<std::byte> bad = good;
  set_word(bad, meta, word_at(good, meta + 8) + 1);  // len = cap + 1
  reseal(bad);
  refused(bad);
  bad = good;
  set_word(bad, meta + 8, std::uint64_t{1} << 40);  // cap: an object far past the end
  set_word(bad, meta, 0);
  reseal(bad);
  refused(bad);
}

TEST_F(BadImage, InvalidUtf8InAStringIsRefused) {
  const std::size_t obj = offset_of_old(good, word_at(good, Parcel<Tree>::root_offset));
  const std::size_t text = offset_of_old(good, word_at(good, obj + offsetof(Node, label)));
  std::vector<std::byte> bad = good;
  bad[text] = std::byte{0xC0};  // an overlong form's lead byte
  reseal(bad);
  refused(bad);
}

TEST_F(BadImage, CountsThatDisagreeWithTheStructureAreRefused) {
  for (int field = 0; field < 4; ++field) {
    std::vector<std::byte> bad = good;
    ParcelHeader h = header(good);
    if (field == 0) h.objects += 1;
    if (field == 1) h.objects -= 1;
    if (field == 2) h.zero_objects += 1;
    if (field == 3) h.bytes_in_use -= 8;
    std::memcpy(bad.data(), &h, sizeof h);
    reseal(bad);
    refused(bad);
  }
  std::vector<std::byte> bad = good;
  ParcelHeader h = header(good);
  h.objects = std::uint64_t{1} << 40;
  std::memcpy(bad.data(), &h, sizeof h);
  reseal(bad);
  refused(bad);
}

TEST_F(BadImage, HeaderFieldsAreChecked) {
  const auto forge = [&](auto change) {
    std::vector<std::byte> bad = good;
    ParcelHeader h = header(good);
    change(h);
    std::memcpy(bad.data(), &h, sizeof h);
    reseal(bad);
    refused(bad);
  };
  forge([](ParcelHeader& h) { h.magic ^= 1; });
  forge([](ParcelHeader& h) { h.version += 1; });
  forge([](ParcelHeader& h) { h.header_bytes = 64; });
  forge([](ParcelHeader& h) { h.image_bytes += 8; });
  forge([](ParcelHeader& h) { h.region_offset += 64; });
  forge([](ParcelHeader& h) { h.mark -= 8; });
  forge([](ParcelHeader& h) { h.fingerprint ^= 1; });
  forge([](ParcelHeader& h) { h.old_base += 8; });
  forge([](ParcelHeader& h) { h.old_tag ^= 8; });
}

TEST(ParcelDepth, AListDeeperThanTheBoundIsRefusedAndWithinItArrives) {
  HoldRef home = process_hold();
  using List = Raw<Box<Link>>;
  List head;
  for (int i = 0; i < 2000; ++i) {
    List n = List::try_new(home).take();
    n->v = i;
    n->next = std::move(head);
    head = std::move(n);
  }
  Parcel<List> p = Parcel<List>::try_pack(head, home).take();
  const Block img = p.seal();
  UnpackOptions o;
  o.max_depth = 1000;
  EXPECT_EQ(Parcel<List>::try_unpack(img.ptr, img.size, home, o).error(), Error::malformed);
  o.max_depth = 2001;  // the root lease is one level, each node one more
  Result<Parcel<List>> got = Parcel<List>::try_unpack(img.ptr, img.size, home, o);
  ASSERT_TRUE(got) << to_string(got.error());
  int count = 0;
  for (const List* at = &got->root(); *at; at = &(*at)->next) {
    EXPECT_EQ((*at)->v, 1999 - count);
    ++count;
  }
  EXPECT_EQ(count, 2000);
  // The list's own destructor recurses too; unlink it from the tail end instead.
  while (got->root()) got->root() = std::move(got->root()->next);
}

TEST(ParcelLeak, ALeaseLeftInTheParcelsHoldIsReported) {
  HoldRef home = process_hold();
  Tree tree = build(home, 0, 3);
  Parcel<Tree> p = Parcel<Tree>::try_pack(tree, home).take();
  Tree stray = Tree::try_new(p.hold()).take();
  {
    swim::mem::testing::LeakCapture leaks;
    Block keep = stray.block();
    stray.release();
    p.reset();
    EXPECT_EQ(leaks.reports, 1);
    EXPECT_STREQ(leaks.last.allocator, "Pack");
    (void)keep;
  }
}

}  // namespace
}  // namespace parcel_test
