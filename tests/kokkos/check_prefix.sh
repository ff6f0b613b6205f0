#!/usr/bin/env bash
# Build and run swim-mem's Kokkos tests and example against an installed Kokkos.
#
#   bash tests/kokkos/check_prefix.sh <kokkos-prefix> [build-dir] [extra cmake args...]
#
# <kokkos-prefix> is a Kokkos install (it has lib/cmake/Kokkos or lib64/cmake/Kokkos;
# "debian" takes /usr, Debian's libtrilinos-kokkos-dev). The build directory
# (default: build/kokkos-<version>) gets a host-only Debug build with -Werror, the
# SpaceBinding test, the Kokkos tests (ctest -L kokkos) and the example
# examples/kokkos_views. Extra cmake arguments go to swim-mem's configure; for a
# ThreadSanitizer run, give a Kokkos built with the Threads backend and
# -fsanitize=thread (OpenMP's runtime is not instrumented) and add
#   -DCMAKE_CXX_FLAGS="-fsanitize=thread -fno-omit-frame-pointer" -DCMAKE_EXE_LINKER_FLAGS=-fsanitize=thread
# A Kokkos built with CUDA or HIP is configured and compiled only (its programs
# need a GPU and its driver to start); set SWIM_MEM_KOKKOS_RUN=1 to run them on a
# GPU machine. JOBS sets the build's parallelism (default 2). Prints one summary
# line per step (skipped tests named) and exits non-zero on the first failure.
set -euo pipefail

if [[ $# -lt 1 ]]; then
  echo "usage: $0 <kokkos-prefix|debian> [build-dir] [extra cmake args...]" >&2
  exit 2
fi
prefix=$1
shift
root=$(cd "$(dirname "$0")/../.." && pwd)
[[ $prefix == debian ]] && prefix=/usr
config=$(ls -d "$prefix"/lib*/cmake/Kokkos "$prefix"/lib/*/cmake/Kokkos 2>/dev/null | head -n 1 || true)
if [[ -z $config ]]; then
  echo "$0: no Kokkos CMake package under $prefix (looked for lib*/cmake/Kokkos)" >&2
  exit 2
fi
version=$(sed -n 's/^set(PACKAGE_VERSION "\(.*\)")/\1/p' "$config/KokkosConfigVersion.cmake" | head -n 1)
header=$(ls "$prefix"/include/KokkosCore_config.h "$prefix"/include/trilinos/KokkosCore_config.h 2>/dev/null | head -n 1 || true)
backends=$(grep -o 'define KOKKOS_ENABLE_\(SERIAL\|OPENMP\|THREADS\|CUDA\|HIP\|SYCL\)\b' "$header" | sed 's/define KOKKOS_ENABLE_//' | sort -u | tr '\n' ' ' || true)
build=${1:-$root/build/kokkos-$version}
[[ $# -gt 0 ]] && shift
echo "== Kokkos $version at $prefix, backends: $backends; build in $build"

device=0
[[ $backends == *CUDA* || $backends == *HIP* ]] && device=1

cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Debug \
  -DSWIM_MEM_ENABLE_CUDA=OFF -DSWIM_MEM_ENABLE_HIP=OFF -DSWIM_MEM_ENABLE_KOKKOS=ON \
  -DSWIM_MEM_WERROR=ON -DKokkos_ROOT="$prefix" "$@" >"$build.configure.log" 2>&1 ||
  { tail -n 30 "$build.configure.log"; echo "== configure: FAILED"; exit 1; }
echo "== configure: ok ($(grep -o 'swim-mem: Kokkos [^ ]*' "$build.configure.log" | head -n 1))"

targets=(test_space_binding kokkos_views)
for f in "$root"/tests/kokkos/test_*.cpp; do targets+=("$(basename "$f" .cpp)"); done
cmake --build "$build" --target "${targets[@]}" -j "${JOBS:-2}" >"$build.build.log" 2>&1 ||
  { grep -m 20 -E 'error|Error' "$build.build.log"; echo "== build: FAILED"; exit 1; }
echo "== build: ok (${targets[*]})"

if [[ $device == 1 && ${SWIM_MEM_KOKKOS_RUN:-0} != 1 ]]; then
  echo "== run: SKIPPED (a $backends Kokkos: its programs need a GPU; SWIM_MEM_KOKKOS_RUN=1 runs them)"
  exit 0
fi
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-2} OMP_PROC_BIND=${OMP_PROC_BIND:-false}
(cd "$build" && ctest -L 'kokkos|test_space_binding' --output-on-failure) >"$build.test.log" 2>&1 ||
  { tail -n 40 "$build.test.log"; echo "== tests: FAILED"; exit 1; }
echo "== tests: $(grep -E 'tests passed' "$build.test.log")"
skipped=$(grep -E '\(Skipped\)' "$build.test.log" | sed 's/^[[:space:]]*[0-9]* - //; s/ (Skipped)//' | tr '\n' ' ' || true)
[[ -n $skipped ]] && echo "== skipped: $skipped"
"$build/examples/kokkos_views" >"$build.example.log" 2>&1 ||
  { cat "$build.example.log"; echo "== example: FAILED"; exit 1; }
echo "== example: $(tail -n 1 "$build.example.log")"

