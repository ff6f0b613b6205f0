// Layer 6 (leases): RebaseContext, the state of one rebase: a structure whose bytes
// were copied whole from one place (a Pack's region in another process) to another,
// made valid at its new address.
//
// A stowed structure lives in one Pack (residents/parcel.hpp). Copied byte for byte
// to a new address, every direct address in it is off by the distance between the
// old and the new copy, and every tag names the old Pack. The rebase walks the
// structure from its root, as stow did, through stow_traits<T>::rebase:
//   static Error rebase(T* obj, RebaseContext& cx)
//       Make *obj, a byte copy of a stowed T, valid at its new address: each lease
//       in it passes its payload address through cx.claim(), which checks it,
//       rewrites the object's tag and gives the new address; then its resident's
//       contents are rebased (R::rebase). Objects may be claimed in any order: the
//       context keeps one bit per 8 bytes of the region and refuses an object whose
//       bytes (its tag included) another one took, which is what proves that no two
//       leases share bytes and no byte outside the copy is reached.
// The bytes may come from anyone (a message): every address and length is checked
// before it is followed, and anything that does not check gives Error::malformed
// (then the copy is discarded as it is, without running a destructor).
// Provided: trivially copyable types (nothing to do: a trivially copyable type must
// not hold addresses, as for stow), stow_members, the exclusive leases Raw and Ptr
// with direct addresses, and the residents Box, Buf and String. Not the shared
// leases: their counts may include references that did not travel.
#pragma once

#include <cstddef>
#include <cstdint>

#include "swim/mem/holds.hpp"

namespace swim::mem {

/// The state of one rebase (see the file comment). Host and device.
class RebaseContext {
 public:
  /// Where the copy came from and where it is now.
  struct Geometry {
    std::uintptr_t old_base = 0;  ///< the old address of the copy's first byte
    std::byte* new_base = nullptr;  ///< its new address
    std::size_t region_offset = 0;  ///< the Pack region's start in the copy (8-aligned)
    std::size_t region_mark = 0;    ///< bytes of the region that hold objects
    std::size_t zero_offset = 0;    ///< where the Pack's zero-size object is in the copy
    std::uint64_t old_tag = 0;      ///< the tag of the objects in the copy
    std::uint64_t new_tag = 0;      ///< the tag they must get
    unsigned max_depth = 0;         ///< the deepest nesting of objects accepted
    /// One bit per 8 bytes of the region below the mark, all clear: the bytes
    /// claimed so far (bitmap_words(region_mark) words).
    std::uint64_t* claimed = nullptr;
  };
  /// The words of Geometry::claimed for a region of `mark` bytes.
  SWIM_MEM_API static constexpr std::size_t bitmap_words(std::size_t mark) {
    return (mark / tag_granule + 63) / 64;
  }

  SWIM_MEM_API explicit RebaseContext(const Geometry& g) : g_(g) {}
  RebaseContext(const RebaseContext&) = delete;
  RebaseContext& operator=(const RebaseContext&) = delete;

  /// What claim() found.
  struct Claimed {
    std::byte* payload = nullptr;  ///< the payload's new address
    bool zero_size = false;        ///< the Pack's shared zero-size object
  };

  /// Take the object whose payload had the old address `old_payload`, the payload
  /// `offset` bytes after the object's start, of which `head` bytes (metadata kept in
  /// the object) must be readable right away. Checks that the object starts in the
  /// region, 8-byte aligned, with the old tag in front; rewrites the tag (so a second
  /// claim of the same object finds no old tag). extent() then checks its bytes. The
  /// zero-size object may be claimed any number of times.
  SWIM_MEM_API Result<Claimed> claim(const void* old_payload, std::size_t offset,
                                     std::size_t head) {
    const std::uintptr_t off = reinterpret_cast<std::uintptr_t>(old_payload) - g_.old_base;
    if (off == g_.zero_offset && offset == 0 && head == 0) {
      ++zero_objects_;
      return Claimed{g_.new_base + off, true};
    }
    // The object's start, relative to the region: one tag in.
    const std::uintptr_t rel = off - g_.region_offset - offset;
    if (off < g_.region_offset + offset || rel % tag_granule != 0 || rel < tag_granule ||
        rel > g_.region_mark || g_.region_mark - rel < head) {
      return Error::malformed;
    }
    std::byte* const object = g_.new_base + g_.region_offset + rel;
    auto* tag = reinterpret_cast<std::uint64_t*>(object) - 1;
    if (*tag != g_.old_tag) return Error::malformed;
    *tag = g_.new_tag;
    pending_ = rel;
    return Claimed{object + offset, false};
  }

  /// The size of the object claimed last, now that its metadata can be read: its
  /// tag and bytes must end within the region and be nobody else's. Counts it.
  SWIM_MEM_API Error extent(std::size_t size) {
    const std::size_t room = g_.region_mark - pending_;
    if ((size == 0 ? std::size_t(1) : size) > room) return Error::malformed;
    const std::size_t rounded = size == 0 ? tag_granule : (size + tag_granule - 1) & ~(tag_granule - 1);
    if (rounded > room) return Error::malformed;
    // Granules [first, last): the tag and the object.
    const std::size_t first = pending_ / tag_granule - 1;
    const std::size_t last = (pending_ + rounded) / tag_granule;
    if (!take(first, last)) return Error::malformed;
    ++objects_;
    bytes_in_use_ += rounded;
    return Error::none;
  }

  /// One level deeper into the structure (malformed past max_depth); leave() undoes.
  SWIM_MEM_API Error enter() { return ++depth_ > g_.max_depth ? Error::malformed : Error::none; }
  SWIM_MEM_API void leave() { --depth_; }

  /// What was claimed: objects with bytes, claims of the zero-size object, and their
  /// bytes rounded as a Pack counts them.
  SWIM_MEM_API std::size_t objects() const { return objects_; }
  SWIM_MEM_API std::uint64_t zero_objects() const { return zero_objects_; }
  SWIM_MEM_API std::uint64_t bytes_in_use() const { return bytes_in_use_; }

 private:
  static constexpr std::size_t tag_granule = detail::tag_size;

  // Set bits [first, last) of the bitmap if all are clear; false (nothing set) if not.
  SWIM_MEM_API bool take(std::size_t first, std::size_t last) {
    for (int pass = 0; pass < 2; ++pass) {
      for (std::size_t i = first; i < last;) {
        const std::size_t word = i / 64, bit = i % 64;
        const std::size_t n = last - i < 64 - bit ? last - i : 64 - bit;
        const std::uint64_t mask = (n == 64 ? ~std::uint64_t(0) : ((std::uint64_t(1) << n) - 1))
                                   << bit;
        if (pass == 0 && (g_.claimed[word] & mask) != 0) return false;
        if (pass == 1) g_.claimed[word] |= mask;
        i += n;
      }
    }
    return true;
  }

  Geometry g_;
  std::size_t pending_ = 0;  // region offset of the object claimed last
  std::size_t objects_ = 0;
  std::uint64_t zero_objects_ = 0;
  std::uint64_t bytes_in_use_ = 0;
  unsigned depth_ = 0;
};

}  // namespace swim::mem
