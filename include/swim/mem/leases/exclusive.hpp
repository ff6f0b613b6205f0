// Layer 6 (leases): the exclusive leases, Raw and Ptr.
//
// Both own one tagged memory object of a hold, are move-only, and can be
// relocated (moved to another block or hold) at will because nobody else points
// at the object. They differ in where the resident's metadata lives:
//   Raw<R>  [tag][payload]                 metadata in the handle (like a vector)
//   Ptr<R>  [tag][meta][pad][payload]      metadata in the object: the handle is
//                                          one pointer
// A moved-from or default-constructed lease is null and safe to destroy.
//
// Thread-safety: a lease is not synchronised; use one from one thread at a time
// (handing it to another thread needs the usual happens-before). Host/device:
// every member is valid on both sides, for objects of holds reachable there.
#pragma once

#include <type_traits>

#include "swim/mem/holds.hpp"
#include "swim/mem/leases/address.hpp"
#include "swim/mem/leases/resident.hpp"
#include "swim/mem/leases/stow.hpp"

namespace swim::mem {

namespace detail {

/// Where a Ptr's metadata sits: `offset` bytes before the payload.
template <class R>
SWIM_MEM_API inline std::size_t meta_offset(const typename R::meta_type& meta) {
  using M = typename R::meta_type;
  if constexpr (std::is_empty_v<M>) {
    (void)meta;
    return 0;
  } else {
    const std::size_t align = R::layout(meta).align;
    return (sizeof(M) + align - 1) & ~(align - 1);
  }
}

/// The whole object's layout for a payload layout (metadata first for Ptr).
template <class R, bool MetaInObject>
SWIM_MEM_API inline Result<Layout> object_layout(Layout payload) {
  using M = typename R::meta_type;
  if constexpr (!MetaInObject || std::is_empty_v<M>) {
    return payload;
  } else {
    const Result<Extended> e = Layout::of<M>().extend(payload);
    if (!e) return e.error();
    return e->layout;
  }
}

}  // namespace detail

/// The implementation shared by Raw (MetaInObject = false) and Ptr (true).
template <resident R, bool MetaInObject, class Addr>
class ExclusiveLease : public R::template interface<ExclusiveLease<R, MetaInObject, Addr>> {
  // Empty metadata costs nothing in the handle, so it never goes in the object.
  static constexpr bool in_object = MetaInObject && !std::is_empty_v<typename R::meta_type>;

 public:
  using resident_type = R;
  using value_type = typename R::value_type;
  using meta_type = typename R::meta_type;
  static constexpr bool is_mutable = true;
  static constexpr bool is_dereferenceable = true;
  /// Nobody else points at the object (see try_release_for_unwrap).
  static constexpr bool is_exclusive = true;

  constexpr ExclusiveLease() = default;
  SWIM_MEM_API ExclusiveLease(ExclusiveLease&& other) : data_(other.data_) {
    if constexpr (!in_object) {
      meta_ = other.meta_;
      other.meta_ = {};
    }
    other.data_.set(nullptr);
  }
  /// `other` may live inside the object this lease owns (`list = move(list->next)`):
  /// it is emptied first, then the old object goes, as unique_ptr's assignment does.
  SWIM_MEM_API ExclusiveLease& operator=(ExclusiveLease&& other) {
    if (this != &other) {
      ExclusiveLease taken(static_cast<ExclusiveLease&&>(other));
      reset();
      data_ = taken.data_;
      if constexpr (!in_object) {
        meta_ = taken.meta_;
        taken.meta_ = {};
      }
      taken.data_.set(nullptr);
    }
    return *this;
  }
  ExclusiveLease(const ExclusiveLease&) = delete;
  ExclusiveLease& operator=(const ExclusiveLease&) = delete;
  SWIM_MEM_API ~ExclusiveLease() { reset(); }

  /// Allocate an object in `hold` for `meta` and let `init(data, meta)` construct
  /// the payload; init returns Error::none or an error (then the object is freed).
  template <class Init>
  SWIM_MEM_API static Result<ExclusiveLease> try_make(HoldRef hold, const meta_type& meta,
                                                        Init&& init) {
    const Result<Layout> layout = detail::object_layout<R, in_object>(R::layout(meta));
    if (!layout) return layout.error();
    const Result<Block> block = hold.try_allocate(*layout);
    if (!block) return block.error();
    ExclusiveLease lease;
    auto* data = reinterpret_cast<value_type*>(block->begin() + offset_for(meta));
    lease.data_.set(data);
    lease.meta() = meta;
    const Error e = init(data, lease.meta());
    if (e != Error::none) {
      lease.data_.set(nullptr);
      hold_deallocate(*block);
      return e;
    }
    return Result<ExclusiveLease>(detail::move(lease));
  }

  /// Destroy the payload and free the object; the lease becomes null.
  SWIM_MEM_API void reset() {
    value_type* data = data_.get();
    if (data == nullptr) return;
    R::destroy(data, meta());
    hold_deallocate(block());
    data_.set(nullptr);
  }

  SWIM_MEM_API explicit operator bool() const { return data_.get() != nullptr; }
  SWIM_MEM_API value_type* data() const { return data_.get(); }
  /// The resident's metadata (length, capacity, user metadata...). For a Ptr the
  /// lease must not be null (the metadata lives in the object).
  SWIM_MEM_API meta_type& meta() const {
    if constexpr (in_object) {
      SWIM_MEM_ASSERT(data_.get() != nullptr);
      return *reinterpret_cast<meta_type*>(reinterpret_cast<std::byte*>(data_.get()) -
                                           detail::meta_offset<R>(meta_type{}));
    } else {
      return meta_;
    }
  }
  /// The hold that owns the object (a null HoldRef for a null lease).
  SWIM_MEM_API HoldRef hold() const {
    return data_.get() != nullptr ? HoldRef::owner_of(object_start()) : HoldRef();
  }
  /// The whole memory object, metadata included for Ptr (an empty Block for a null
  /// lease).
  SWIM_MEM_API Block block() const {
    if (data_.get() == nullptr) return Block{};
    const Result<Layout> l = detail::object_layout<R, in_object>(R::layout(meta()));
    return Block{object_start(), l->size};
  }

  /// Give the payload room for `payload` (a new layout): in place when the hold
  /// can, otherwise in a new object of the same hold, to which `move(from, to)`
  /// moves the payload's contents (the metadata travels by itself). On failure
  /// nothing changes.
  template <class Move>
  SWIM_MEM_API Error try_regrow(Layout payload, Move&& move) {
    const Result<Layout> layout = detail::object_layout<R, in_object>(payload);
    if (!layout) return layout.error();
    const Block old = block();
    if (old.size != 0 && layout->size != 0) {
      if (hold_resize(old, *layout)) return Error::none;
    }
    const Result<Block> fresh = hold().try_allocate(*layout);
    if (!fresh) return fresh.error();
    const std::size_t offset = offset_for(meta());
    auto* to = reinterpret_cast<value_type*>(fresh->begin() + offset);
    if constexpr (in_object) {
      detail::construct_at(reinterpret_cast<meta_type*>(fresh->begin()), meta());
    }
    move(data_.get(), to);
    hold_deallocate(old);
    data_.set(to);
    return Error::none;
  }

  /// Forget the object without destroying or freeing it (it must be owned elsewhere).
  SWIM_MEM_API value_type* release() {
    value_type* d = data_.get();
    data_.set(nullptr);
    return d;
  }

  // ---- Clone and unwrap: try_clone, try_clone_into, try_release_for_unwrap ----------

  /// A deep copy in this lease's own hold (R::clone_meta: a Buf or String clone is
  /// shrunk to fit). Errors: invalid_argument for a null lease, the hold's
  /// (out_of_memory...) or the resident's; on error nothing changes and nothing is
  /// left allocated. Only when R is a cloneable_resident.
  template <detail::lease_cloneable<ExclusiveLease> Self = ExclusiveLease>
  SWIM_MEM_API Result<ExclusiveLease> try_clone() const {
    if (!*this) return Error::invalid_argument;
    return try_clone_into(hold());
  }
  /// The same into `target`, which may be any hold.
  template <detail::lease_cloneable<ExclusiveLease> Self = ExclusiveLease>
  SWIM_MEM_API Result<ExclusiveLease> try_clone_into(HoldRef target) const {
    if (!*this) return Error::invalid_argument;
    const meta_type& src_meta = meta();
    return try_make(target, R::clone_meta(src_meta), [&](value_type* d, meta_type& m) {
      return R::clone(data(), src_meta, d, m);
    });
  }

  /// The unwrap primitive of the mixins (contract in leases/resident.hpp): call
  /// `take(data, meta)`, which moves the value out and destroys the rest of the
  /// payload, then free the object (no R::destroy) and become null. An exclusive
  /// lease always can; Error::invalid_argument for a null lease (take not called).
  template <class Take>
  SWIM_MEM_API Error try_release_for_unwrap(Take&& take) {
    value_type* d = data_.get();
    if (d == nullptr) return Error::invalid_argument;
    const Block b = block();  // before take: the payload's layout may need the metadata
    take(d, meta());
    hold_deallocate(b);
    data_.set(nullptr);
    if constexpr (!in_object) meta_ = {};
    return Error::none;
  }

 private:
  template <class, class>
  friend struct stow_traits;

  SWIM_MEM_API static std::size_t offset_for(const meta_type& meta) {
    if constexpr (in_object) {
      return detail::meta_offset<R>(meta);
    } else {
      (void)meta;
      return 0;
    }
  }
  SWIM_MEM_API void* object_start() const {
    return reinterpret_cast<std::byte*>(data_.get()) - offset_for(meta_type{});
  }
  typename Addr::template pointer<value_type> data_{};
  struct Empty {};
  [[no_unique_address]] mutable std::conditional_t<in_object, Empty, meta_type> meta_{};
};

/// Exclusive, relocatable; metadata in the handle. Raw<Box<T>> is like a unique
/// pointer, Raw<Buf<T>> like a vector.
template <resident R, class Addr = direct_address>
using Raw = ExclusiveLease<R, false, Addr>;

/// Exclusive, relocatable; metadata inside the object, the handle is one pointer.
template <resident R, class Addr = direct_address>
using Ptr = ExclusiveLease<R, true, Addr>;

/// Stowing an exclusive lease: a new object in the target with a stowed copy of
/// the payload; unstow frees it again.
template <resident R, bool MetaInObject, class Addr>
struct stow_traits<ExclusiveLease<R, MetaInObject, Addr>> {
  using L = ExclusiveLease<R, MetaInObject, Addr>;
  using value_type = typename R::value_type;
  using meta_type = typename R::meta_type;

  // Out of line: this is where a recursive stow recurses.
  SWIM_MEM_NOINLINE SWIM_MEM_API static Error stow(const L* src, L* dst, StowContext& cx) {
    detail::construct_at(dst);
    if (!*src) return Error::none;
    const meta_type dst_meta = R::stow_meta(src->meta());
    Result<L> made = L::try_make(cx.target(), dst_meta, [&](value_type* data, meta_type& m) {
      return R::stow(src->data(), src->meta(), data, m, cx);
    });
    if (!made) return made.error();
    *dst = made.take();
    return Error::none;
  }

  SWIM_MEM_NOINLINE SWIM_MEM_API static void unstow(const L* src, L* dst) {
    if (*dst) {
      R::unstow(src->data(), src->meta(), dst->data(), dst->meta());
      hold_deallocate(dst->block());
      dst->release();
    }
    dst->~L();
  }

  /// What a stow of *obj takes in a Pack: the stowed object (its tag, the gap its
  /// alignment may need, its bytes rounded to 8) and what its payload owns.
  SWIM_MEM_NOINLINE SWIM_MEM_API static std::size_t stow_bytes(const L* obj) {
    if (!*obj) return 0;
    const meta_type m = R::stow_meta(obj->meta());
    const Result<Layout> l = detail::object_layout<R, L::in_object>(R::layout(m));
    std::size_t own = 0;
    if (l && (l->size != 0 || l->align > detail::ZeroTag::max_align)) {
      const std::size_t align = l->align > detail::tag_size ? l->align : detail::tag_size;
      own = detail::tag_size + (align - detail::tag_size) + ((l->size + 7) & ~std::size_t(7));
      if (l->size == 0) own += detail::tag_size;
    }
    if constexpr (requires { R::stow_bytes(obj->data(), obj->meta()); }) {
      return own + R::stow_bytes(obj->data(), obj->meta());
    } else {
      return own;  // a resident that cannot say: short, so a Parcel grows
    }
  }

  /// Rebase (leases/rebase.hpp): claim the object, check its size and alignment,
  /// then rebase the payload. Direct addresses only (a relative lease needs none).
  template <class A = Addr>
    requires std::is_same_v<A, direct_address>
  SWIM_MEM_NOINLINE SWIM_MEM_API static Error rebase(L* obj, RebaseContext& cx) {
    value_type* const old = obj->data_.get();
    if (old == nullptr) return Error::none;
    const std::size_t offset = L::offset_for(meta_type{});
    const Result<RebaseContext::Claimed> c =
        cx.claim(old, offset, L::in_object ? sizeof(meta_type) : 0);
    if (!c) return c.error();
    obj->data_.set(reinterpret_cast<value_type*>(c->payload));
    // The metadata can be read now (in the handle, or checked to be in the object).
    const Result<Layout> l = detail::object_layout<R, L::in_object>(R::layout(obj->meta()));
    if (!l) return Error::malformed;
    if (c->zero_size) {
      if (l->size != 0 || l->align > detail::ZeroTag::max_align) return Error::malformed;
    } else {
      const Error e = cx.extent(l->size);
      if (e != Error::none) return e;
      if (reinterpret_cast<std::uintptr_t>(c->payload - offset) % l->align != 0) {
        return Error::malformed;  // (an alignment above the copy's own: see residents/parcel.hpp)
      }
    }
    if (cx.enter() != Error::none) return Error::malformed;
    const Error e = R::rebase(obj->data(), obj->meta(), cx);
    cx.leave();
    return e;
  }
};

}  // namespace swim::mem
