// Layer 7 (residents): Parcel<L>, a whole structure stowed into one contiguous
// object, whose bytes can be sent anywhere (a file, a socket, an MPI message:
// integrations/mpi/ship.hpp) and unpacked into working leases on arrival.
//
// A Parcel is one object of a hold, laid out as
//   [ParcelHeader][root: an L][a Pack][the Pack's region]
// try_pack() stows a structure (the lease L and all it owns, stow_traits) into the
// Pack, so that the structure lives in the Parcel and nowhere else; try_pack_copy()
// stows a copy and leaves the original as it was. seal() writes
// the header (sizes, the Pack's state, the sender's address, a type fingerprint, a
// checksum) and gives the image: the bytes from the header to the end of the last
// object, the region's free room left out. try_unpack() copies an image into a new
// Parcel in the receiver's hold, checks the header, rebuilds the Pack's state and
// rebases the structure (leases/rebase.hpp): every address is moved by the
// distance between the two copies and every tag names the receiver's Pack. The
// receiver then holds working leases, in its own hold: it may use them in place
// (growing them inside the Parcel's spare room, UnpackOptions::extra_capacity), or
// stow them anywhere else.
//
// Bad bytes lose nothing: an image that is truncated, from another type or build,
// damaged (checksum), or whose contents do not check (an address outside the copy,
// a tag that is not the sender's, objects that overlap, a length past a capacity,
// invalid UTF-8 in a String, nesting deeper than max_depth) gives Error::malformed;
// nothing is constructed, no destructor runs on the bad bytes, and the receiver's
// block goes back to its hold. The checksum guards against accidents, not forgery;
// forged bytes are checked all the same.
//
// A structure may also be built or changed in place, in the Parcel's own hold
// (try_create, hold(); a Buf grown there): then there is nothing to stow before
// sending. seal() needs what a rebase checks: every live object of the Parcel's
// hold reachable from root() exactly once, and nothing reachable outside the Parcel.
// Limits: the same program on both sides (the fingerprint holds the type's name,
// size and alignment; pointers and byte order must agree); objects aligned to at
// most 4096 bytes (align_kept); shippable types only (stow.hpp: not the
// shared leases). Unpacking takes, for the moment of the rebase, one bit per 8 bytes
// of the image from the receiving hold.
// Thread-safety: a Parcel is used by one thread at a time. Host and device.
#pragma once

#include <cstddef>
#include <cstdint>

#include "swim/mem/leases.hpp"

namespace swim::mem {

/// The first bytes of a Parcel's image (see the file comment).
struct alignas(64) ParcelHeader {
  static constexpr std::uint64_t magic_value = 0x314c43524d495753ULL;  // "SWIMRCL1"
  static constexpr std::uint32_t version_value = 1;

  std::uint64_t magic;
  std::uint32_t version;
  std::uint32_t header_bytes;
  std::uint64_t image_bytes;       ///< the whole image, this header included
  std::uint64_t fingerprint;       ///< the root type's (name, size, alignment)
  std::uint64_t old_base;          ///< the sender's address of the image's first byte
  std::uint64_t region_offset;     ///< where the Pack's region starts in the image
  std::uint64_t old_tag;           ///< the tag of the sender's Pack
  std::uint64_t mark;              ///< bytes of the region that hold objects
  std::uint64_t objects;           ///< live objects with bytes
  std::uint64_t zero_objects;      ///< live zero-size objects
  std::uint64_t bytes_in_use;      ///< their bytes, as the Pack counts them
  std::uint64_t checksum;          ///< of the image, this field left out (last)
};
static_assert(sizeof(ParcelHeader) == 128);

/// What try_unpack accepts and gives.
struct UnpackOptions {
  /// Room for the structure to grow in place, beyond the bytes that arrived.
  std::size_t extra_capacity = 0;
  /// The deepest nesting of objects accepted: the root's object is level 1, and a
  /// list of n nodes nests n deep. Deeper images are malformed. Each level is a few
  /// stack frames of the rebase (about 64 bytes at -O2, several times that in debug
  /// and sanitizer builds): raise it for deep lists on a thread with the stack.
  unsigned max_depth = 1024;
};

namespace detail {

/// A 64-bit checksum of n bytes, eight at a time in four lanes. Reads through
/// poisoned holes of a Pack (freed objects, alignment gaps): they are part of the image.
SWIM_MEM_API SWIM_MEM_NO_SANITIZE_ADDRESS inline std::uint64_t parcel_checksum(
    const void* bytes, std::size_t n, std::uint64_t seed) {
  constexpr std::uint64_t k = 0x9E3779B97F4A7C15ULL;
  std::uint64_t lane[4] = {seed ^ k, seed + k, seed ^ (k >> 1), seed - k};
  const auto* p = static_cast<const unsigned char*>(bytes);
  std::size_t i = 0;
  for (; i + 32 <= n; i += 32) {
    for (int j = 0; j < 4; ++j) {
      std::uint64_t w;
      __builtin_memcpy(&w, p + i + 8 * j, 8);
      lane[j] = (lane[j] ^ w) * k;
      lane[j] ^= lane[j] >> 29;
    }
  }
  std::uint64_t h = lane[0] ^ (lane[1] << 1) ^ (lane[2] << 2) ^ (lane[3] << 3) ^ n;
  for (; i < n; ++i) h = (h ^ p[i]) * 0x100000001B3ULL;
  h ^= h >> 33;
  h *= 0xFF51AFD7ED558CCDULL;
  h ^= h >> 33;
  return h;
}

/// The name, size and alignment of T, hashed: what tells a Parcel of one type from
/// another's (the same compiler on both sides).
template <class T>
SWIM_MEM_API inline std::uint64_t type_fingerprint() {
  const char* name = __PRETTY_FUNCTION__;
  std::size_t n = 0;
  while (name[n] != '\0') ++n;
  return parcel_checksum(name, n, sizeof(T) * 131 + alignof(T));
}


}  // namespace detail

/// A structure stowed into one contiguous object (see the file comment). L is the
/// root's type: a lease (Raw<Box<Tree>>, Ptr<Buf<...>>...) or any shippable type.
template <shippable L>
class Parcel {
  using PackType = Pack<concurrent>;

 public:
  /// Where things are in a Parcel of L (the same in every process of one program).
  static constexpr std::size_t root_offset = sizeof(ParcelHeader);
  static constexpr std::size_t pack_offset = root_offset + detail::round64(sizeof(L));
  static constexpr std::size_t region_offset = pack_offset + detail::round64(sizeof(PackType));
  /// Objects aligned to at most this keep their alignment when an image moves: a
  /// receiver places the image at the same address modulo this as the sender's (its
  /// block, 64-byte aligned like every Parcel's, has this much more room).
  static constexpr std::size_t align_kept = 4096;
  static_assert(alignof(L) <= 64 && alignof(PackType) <= 64);

  constexpr Parcel() = default;
  SWIM_MEM_API Parcel(Parcel&& o) : block_(o.block_), skew_(o.skew_), constructed_(o.constructed_) {
    o.block_ = Block{};
  }
  SWIM_MEM_API Parcel& operator=(Parcel&& o) {
    if (this != &o) {
      reset();
      block_ = o.block_;
      skew_ = o.skew_;
      constructed_ = o.constructed_;
      o.block_ = Block{};
    }
    return *this;
  }
  Parcel(const Parcel&) = delete;
  Parcel& operator=(const Parcel&) = delete;
  SWIM_MEM_API ~Parcel() { reset(); }

  /// Copy `root` (and everything it owns) into a new Parcel, one object of `hold`,
  /// as a stow copies (stow_traits<L>::stow); `root` is not changed. The region
  /// starts at `capacity_hint` bytes, or when that is 0 at what the structure says
  /// its stow takes (stow_bytes: one walk of it, and then one try), at least 4 KiB
  /// less the Parcel's own parts; it doubles until the copy fits, each try a whole
  /// stow transaction (so the cost stays proportional to the structure). Errors: the hold's (out_of_memory when it
  /// cannot give a block large enough, oversized past what it can ever give), the
  /// stow's; nothing is left allocated.
  SWIM_MEM_API static Result<Parcel> try_pack_copy(const L& root, HoldRef hold,
                                                   std::size_t capacity_hint = 0) {
    if (!hold) return Error::invalid_argument;
    // At least a 4 KiB block in all (a root larger than that: a little room past it).
    constexpr std::size_t least = region_offset < 4096 - 256 ? 4096 - region_offset : 256;
    if constexpr (stow_measurable<L>) {
      if (capacity_hint == 0) capacity_hint = stow_traits<L>::stow_bytes(&root);
    }
    constexpr std::size_t most = (~std::size_t(0) >> 2) - region_offset;
    std::size_t capacity = capacity_hint > least ? capacity_hint : least;
    for (;;) {
      // Checked before rounding: a hint near SIZE_MAX would round to 0.
      if (capacity > most) return Error::out_of_memory;
      capacity = detail::round64(capacity);
      const Result<Block> block = hold.try_allocate(Layout{region_offset + capacity, 64});
      if (!block) return block.error();
      Parcel p(*block);
      PackType* pack = p.make_pack(block->size - region_offset);
      StowContext cx(HoldRef::of(*pack), &root);
      const Error e = stow_traits<L>::stow(&root, &p.root(), cx);
      if (e == Error::none) {
        cx.commit();
        return Result<Parcel>(detail::move(p));
      }
      cx.rollback();
      pack->~PackType();  // the failed stow left nothing in it
      hold_deallocate(*block);
      p.block_ = Block{};
      if (e != Error::out_of_memory && e != Error::oversized) return e;
      capacity *= 2;
    }
  }

  /// An empty Parcel (a null root) whose region has `capacity` bytes, one object of
  /// `hold`: build a structure in place (allocate in hold(), set root()), then seal()
  /// and send it with no stow. The region is at least `capacity` bytes (rounded up
  /// to 64, and to what the hold's block holds). Errors: the hold's; invalid_argument
  /// for a null hold or a region too small for any object (which the hold's rounding
  /// may leave room for: try_create(hold, 0) then succeeds).
  SWIM_MEM_API static Result<Parcel> try_create(HoldRef hold, std::size_t capacity) {
    if (!hold) return Error::invalid_argument;
    if (capacity > (~std::size_t(0) >> 2) - region_offset) return Error::oversized;
    const Result<Block> block =
        hold.try_allocate(Layout{region_offset + detail::round64(capacity), 64});
    if (!block) return block.error();
    Parcel p(*block);
    PackType* pack = p.make_pack(block->size - region_offset);
    detail::construct_at(&p.root());
    if (pack->init_error() != Error::none) return pack->init_error();
    return Result<Parcel>(detail::move(p));
  }

  /// try_pack_copy, then the original is destroyed (its memory freed): the structure
  /// moved into the Parcel and `root` is null. On failure `root` is untouched.
  SWIM_MEM_API static Result<Parcel> try_pack(L& root, HoldRef hold,
                                              std::size_t capacity_hint = 0) {
    Result<Parcel> p = try_pack_copy(root, hold, capacity_hint);
    if (p) root = L{};
    return p;
  }

  /// Check an image (seal()'s bytes, as they arrived) and unpack it into a new
  /// Parcel, one object of `hold`. Errors: malformed (see the file comment); the
  /// hold's (out_of_memory...); invalid_argument for a null hold or null bytes.
  SWIM_MEM_API static Result<Parcel> try_unpack(const void* image, std::size_t bytes,
                                                HoldRef hold, UnpackOptions options = {}) {
    if (image == nullptr) return Error::invalid_argument;
    return try_unpack_with(bytes, hold, [&](void* to) {
      if (bytes != 0) __builtin_memcpy(to, image, bytes);
      return Error::none;
    }, options);
  }

  /// The same, with `fill(void* to)` writing the `bytes` of the image (a receive
  /// straight into the Parcel's block: no copy). fill returns Error::none or an error,
  /// which is returned.
  template <class Fill>
  SWIM_MEM_API static Result<Parcel> try_unpack_with(std::size_t bytes, HoldRef hold, Fill&& fill,
                                                     UnpackOptions options = {}) {
    if (!hold) return Error::invalid_argument;
    if (bytes < region_offset) return Error::malformed;
    constexpr std::size_t most = ~std::size_t(0) >> 2;
    if (bytes > most || options.extra_capacity > most - bytes) return Error::oversized;
    const std::size_t total = detail::round64(bytes + options.extra_capacity);
    const Result<Block> block = hold.try_allocate(Layout{total + align_kept, 64});
    if (!block) return block.error();
    Parcel p(*block);  // frees the block on every early return (nothing constructed yet)
    p.constructed_ = false;
    const Error filled = fill(block->ptr);
    if (filled != Error::none) return filled;
    // Where the image must start: at the sender's address modulo align_kept (both
    // 64-byte aligned, so a multiple of 64). Moved there when it did not land there.
    std::uint64_t old_base = 0;
    __builtin_memcpy(&old_base, static_cast<std::byte*>(block->ptr) + __builtin_offsetof(ParcelHeader, old_base), 8);
    p.skew_ = static_cast<std::size_t>(old_base - block->address()) & (align_kept - 1);
    if (p.skew_ % 64 != 0) return Error::malformed;
    if (p.skew_ != 0) {
      auto* at = static_cast<std::byte*>(block->ptr);
      __builtin_memmove(at + p.skew_, at, bytes);
    }
    const Error e = p.adopt(bytes, options.max_depth, hold);
    if (e != Error::none) return e;
    p.constructed_ = true;
    return Result<Parcel>(detail::move(p));
  }

  /// Write the header and give the image to send: the bytes from the header to the
  /// end of the last object. Quiescent: nobody may change the structure meanwhile.
  /// An empty Block for an empty Parcel. Under ASan or valgrind, the bytes of objects
  /// freed in the Parcel are made readable (they travel with the image).
  SWIM_MEM_API Block seal() {
    if (block_.ptr == nullptr) return Block{};
    ParcelHeader& h = header();
    const typename PackType::Snapshot s = pack().snapshot();
    // The image is about to be copied whole: the holes of objects freed in place
    // (poisoned under ASan and valgrind) become readable, so that a memcpy, a write()
    // or MPI may read them.
    detail::unpoison_meta(start() + region_offset, s.mark);
    h.magic = ParcelHeader::magic_value;
    h.version = ParcelHeader::version_value;
    h.header_bytes = sizeof(ParcelHeader);
    h.image_bytes = region_offset + s.mark;
    h.fingerprint = detail::type_fingerprint<L>();
    h.old_base = reinterpret_cast<std::uintptr_t>(start());
    h.region_offset = region_offset;
    h.old_tag = pack().tag_owner();
    h.mark = s.mark;
    h.objects = s.objects;
    h.zero_objects = s.zero_objects;
    h.bytes_in_use = s.bytes_in_use;
    h.checksum = checksum_of(start(), static_cast<std::size_t>(h.image_bytes));
    return Block{start(), static_cast<std::size_t>(h.image_bytes)};
  }

  SWIM_MEM_API explicit operator bool() const { return block_.ptr != nullptr; }
  /// The structure (a Parcel that is not empty).
  SWIM_MEM_API L& root() const {
    return *reinterpret_cast<L*>(start() + root_offset);
  }
  /// The hold its objects live in: what growing them in place allocates from.
  SWIM_MEM_API HoldRef hold() const { return HoldRef::of(pack()); }
  /// The Parcel's own Pack's statistics.
  SWIM_MEM_API Stats stats() const { return pack().stats(); }
  /// The Parcel's whole object in its hold.
  SWIM_MEM_API Block block() const { return block_; }

  /// Destroy the structure and free the Parcel.
  SWIM_MEM_API void reset() {
    if (block_.ptr == nullptr) return;
    if (constructed_) {
      root().~L();
      pack().~PackType();
    }
    hold_deallocate(block_);
    block_ = Block{};
    constructed_ = true;
  }

 private:
  SWIM_MEM_API explicit Parcel(Block b) : block_(b) {}

  // The Parcel's first byte (its header): the block's, or further in when an image
  // was moved to keep its alignment.
  SWIM_MEM_API std::byte* start() const { return static_cast<std::byte*>(block_.ptr) + skew_; }
  SWIM_MEM_API std::size_t room() const { return block_.size - skew_; }
  SWIM_MEM_API ParcelHeader& header() const { return *reinterpret_cast<ParcelHeader*>(start()); }
  SWIM_MEM_API PackType& pack() const {
    return *reinterpret_cast<PackType*>(start() + pack_offset);
  }
  SWIM_MEM_API PackType* make_pack(std::size_t capacity) {
    auto* at = start();
    return detail::construct_at(reinterpret_cast<PackType*>(at + pack_offset),
                                Block{at + region_offset, capacity});
  }
  SWIM_MEM_API static std::uint64_t checksum_of(const void* image, std::size_t n) {
    const auto* p = static_cast<const std::byte*>(image);
    constexpr std::size_t at = __builtin_offsetof(ParcelHeader, checksum);
    const std::uint64_t head = detail::parcel_checksum(p, at, ParcelHeader::magic_value);
    return detail::parcel_checksum(p + at + 8, n - at - 8, head);
  }

  // Check the image that fill() wrote (`bytes` of it), make the Pack, rebase.
  SWIM_MEM_API Error adopt(std::size_t bytes, unsigned max_depth, HoldRef hold) {
    const ParcelHeader h = header();
    if (h.magic != ParcelHeader::magic_value || h.version != ParcelHeader::version_value ||
        h.header_bytes != sizeof(ParcelHeader) || h.image_bytes != bytes ||
        h.region_offset != region_offset || h.fingerprint != detail::type_fingerprint<L>() ||
        h.mark != bytes - region_offset ||
        h.checksum != checksum_of(start(), bytes)) {
      return Error::malformed;
    }
    PackType* pack = make_pack(room() - region_offset);
    if (pack->init_error() != Error::none && h.mark != 0) return Error::malformed;
    // The Pack's accounting as the sender's (this opens the bytes below the mark,
    // which the new Pack poisoned), checked against what the rebase claims.
    typename PackType::Snapshot s;
    s.mark = static_cast<std::size_t>(h.mark);
    s.objects = static_cast<std::size_t>(h.objects);
    s.zero_objects = h.zero_objects;
    s.bytes_in_use = h.bytes_in_use;
    if (h.objects != s.objects || pack->restore(s) != Error::none) {
      pack->~PackType();
      return Error::malformed;
    }
    // The rebase's record of the bytes claimed: one bit per 8 bytes, for a moment.
    const std::size_t words = RebaseContext::bitmap_words(s.mark);
    Block bitmap{};
    if (words != 0) {
      const Result<Block> b = hold.try_allocate(Layout{words * 8, 8});
      if (!b) {
        pack->restore(typename PackType::Snapshot{});
        pack->~PackType();
        return b.error();
      }
      bitmap = *b;
      for (std::size_t i = 0; i < words; ++i) static_cast<std::uint64_t*>(bitmap.ptr)[i] = 0;
    }
    auto* base = start();
    RebaseContext::Geometry g;
    g.old_base = static_cast<std::uintptr_t>(h.old_base);
    g.new_base = base;
    g.region_offset = region_offset;
    g.region_mark = s.mark;
    g.zero_offset = static_cast<std::size_t>(
        static_cast<const std::byte*>(pack->zero_address()) - base);
    g.old_tag = h.old_tag;
    g.new_tag = pack->tag_owner();
    g.max_depth = max_depth;
    g.claimed = static_cast<std::uint64_t*>(bitmap.ptr);
    RebaseContext cx(g);
    Error e = stow_traits<L>::rebase(&root(), cx);
    if (bitmap.ptr != nullptr) hold_deallocate(bitmap);
    // Every live object of the Pack, and nothing else, is reachable from the root.
    if (e == Error::none &&
        (cx.objects() != s.objects || cx.zero_objects() != s.zero_objects ||
         cx.bytes_in_use() != s.bytes_in_use)) {
      e = Error::malformed;
    }
    if (e != Error::none) {
      pack->restore(typename PackType::Snapshot{});  // give the bytes up unseen: no destructor runs
      pack->~PackType();
      return e;
    }
    return Error::none;
  }

  Block block_{};
  std::size_t skew_ = 0;     // where the Parcel starts in block_
  bool constructed_ = true;  // false while try_unpack_with has not checked the bytes
};

}  // namespace swim::mem
