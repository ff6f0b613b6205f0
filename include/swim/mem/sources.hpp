// Umbrella header of layer 3 (sources): the memory_source concept, StaticRegion
// and OsPages.
//
// The GPU runtime sources need their runtime's headers and are included on
// their own: swim/mem/sources/cuda_memory.hpp (CudaDeviceMemory,
// CudaManagedMemory) and swim/mem/sources/hip_memory.hpp (HipDeviceMemory,
// HipManagedMemory).
#pragma once
#include "swim/mem/physical.hpp"
#include "swim/mem/sources/concept.hpp"
#include "swim/mem/sources/os_pages.hpp"
#include "swim/mem/sources/static_region.hpp"
