# Kokkos for swim-mem's memory spaces (include/swim/mem/integrations/kokkos.hpp).
#
# swim_mem_find_kokkos(): find Kokkos quietly (Kokkos_ROOT or CMAKE_PREFIX_PATH
# pick an install) and repair the one broken target we know of: Debian 12's
# libtrilinos-kokkos-dev (Kokkos 3.4.1) exports Kokkos::kokkos with the include
# directory /usr/lib/include, which does not exist (CMake then refuses to
# generate), while its Kokkos_INCLUDE_DIRS variable is right. Afterwards
# TARGET Kokkos::kokkos says whether Kokkos is usable. Used by swim-mem's own
# build and by the installed SwimMemConfig.cmake (component kokkos).
macro(swim_mem_find_kokkos)
  if(NOT TARGET Kokkos::kokkos)
    find_package(Kokkos QUIET)
  endif()
  if(TARGET Kokkos::kokkos AND Kokkos_INCLUDE_DIRS)
    get_target_property(_swim_mem_kokkos_inc Kokkos::kokkos INTERFACE_INCLUDE_DIRECTORIES)
    set(_swim_mem_kokkos_fix FALSE)
    foreach(_swim_mem_dir IN LISTS _swim_mem_kokkos_inc)
      if(NOT _swim_mem_dir MATCHES "^\\$<" AND NOT EXISTS "${_swim_mem_dir}")
        set(_swim_mem_kokkos_fix TRUE)
      endif()
    endforeach()
    if(_swim_mem_kokkos_fix)
      set_target_properties(Kokkos::kokkos PROPERTIES
        INTERFACE_INCLUDE_DIRECTORIES "${Kokkos_INCLUDE_DIRS}"
        INTERFACE_SYSTEM_INCLUDE_DIRECTORIES "${Kokkos_INCLUDE_DIRS}")
    endif()
    unset(_swim_mem_dir)
    unset(_swim_mem_kokkos_fix)
    unset(_swim_mem_kokkos_inc)
  endif()
endmacro()
