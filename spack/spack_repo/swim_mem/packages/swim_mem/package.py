# Spack recipe for swim-mem (Spack 1.0 and 1.1; the build-system classes come from
# the builtin repository, spack_repo.builtin.build_systems). What it was verified
# with, and how to repeat that offline: spack/verify.sh and spack/README.md.

import os

from spack_repo.builtin.build_systems.cmake import CMakePackage, generator
from spack_repo.builtin.build_systems.cuda import CudaPackage
from spack_repo.builtin.build_systems.rocm import ROCmPackage

from spack.package import *


def _sm(arch):
    """The number of a cuda_arch value: 90 for "90" and "90a"."""
    return int("".join(c for c in arch if c.isdigit()))


class SwimMem(CMakePackage, CudaPackage, ROCmPackage):
    """swim-mem: a C++20 allocator library for GPUs and HPC. Bounded-time,
    lock-free allocation with recoverable out-of-memory, one template source for
    host code and CUDA/HIP kernels, device memory managed from host code, and
    Kokkos memory spaces."""

    homepage = "https://github.com/swim-mem/swim-mem"
    url = "https://github.com/swim-mem/swim-mem/releases/download/v0.3.0/swim-mem-0.3.0.tar.gz"
    git = "https://github.com/swim-mem/swim-mem.git"

    version("main", branch="main")
    # The release tarball: `git archive --format=tar --prefix=swim-mem-0.3.0/ v0.3.0 | gzip -9n`
    # (tag v0.3.0, commit bb96aeb).
    version("0.3.0", sha256="bb0a2149f4e65b32ada3ef76994f48236b254ae3cc0fc1fc36c5132dc36435c8", preferred=True)

    variant("kokkos", default=False, description="Kokkos memory spaces (SwimMem::kokkos)")
    variant("mpi", default=False, description="Node-shared memory over MPI-3 windows (SwimMem::mpi)")
    variant("examples", default=False, description="Build the examples and install them")

    generator("ninja")

    depends_on("cxx", type="build")
    depends_on("cmake@3.25:", type="build")
    depends_on("ninja", type="build")
    depends_on("googletest@1.10:", type="test")

    # The Kokkos memory spaces: Kokkos 3.4 to 5 (3.4.1, 4.7.1 and 5.0.2 tested),
    # with the same GPU backend as swim-mem: the CUDA space needs Kokkos >= 4.7
    # (4.6 does not build with CUDA 13), built for our GPU architecture (Kokkos
    # takes one: +kokkos +cuda means a single cuda_arch) and, as Kokkos requires
    # with GCC, through its nvcc wrapper.
    depends_on("mpi@3:", when="+mpi")
    depends_on("kokkos@3.4:5", when="+kokkos")
    depends_on("kokkos@4.7:+cuda+wrapper", when="+kokkos+cuda")
    for _arch in CudaPackage.cuda_arch_values:
        if _sm(_arch) >= 75:
            depends_on(f"kokkos cuda_arch={_arch}", when=f"+kokkos+cuda cuda_arch={_arch}")
    depends_on("kokkos~cuda", when="+kokkos~cuda")
    depends_on("kokkos~rocm", when="+kokkos~rocm")
    conflicts(
        "+kokkos",
        when="+rocm",
        msg="swim-mem has no Kokkos HIP memory space yet; build +kokkos without +rocm, "
        "or +rocm without +kokkos",
    )

    # SwimMem::cuda_mr adapts to the cuda::mr API of CCCL 3, which CUDA 13 brings.
    depends_on("cuda@13:", when="+cuda")
    conflicts("+cuda", when="+rocm", msg="swim-mem builds one GPU backend: choose +cuda or +rocm")
    # CUDA 13 compiles for sm_75 and newer (it refuses sm_70 and sm_72).
    for _arch in CudaPackage.cuda_arch_values:
        if _sm(_arch) < 75:
            conflicts(
                f"cuda_arch={_arch}",
                when="+cuda",
                msg="swim-mem needs CUDA 13, which compiles for sm_75 and newer",
            )
    conflicts("cuda_arch=none", when="+cuda", msg="swim-mem +cuda needs cuda_arch=<sm>, e.g. cuda_arch=90")
    # Wavefront sleeps and 64-bit atomics as used by the device code: GFX9 and newer.
    for _target in ("gfx701", "gfx801", "gfx802", "gfx803"):
        conflicts(
            f"amdgpu_target={_target}",
            when="+rocm",
            msg="swim-mem's device code needs an AMD GPU of GFX9 or newer",
        )
    conflicts(
        "amdgpu_target=none", when="+rocm", msg="swim-mem +rocm needs amdgpu_target=<gfx>, e.g. gfx90a"
    )

    # C++20 (concepts, std::bit_cast, std::atomic_ref); tested with GCC 12 and Clang 14/15.
    conflicts("%gcc@:10", msg="swim-mem needs C++20: GCC 11 or newer")
    conflicts("%clang@:13", msg="swim-mem needs C++20: Clang 14 or newer")

    def cmake_args(self):
        spec = self.spec
        args = [
            self.define_from_variant("SWIM_MEM_ENABLE_CUDA", "cuda"),
            self.define_from_variant("SWIM_MEM_ENABLE_HIP", "rocm"),
            self.define_from_variant("SWIM_MEM_ENABLE_KOKKOS", "kokkos"),
            self.define_from_variant("SWIM_MEM_ENABLE_MPI", "mpi"),
            self.define_from_variant("SWIM_MEM_BUILD_EXAMPLES", "examples"),
            # Spack does not pass BUILD_TESTING itself; the tests follow --test.
            self.define("SWIM_MEM_BUILD_TESTS", self.run_tests),
            self.define("SWIM_MEM_BUILD_BENCHMARKS", False),
            self.define("SWIM_MEM_WERROR", False),
        ]
        if spec.satisfies("+examples"):  # read only where the examples are built
            args.append(self.define("SWIM_MEM_INSTALL_EXAMPLES", True))
        if spec.satisfies("+cuda"):
            args.append(self.define("CMAKE_CUDA_ARCHITECTURES", ";".join(spec.variants["cuda_arch"].value)))
            args.append(self.define("CMAKE_CUDA_COMPILER", spec["cuda"].prefix.bin.nvcc))
            args.append(self.define("CUDAToolkit_ROOT", spec["cuda"].prefix))
        if spec.satisfies("+rocm"):
            args.append(self.define("CMAKE_HIP_ARCHITECTURES", ";".join(spec.variants["amdgpu_target"].value)))
            args.append(
                self.define("CMAKE_HIP_COMPILER", join_path(spec["llvm-amdgpu"].prefix.bin, "clang++"))
            )
            args.append(self.define("CMAKE_HIP_COMPILER_ROCM_ROOT", spec["hip"].prefix))
        if spec.satisfies("+kokkos"):
            args.append(self.define("Kokkos_ROOT", spec["kokkos"].prefix))
        return args

    # ---- stand-alone test: `spack test run swim-mem` ------------------------------
    # Builds tests/consumer (the project CI also builds) against the installed
    # prefix, requiring the components this spec promises, and runs its ctest: a
    # program over SwimMem::swim_mem, one over SwimMem::kokkos (+kokkos), and one
    # that allocates device memory from host code over SwimMem::cuda / SwimMem::hip
    # (+cuda / +rocm; without a GPU it reports itself skipped).
    consumer_dir = join_path("tests", "consumer")
    test_requires_compiler = True  # the test builds programs

    @run_after("install")
    def cache_consumer(self):
        cache_extra_test_sources(self, [self.consumer_dir])

    def test_consumer(self):
        """build a program against the installed swim-mem and run it"""
        source = join_path(self.test_suite.current_test_cache_dir, self.consumer_dir)
        if not os.path.isdir(source):
            raise SkipTest(f"{source} is missing (an install without cached test sources)")
        spec = self.spec
        required = [c for c, v in (("cuda", "+cuda"), ("hip", "+rocm"), ("kokkos", "+kokkos"),
                                   ("mpi", "+mpi"))
                    if spec.satisfies(v)]
        prefixes = [self.prefix] + [spec[d].prefix for d in ("kokkos", "cuda", "hip", "mpi")
                                    if d in spec]
        cmake = which(spec["cmake"].prefix.bin.cmake)
        ctest = which(spec["cmake"].prefix.bin.ctest)
        with working_dir("consumer-build", create=True):
            args = [
                "-S", source, "-B", ".", "-G", "Ninja",
                f"-DCMAKE_MAKE_PROGRAM={spec['ninja'].prefix.bin.ninja}",
                self.define("CMAKE_CXX_COMPILER", self["cxx"].cxx),  # the one that built us
                self.define("CMAKE_PREFIX_PATH", ";".join(str(p) for p in prefixes)),
                self.define("SWIM_MEM_CONSUMER_REQUIRE", ";".join(required)),
            ]
            if spec.satisfies("+cuda"):  # the consumer compiles a .cu file of its own too
                args.append(self.define("CMAKE_CUDA_COMPILER", spec["cuda"].prefix.bin.nvcc))
                args.append(
                    self.define("CMAKE_CUDA_ARCHITECTURES", ";".join(spec.variants["cuda_arch"].value))
                )
            cmake(*args)
            cmake("--build", ".")
            ctest("--output-on-failure")
