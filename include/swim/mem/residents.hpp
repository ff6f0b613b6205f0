// Umbrella header of layer 7 (residents): Box, Buf, String, compaction (one Pool;
// parallel, from one hold into another), Parcel (a structure as one run of bytes).
#pragma once
#include "swim/mem/leases.hpp"
#include "swim/mem/residents/aliases.hpp"
#include "swim/mem/residents/box.hpp"
#include "swim/mem/residents/buf.hpp"
#include "swim/mem/residents/string.hpp"
#include "swim/mem/residents/compact.hpp"
#include "swim/mem/residents/compact_share.hpp"
#include "swim/mem/residents/parcel.hpp"
