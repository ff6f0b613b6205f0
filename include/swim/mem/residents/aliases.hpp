// Layer 7 (residents): names for the 18 lease x resident combinations of the
// memory model ({Raw, Ptr, Mut, Ref, Hard, Soft} x {Box, Buf, String}), each with
// the optional user metadata M. RawBox<T> is Raw<Box<T>>, HardBuf<T, M> is
// Hard<Buf<T, M>>, SoftString<> is Soft<String<>>, and so on.
#pragma once

#include "swim/mem/leases.hpp"
#include "swim/mem/residents/box.hpp"
#include "swim/mem/residents/buf.hpp"
#include "swim/mem/residents/string.hpp"

namespace swim::mem {

template <class T, class M = NoMeta> using RawBox = Raw<Box<T, M>>;
template <class T, class M = NoMeta> using PtrBox = Ptr<Box<T, M>>;
template <class T, class M = NoMeta> using MutBox = Mut<Box<T, M>>;
template <class T, class M = NoMeta> using RefBox = Ref<Box<T, M>>;
template <class T, class M = NoMeta> using HardBox = Hard<Box<T, M>>;
template <class T, class M = NoMeta> using SoftBox = Soft<Box<T, M>>;

template <class T, class M = NoMeta> using RawBuf = Raw<Buf<T, M>>;
template <class T, class M = NoMeta> using PtrBuf = Ptr<Buf<T, M>>;
template <class T, class M = NoMeta> using MutBuf = Mut<Buf<T, M>>;
template <class T, class M = NoMeta> using RefBuf = Ref<Buf<T, M>>;
template <class T, class M = NoMeta> using HardBuf = Hard<Buf<T, M>>;
template <class T, class M = NoMeta> using SoftBuf = Soft<Buf<T, M>>;

template <class M = NoMeta> using RawString = Raw<String<M>>;
template <class M = NoMeta> using PtrString = Ptr<String<M>>;
template <class M = NoMeta> using MutString = Mut<String<M>>;
template <class M = NoMeta> using RefString = Ref<String<M>>;
template <class M = NoMeta> using HardString = Hard<String<M>>;
template <class M = NoMeta> using SoftString = Soft<String<M>>;

}  // namespace swim::mem
