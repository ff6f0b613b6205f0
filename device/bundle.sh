#!/usr/bin/env bash
# Gathers what device/gpu_suite.sh needs on a GPU machine into one folder, built on a
# machine without a GPU and carried there (a GPU machine's carry holds 64 MiB at most).
#
#   device/bundle.sh [--limit-mib N] BUILD_DIR OUT_DIR [PROGRAM...]
#
# PROGRAMs default to the suite's programs found in BUILD_DIR (swim_mem_gpu_tests,
# swim_mem_device_bench, swim_mem_hip_runner, swim_bench_device); the CMake target
# swim_mem_gpu_bundle passes them itself and bundles into <build>/gpu-bundle.
# OUT_DIR receives:
#   gpu_suite.sh   the one command (run it there: ./gpu_suite.sh --help)
#   bin/           the programs, debug sections stripped (symbols kept, so that
#                  compute-sanitizer's host backtraces still name functions)
#   lib/           the shared libraries the CUDA programs need beyond the C and C++
#                  runtimes and the driver (Google Benchmark's, for swim_bench_device);
#                  the HIP runner's ROCm libraries are never carried: ROCm is there or not
#   manifest.txt   commit, build type, architectures, compiler, each file's size
# Fails, naming the largest files, when the folder is over the limit (default 64 MiB,
# or $SWIM_MEM_BUNDLE_LIMIT_MIB): build for one architecture (-DCMAKE_CUDA_ARCHITECTURES=90)
# to shrink it.
set -euo pipefail
export LC_ALL=C

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
limit_mib=${SWIM_MEM_BUNDLE_LIMIT_MIB:-64}
fail() { echo "bundle.sh: ERROR: $*" >&2; exit 1; }

while [[ $# -gt 0 ]]; do
  case "$1" in
    --limit-mib) [[ $# -ge 2 ]] || fail "--limit-mib needs a number"; limit_mib=$2; shift 2 ;;
    -h|--help) sed -n '2,/^set -euo/{/^#/s/^# \{0,1\}//p}' "${BASH_SOURCE[0]}"; exit 0 ;;
    --) shift; break ;;
    -*) fail "unknown option $1" ;;
    *) break ;;
  esac
done
[[ $# -ge 2 ]] || fail "usage: bundle.sh [--limit-mib N] BUILD_DIR OUT_DIR [PROGRAM...]"
[[ $limit_mib =~ ^[0-9]+$ ]] || fail "the limit must be a whole number of MiB, not '$limit_mib'"
build_dir=$1 out=$2
shift 2
[[ -d $build_dir ]] || fail "no build folder $build_dir"
build_dir=$(cd "$build_dir" && pwd)

programs=("$@")
if [[ ${#programs[@]} -eq 0 ]]; then
  for name in swim_mem_gpu_tests swim_mem_device_bench swim_mem_hip_runner swim_bench_device; do
    for dir in device device/bench benchmarks; do
      if [[ -x $build_dir/$dir/$name ]]; then programs+=("$build_dir/$dir/$name"); break; fi
    done
  done
fi
[[ ${#programs[@]} -gt 0 ]] || fail "nothing to bundle: none of the suite's programs is built in $build_dir"
for p in "${programs[@]}"; do [[ -f $p && -x $p ]] || fail "$p is not an executable file"; done

# Replace only what this script writes, never the folder as a whole.
mkdir -p "$out"
out=$(cd "$out" && pwd)
[[ $out != "$build_dir" && $out != / ]] || fail "refusing to bundle into $out"
rm -rf "${out:?}/bin" "${out:?}/lib"
rm -f "$out/gpu_suite.sh" "$out/manifest.txt"
mkdir -p "$out/bin"

is_elf() { [[ $(head -c 4 "$1" | od -An -c | tr -d ' ') == '177ELF' ]]; }
shrink() {   # debug sections only; CUDA's fat binaries are ordinary sections and stay
  if is_elf "$1" && command -v strip >/dev/null 2>&1; then strip --strip-debug "$1"; fi
}
# What every Linux machine has (the C and C++ runtimes) or must not get from us (the
# GPU drivers and ROCm).
system_lib() {
  case "$1" in
    linux-vdso.so*|ld-linux*|libc.so*|libm.so*|libdl.so*|librt.so*|libpthread.so*|libgcc_s.so*|\
    libstdc++.so*|libcuda.so*|libnvidia*|libamdhip64*|libhsa*|libamd_comgr*|libdrm*|libnuma*|\
    libelf*|libz.so*|libtinfo*|libLLVM*|libclang*|libffi*|libedit*|libxml2*|libicu*|liblzma*|libzstd*) return 0 ;;
  esac
  return 1
}

for p in "${programs[@]}"; do
  name=$(basename "$p")
  cp -L "$p" "$out/bin/$name"
  chmod u+w "$out/bin/$name"
  shrink "$out/bin/$name"
  [[ $name == swim_mem_hip_runner ]] && continue
  command -v ldd >/dev/null 2>&1 || { echo "bundle.sh: no ldd here: $name's libraries are not carried" >&2; continue; }
  while read -r lib arrow path _; do
    [[ $arrow == "=>" ]] || continue
    system_lib "$lib" && continue
    [[ $path != "not" ]] || fail "$name needs $lib, which is not found on this machine either"
    if [[ ! -f $out/lib/$lib ]]; then
      mkdir -p "$out/lib"
      cp -L "$path" "$out/lib/$lib"
      chmod u+w "$out/lib/$lib"
      shrink "$out/lib/$lib"
    fi
  done < <(ldd "$p" 2>/dev/null || true)
done
cp "$here/gpu_suite.sh" "$out/gpu_suite.sh"
chmod +x "$out/gpu_suite.sh"

# The size a carry counts: every byte of every file.
total=0
sizes=""
while IFS= read -r -d '' f; do
  s=$(stat -c %s "$f")
  total=$((total + s))
  sizes+="$s ${f#"$out"/}"$'\n'
done < <(find "$out/gpu_suite.sh" "$out/bin" ${out:+"$out/lib"} -type f -print0 2>/dev/null)
limit=$((limit_mib * 1024 * 1024))
mib() { awk -v b="$1" 'BEGIN { printf "%.1f", b / 1048576 }'; }
if (( total > limit )); then
  {
    echo "bundle.sh: ERROR: the GPU bundle is $(mib "$total") MiB, over the ${limit_mib} MiB limit"
    echo "  (what a GPU machine's carry takes). Largest files:"
    printf '%s' "$sizes" | sort -rn | head -n 5 | while read -r s f; do echo "    $(mib "$s") MiB  $f"; done
    echo "  Build for the GPU you will use only (-DCMAKE_CUDA_ARCHITECTURES=90 for an H100)."
  } >&2
  rm -rf "${out:?}/bin" "${out:?}/lib" "$out/gpu_suite.sh"   # no half bundle to carry by mistake
  exit 1
fi

cache() { sed -n "s/^$1:[A-Z]*=//p" "$build_dir/CMakeCache.txt" 2>/dev/null | head -n 1 || true; }
commit=$(git -C "$here" rev-parse --short=12 HEAD 2>/dev/null || true)
if [[ -n $commit ]] && ! git -C "$here" diff --quiet HEAD 2>/dev/null; then commit+="-dirty"; fi
cuda_compiler=$(sed -n 's/^set(CMAKE_CUDA_COMPILER_VERSION "\(.*\)")/\1/p' \
  "$build_dir"/CMakeFiles/*/CMakeCUDACompiler.cmake 2>/dev/null | head -n 1 || true)
{
  echo "# swim-mem GPU suite bundle: on the GPU machine run ./gpu_suite.sh (--help for options)"
  echo "commit=$commit"
  echo "build_type=$(cache CMAKE_BUILD_TYPE)"
  echo "cuda_architectures=$(cache CMAKE_CUDA_ARCHITECTURES)"
  echo "hip_architectures=$(cache CMAKE_HIP_ARCHITECTURES)"
  echo "cuda_compiler=$cuda_compiler"
  echo "created=$(date -u +%Y-%m-%dT%H:%M:%SZ)"
  echo "total_bytes=$total"
  echo "limit_bytes=$limit"
  printf '%s' "$sizes" | sort -k 2 | while read -r s f; do echo "file=$f $s"; done
} >"$out/manifest.txt"
echo "bundle.sh: $out: $(mib "$total") MiB of ${limit_mib} MiB ($(printf '%s' "$sizes" | grep -c .) files)"
