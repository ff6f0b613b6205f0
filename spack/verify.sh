#!/usr/bin/env bash
# Verify the swim-mem Spack package with a real Spack, offline, in a Spack
# environment of its own (its own store, config and caches: nothing is written to
# the caller's Spack configuration).
#
#   spack/verify.sh [WORKDIR]                  (default WORKDIR: /tmp/swim-mem-spack)
#
# Needs: `spack` on PATH (Spack 1.0 or 1.1 with clingo importable; see
# spack/README.md for the offline route) and the builtin package repository it is
# configured with (or SPACK_PACKAGES=<spack-packages checkout>). Uses as externals
# what is on this machine: GCC, CMake, Ninja, Debian's GoogleTest, and when present
# CUDA (/usr/local/cuda, or CUDA_PREFIX), Open MPI (the ompi_info on PATH, e.g.
# Debian's openmpi-bin + libopenmpi-dev) and a Kokkos install (KOKKOS_PREFIX with
# KOKKOS_SPEC naming its version and variants, e.g.
# "kokkos@4.7.01 +openmp +serial ~cuda ~rocm cxxstd=20").
# VERIFY_ONLY=<word> (e.g. mpi, cuda, examples) runs only the installs whose spec
# contains <word>, and skips the refusal and concretization checks.
#
# What it does, each step's outcome printed in a summary at the end:
#   - checks that the conflicts are refused with their messages;
#   - concretizes +rocm (it cannot be installed offline);
#   - `spack install --test=root` (the build runs swim-mem's ctest) of
#       swim-mem@main                      from this checkout (git file://)
#       swim-mem@main +kokkos              against KOKKOS_PREFIX      (if given)
#       swim-mem@main +cuda cuda_arch=90   against the CUDA toolkit   (if found)
#       swim-mem@main +mpi                 against Open MPI           (if found)
#       swim-mem@<release> +examples       the release tarball, made here from
#                                          its tag, through a local mirror; then
#                                          runs the installed quickstart example
#   - `spack test run` of each installed spec (tests/consumer against the prefix).
# Exit status: 0 when every step that ran passed.
set -uo pipefail

here=$(cd "$(dirname "$0")" && pwd)
checkout=$(cd "$here/.." && pwd)
work=${1:-/tmp/swim-mem-spack}
env_dir=$work/env
release=0.3.0
release_commit=bb96aebeac3a5bf2320e85809d5611ab2364eb92  # tag v0.3.0, for clones without tags

command -v spack >/dev/null || { echo "verify.sh: no spack on PATH (source <spack>/share/spack/setup-env.sh)"; exit 2; }
spack --version

export SPACK_USER_CONFIG_PATH=$work/user-config SPACK_USER_CACHE_PATH=$work/user-cache
rm -rf "$env_dir" "$work/store" "$work/mirror"
mkdir -p "$env_dir" "$work/mirror/swim-mem" "$SPACK_USER_CONFIG_PATH" "$SPACK_USER_CACHE_PATH"

results=()
failed=0
record() {  # record <name> <status>
  results+=("$(printf '%-58s %s' "$1" "$2")")
  [[ $2 == passed* || $2 == skipped* ]] || failed=1
}
sp() { spack -e "$env_dir" "$@"; }

# ---- the environment: our repo, externals, a private store -------------------------------
cmake_version=$(cmake --version | sed -n '1s/cmake version //p')
ninja_version=$(ninja --version)
gcc_version=$(gcc -dumpfullversion)
gtest_version=$(sed -n 's/.*GOOGLETEST_VERSION \([0-9.]*\).*/\1/p' /usr/src/googletest/CMakeLists.txt 2>/dev/null | head -1)
gtest_version=${gtest_version:-1.12.1}
cuda_prefix=${CUDA_PREFIX:-/usr/local/cuda}
cuda_version=
if [[ -x $cuda_prefix/bin/nvcc ]]; then
  cuda_version=$("$cuda_prefix/bin/nvcc" --version | sed -n 's/.*release [0-9.]*, V\([0-9.]*\).*/\1/p')
fi
# Open MPI: its prefix from ompi_info's directory (Debian: /usr). As root, Open MPI's
# mpiexec needs both OMPI_ALLOW_RUN_AS_ROOT variables; 4 ranks on a 2-core machine
# need oversubscription; containers often forbid CMA. Spack's build and test
# environments drop every *_ROOT variable but SPACK_ROOT (clean_environment in
# lib/spack/spack/build_environment.py), OMPI_ALLOW_RUN_AS_ROOT included, so the MPI
# tests must set these themselves, as tests/mpi and tests/consumer do (ctest
# ENVIRONMENT); of those exported here, OMPI_ALLOW_RUN_AS_ROOT never reaches them.
ompi_version=
ompi_prefix=
if ompi_info=$(command -v ompi_info); then
  ompi_version=$("$ompi_info" --parsable --version 2>/dev/null | sed -n 's/^Open MPI v\([0-9.]*\).*/\1/p' | head -1)
  ompi_prefix=$(dirname "$(dirname "$(readlink -f "$ompi_info")")")
fi
if [[ -n $ompi_version ]]; then
  export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
  export OMPI_MCA_rmaps_base_oversubscribe=1 OMPI_MCA_btl_vader_single_copy_mechanism=none
fi
builtin_repo=
if [[ -n ${SPACK_PACKAGES:-} ]]; then
  builtin_repo="    builtin: $SPACK_PACKAGES/repos/spack_repo/builtin"
fi

{
  echo "spack:"
  echo "  view: false"
  echo "  concretizer:"
  echo "    unify: false"
  echo "  config:"
  echo "    install_tree:"
  echo "      root: $work/store"
  echo "  mirrors:"
  echo "    swim-mem-release: file://$work/mirror"
  echo "  repos:"
  [[ -n $builtin_repo ]] && echo "$builtin_repo"
  echo "    swim_mem: $checkout/spack/spack_repo/swim_mem"
  echo "  packages:"
  echo "    swim-mem:"
  echo "      package_attributes:"
  echo "        git: file://$checkout"
  echo "    gcc:"
  echo "      externals:"
  if [[ -x /usr/bin/gfortran ]]; then  # concretizing +rocm needs a Fortran compiler
    echo "      - spec: gcc@$gcc_version languages:='c,c++,fortran'"
    echo "        prefix: /usr"
    echo "        extra_attributes:"
    echo "          compilers: {c: /usr/bin/gcc, cxx: /usr/bin/g++, fortran: /usr/bin/gfortran}"
  else
    echo "      - spec: gcc@$gcc_version languages:='c,c++'"
    echo "        prefix: /usr"
    echo "        extra_attributes:"
    echo "          compilers: {c: /usr/bin/gcc, cxx: /usr/bin/g++}"
  fi
  echo "    cmake: {buildable: false, externals: [{spec: cmake@$cmake_version, prefix: $(dirname "$(dirname "$(command -v cmake)")")}]}"
  echo "    ninja: {buildable: false, externals: [{spec: ninja@$ninja_version, prefix: $(dirname "$(dirname "$(command -v ninja)")")}]}"
  echo "    googletest: {buildable: false, externals: [{spec: googletest@$gtest_version +gmock, prefix: /usr}]}"
  if [[ -n $cuda_version ]]; then
    echo "    cuda: {buildable: false, externals: [{spec: cuda@$cuda_version, prefix: $cuda_prefix}]}"
  fi
  if [[ -n $ompi_version ]]; then
    echo "    openmpi: {buildable: false, externals: [{spec: openmpi@$ompi_version, prefix: $ompi_prefix}]}"
  fi
  if [[ -n ${KOKKOS_PREFIX:-} ]]; then
    # Buildable, so that +kokkos +cuda (which this external cannot serve) still concretizes.
    echo "    kokkos: {externals: [{spec: '${KOKKOS_SPEC:?set KOKKOS_SPEC with KOKKOS_PREFIX}', prefix: $KOKKOS_PREFIX}]}"
  fi
} > "$env_dir/spack.yaml"
echo "--- $env_dir/spack.yaml"; cat "$env_dir/spack.yaml"

# ---- the release tarball, from its tag, into the local mirror -------------------------------
have_release=no
release_ref=v$release
git -C "$checkout" rev-parse -q --verify "refs/tags/$release_ref" >/dev/null || release_ref=$release_commit
if git -C "$checkout" cat-file -e "$release_ref^{commit}" 2>/dev/null; then
  git -C "$checkout" archive --format=tar --prefix="swim-mem-$release/" "$release_ref" \
    | gzip -9n > "$work/mirror/swim-mem/swim-mem-$release.tar.gz"
  sha=$(sha256sum "$work/mirror/swim-mem/swim-mem-$release.tar.gz" | cut -d' ' -f1)
  # Spack 1.x looks in a mirror's source cache, by checksum.
  mkdir -p "$work/mirror/_source-cache/archive/${sha:0:2}"
  cp "$work/mirror/swim-mem/swim-mem-$release.tar.gz" "$work/mirror/_source-cache/archive/${sha:0:2}/$sha.tar.gz"
  if grep -q "$sha" "$here/spack_repo/swim_mem/packages/swim_mem/package.py"; then
    have_release=yes
  else
    record "release tarball v$release sha256 $sha" "FAILED: not the one package.py lists"
  fi
else
  record "release tarball v$release" "skipped: neither tag v$release nor commit $release_commit here"
fi

only=${VERIFY_ONLY:-}
if [[ -z $only ]]; then
# ---- refusals: each must fail to concretize, with our message ---------------------------------
refuse() {  # refuse <spec> <message fragment>
  local out
  if out=$(sp spec "$1" 2>&1); then
    record "refused: $1" "FAILED: it concretized"
  elif grep -q "$2" <<<"$out"; then
    record "refused: $1" "passed"
  else
    record "refused: $1" "FAILED: other error"; echo "$out" | tail -5
  fi
}
refuse "swim-mem+cuda+rocm cuda_arch=90 amdgpu_target=gfx90a" "one GPU backend"
refuse "swim-mem+cuda cuda_arch=72" "sm_75 and newer"
refuse "swim-mem+cuda" "needs cuda_arch"
refuse "swim-mem+kokkos+rocm amdgpu_target=gfx90a" "no Kokkos HIP memory space"
if sp spec "swim-mem+rocm amdgpu_target=gfx90a" >"$work/rocm-spec.txt" 2>&1; then
  record "concretized: swim-mem+rocm amdgpu_target=gfx90a ($(grep -c '^ ' "$work/rocm-spec.txt") nodes)" "passed"
else
  record "concretized: swim-mem+rocm amdgpu_target=gfx90a" "FAILED"; tail -5 "$work/rocm-spec.txt"
fi

# +kokkos +cuda: Kokkos with CUDA, its nvcc wrapper, and our (single) architecture.
if sp spec "swim-mem+kokkos+cuda cuda_arch=90" >"$work/kokkos-cuda-spec.txt" 2>&1; then
  if grep -E "kokkos@[0-9.]+.*\+cuda.*\+wrapper.*cuda_arch=90" "$work/kokkos-cuda-spec.txt" >/dev/null; then
    record "concretized: swim-mem+kokkos+cuda cuda_arch=90 (kokkos +cuda +wrapper cuda_arch=90)" "passed"
  else
    record "concretized: swim-mem+kokkos+cuda cuda_arch=90" "FAILED: kokkos not +cuda +wrapper cuda_arch=90"
    grep kokkos "$work/kokkos-cuda-spec.txt"
  fi
else
  record "concretized: swim-mem+kokkos+cuda cuda_arch=90" "FAILED"; tail -5 "$work/kokkos-cuda-spec.txt"
fi
fi  # VERIFY_ONLY

# ---- installs with their tests, then the stand-alone tests -------------------------------------
specs=("swim-mem@main")
[[ -n ${KOKKOS_PREFIX:-} ]] && specs+=("swim-mem@main+kokkos")
[[ -n $cuda_version ]] && specs+=("swim-mem@main+cuda cuda_arch=90")
[[ -n $ompi_version ]] && specs+=("swim-mem@main+mpi")
[[ $have_release == yes ]] && specs+=("swim-mem@$release+examples")
[[ -z ${KOKKOS_PREFIX:-} ]] && record "swim-mem+kokkos" "skipped: no KOKKOS_PREFIX"
[[ -z $cuda_version ]] && record "swim-mem+cuda" "skipped: no CUDA toolkit at $cuda_prefix"
[[ -z $ompi_version ]] && record "swim-mem+mpi" "skipped: no Open MPI (ompi_info) on PATH"
if [[ -n $only ]]; then
  kept=()
  for spec in "${specs[@]}"; do [[ $spec == *"$only"* ]] && kept+=("$spec"); done
  specs=("${kept[@]}")
  record "VERIFY_ONLY=$only: refusals, concretizations, other installs" "skipped"
fi

for spec in "${specs[@]}"; do
  start=$SECONDS
  if sp install --add --test=root --verbose "$spec" > "$work/install-${spec//[^a-z0-9]/_}.log" 2>&1; then
    record "install --test=root $spec ($((SECONDS - start)) s)" "passed"
    start=$SECONDS
    if sp test run "$spec" > "$work/test-${spec//[^a-z0-9]/_}.log" 2>&1; then
      record "test run $spec ($((SECONDS - start)) s)" "passed"
    else
      record "test run $spec" "FAILED (see $work/test-${spec//[^a-z0-9]/_}.log)"
    fi
    if [[ $spec == *+examples* ]]; then  # the installed examples run
      quickstart=$(sp location -i "$spec")/libexec/swim-mem/examples/quickstart
      if "$quickstart" > "$work/quickstart.log" 2>&1; then
        record "installed example libexec/swim-mem/examples/quickstart" "passed"
      else
        record "installed example $quickstart" "FAILED"
      fi
    fi
  else
    record "install --test=root $spec" "FAILED (see $work/install-${spec//[^a-z0-9]/_}.log)"
    tail -20 "$work/install-${spec//[^a-z0-9]/_}.log"
  fi
done

echo
echo "=== spack/verify.sh: $(spack --version), $(git -C "$checkout" describe --always --tags)"
printf '%s\n' "${results[@]}"
exit "$failed"
