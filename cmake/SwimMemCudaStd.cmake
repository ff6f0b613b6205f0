# Teach CMake < 3.26 (Debian 12 has 3.25) that nvcc >= 12 accepts -std=c++20.
#
# CMake 3.25 knows no C++20 flag for nvcc: CUDA_STANDARD 20 silently decays to
# C++17, and, worse, a target with CUDA sources that links anything carrying the
# compile feature cxx_std_20 (SwimMem::swim_mem does) either fails to generate
#   ("requires the language dialect CUDA20 ... CMake does not know the flags")
# or, when CUDA is enabled after the package was found, generates and compiles as
# C++17 (nvcc then stops at the first `concept` of a swim-mem header).
# Defining the flag variables fixes both. Runs only in a directory where CUDA is
# enabled, with nvcc, and only when CMake has not defined the flags itself.
macro(swim_mem_teach_cuda20)
  if(CMAKE_CUDA_COMPILER_LOADED
     AND CMAKE_CUDA_COMPILER_ID STREQUAL "NVIDIA"
     AND CMAKE_CUDA_COMPILER_VERSION VERSION_GREATER_EQUAL 12.0
     AND NOT DEFINED CMAKE_CUDA20_STANDARD_COMPILE_OPTION)
    set(CMAKE_CUDA20_STANDARD_COMPILE_OPTION "-std=c++20")
    set(CMAKE_CUDA20_EXTENSION_COMPILE_OPTION "-std=c++20")
    list(APPEND CMAKE_CUDA_COMPILE_FEATURES cuda_std_20)
  endif()
endmacro()
