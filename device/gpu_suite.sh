#!/usr/bin/env bash
# The GPU suite in one command: the device tests, compute-sanitizer (memcheck,
# synccheck, racecheck) over them, and the device benchmarks, with the GPU's name,
# written to results.json and results.md. Needs bash and the base tools (coreutils,
# grep, sed; awk for the target verdicts): no GoogleTest, Python or CMake on the GPU
# machine.
#
#   gpu_suite.sh [--out DIR] [--build-dir DIR] [--quick] [--skip-sanitizers]
#                [--skip STEP,...] [--only STEP,...] [--timeout S]
#                [--step-timeout STEP=S] [--budget S] [--gtest-filter PATTERN]
#                [--sanitizer-filter PATTERN] [--sanitizer PATH] [--leak-check]
#
# Where the programs are: in a bundle (device/bundle.sh, CMake target
# swim_mem_gpu_bundle) the script sits beside bin/ and uses it; from the
# repository it uses --build-dir (default build/default). --build-dir may also
# name a bundle.
#
# Steps, in this order (a step whose program is absent is skipped, with the reason):
#   tests             swim_mem_gpu_tests (GoogleTest JSON: logs/tests.gtest.json)
#   bench_throughput  swim_mem_device_bench --mode throughput (--quick: 1e5, 1e6 threads)
#   bench_oom         swim_mem_device_bench --mode oom
#   bench_host        swim_bench_device (Google Benchmark; release builds with benchmarks)
#   memcheck          compute-sanitizer --tool memcheck  swim_mem_gpu_tests
#   synccheck         compute-sanitizer --tool synccheck swim_mem_gpu_tests
#   racecheck         compute-sanitizer --tool racecheck swim_mem_gpu_tests
#   hip               swim_mem_hip_runner (AMD GPUs; needs ROCm's libamdhip64 there)
# Each sanitizer runs the whole test binary (or --sanitizer-filter) under its own
# time limit; --timeout S sets every step's limit, --step-timeout memcheck=900 one
# step's; --budget S stops starting steps once S seconds have gone (a step is also
# cut at the budget's end). A step that runs out of time is failed, never passed.
# --gtest-filter narrows every run of the test binary, --sanitizer-filter only the
# sanitizers' runs; --leak-check adds memcheck's leak report; --sanitizer names
# compute-sanitizer (else $COMPUTE_SANITIZER, the PATH, $CUDA_HOME/bin, /usr/local/cuda/bin).
#
# Output (default: results/ beside a bundle, <build dir>/gpu-suite otherwise):
#   results.json  machine (GPU name, driver, CUDA version), build, every step
#                 (status passed|failed|skipped, reason, counts, seconds, exit
#                 code, log) and the benchmark results; rewritten after each step
#   results.md    the same as tables
#   device.json   both swim_mem_device_bench modes in one file, as
#                 benchmarks/summarize.py reads it (only when both ran)
#   logs/         each step's output, GoogleTest and benchmark JSON
#
# Exit codes: 0 nothing failed and at least one step passed; 1 a step failed;
# 77 every step was skipped (no GPU, nothing built); 2 bad arguments or an
# output folder that cannot be written.
set -uo pipefail   # no -e: a failing step is a result, not the end of the suite
export LC_ALL=C     # byte-wise patterns and tools; the programs print ASCII

script_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
all_steps=(tests bench_throughput bench_oom bench_host memcheck synccheck racecheck hip)
sanitizer_error_code=86   # compute-sanitizer's exit code when it reports an error

usage() { sed -n '2,/^set -uo/{/^#/s/^# \{0,1\}//p}' "${BASH_SOURCE[0]}"; }
die_usage() { echo "gpu_suite.sh: $1 (see --help)" >&2; exit 2; }

# ---- options ----------------------------------------------------------------------------
out=""
build_dir=""
quick=0
budget=0
global_timeout=""
gtest_filter=""
sanitizer_filter=""
sanitizer_path="${COMPUTE_SANITIZER:-}"
leak_check=0
declare -A selected=() step_timeout=() skip_note=()
for s in "${all_steps[@]}"; do selected[$s]=1; done

known_step() { local s; for s in "${all_steps[@]}"; do [[ $s == "$1" ]] && return 0; done; return 1; }
positive_int() { [[ $1 =~ ^[0-9]+$ ]] && (( 10#$1 > 0 )); }

while [[ $# -gt 0 ]]; do
  case "$1" in
    --out) [[ $# -ge 2 ]] || die_usage "--out needs a folder"; out=$2; shift 2 ;;
    --build-dir) [[ $# -ge 2 ]] || die_usage "--build-dir needs a folder"; build_dir=$2; shift 2 ;;
    --quick) quick=1; shift ;;
    --skip-sanitizers)
      for s in memcheck synccheck racecheck; do selected[$s]=0; skip_note[$s]="not selected (--skip-sanitizers)"; done
      shift ;;
    --skip|--only)
      [[ $# -ge 2 ]] || die_usage "$1 needs a list of steps"
      IFS=, read -r -a list <<<"$2"
      [[ ${#list[@]} -gt 0 ]] || die_usage "$1 needs a list of steps"
      for s in "${list[@]}"; do known_step "$s" || die_usage "unknown step '$s' (steps: ${all_steps[*]})"; done
      if [[ $1 == --only ]]; then
        for s in "${all_steps[@]}"; do selected[$s]=0; skip_note[$s]="not selected (--only $2)"; done
        for s in "${list[@]}"; do selected[$s]=1; unset 'skip_note[$s]'; done
      else
        for s in "${list[@]}"; do selected[$s]=0; skip_note[$s]="not selected (--skip $2)"; done
      fi
      shift 2 ;;
    --timeout)
      [[ $# -ge 2 ]] && positive_int "$2" || die_usage "--timeout needs a number of seconds"
      global_timeout=$((10#$2)); shift 2 ;;
    --step-timeout)
      [[ $# -ge 2 && $2 == *=* ]] || die_usage "--step-timeout needs STEP=SECONDS"
      known_step "${2%%=*}" || die_usage "unknown step '${2%%=*}' (steps: ${all_steps[*]})"
      positive_int "${2#*=}" || die_usage "--step-timeout ${2%%=*} needs a number of seconds"
      step_timeout[${2%%=*}]=$((10#${2#*=})); shift 2 ;;
    --budget)
      [[ $# -ge 2 ]] && positive_int "$2" || die_usage "--budget needs a number of seconds"
      budget=$((10#$2)); shift 2 ;;
    --gtest-filter) [[ $# -ge 2 ]] || die_usage "--gtest-filter needs a pattern"; gtest_filter=$2; shift 2 ;;
    --sanitizer-filter) [[ $# -ge 2 ]] || die_usage "--sanitizer-filter needs a pattern"; sanitizer_filter=$2; shift 2 ;;
    --sanitizer) [[ $# -ge 2 ]] || die_usage "--sanitizer needs a path"; sanitizer_path=$2; shift 2 ;;
    --leak-check) leak_check=1; shift ;;
    -h|--help) usage; exit 0 ;;
    *) die_usage "unknown argument '$1'" ;;
  esac
done

# Each step's own time limit, in seconds (--timeout and --step-timeout override).
declare -A default_timeout=(
  [tests]=600 [bench_throughput]=900 [bench_oom]=300 [bench_host]=600
  [memcheck]=1800 [synccheck]=900 [racecheck]=900 [hip]=600)
if (( quick )); then
  default_timeout=(
    [tests]=300 [bench_throughput]=300 [bench_oom]=180 [bench_host]=180
    [memcheck]=600 [synccheck]=300 [racecheck]=300 [hip]=300)
fi
for s in "${all_steps[@]}"; do
  [[ -n ${step_timeout[$s]:-} ]] || step_timeout[$s]=${global_timeout:-${default_timeout[$s]}}
done

# ---- where the programs are -------------------------------------------------------------
layout=build
if [[ -z $build_dir && -d $script_dir/bin ]]; then
  build_dir=$script_dir
fi
if [[ -n $build_dir && ! -d $build_dir ]]; then
  die_usage "no such build directory: $build_dir"
fi
[[ -n $build_dir ]] || build_dir=$script_dir/../build/default
if [[ -d $build_dir ]]; then build_dir=$(cd "$build_dir" && pwd); fi
if [[ -d $build_dir/bin && -f $build_dir/manifest.txt ]]; then layout=bundle; fi
[[ -n $out ]] || { if [[ $layout == bundle ]]; then out=$build_dir/results; else out=$build_dir/gpu-suite; fi; }

# The path of one of the suite's programs, or nothing.
find_program() {
  local name=$1 c
  local candidates=("$build_dir/bin/$name")
  [[ $layout == bundle ]] || candidates+=("$build_dir/device/$name" "$build_dir/device/bench/$name"
                                          "$build_dir/benchmarks/$name")
  for c in "${candidates[@]}"; do
    if [[ -f $c && -x $c ]]; then echo "$c"; return 0; fi
  done
  return 1
}
# Libraries a bundle carries (e.g. Google Benchmark's) are found there.
if [[ $layout == bundle && -d $build_dir/lib ]]; then
  export LD_LIBRARY_PATH="$build_dir/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
fi

mkdir -p "$out/logs" 2>/dev/null && [[ -w $out/logs ]] || { echo "gpu_suite.sh: cannot write to $out" >&2; exit 2; }
out=$(cd "$out" && pwd)
rm -f "$out"/logs/* "$out/results.json" "$out/results.md" "$out/device.json" 2>/dev/null

# ---- small helpers ----------------------------------------------------------------------
now_us() {
  if [[ -n ${EPOCHREALTIME:-} ]]; then local t=${EPOCHREALTIME/[.,]/}; echo $((10#$t)); else echo $(( $(date +%s%N) / 1000 )); fi
}
seconds() { printf '%d.%03d' $(($1 / 1000000)) $((($1 % 1000000) / 1000)); }   # µs -> "s.mmm"
short_seconds() { printf '%d.%d' $(($1 / 1000000)) $((($1 % 1000000) / 100000)); }
utc_now() { date -u +%Y-%m-%dT%H:%M:%SZ; }
# Printable ASCII on one line: what other programs print becomes a safe JSON/markdown string.
clean() { printf '%s' "${1//[^[:print:]]/ }"; }   # [:print:] is ASCII 32..126 under LC_ALL=C
json_str() {
  local s=${1//[^[:print:]]/ }
  s=${s//\\/\\\\}
  s=${s//\"/\\\"}
  printf '"%s"' "$s"
}
json_num_or_null() { if [[ $1 =~ ^-?[0-9]+(\.[0-9]+)?([eE][-+]?[0-9]+)?$ ]]; then printf '%s' "$1"; else printf 'null'; fi; }
md_cell() { local s=${1//[^[:print:]]/ }; printf '%s' "${s//|/\\|}"; }
have() { command -v "$1" >/dev/null 2>&1; }
# "key=value" from a manifest or a CMakeCache (KEY:TYPE=value).
manifest_value() { [[ -f $build_dir/manifest.txt ]] && sed -n "s/^$1=//p" "$build_dir/manifest.txt" | head -n 1; }
cache_value() { [[ -f $build_dir/CMakeCache.txt ]] && sed -n "s/^$1:[A-Z]*=//p" "$build_dir/CMakeCache.txt" | head -n 1; }

started_at=$(utc_now)
t0=$(now_us)

# ---- the machine ------------------------------------------------------------------------
gpu_name="" gpu_count=0 gpu_driver="" gpu_memory="" gpu_cc="" gpu_cuda="" gpu_note=""
smi_run() { if have timeout; then timeout 60 "$@"; else "$@"; fi; }
if have nvidia-smi; then
  q=$(smi_run nvidia-smi --query-gpu=name,driver_version,memory.total,compute_cap --format=csv,noheader 2>&1)
  rc=$?
  if (( rc != 0 )); then   # older drivers know no compute_cap
    q=$(smi_run nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>&1)
    rc=$?
  fi
  if (( rc == 0 )) && [[ -n $q ]]; then
    gpu_count=$(printf '%s\n' "$q" | grep -c .)
    IFS=, read -r gpu_name gpu_driver gpu_memory gpu_cc <<<"$(printf '%s\n' "$q" | head -n 1)"
    gpu_name=$(clean "${gpu_name# }") gpu_driver=$(clean "${gpu_driver# }")
    gpu_memory=$(clean "${gpu_memory# }") gpu_cc=$(clean "${gpu_cc# }")
    gpu_cuda=$(smi_run nvidia-smi 2>/dev/null | grep -o 'CUDA Version: *[0-9.]*' | head -n 1 | grep -o '[0-9.]*$')
  else
    gpu_note="nvidia-smi: $(printf '%s\n' "$q" | head -n 1)"
  fi
elif have rocm-smi; then
  gpu_name=$(smi_run rocm-smi --showproductname 2>/dev/null | grep -i -m 1 'card series' | sed 's/.*:[[:space:]]*//')
  gpu_driver=$(smi_run rocm-smi --showdriverversion 2>/dev/null | grep -i -m 1 'driver version' | sed 's/.*:[[:space:]]*//')
  [[ -n $gpu_name ]] && gpu_count=$(smi_run rocm-smi --showproductname 2>/dev/null | grep -ci 'card series')
  [[ -n $gpu_name ]] || gpu_note="rocm-smi found no GPU"
else
  gpu_note="neither nvidia-smi nor rocm-smi is on the PATH"
fi
host_name=$(hostname 2>/dev/null || uname -n)
kernel=$(uname -r)
cpu_model=$(sed -n 's/^model name[[:space:]]*:[[:space:]]*//p' /proc/cpuinfo 2>/dev/null | head -n 1)
cpu_count=$(getconf _NPROCESSORS_ONLN 2>/dev/null || echo 0)

# compute-sanitizer: --sanitizer, $COMPUTE_SANITIZER, the PATH, then the usual CUDA folders.
sanitizer=""
if [[ -n $sanitizer_path ]]; then
  [[ -x $sanitizer_path ]] && sanitizer=$sanitizer_path
else
  sanitizer=$(command -v compute-sanitizer 2>/dev/null || true)
  if [[ -z $sanitizer ]]; then
    for c in ${CUDA_HOME:+"$CUDA_HOME/bin"} ${CUDA_PATH:+"$CUDA_PATH/bin"} \
             ${CUDA_HOME:+"$CUDA_HOME/compute-sanitizer"} \
             "$(dirname "$(command -v nvcc 2>/dev/null || echo /nonexistent/nvcc)")" \
             /usr/local/cuda/bin /usr/local/cuda/compute-sanitizer; do
      if [[ -x $c/compute-sanitizer ]]; then sanitizer=$c/compute-sanitizer; break; fi
    done
  fi
fi
sanitizer_version=""
if [[ -n $sanitizer ]]; then
  sanitizer_version=$(smi_run "$sanitizer" --version 2>/dev/null | grep -i -m 1 'version' | sed 's/^[^0-9]*//')
fi

# ---- the build --------------------------------------------------------------------------
if [[ $layout == bundle ]]; then
  build_commit=$(manifest_value commit)
  build_type=$(manifest_value build_type)
  build_archs=$(manifest_value cuda_architectures)
  build_compiler=$(manifest_value cuda_compiler)
  build_created=$(manifest_value created)
else
  build_commit=$(git -C "$script_dir" rev-parse --short=12 HEAD 2>/dev/null || true)
  if [[ -n $build_commit ]] && ! git -C "$script_dir" diff --quiet HEAD 2>/dev/null; then build_commit+="-dirty"; fi
  build_type=$(cache_value CMAKE_BUILD_TYPE)
  build_archs=$(cache_value CMAKE_CUDA_ARCHITECTURES)
  build_compiler=$(cache_value CMAKE_CUDA_COMPILER_VERSION)
  [[ -n $build_compiler ]] || build_compiler=$(sed -n 's/^set(CMAKE_CUDA_COMPILER_VERSION "\(.*\)")/\1/p' "$build_dir"/CMakeFiles/*/CMakeCUDACompiler.cmake 2>/dev/null | head -n 1)
  build_created=""
fi

# ---- step results -----------------------------------------------------------------------
declare -A status=() reason=() duration=() exit_code=() timed_out=() command_line=() counts=() log_file=()
for s in "${all_steps[@]}"; do
  status[$s]=skipped
  reason[$s]="not reached: the suite stopped before this step"
  duration[$s]=0 exit_code[$s]="" timed_out[$s]=false command_line[$s]="" counts[$s]="" log_file[$s]=""
done
declare -A bench_json=()   # step -> the JSON file a benchmark wrote, when it is whole
finished=false

set_result() { status[$1]=$2; reason[$1]=$3; }

verdict() {
  local s any_passed=0
  for s in "${all_steps[@]}"; do
    [[ ${status[$s]} == failed ]] && { echo failed; return; }
    [[ ${status[$s]} == passed ]] && any_passed=1
  done
  if (( any_passed )); then echo passed; else echo skipped; fi
}
verdict_code() { case $(verdict) in passed) echo 0 ;; failed) echo 1 ;; *) echo 77 ;; esac; }

# A whole JSON document from a file: our benchmark binaries write one object on one line
# or Google Benchmark's pretty print; embed it when it looks whole (and, where Python is
# present, parses), else null.
embed_json() {
  local f=$1
  [[ -s $f ]] || { printf 'null'; return; }
  local first last
  first=$(LC_ALL=C tr -d ' \t\r\n' <"$f" | head -c 1)
  last=$(LC_ALL=C tr -d ' \t\r\n' <"$f" | tail -c 1)
  [[ $first == "{" && $last == "}" ]] || { printf 'null'; return; }
  if have python3 && ! python3 -c 'import json,sys; json.load(open(sys.argv[1]))' "$f" >/dev/null 2>&1; then
    printf 'null'; return
  fi
  cat "$f"
}

write_json() {
  local f=$out/results.json.tmp s first=1 now
  now=$(now_us)
  {
    printf '{\n "suite": "swim-mem device/gpu_suite.sh",\n "format": 1,\n'
    printf ' "complete": %s,\n' "$finished"
    printf ' "verdict": %s,\n "exit_code": %s,\n' "$(json_str "$(verdict)")" "$(verdict_code)"
    printf ' "started": %s,\n "written": %s,\n "duration_s": %s,\n' "$(json_str "$started_at")" \
      "$(json_str "$(utc_now)")" "$(seconds $((now - t0)))"
    printf ' "options": {"quick": %s, "budget_s": %s, "gtest_filter": %s, "sanitizer_filter": %s, "leak_check": %s},\n' \
      "$( ((quick)) && echo true || echo false)" "$budget" "$(json_str "$gtest_filter")" \
      "$(json_str "$sanitizer_filter")" "$( ((leak_check)) && echo true || echo false)"
    printf ' "machine": {\n  "host": %s,\n  "kernel": %s,\n  "cpu": %s,\n  "cpus": %s,\n' \
      "$(json_str "$host_name")" "$(json_str "$kernel")" "$(json_str "$cpu_model")" "$(json_num_or_null "$cpu_count")"
    printf '  "gpu": {"name": %s, "count": %s, "driver": %s, "cuda_driver_version": %s, "memory_total": %s, "compute_capability": %s, "note": %s},\n' \
      "$(json_str "$gpu_name")" "$gpu_count" "$(json_str "$gpu_driver")" "$(json_str "$gpu_cuda")" \
      "$(json_str "$gpu_memory")" "$(json_str "$gpu_cc")" "$(json_str "$gpu_note")"
    printf '  "compute_sanitizer": {"path": %s, "version": %s}\n },\n' "$(json_str "$sanitizer")" "$(json_str "$sanitizer_version")"
    printf ' "build": {"layout": %s, "dir": %s, "commit": %s, "build_type": %s, "cuda_architectures": %s, "cuda_compiler": %s, "bundled": %s},\n' \
      "$(json_str "$layout")" "$(json_str "$build_dir")" "$(json_str "$build_commit")" "$(json_str "$build_type")" \
      "$(json_str "$build_archs")" "$(json_str "$build_compiler")" "$(json_str "$build_created")"
    printf ' "steps": [\n'
    for s in "${all_steps[@]}"; do
      (( first )) || printf ',\n'
      first=0
      printf '  {"name": %s, "status": %s, "reason": %s, "duration_s": %s, "exit_code": %s, "timed_out": %s, "time_limit_s": %s, "command": %s, "log": %s, "counts": {%s}}' \
        "$(json_str "$s")" "$(json_str "${status[$s]}")" "$(json_str "${reason[$s]}")" "$(seconds "${duration[$s]}")" \
        "$(json_num_or_null "${exit_code[$s]}")" "${timed_out[$s]}" "${step_timeout[$s]}" \
        "$(json_str "${command_line[$s]}")" "$(json_str "${log_file[$s]}")" "${counts[$s]}"
    done
    printf '\n ],\n "benchmarks": {\n'
    printf '  "device_throughput": '; embed_json "${bench_json[bench_throughput]:-}"; printf ',\n'
    printf '  "device_oom": '; embed_json "${bench_json[bench_oom]:-}"; printf ',\n'
    printf '  "host": '; embed_json "${bench_json[bench_host]:-}"; printf '\n }\n}\n'
  } >"$f" && mv -f "$f" "$out/results.json"
}

# ---- markdown ---------------------------------------------------------------------------
# One JSON field of a flat object on one line (the device benchmark's rows).
field() { [[ $1 =~ \"$2\":(\"[^\"]*\"|[^,}]*) ]] && { local v=${BASH_REMATCH[1]}; v=${v#\"}; printf '%s' "${v%\"}"; }; }
if command -v awk >/dev/null 2>&1; then
  fmt_g() { awk -v v="$1" 'BEGIN { if (v == "") print ""; else printf "%.3g", v }'; }
  fmt_f1() { awk -v v="$1" 'BEGIN { if (v == "") print ""; else printf "%.1f", v }'; }
  fmt_pct() { awk -v v="$1" 'BEGIN { if (v == "") print ""; else printf "%.1f %%", 100 * v }'; }
  at_least() { awk -v v="$1" -v g="$2" 'BEGIN { exit !(v != "" && v + 0 >= g + 0) }'; }
else   # no awk: numbers as the programs wrote them, and no verdicts on the targets
  fmt_g() { printf '%s' "$1"; }
  fmt_f1() { printf '%s' "$1"; }
  fmt_pct() { [[ -n $1 ]] && printf '%s (fraction)' "$1"; }
  at_least() { return 2; }
fi

# The rows of the device benchmark's "results" array, one per line.
bench_rows() {
  local f=$1 body
  [[ -s $f ]] || return 0
  body=$(tr -d '\n' <"$f")
  [[ $body == *'"results":['* ]] || return 0
  body=${body#*\"results\":\[}
  body=${body%%\]*}
  [[ -n $body ]] || return 0
  local nl=$'\n'
  printf '%s\n' "${body//\},\{/\}${nl}\{}"
}

write_md() {
  local f=$out/results.md.tmp s v
  {
    echo "# swim-mem GPU suite"
    echo
    case $(verdict) in
      passed) v="**passed**" ;;
      failed) v="**FAILED**" ;;
      *) v="**skipped**: no step ran (no usable GPU, or nothing built)" ;;
    esac
    $finished || v+=" (incomplete: the suite stopped early)"
    echo "Verdict: $v; exit code $(verdict_code). Started $started_at, $(short_seconds $(($(now_us) - t0))) s."
    echo
    echo "| machine | |"
    echo "|---|---|"
    if [[ -n $gpu_name ]]; then
      echo "| GPU | $(md_cell "$gpu_name") ($gpu_count device(s)) |"
    else
      echo "| GPU | none found: $(md_cell "$gpu_note") |"
    fi
    [[ -n $gpu_driver ]] && echo "| driver | $(md_cell "$gpu_driver")${gpu_cuda:+ (CUDA $gpu_cuda)} |"
    [[ -n $gpu_memory ]] && echo "| memory | $(md_cell "$gpu_memory") |"
    [[ -n $gpu_cc ]] && echo "| compute capability | $(md_cell "$gpu_cc") |"
    echo "| host | $(md_cell "$host_name"), $(md_cell "$cpu_model"), $cpu_count CPUs, Linux $(md_cell "$kernel") |"
    echo "| compute-sanitizer | $(md_cell "${sanitizer:-not found}")${sanitizer_version:+ ($(md_cell "$sanitizer_version"))} |"
    echo "| build | $(md_cell "$layout") $(md_cell "$build_dir"): commit $(md_cell "${build_commit:-?}"), $(md_cell "${build_type:-?}"), CUDA architectures $(md_cell "${build_archs:-?}"), nvcc $(md_cell "${build_compiler:-?}") |"
    echo
    echo "## Steps"
    echo
    echo "| step | status | seconds | counts | reason / note | log |"
    echo "|---|---|---|---|---|---|"
    for s in "${all_steps[@]}"; do
      local c=${counts[$s]//\"/}
      echo "| $s | ${status[$s]} | $(short_seconds "${duration[$s]}") | $(md_cell "$c") | $(md_cell "${reason[$s]}") | ${log_file[$s]} |"
    done
    echo
    write_md_device_bench
    write_md_host_bench
    write_md_problems
  } >"$f" && mv -f "$f" "$out/results.md"
}

write_md_device_bench() {
  local step row any=0
  for step in bench_throughput bench_oom; do [[ -n ${bench_json[$step]:-} ]] && any=1; done
  (( any )) || return 0
  echo "## Device workloads (swim_mem_device_bench)"
  echo
  echo "Allocations per second of kernel time; re-calls after \`contended\`; clock64() cycles"
  echo "of one allocation; usable: the heap's fraction handed out before the first failure."
  echo
  echo "| test | allocator | threads | size (B) | allocs/s | failed | max re-calls | max cycles | mean cycles | usable |"
  echo "|---|---|---|---|---|---|---|---|---|---|"
  local best_rate="" best_rate_who="" cuda16="" best_usable="" best_usable_who="" top=0
  for step in bench_throughput bench_oom; do
    [[ -n ${bench_json[$step]:-} ]] || continue
    while IFS= read -r row; do
      [[ -n $row ]] || continue
      local test alloc threads size rate usable
      test=$(field "$row" test) alloc=$(field "$row" allocator) threads=$(field "$row" threads)
      size=$(field "$row" size) rate=$(field "$row" allocs_per_s) usable=$(field "$row" usable)
      echo "| $(md_cell "$test") | $(md_cell "$alloc") | $threads | $size | $(fmt_g "$rate") | $(field "$row" failed) | $(field "$row" max_recalls) | $(field "$row" max_cycles) | $(fmt_f1 "$(field "$row" mean_cycles)") | $( [[ $test == oom ]] && fmt_pct "$usable") |"
      if [[ $test == throughput && $size == 16 ]] && (( threads >= top )); then
        if (( threads > top )); then top=$threads best_rate="" cuda16=""; fi
        if [[ $alloc == swim* ]] && ! at_least "${best_rate:-0}" "$rate"; then best_rate=$rate best_rate_who=$alloc; fi
        [[ $alloc == cuda-malloc ]] && cuda16=$rate
      fi
      if [[ $test == oom && $size == 16 && $alloc == swim* ]] && ! at_least "${best_usable:-0}" "$usable"; then
        best_usable=$usable best_usable_who=$alloc
      fi
    done < <(bench_rows "${bench_json[$step]}")
  done
  echo
  if ! command -v awk >/dev/null 2>&1; then echo "(No awk here: the targets are not judged.)"; echo; return 0; fi
  echo "Device targets (docs/benchmarks.md, \"Targets\"; an H100), from this run:"
  echo
  echo "| target | goal | measured | verdict |"
  echo "|---|---|---|---|"
  local mark
  if [[ -n $best_rate ]]; then
    if (( top >= 10000000 )); then
      at_least "$best_rate" 1e9 && mark=met || mark=MISSED
    else
      mark="not measured (largest run: $top threads; --quick stops at 1e6)"
    fi
    echo "| 16 B allocations/s, $top threads | ≥ 1e9 at 1e7 threads | $(fmt_g "$best_rate") ($best_rate_who) | $mark |"
    if [[ -n $cuda16 ]] && at_least "$cuda16" 1e-30; then
      local ratio
      ratio=$(awk -v a="$best_rate" -v b="$cuda16" 'BEGIN { printf "%.3g", a / b }')
      at_least "$ratio" 100 && mark=met || mark=MISSED
      echo "| swim-mem over CUDA in-kernel malloc, 16 B, $top threads | ≥ 100 | $ratio | $mark |"
    fi
  fi
  if [[ -n $best_usable ]]; then
    at_least "$best_usable" 0.95 && mark=met || mark=MISSED
    echo "| heap usable before the first failure, 16 B | ≥ 95 % | $(fmt_pct "$best_usable") ($best_usable_who) | $mark |"
  fi
  echo
}

write_md_host_bench() {
  local f=${bench_json[bench_host]:-} line name="" time="" unit="" err=""
  [[ -n $f && -s $f ]] || return 0
  echo "## Device memory from host code (swim_bench_device)"
  echo
  echo "| benchmark | real time | unit | note |"
  echo "|---|---|---|---|"
  while IFS= read -r line; do
    if [[ $line =~ ^\ *\"name\":\ *\"(.*)\",?$ ]]; then name=${BASH_REMATCH[1]} time="" unit="" err=""
    elif [[ $line =~ ^\ *\"error_message\":\ *\"(.*)\",?$ ]]; then err=${BASH_REMATCH[1]}
    elif [[ $line =~ ^\ *\"real_time\":\ *([-0-9.eE+]+),?$ ]]; then time=${BASH_REMATCH[1]}
    elif [[ $line =~ ^\ *\"time_unit\":\ *\"(.*)\",?$ ]]; then
      unit=${BASH_REMATCH[1]}
      [[ -n $name ]] && echo "| $(md_cell "$name") | $( [[ -z $err ]] && fmt_g "$time") | $unit | $(md_cell "$err") |"
      name=""
    fi
  done <"$f"
  echo
}

write_md_problems() {
  local s any=0
  for s in "${all_steps[@]}"; do [[ ${status[$s]} == failed && -s $out/${log_file[$s]} ]] && any=1; done
  (( any )) || return 0
  echo "## Failures"
  echo
  for s in "${all_steps[@]}"; do
    [[ ${status[$s]} == failed && -s $out/${log_file[$s]} ]] || continue
    echo "### $s"
    echo
    echo "${reason[$s]}"
    echo
    echo '```text'
    # The sanitizer's reports first (they name the kernel and line), else the end of the log.
    if grep -q '^========= ' "$out/${log_file[$s]}"; then
      grep '^========= ' "$out/${log_file[$s]}" | head -n 40 | LC_ALL=C tr -cd '\11\12\40-\176'
    else
      tail -n 40 "$out/${log_file[$s]}" | LC_ALL=C tr -cd '\11\12\40-\176'
    fi
    echo '```'
    echo
  done
}

write_results() { write_json; write_md; }

# ---- running a step ---------------------------------------------------------------------
budget_left() { echo $(( budget - ($(now_us) - t0) / 1000000 )); }

# run_logged STEP PROGRAM ARGS...: runs it under the step's time limit (and what is left
# of --budget), output to logs/STEP.log; sets rc and the step's duration and exit code.
rc=0
run_logged() {
  local step=$1; shift
  local limit=${step_timeout[$step]} cut_by=step start end
  if (( budget > 0 )) && (( $(budget_left) < limit )); then limit=$(budget_left) cut_by=budget; fi
  log_file[$step]=logs/$step.log
  command_line[$step]="$*"
  start=$(now_us)
  if have timeout; then
    timeout --kill-after=20 "$limit" "$@" >"$out/logs/$step.log" 2>&1 </dev/null
  else
    "$@" >"$out/logs/$step.log" 2>&1 </dev/null
  fi
  rc=$?
  end=$(now_us)
  duration[$step]=$((end - start))
  exit_code[$step]=$rc
  if have timeout && { (( rc == 124 )) || (( rc == 137 )); } && (( (end - start) / 1000000 >= limit )); then
    timed_out[$step]=true
    if [[ $cut_by == budget ]]; then
      set_result "$step" failed "stopped at the end of --budget $budget after ${limit} s: no verdict"
    else
      set_result "$step" failed "timed out after ${limit} s (its time limit; --step-timeout $step=S to change)"
    fi
    return 1
  fi
  return 0
}

# A step may start: selected, and time left in the budget.
may_start() {
  local step=$1
  if [[ ${selected[$step]} != 1 ]]; then set_result "$step" skipped "${skip_note[$step]:-not selected}"; return 1; fi
  if (( budget > 0 )) && (( $(budget_left) < 5 )); then
    set_result "$step" skipped "not started: --budget $budget s spent"
    return 1
  fi
  return 0
}

# GoogleTest's report: g_tests, g_failed, g_skipped, g_passed, g_skip_reason, g_failed_names.
parse_gtest() {
  local json=$1 log=$2
  g_tests=0 g_failed=0 g_skipped=0 g_passed=0 g_skip_reason="" g_failed_names=""
  [[ -s $json ]] || return 1
  g_tests=$(grep -c '"result": ' "$json")
  g_skipped=$(grep -c '"result": "SKIPPED"' "$json")
  g_failed=$(grep -m 1 -o '"failures": [0-9]*' "$json" | grep -o '[0-9]*$')
  g_failed=${g_failed:-0}
  g_passed=$((g_tests - g_failed - g_skipped))
  (( g_passed >= 0 )) || g_passed=0
  g_skip_reason=$(grep -A 1 ': Skipped$' "$log" | grep -v -e ': Skipped$' -e '^--$' | head -n 1)
  g_failed_names=$(sed -n 's/^\[  FAILED  \] \([^ ]*\) (.*/\1/p' "$log" | sort -u | head -n 20 | paste -sd ' ' -)
  return 0
}
gtest_counts() { echo "\"tests\": $g_tests, \"passed\": $g_passed, \"failed\": $g_failed, \"skipped\": $g_skipped"; }

# The verdict of a run of swim_mem_gpu_tests, bare or under a sanitizer.
classify_gtest() {
  local step=$1 json=$2
  if ! parse_gtest "$json" "$out/logs/$step.log"; then
    set_result "$step" failed "exit code $rc and no GoogleTest report (crashed?): $(grep -v '^$' "$out/logs/$step.log" | tail -n 1)"
    return
  fi
  counts[$step]=$(gtest_counts)
  if (( g_tests == 0 )); then
    set_result "$step" failed "no test ran (filter '${gtest_filter}${sanitizer_filter}' matched nothing?)"
  elif (( g_skipped == g_tests )); then
    set_result "$step" skipped "all $g_tests tests skipped: ${g_skip_reason:-no reason given}"
  elif (( g_failed > 0 )); then
    set_result "$step" failed "$g_failed of $g_tests tests failed: $g_failed_names"
  elif (( g_skipped > 0 )); then
    set_result "$step" failed "$g_skipped of $g_tests tests skipped while the others ran: ${g_skip_reason:-no reason given}"
  elif (( rc != 0 )); then
    set_result "$step" failed "exit code $rc although every test passed"
  else
    set_result "$step" passed ""
  fi
}

step_tests() {
  local bin
  bin=$(find_program swim_mem_gpu_tests) || {
    set_result tests skipped "swim_mem_gpu_tests is not built (CUDA or the tests disabled in $build_dir)"; return; }
  local args=(--gtest_output="json:$out/logs/tests.gtest.json")
  [[ -n $gtest_filter ]] && args+=(--gtest_filter="$gtest_filter")
  run_logged tests "$bin" "${args[@]}" || return
  classify_gtest tests "$out/logs/tests.gtest.json"
}

step_sanitizer() {
  local step=$1 bin
  bin=$(find_program swim_mem_gpu_tests) || {
    set_result "$step" skipped "swim_mem_gpu_tests is not built (CUDA or the tests disabled in $build_dir)"; return; }
  if [[ -z $sanitizer ]]; then
    set_result "$step" skipped "compute-sanitizer not found (PATH, \$CUDA_HOME/bin, /usr/local/cuda/bin; or --sanitizer PATH)"
    return
  fi
  # Without a device there is nothing to check (the tests step said so).
  if [[ ${status[tests]} == skipped && ${reason[tests]} == "all "*" tests skipped: "* ]]; then
    set_result "$step" skipped "no usable device (the tests step: ${reason[tests]#*: })"
    return
  fi
  local tool_args=(--tool "$step" --error-exitcode "$sanitizer_error_code")
  [[ $step == memcheck ]] && (( leak_check )) && tool_args+=(--leak-check full)
  local filter=${sanitizer_filter:-$gtest_filter}
  local args=(--gtest_output="json:$out/logs/$step.gtest.json")
  [[ -n $filter ]] && args+=(--gtest_filter="$filter")
  run_logged "$step" "$sanitizer" "${tool_args[@]}" "$bin" "${args[@]}" || return
  local log=$out/logs/$step.log summary errors=0 warnings=""
  # "ERROR SUMMARY: 3 errors"; racecheck: "RACECHECK SUMMARY: 2 hazards displayed (1 error, 1 warning)".
  summary=$(grep -E -m 1 '(ERROR|RACECHECK) SUMMARY:' "$log")
  if [[ $summary =~ \(([0-9]+)\ errors?,\ ([0-9]+)\ warnings?\) ]]; then
    errors=${BASH_REMATCH[1]} warnings=${BASH_REMATCH[2]}
  elif [[ $summary =~ SUMMARY:\ ([0-9]+)\ error ]]; then
    errors=${BASH_REMATCH[1]}
  fi
  if grep -q -i 'device not supported' "$log"; then
    set_result "$step" skipped "compute-sanitizer cannot instrument this device or sandbox: $(grep -i -m 1 'device not supported' "$log")"
    return
  fi
  classify_gtest "$step" "$out/logs/$step.gtest.json"
  counts[$step]="\"errors\": $errors${warnings:+, \"warnings\": $warnings}${counts[$step]:+, ${counts[$step]}}"
  if (( errors > 0 )) || (( rc == sanitizer_error_code )); then
    set_result "$step" failed "$step reported $errors error(s)${warnings:+ and $warnings warning(s)} (logs/$step.log)"
  elif [[ ${status[$step]} == passed && -z $summary ]]; then
    set_result "$step" failed "no summary line from compute-sanitizer: did it run? (logs/$step.log)"
  fi
}

step_device_bench() {
  local step=$1 mode=$2 bin
  bin=$(find_program swim_mem_device_bench) || {
    set_result "$step" skipped "swim_mem_device_bench is not built (CUDA disabled in $build_dir)"; return; }
  local json=$out/logs/$step.json args=(--mode "$mode" --json "$out/logs/$step.json")
  (( quick )) && [[ $mode == throughput ]] && args=(--quick "${args[@]}")
  run_logged "$step" "$bin" "${args[@]}" || return
  local log=$out/logs/$step.log
  if (( rc == 77 )); then
    set_result "$step" skipped "$(sed -n 's/^SKIPPED: //p' "$log" | head -n 1)"
  elif (( rc != 0 )); then
    set_result "$step" failed "exit code $rc: $(grep -v '^$' "$log" | tail -n 1)"
  elif [[ ! -s $json ]] || ! grep -q '"status":"ok"' "$json"; then
    set_result "$step" failed "exit code 0 but no results in logs/$step.json"
  else
    bench_json[$step]=$json
    counts[$step]="\"results\": $(grep -o '"allocator":' "$json" | grep -c .)"
    set_result "$step" passed ""
  fi
}

step_host_bench() {
  local bin
  bin=$(find_program swim_bench_device) || {
    set_result bench_host skipped "swim_bench_device is not built (needs CUDA and -DSWIM_MEM_BUILD_BENCHMARKS=ON, e.g. the release preset)"
    return; }
  local json=$out/logs/bench_host.json min_time=0.3
  (( quick )) && min_time=0.05
  run_logged bench_host "$bin" --benchmark_out="$json" --benchmark_out_format=json \
    --benchmark_min_time="$min_time" || return
  local log=$out/logs/bench_host.log total errors
  if [[ ! -s $json ]]; then
    set_result bench_host failed "exit code $rc and no Google Benchmark report: $(grep -v '^$' "$log" | tail -n 1)"
    return
  fi
  bench_json[bench_host]=$json   # shown even when some benchmarks failed
  total=$(grep -c '"run_name": ' "$json")
  errors=$(grep -c '"error_occurred": true' "$json")
  counts[bench_host]="\"benchmarks\": $total, \"errors\": $errors"
  if (( rc != 0 )); then
    set_result bench_host failed "exit code $rc: $(grep -v '^$' "$log" | tail -n 1)"
  elif (( total == 0 )); then
    set_result bench_host failed "no benchmark ran"
  elif (( errors == total )); then
    set_result bench_host skipped "every benchmark reported: $(sed -n 's/^ *"error_message": "\(.*\)",*$/\1/p' "$json" | head -n 1)"
  elif (( errors > 0 )); then
    set_result bench_host failed "$errors of $total benchmarks reported an error: $(sed -n 's/^ *"error_message": "\(.*\)",*$/\1/p' "$json" | head -n 1)"
  else
    set_result bench_host passed ""
  fi
}

step_hip() {
  local bin
  bin=$(find_program swim_mem_hip_runner) || {
    set_result hip skipped "swim_mem_hip_runner is not built (HIP disabled in $build_dir)"; return; }
  run_logged hip "$bin" || return
  local log=$out/logs/hip.log passed failed
  passed=$(grep -c '^\[  PASSED  \]' "$log")
  failed=$(grep -c '^\[  FAILED  \]' "$log")
  counts[hip]="\"passed\": $passed, \"failed\": $failed"
  if (( rc == 77 )); then
    set_result hip skipped "$(sed -n 's/^SKIPPED: //p' "$log" | head -n 1)"
  elif (( rc == 127 )) && grep -q 'error while loading shared libraries' "$log"; then
    set_result hip skipped "cannot start (no ROCm runtime here): $(grep -m 1 'error while loading shared libraries' "$log")"
  elif (( rc != 0 )) || (( failed > 0 )); then
    set_result hip failed "exit code $rc, $failed launcher check(s) failed"
  elif (( passed == 0 )); then
    set_result hip failed "exit code 0 but no check reported"
  else
    set_result hip passed ""
  fi
}

# ---- the run ----------------------------------------------------------------------------
write_results
echo "gpu_suite: ${gpu_name:-no GPU found${gpu_note:+ ($gpu_note)}}; programs from $build_dir ($layout); results in $out"
for step in "${all_steps[@]}"; do
  if may_start "$step"; then
    echo "gpu_suite: $step (time limit ${step_timeout[$step]} s) ..."
    case $step in
      tests) step_tests ;;
      bench_throughput) step_device_bench bench_throughput throughput ;;
      bench_oom) step_device_bench bench_oom oom ;;
      bench_host) step_host_bench ;;
      memcheck|synccheck|racecheck) step_sanitizer "$step" ;;
      hip) step_hip ;;
    esac
  fi
  printf 'gpu_suite: %-16s %-7s %6s s  %s\n' "$step" "${status[$step]}" "$(short_seconds "${duration[$step]}")" \
    "$(clean "${reason[$step]}")"
  write_results
done

# device.json: both modes in the one file that benchmarks/summarize.py reads.
if [[ -n ${bench_json[bench_throughput]:-} && -n ${bench_json[bench_oom]:-} ]]; then
  t=$(tr -d '\n' <"${bench_json[bench_throughput]}")
  o=$(tr -d '\n' <"${bench_json[bench_oom]}")
  o_rows=${o#*\"results\":\[}
  o_rows=${o_rows%%\]*}
  if [[ $t == *'],"headline":'* && -n $o_rows ]]; then
    t=${t/\"mode\":\"throughput\"/\"mode\":\"throughput+oom\"}
    printf '%s\n' "${t/\],\"headline\":/,$o_rows],\"headline\":}" >"$out/device.json"
  fi
fi

finished=true
write_results
code=$(verdict_code)
echo "gpu_suite: $(verdict) (exit $code); $out/results.md"
exit "$code"
