# HIP support for CMake 3.25 on Debian 12's ROCm 5.2.
#
# Out of the box enable_language(HIP) fails there, for four reasons:
#  1. plain clang++ is clang-14; CMake refuses hipcc, so the HIP compiler must be
#     clang++-15;
#  2. CMake 3.25 looks for <rocm_root>/lib/cmake/hip-lang, but Debian ships it in
#     /usr/lib/x86_64-linux-gnu/cmake/hip-lang: we point the ROCm root at a
#     build-tree directory holding a symbolic link to it;
#  3. raw clang-15 cannot find the device libraries without --rocm-path and
#     --rocm-device-lib-path;
#  4. the try_compile project needs amd_comgr, and only the *environment*
#     CMAKE_PREFIX_PATH reaches it.
# A user-provided HIPCXX / CMAKE_HIP_COMPILER / CMAKE_HIP_COMPILER_ROCM_ROOT (a
# proper ROCm install) bypasses all of this.

set(_swim_mem_debian_hip_lang /usr/lib/x86_64-linux-gnu/cmake/hip-lang)

# swim_mem_detect_hip(<out-var>): TRUE when a HIP compiler looks usable.
#
# This is our stand-in for check_language(HIP): check_language runs a separate
# CMake project that cannot receive the shim below, so on Debian it always fails.
# We therefore look for the compiler and the hip-lang package ourselves; the
# real check is enable_language(HIP) in swim_mem_enable_hip().
function(swim_mem_detect_hip out)
  set(found FALSE)
  if(CMAKE_HIP_COMPILER OR DEFINED ENV{HIPCXX})
    set(found TRUE)
  else()
    find_program(SWIM_MEM_HIP_CLANG NAMES clang++-15 DOC "clang used as the HIP compiler")
    mark_as_advanced(SWIM_MEM_HIP_CLANG)
    if(SWIM_MEM_HIP_CLANG AND EXISTS ${_swim_mem_debian_hip_lang}/hip-lang-config.cmake)
      set(found TRUE)
    endif()
  endif()
  set(${out} ${found} PARENT_SCOPE)
endfunction()

# swim_mem_enable_hip(): apply the Debian shim when needed, then enable HIP.
# A macro, because enable_language must run in the caller's (top-level) scope.
macro(swim_mem_enable_hip)
  if(NOT CMAKE_HIP_COMPILER AND NOT DEFINED ENV{HIPCXX})
    find_program(SWIM_MEM_HIP_CLANG NAMES clang++-15 DOC "clang used as the HIP compiler")
    if(SWIM_MEM_HIP_CLANG)
      set(CMAKE_HIP_COMPILER ${SWIM_MEM_HIP_CLANG} CACHE FILEPATH "HIP compiler")
    endif()
  endif()
  if(NOT CMAKE_HIP_COMPILER_ROCM_ROOT AND EXISTS ${_swim_mem_debian_hip_lang})
    set(_swim_mem_shim ${CMAKE_BINARY_DIR}/rocm-shim)
    file(MAKE_DIRECTORY ${_swim_mem_shim}/lib/cmake)
    if(NOT EXISTS ${_swim_mem_shim}/lib/cmake/hip-lang)
      file(CREATE_LINK ${_swim_mem_debian_hip_lang} ${_swim_mem_shim}/lib/cmake/hip-lang SYMBOLIC)
    endif()
    set(CMAKE_HIP_COMPILER_ROCM_ROOT ${_swim_mem_shim} CACHE PATH "ROCm root seen by CMake (Debian shim)")
    set(CMAKE_HIP_FLAGS_INIT
        "--rocm-path=/usr --rocm-device-lib-path=/usr/lib/x86_64-linux-gnu/amdgcn/bitcode")
  endif()
  # Needed on every configure (try_compile and find_dependency(amd_comgr)), not
  # only the first, so it is set outside the one-time block above.
  if(EXISTS ${_swim_mem_debian_hip_lang})
    set(ENV{CMAKE_PREFIX_PATH} "/usr/lib/x86_64-linux-gnu/cmake:$ENV{CMAKE_PREFIX_PATH}")
  endif()
  # Without a GPU CMake would fall back to gfx803; never guess.
  if(NOT CMAKE_HIP_ARCHITECTURES)
    set(CMAKE_HIP_ARCHITECTURES "gfx90a" CACHE STRING "AMD GPU targets (never 'native')")
  endif()
  enable_language(HIP)
endmacro()
