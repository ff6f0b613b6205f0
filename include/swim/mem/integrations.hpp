// Umbrella header of layer 8 (integrations), host only: swim-mem through the
// standard library's interfaces, std::pmr::memory_resource (MemoryResource) and
// the Allocator requirements (StlAllocator), and SpaceBinding (an allocator bound,
// counted, for a framework's memory spaces). Not included by <swim/mem.hpp>: it
// needs exceptions and <memory_resource>. The GPU adapters need their runtime's
// headers and are included on their own: swim/mem/integrations/cuda_mr.hpp
// (CudaResource, cuda::mr) and swim/mem/integrations/hip_resource.hpp (HipResource);
// so are the Kokkos spaces, swim/mem/integrations/kokkos.hpp (needs Kokkos).
#pragma once
#include "swim/mem/integrations/accessibility.hpp"
#include "swim/mem/integrations/block_allocator.hpp"
#include "swim/mem/integrations/pmr.hpp"
#include "swim/mem/integrations/space_binding.hpp"
#include "swim/mem/integrations/stl_allocator.hpp"
