// Layer 5 (holds): the closed list of control blocks a tag can name.
//
// A tag (holds/tag.hpp) is {control block address | kind}, and the kind is the
// control block's type: its 1-based position in hold_kinds. Every operation on an
// object through its tag (holds/hold.hpp: free, resize, owner, and HoldRef's
// allocate, checked free and stats) is generated from this list, so adding a
// kind of hold is adding its control block type here. The kind field is
// tag_kind_bits wide: as many bits as the control blocks' alignment leaves free
// (checked in holds/hold.hpp), with 0 meaning "no hold" and the all-ones value
// HoldKind::freed marking a freed object.
//
// The contract of a control block type C in the list (every member SWIM_MEM_API,
// with the thread-safety of its hold):
//   Error tag_free(Block b)
//       Free b, an object whose tag names this control block. The tag is
//       trusted (it led here); the rest of b is checked: double frees and
//       blocks that do not match their tag give errors and change nothing.
//   Result<Block> tag_resize(Block b, Layout l)
//       Resize b (tagged as above) in place, or an error; it never moves.
//   std::uint64_t tag_owner() const
//       The word of the HoldRef that owns the objects tagged with this block (an
//       absolute {address | kind}, whatever the tags are).
// Optional: static constexpr bool relative_tags = true when the block's tags are
// relative (holds/tag.hpp, make_relative_tag): decoded from the object's address.
// A control block that a HoldRef designates (a hold proper: Pack, PoolCore, ClassCore)
// also provides:
//   Result<Block> tag_allocate(Layout l)
//       A new tagged object of this hold (a Pool grows through its HeapRef).
//   Error checked_free(Block b)
//       Free b if it is an object of this hold, validating everything it reads
//       first: a pointer that is not one of the hold's objects gives
//       foreign_pointer and nothing is dereferenced beyond the word in front of
//       b.ptr (which must be readable).
//   Stats stats() const
#pragma once

#include <cstdint>

#include "swim/mem/config.hpp"
#include "swim/mem/physical/address.hpp"

namespace swim::mem {

template <concurrency_mode Mode, class Addr = direct_address>
class Pack;

namespace detail {
template <concurrency_mode Mode, class Addr = direct_address>
struct PoolHunk;
template <concurrency_mode Mode, class Addr = direct_address>
class PoolCore;
template <concurrency_mode Mode, class Addr = direct_address>
struct ClassHunk;
template <concurrency_mode Mode, class Addr = direct_address>
class ClassCore;
}  // namespace detail

/// Every control block type a tag can name, in kind order (kind = position + 1).
using hold_kinds = detail::type_list<
    Pack<concurrent>,
    Pack<single_owner>,
    detail::PoolHunk<concurrent>,    // a Pool's objects of non-zero size
    detail::PoolHunk<single_owner>,
    detail::PoolCore<concurrent>,    // a Pool itself: its zero-size objects, HoldRef
    detail::PoolCore<single_owner>,
    detail::ClassHunk<concurrent>,   // a SizeClasses hunk: its class objects
    detail::ClassHunk<single_owner>,
    detail::ClassCore<concurrent>,   // a SizeClasses hold itself: its large objects, HoldRef
    detail::ClassCore<single_owner>,
    Pack<concurrent, relative_address>,   // in memory several processes map (relative tags)
    detail::PoolHunk<concurrent, relative_address>,  // a relative Pool's objects
    detail::PoolCore<concurrent, relative_address>,  // a relative Pool itself
    detail::ClassHunk<concurrent, relative_address>,  // a relative SizeClasses' class objects
    detail::ClassCore<concurrent, relative_address>>;  // a relative SizeClasses itself

/// The kind field of a tag. Values other than none and freed are positions in
/// hold_kinds (hold_kind_v).
enum class HoldKind : std::uint8_t {
  none = 0,    ///< not a tag of any hold
  freed = 63,  ///< a freed object's tag (its control block address is kept)
};

namespace detail {
inline constexpr unsigned tag_kind_bits = 6;
inline constexpr std::uint64_t tag_kind_mask = (std::uint64_t(1) << tag_kind_bits) - 1;
/// The alignment every control block in hold_kinds must have.
inline constexpr std::size_t control_align = std::size_t(1) << tag_kind_bits;
}  // namespace detail

/// The kind of control block type C.
template <class C>
inline constexpr HoldKind hold_kind_v =
    static_cast<HoldKind>(detail::list_index<C, hold_kinds>::value);

static_assert(hold_kinds::size < static_cast<unsigned>(HoldKind::freed),
              "the tag's kind field is full: widen the control blocks' alignment");
static_assert(static_cast<std::uint64_t>(HoldKind::freed) == detail::tag_kind_mask);

}  // namespace swim::mem
