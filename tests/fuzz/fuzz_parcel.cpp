// libFuzzer harness: Parcel images (include/swim/mem/residents/parcel.hpp) changed
// by the input, then unpacked: what a receiver of messages from anyone faces.
//
// A good image of a small tree (tests/support/parcel_tree.hpp: nodes with a String,
// a Buf, two children; some Bufs empty) is made once. The input's first byte says
// whether the checksum is made right again after the changes (mostly yes, so that
// the rebase's own checks are what is tested), the second the depth bound; then
// edits of 4 bytes each: a position in the image (2 bytes), an operation and a value:
//   0  xor a byte                   2  a word set to another word of the image
//   1  a word set to a small value  3  a word moved by a small distance
//   4  the image cut short (at the position)
// Then try_unpack into a Pack over a small arena (a second Pack takes stowed copies).
// Invariants: a refused image gives malformed (or the hold's out_of_memory or
// oversized) and leaves the holds empty; an accepted one is a tree whose every
// String is valid UTF-8 (checked here independently), whose Bufs' lengths are within
// their capacities, which can be walked, grown, stowed elsewhere and freed, after
// which both holds are empty. AddressSanitizer reports any byte read or written
// outside the image.
#include <vector>

#include "../support/parcel_tree.hpp"
#include "fuzz_common.hpp"

namespace swim::mem::fuzz {
namespace {

using testing::Tree;

const std::vector<std::byte>& good_image() {
  static const std::vector<std::byte> image = [] {
    Tree t = testing::build(process_hold(), 0, 12);
    Parcel<Tree> p = Parcel<Tree>::try_pack(t, process_hold()).take();
    const Block b = p.seal();
    const auto* at = static_cast<const std::byte*>(b.ptr);
    return std::vector<std::byte>(at, at + b.size);
  }();
  return image;
}

void reseal(std::vector<std::byte>& image) {
  if (image.size() < sizeof(ParcelHeader)) return;
  constexpr std::size_t at = offsetof(ParcelHeader, checksum);
  const std::uint64_t head = detail::parcel_checksum(image.data(), at, ParcelHeader::magic_value);
  const std::uint64_t sum =
      detail::parcel_checksum(image.data() + at + 8, image.size() - at - 8, head);
  std::memcpy(image.data() + at, &sum, 8);
}

bool utf8_ok(const unsigned char* s, std::size_t n) {
  for (std::size_t i = 0; i < n;) {
    const unsigned char c = s[i];
    std::size_t k = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;
    if (k == 0 || i + k > n) return false;
    std::uint32_t cp = k == 1 ? c : k == 2 ? (c & 0x1F) : k == 3 ? (c & 0x0F) : (c & 0x07);
    for (std::size_t j = 1; j < k; ++j) {
      if ((s[i + j] & 0xC0) != 0x80) return false;
      cp = (cp << 6) | (s[i + j] & 0x3F);
    }
    const std::uint32_t least[5] = {0, 0, 0x80, 0x800, 0x10000};
    if (cp < least[k] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return false;
    i += k;
  }
  return true;
}

// Walk an accepted tree: every part checks; grow each Buf by one where it can.
std::size_t walk(Tree& t, unsigned depth) {
  if (!t) return 0;
  FUZZ_CHECK(depth < 1000);
  const StringView v = t->label.view();
  FUZZ_CHECK(t->label.size() <= t->label.capacity());
  FUZZ_CHECK(utf8_ok(reinterpret_cast<const unsigned char*>(v.ptr), v.len));
  FUZZ_CHECK(t->values.size() <= t->values.capacity());
  std::uint64_t sum = 0;  // every element read
  for (std::size_t i = 0; i < t->values.size(); ++i) {
    sum += static_cast<std::uint64_t>(t->values.data()[i]);
  }
  (void)sum;
  const Error e = t->values.try_push(1);
  FUZZ_CHECK(e == Error::none || e == Error::out_of_memory || e == Error::oversized);
  return 1 + walk(t->left, depth + 1) + walk(t->right, depth + 1);
}

}  // namespace
}  // namespace swim::mem::fuzz

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace swim::mem;
  using namespace swim::mem::fuzz;
  g_context = "parcel";
  g_step = 0;
  if (size < 2) return 0;
  std::vector<std::byte> image = good_image();
  const bool fix_checksum = (data[0] & 7) != 0;
  UnpackOptions options;
  options.max_depth = 4 + data[1] % 64;
  options.extra_capacity = (data[1] & 0x80) != 0 ? 4096 : 0;
  for (std::size_t i = 2; i + 4 <= size && image.size() >= 8; i += 4, ++g_step) {
    const std::size_t pos = (std::size_t(data[i]) | std::size_t(data[i + 1]) << 8) % image.size();
    const std::uint8_t op = data[i + 2] % 5, val = data[i + 3];
    const std::size_t word = pos & ~std::size_t(7);
    std::uint64_t w = 0;
    if (word + 8 <= image.size()) std::memcpy(&w, image.data() + word, 8);
    switch (op) {
      case 0: image[pos] ^= std::byte{static_cast<unsigned char>(val | 1)}; continue;
      case 1: w = val; break;
      case 2: {
        if (image.size() < 8) continue;
        const std::size_t from = (std::size_t(val) * 8) % (image.size() & ~std::size_t(7));
        std::memcpy(&w, image.data() + from, 8);
        break;
      }
      case 3: w += static_cast<std::int8_t>(val) * 8; break;
      case 4: image.resize(pos); continue;
    }
    if (word + 8 <= image.size()) std::memcpy(image.data() + word, &w, 8);
  }
  if (fix_checksum) reseal(image);

  install_leak_counter();
  static Arena arena(1 << 20);
  static Arena other(1 << 20);
  const unsigned leaks = g_leaks;
  Pack<> hold(arena.take(0, arena.size(), 0xA5));
  Pack<> second(other.take(0, other.size(), 0x5A));
  {
    Result<Parcel<testing::Tree>> got = Parcel<testing::Tree>::try_unpack(
        image.empty() ? reinterpret_cast<const std::byte*>("") : image.data(), image.size(),
        HoldRef::of(hold), options);
    if (!got) {
      FUZZ_CHECK(got.error() == Error::malformed || got.error() == Error::out_of_memory ||
                 got.error() == Error::oversized);
      FUZZ_CHECK(hold.stats().live == 0);
    } else {
      walk(got->root(), 0);
      Result<testing::Tree> copy = try_stow(got->root(), HoldRef::of(second));
      if (copy) {
        FUZZ_CHECK(!got->root());
        walk(*copy, 0);
        copy->reset();
      }
      got->reset();
    }
  }
  FUZZ_CHECK(hold.stats().live == 0);
  FUZZ_CHECK(second.stats().live == 0);
  FUZZ_CHECK(g_leaks == leaks);
  return 0;
}
