#!/usr/bin/env python3
"""Checks device/gpu_suite.sh and device/bundle.sh on a machine without a GPU.

    check.py real   --suite device/gpu_suite.sh --build-dir BUILD
    check.py bundle --bundle-dir BUILD/gpu-bundle
    check.py fakes  --suite device/gpu_suite.sh --fakes tests/gpu_suite
    check.py limit  --suite device/gpu_suite.sh --bundler device/bundle.sh --fakes tests/gpu_suite

real/bundle: the suite run over a real build tree or bundle must write results.json that
parses, with every step skipped and a reason, results.md with its header, and exit 77.
Where a GPU is present they have nothing to say and exit 77 (ctest: skipped).
fakes: the suite over test doubles of the programs (fake_*.sh) must tell passed from
failed from skipped from timed out, count tests and sanitizer errors, and report the
GPU that the fake nvidia-smi names. limit: bundle.sh refuses a folder over its limit.
"""
import argparse
import json
import os
import re
import shutil
import stat
import subprocess
import sys
import tempfile

STEPS = ["tests", "bench_throughput", "bench_oom", "bench_host",
         "memcheck", "synccheck", "racecheck", "hip"]
SKIPPED = 77
failures = []
scratch = []   # temporary folders, removed when every check passed


def temp_dir(prefix):
    d = tempfile.mkdtemp(prefix=prefix)
    scratch.append(d)
    return d


def expect(cond, what):
    if not cond:
        failures.append(what)
        print("FAILED: " + what)
    return cond


def run_suite(suite, args, env=None):
    """Runs the suite; returns (exit code, results.json as a dict or None, results.md)."""
    out = temp_dir("gpu-suite-")
    proc = subprocess.run(["bash", suite, "--out", out] + args, env=env,
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=600)
    print(proc.stdout)
    res, md = None, ""
    try:
        with open(os.path.join(out, "results.json")) as f:
            res = json.load(f)
    except (OSError, ValueError) as e:
        expect(False, "results.json is missing or does not parse: %s" % e)
    try:
        with open(os.path.join(out, "results.md")) as f:
            md = f.read()
    except OSError:
        expect(False, "results.md is missing")
    return proc.returncode, res, md, out


def steps_of(res):
    return {s["name"]: s for s in res.get("steps", [])}


def check_shape(res, md, code):
    """What every run must give, whatever the machine."""
    if res is None:
        return False
    names = [s.get("name") for s in res.get("steps", [])]
    expect(names == STEPS, "steps are %s, expected %s" % (names, STEPS))
    for s in res.get("steps", []):
        expect(s.get("status") in ("passed", "failed", "skipped"),
               "step %s has status %r" % (s.get("name"), s.get("status")))
        if s.get("status") != "passed":
            expect(bool(s.get("reason", "").strip()), "step %s is %s without a reason" % (s["name"], s["status"]))
        expect(isinstance(s.get("duration_s"), (int, float)), "step %s has no duration" % s.get("name"))
    expect(res.get("complete") is True, "results.json says the run is incomplete")
    expect(res.get("exit_code") == code, "results.json says exit %r, the script exited %d" % (res.get("exit_code"), code))
    for key in ("machine", "build", "benchmarks", "verdict"):
        expect(key in res, "results.json has no %r" % key)
    expect("gpu" in res.get("machine", {}), "results.json has no machine.gpu")
    expect(md.startswith("# swim-mem GPU suite\n"), "results.md does not start with its header")
    for name in STEPS:
        expect(re.search(r"^\| %s \| (passed|failed|skipped) \|" % name, md, re.M) is not None,
               "results.md has no row for step %s" % name)
    return True


def check_all_skipped(res, code):
    expect(code == SKIPPED, "exit code %d where every step should be skipped (77)" % code)
    expect(res.get("verdict") == "skipped", "verdict %r, expected skipped" % res.get("verdict"))
    for s in res["steps"]:
        expect(s["status"] == "skipped", "step %s is %s without a GPU: %s" % (s["name"], s["status"], s.get("reason")))


def case_real(a):
    code, res, md, _ = run_suite(a.suite, ["--build-dir", a.build_dir, "--quick"])
    if not check_shape(res, md, code):
        return
    if res["machine"]["gpu"].get("name"):
        print("a GPU is present (%s): run device/gpu_suite.sh itself; nothing to check here"
              % res["machine"]["gpu"]["name"])
        sys.exit(SKIPPED)
    check_all_skipped(res, code)
    steps = steps_of(res)
    if os.path.exists(os.path.join(a.build_dir, "device", "swim_mem_gpu_tests")):
        # The real binary ran and GoogleTest reported every test skipped.
        expect(re.match(r"all \d+ tests skipped: no (usable )?CUDA device", steps["tests"]["reason"]) is not None,
               "tests: %r is not GoogleTest's skip" % steps["tests"]["reason"])
        expect(steps["tests"]["counts"].get("tests", 0) > 0, "tests: no test counted")
    else:
        expect("is not built" in steps["tests"]["reason"], "tests: %r" % steps["tests"]["reason"])
    if os.path.exists(os.path.join(a.build_dir, "device", "bench", "swim_mem_device_bench")):
        expect("no usable CUDA device" in steps["bench_throughput"]["reason"],
               "bench_throughput: %r" % steps["bench_throughput"]["reason"])
        expect(steps["bench_throughput"]["exit_code"] == SKIPPED, "the device benchmark did not exit 77")


def case_bundle(a):
    manifest = os.path.join(a.bundle_dir, "manifest.txt")
    expect(os.path.exists(manifest), "the bundle has no manifest.txt")
    total = None
    with open(manifest) as f:
        for line in f:
            if line.startswith("total_bytes="):
                total = int(line.split("=", 1)[1])
    expect(total is not None and 0 < total <= 64 << 20, "bundle size %r is not within 64 MiB" % total)
    expect(os.access(os.path.join(a.bundle_dir, "bin", "swim_mem_gpu_tests"), os.X_OK) or
           os.access(os.path.join(a.bundle_dir, "bin", "swim_mem_hip_runner"), os.X_OK),
           "the bundle has no test program")
    code, res, md, _ = run_suite(os.path.join(a.bundle_dir, "gpu_suite.sh"), ["--quick"])
    if not check_shape(res, md, code):
        return
    expect(res["build"]["layout"] == "bundle", "the bundled suite did not see its bundle")
    if res["machine"]["gpu"].get("name"):
        sys.exit(SKIPPED)
    check_all_skipped(res, code)


def make_tree(fakes, root):
    """A build tree whose programs are the test doubles, and a PATH with fake tools."""
    def place(src, dst):
        os.makedirs(os.path.dirname(dst), exist_ok=True)
        shutil.copy(os.path.join(fakes, src), dst)
        os.chmod(dst, os.stat(dst).st_mode | stat.S_IXUSR)
    place("fake_gpu_tests.sh", os.path.join(root, "build", "device", "swim_mem_gpu_tests"))
    place("fake_device_bench.sh", os.path.join(root, "build", "device", "bench", "swim_mem_device_bench"))
    place("fake_hip_runner.sh", os.path.join(root, "build", "device", "swim_mem_hip_runner"))
    place("fake_nvidia_smi.sh", os.path.join(root, "path", "nvidia-smi"))
    place("fake_compute_sanitizer.sh", os.path.join(root, "path", "compute-sanitizer"))
    return os.path.join(root, "build"), os.path.join(root, "path")


def fake_env(path_dir, **kw):
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("FAKE_", "COMPUTE_SANITIZER", "CUDA_HOME", "CUDA_PATH"))}
    env["PATH"] = path_dir + os.pathsep + "/usr/bin:/bin"
    env.update(kw)
    return env


def case_fakes(a):
    root = temp_dir("gpu-suite-fakes-")
    build, path = make_tree(a.fakes, root)
    base = ["--build-dir", build]

    print("== every program passes")
    code, res, md, out = run_suite(a.suite, base, fake_env(path, FAKE_GPU="pass"))
    if check_shape(res, md, code):
        st = steps_of(res)
        expect(code == 0, "exit %d, expected 0" % code)
        expect(res["machine"]["gpu"]["name"] == "Fake GPU 80GB", "GPU name %r" % res["machine"]["gpu"]["name"])
        expect(res["machine"]["gpu"]["cuda_driver_version"] == "13.0", "CUDA version not read")
        for name in ("tests", "memcheck", "synccheck", "racecheck", "bench_throughput", "bench_oom"):
            expect(st[name]["status"] == "passed", "%s: %s (%s)" % (name, st[name]["status"], st[name]["reason"]))
        expect(st["tests"]["counts"] == {"tests": 3, "passed": 3, "failed": 0, "skipped": 0},
               "tests counts %r" % st["tests"]["counts"])
        expect(st["memcheck"]["counts"].get("errors") == 0, "memcheck counts %r" % st["memcheck"]["counts"])
        expect("not built" in st["bench_host"]["reason"], "an absent program not reported as not built")
        expect(st["hip"]["status"] == "passed" and st["hip"]["counts"] == {"passed": 2, "failed": 0},
               "hip: %s %r" % (st["hip"]["status"], st["hip"]["counts"]))
        expect(res["benchmarks"]["device_oom"]["results"][0]["usable"] == 0.96, "oom results not embedded")
        with open(os.path.join(out, "device.json")) as f:
            merged = json.load(f)
        expect(merged["mode"] == "throughput+oom" and len(merged["results"]) == 4, "device.json is not both modes")
        expect("| GPU | Fake GPU 80GB (1 device(s)) |" in md, "results.md does not name the GPU")
        expect("| throughput | swim-slab-warp | 10000000 | 16 | 2e+09 |" in md, "results.md has no benchmark row")
        expect(re.search(r"16 B allocations/s.*\| met \|", md) is not None, "results.md has no met target")
        expect(re.search(r"over CUDA in-kernel malloc.*\| 200 \| met \|", md) is not None, "ratio not 200: met")

    print("== no device: the programs skip")
    code, res, md, _ = run_suite(a.suite, base, fake_env(path, FAKE_GPU="skip"))
    if check_shape(res, md, code):
        st = steps_of(res)
        check_all_skipped(res, code)
        expect(st["tests"]["reason"] == "all 3 tests skipped: no usable CUDA device: fake driver missing",
               "tests reason %r" % st["tests"]["reason"])
        expect(st["memcheck"]["reason"].startswith("no usable device"), "memcheck ran without a device")
        expect(st["bench_oom"]["reason"] == "no usable CUDA device (fake driver missing)",
               "bench reason %r" % st["bench_oom"]["reason"])

    print("== a test fails and memcheck reports two errors")
    code, res, md, _ = run_suite(a.suite, base, fake_env(path, FAKE_GPU="fail", FAKE_SANITIZER_ERRORS="2"))
    if check_shape(res, md, code):
        st = steps_of(res)
        expect(code == 1 and res["verdict"] == "failed", "exit %d / %s, expected 1 / failed" % (code, res["verdict"]))
        expect(st["tests"]["status"] == "failed" and "Gpu.Pool" in st["tests"]["reason"],
               "tests: %s %r" % (st["tests"]["status"], st["tests"]["reason"]))
        expect(st["tests"]["counts"] == {"tests": 3, "passed": 2, "failed": 1, "skipped": 0},
               "counts %r" % st["tests"]["counts"])
        for name in ("memcheck", "racecheck"):
            expect(st[name]["status"] == "failed" and "2 error(s)" in st[name]["reason"],
                   "%s: %s %r" % (name, st[name]["status"], st[name]["reason"]))
            expect(st[name]["counts"].get("errors") == 2, "%s counts %r" % (name, st[name]["counts"]))
        expect("## Failures" in md and "slab.inl:120" in md, "results.md does not show the sanitizer's report")
        expect(st["hip"]["status"] == "failed" and st["hip"]["counts"] == {"passed": 1, "failed": 1},
               "hip: %s %r" % (st["hip"]["status"], st["hip"]["counts"]))

    print("== no ROCm here: the HIP runner cannot start")
    code, res, md, _ = run_suite(a.suite, base + ["--only", "hip"], fake_env(path, FAKE_GPU="pass", FAKE_HIP_MISSING="1"))
    if check_shape(res, md, code):
        st = steps_of(res)
        expect(code == SKIPPED and st["hip"]["status"] == "skipped" and "no ROCm" in st["hip"]["reason"],
               "hip without ROCm: %d %s %r" % (code, st["hip"]["status"], st["hip"]["reason"]))

    print("== the test program crashes")
    code, res, md, _ = run_suite(a.suite, base + ["--only", "tests"], fake_env(path, FAKE_GPU="crash"))
    if check_shape(res, md, code):
        st = steps_of(res)
        expect(code == 1 and st["tests"]["status"] == "failed" and "no GoogleTest report" in st["tests"]["reason"],
               "crash: %d %s %r" % (code, st["tests"]["status"], st["tests"]["reason"]))
        expect(st["memcheck"]["reason"].startswith("not selected"), "--only did not deselect memcheck")

    print("== a hung test program is stopped at its time limit")
    code, res, md, _ = run_suite(a.suite, base + ["--only", "tests", "--step-timeout", "tests=1"],
                                 fake_env(path, FAKE_GPU="pass", FAKE_GPU_SLEEP="60"))
    if check_shape(res, md, code):
        st = steps_of(res)
        expect(code == 1 and st["tests"]["status"] == "failed" and st["tests"]["timed_out"] is True,
               "timeout: %d %s %r" % (code, st["tests"]["status"], st["tests"]["reason"]))
        expect(st["tests"]["duration_s"] < 30, "the hung program ran %s s" % st["tests"]["duration_s"])

    print("== --budget cuts the hung step and starts no other")
    code, res, md, _ = run_suite(a.suite, base + ["--budget", "6"], fake_env(path, FAKE_GPU="pass", FAKE_GPU_SLEEP="60"))
    if check_shape(res, md, code):
        st = steps_of(res)
        expect(code == 1 and st["tests"]["timed_out"] is True and "--budget" in st["tests"]["reason"],
               "budget: %d %r" % (code, st["tests"]["reason"]))
        expect(all(st[n]["reason"].startswith("not started: --budget") for n in STEPS[1:]),
               "steps started after the budget: %r" % [st[n]["reason"] for n in STEPS[1:]])

    print("== no compute-sanitizer: those steps skip, the rest passes")
    code, res, md, _ = run_suite(a.suite, base + ["--sanitizer", os.path.join(root, "none")],
                                 fake_env(path, FAKE_GPU="pass"))
    if check_shape(res, md, code):
        st = steps_of(res)
        expect(code == 0, "exit %d, expected 0" % code)
        for name in ("memcheck", "synccheck", "racecheck"):
            expect(st[name]["status"] == "skipped" and "compute-sanitizer not found" in st[name]["reason"],
                   "%s: %s %r" % (name, st[name]["status"], st[name]["reason"]))

    print("== --skip-sanitizers")
    code, res, md, _ = run_suite(a.suite, base + ["--skip-sanitizers", "--quick"], fake_env(path, FAKE_GPU="pass"))
    if check_shape(res, md, code):
        st = steps_of(res)
        expect(st["racecheck"]["reason"] == "not selected (--skip-sanitizers)", "racecheck %r" % st["racecheck"]["reason"])
        expect(st["tests"]["status"] == "passed", "tests did not pass")

    print("== bad arguments")
    for args in (["--bogus"], ["--only", "nosuchstep"], ["--timeout", "soon"], ["--step-timeout", "tests"]):
        proc = subprocess.run(["bash", a.suite] + args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        expect(proc.returncode == 2, "%s: exit %d, expected 2" % (args, proc.returncode))


def case_limit(a):
    root = temp_dir("gpu-bundle-")
    build, path = make_tree(a.fakes, root)
    env = fake_env(path)
    big = os.path.join(build, "device", "swim_mem_gpu_tests")

    def bundle(extra, out):
        return subprocess.run(["bash", a.bundler] + extra + [build, out], env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)

    print("== within the limit")
    out = os.path.join(root, "ok")
    proc = bundle([], out)
    print(proc.stdout)
    expect(proc.returncode == 0, "bundle.sh failed on a small tree")
    expect(os.path.exists(os.path.join(out, "manifest.txt")), "no manifest.txt")
    expect(os.access(os.path.join(out, "bin", "swim_mem_gpu_tests"), os.X_OK), "program not bundled")
    code, res, md, _ = run_suite(os.path.join(out, "gpu_suite.sh"), [], fake_env(path, FAKE_GPU="pass"))
    if check_shape(res, md, code):
        expect(res["build"]["layout"] == "bundle" and code == 0, "the bundled suite: %s, exit %d"
               % (res["build"]["layout"], code))

    print("== over the limit: 65 MiB (sparse) against the default 64 MiB")
    with open(big, "r+b") as f:
        f.truncate(65 << 20)
    out = os.path.join(root, "big")
    proc = bundle([], out)
    print(proc.stdout)
    expect(proc.returncode != 0, "bundle.sh accepted a 65 MiB bundle")
    expect("over the 64 MiB limit" in proc.stdout, "bundle.sh did not say why")
    expect(not os.path.exists(os.path.join(out, "manifest.txt")), "an oversize bundle has a manifest")

    print("== --limit-mib")
    with open(big, "r+b") as f:
        f.truncate(2 << 20)
    proc = bundle(["--limit-mib", "1"], os.path.join(root, "small"))
    expect(proc.returncode != 0 and "over the 1 MiB limit" in proc.stdout, "--limit-mib 1 accepted 2 MiB")


def main():
    p = argparse.ArgumentParser()
    p.add_argument("case", choices=["real", "bundle", "fakes", "limit"])
    p.add_argument("--suite")
    p.add_argument("--bundler")
    p.add_argument("--build-dir")
    p.add_argument("--bundle-dir")
    p.add_argument("--fakes")
    a = p.parse_args()
    {"real": case_real, "bundle": case_bundle, "fakes": case_fakes, "limit": case_limit}[a.case](a)
    if failures:
        print("%d check(s) failed; outputs kept in %s" % (len(failures), " ".join(scratch)))
        return 1
    for d in scratch:
        shutil.rmtree(d, ignore_errors=True)
    print("all checks passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
