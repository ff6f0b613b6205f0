#!/usr/bin/env python3
"""Turn a results folder written by benchmarks/run.sh into summary.md and PNG plots.

    python3 benchmarks/summarize.py <results-folder>

Reads raw/*.json (Google Benchmark output; benchmark names are
<workload>/<parameter>/<allocator>), callgrind.csv and device.json when present.
Timed workloads that ran in several rounds are reduced to the median of the rounds.
Every ratio is to a baseline measured in the same run: the trivial free list for the
fixed-size paths, mimalloc (or the best of jemalloc, tcmalloc and mimalloc, where a
target says so) for everything else. A value that was not measured is shown as such
and a target that was missed says MISSED; nothing is left out. Plots need gnuplot;
without it the summary is still written and says so. Standard library only.
"""
import glob
import json
import os
import shutil
import statistics
import subprocess
import sys

SWIM_FIRST = ["swim-try_malloc", "swim-SizeClasses(so)", "swim-SizeClasses(lf)",
              "swim-SlabCache", "swim-Slab(so)", "swim-Slab(lf)", "swim-Pack(so)", "swim-Pack(lf)",
              "swim-Pool(so)", "swim-Pool(lf)", "swim-AddrSpace(lf)"]
OTHERS = ["glibc", "mimalloc", "jemalloc", "tcmalloc", "tbbmalloc", "foonathan-pool", "foonathan-stack",
          "trivial-freelist"]
ORDER = SWIM_FIRST + OTHERS
BASE = "mimalloc"
# The two like-for-like comparisons of docs/benchmarks.md, each row present even when
# it was not measured (then it says so).
FIXED_BASE = "trivial-freelist"
FIXED = ["swim-SlabCache", "swim-Slab(so)", "swim-Slab(lf)", "foonathan-pool", FIXED_BASE]
GENERAL = ["swim-try_malloc", "swim-SizeClasses(so)", "swim-SizeClasses(lf)",
           "glibc", "mimalloc", "jemalloc", "tcmalloc", "tbbmalloc"]
HOLDS = ["swim-Pack(so)", "swim-Pack(lf)", "swim-Pool(so)", "swim-Pool(lf)"]
NOT_MEASURED = "–"
LEGEND = (f"`{NOT_MEASURED}`: not measured in this run (the allocator does not run that "
          "workload, or its binary or package was missing; run.sh's log says which).")


def order_key(name):
    return (ORDER.index(name) if name in ORDER else len(ORDER), name)


def load(folder):
    """{(workload, param, alloc): {field: [values over rounds]}}"""
    data = {}
    for path in sorted(glob.glob(os.path.join(folder, "raw", "*.json"))):
        try:
            doc = json.load(open(path))
        except (OSError, ValueError):
            continue
        for b in doc.get("benchmarks", []):
            if b.get("run_type") == "aggregate" or b.get("error_occurred"):
                continue
            parts = b["name"].split("/")
            if len(parts) < 3:
                continue
            key = (parts[0], parts[1], parts[2])
            rec = data.setdefault(key, {})
            fields = {}
            if "items_per_second" in b and b["items_per_second"] > 0:
                fields["ns_per_op"] = 1e9 / b["items_per_second"]
                fields["items_per_second"] = b["items_per_second"]
            for k, v in b.items():
                if isinstance(v, (int, float)) and k not in ("iterations", "repetitions",
                                                              "repetition_index", "threads",
                                                              "family_index",
                                                              "per_family_instance_index"):
                    fields.setdefault(k, v)
            for k, v in fields.items():
                rec.setdefault(k, []).append(float(v))
    return {k: {f: statistics.median(v) for f, v in rec.items()} for k, rec in data.items()}


def fmt(x, digits=2):
    if x is None:
        return "–"
    if abs(x) >= 1000:
        return f"{x:,.0f}"
    if abs(x) >= 100:
        return f"{x:.0f}"
    if abs(x) >= 10:
        return f"{x:.1f}"
    return f"{x:.{digits}f}"


def table(header, rows):
    out = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    out += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(out)


def allocs_of(data, workload):
    return sorted({k[2] for k in data if k[0] == workload}, key=order_key)


def params_of(data, workload):
    return sorted({k[1] for k in data if k[0] == workload}, key=lambda p: float(p.split("-")[0]))


def get(data, workload, param, alloc, field):
    return data.get((workload, param, alloc), {}).get(field)


def with_ratio(v, base, digits=2):
    """`v (v / base)`, or v alone without a baseline, or NOT_MEASURED."""
    if v is None:
        return NOT_MEASURED
    if base:
        return f"{fmt(v, digits)} ({fmt(v / base)})"
    return fmt(v, digits)


def load_callgrind(folder):
    """{(allocator, op): net instructions} from callgrind.csv (label,allocator,op,raw,net)."""
    path = os.path.join(folder, "callgrind.csv")
    vals = {}
    if not os.path.exists(path):
        return vals
    lines_ = open(path).read().splitlines()
    if not lines_ or "allocator" not in lines_[0]:
        return vals  # an older run's CSV, without the allocator column
    for line in lines_[1:]:
        parts = line.rsplit(",", 4)
        if len(parts) == 5:
            try:
                vals[(parts[1], parts[2])] = float(parts[4])
            except ValueError:
                pass
    return vals


def cg_kind(op):
    """What one iteration of a callgrind op is: alloc, pair (nothing else live), one_live."""
    if op.endswith("_pair_one_live"):
        return "one_live"
    if op.endswith("_pair"):
        return "pair"
    if op.endswith("_alloc"):
        return "alloc"
    return None


def cg_get(cg, alloc, kind):
    for (a, op), v in cg.items():
        if a == alloc and cg_kind(op) == kind:
            return v
    return None


def gnuplot(script, folder):
    if not shutil.which("gnuplot"):
        return False
    try:
        subprocess.run(["gnuplot"], input=script, text=True, cwd=folder, check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        return True
    except subprocess.CalledProcessError as e:
        sys.stderr.write(f"summarize.py: gnuplot failed: {e.stderr}\n")
        return False


PLOT_HEAD = """set terminal pngcairo size 1100,600 font ",10"
set key outside right top
set grid ytics
"""


def write_dat(folder, name, header, rows):
    path = os.path.join(folder, name)
    with open(path, "w") as f:
        f.write(" ".join(f'"{h}"' for h in header) + "\n")
        for r in rows:
            f.write(" ".join(f'"{c}"' if isinstance(c, str) else ("NaN" if c is None else repr(c))
                             for c in r) + "\n")
    return name


def bars(folder, png, dat, columns, title, ylabel, logscale=False):
    plots = ", ".join(
        f"'{dat}' using {i + 2}{':xtic(1)' if i == 0 else ''} title columnheader({i + 2})"
        for i in range(columns))
    return gnuplot(PLOT_HEAD + f"""set output '{png}'
set title "{title}"
set ylabel "{ylabel}"
set style data histograms
set style histogram clustered gap 1
set style fill solid 0.8 border -1
set xtics rotate by -35
{'set logscale y' if logscale else ''}
plot {plots}
""", folder)


COLORS = ["#e6194b", "#3cb44b", "#4363d8", "#f58231", "#911eb4", "#42d4f4", "#f032e6", "#9a6324",
          "#000000", "#808000", "#469990", "#800000", "#000075", "#a9a9a9", "#bfef45", "#dcbeff"]


def lines(folder, png, dat, columns, title, xlabel, ylabel, names=None):
    # swim-mem solid and thick, the others dashed; every line its own colour.
    def style(i):
        swim = names is not None and names[i].startswith("swim-")
        return f"lw {2.5 if swim else 1.2} dt {1 if swim else 2} lc rgb '{COLORS[i % len(COLORS)]}'"
    plots = ", ".join(f"'{dat}' using 1:{i + 2} with linespoints {style(i)} title columnheader({i + 2})"
                      for i in range(columns))
    return gnuplot(PLOT_HEAD + f"""set output '{png}'
set title "{title}"
set xlabel "{xlabel}"
set ylabel "{ylabel}"
set logscale xy
plot {plots}
""", folder)


def main():
    folder = sys.argv[1] if len(sys.argv) > 1 else "."
    data = load(folder)
    meta = {}
    if os.path.exists(os.path.join(folder, "meta.json")):
        meta = json.load(open(os.path.join(folder, "meta.json")))
    md = ["# swim-mem benchmark summary", ""]
    md += ["```"] + [f"{k}: {v}" for k, v in meta.items()] + ["```", ""]
    md += ["Times are medians over the rounds. Every ratio (in parentheses) is to a baseline "
           "measured in the same run, named in each table's heading: the trivial free list "
           "for the fixed-size paths, **mimalloc** elsewhere (below 1 is faster for times, "
           "above 1 is better for throughput). `(so)` = single-owner mode, `(lf)` = lock-free "
           "mode. " + LEGEND, ""]
    intro_end = len(md)
    plots_ok = True
    targets = []
    cg = load_callgrind(folder)

    # ---- (a) pairs ----
    sizes = params_of(data, "pair")
    allocs = allocs_of(data, "pair")
    if sizes:
        md += ["## (a) Single-thread allocate/free pairs", "",
               "ns per pair (ratio to mimalloc)", ""]
        rows, dat = [], []
        for a in allocs:
            row, drow = [a], [a]
            for s in sizes:
                v = get(data, "pair", s, a, "ns_per_op")
                base = get(data, "pair", s, BASE, "ns_per_op")
                row.append(f"{fmt(v)} ({fmt(v / base)})" if v and base else fmt(v))
                drow.append(v)
            rows.append(row)
            dat.append(drow)
        md += [table(["allocator"] + [f"{s} B" for s in sizes], rows), ""]
        # x = size, one line per allocator
        lines_dat = [[float(s)] + [get(data, "pair", s, a, "ns_per_op") for a in allocs] for s in sizes]
        write_dat(folder, "pair.dat", ["size"] + allocs, lines_dat)
        plots_ok &= lines(folder, "pair.png", "pair.dat", len(allocs),
                          "(a) allocate+free pair, single thread", "object size (bytes)", "ns per pair",
                          allocs)
        md += ["![pairs](pair.png)", ""]
    allocs = allocs_of(data, "pair_one_live")
    if allocs:
        md += ["### (a) 64-byte pairs two ways: nothing else live, and one object kept live", "",
               "`pair/64`: nothing else of the size live, so a malloc that empties its page at "
               "the last free (mimalloc) does so at every pair; `pair_one_live/64`: one more "
               "64-byte object allocated before the loop and kept live through it. Both loops "
               "run on a thread of their own. ns per pair (ratio to mimalloc in the same case).",
               ""]
        base0 = get(data, "pair", "64", BASE, "ns_per_op")
        base1 = get(data, "pair_one_live", "64", BASE, "ns_per_op")
        rows = [[a, with_ratio(get(data, "pair", "64", a, "ns_per_op"), base0),
                 with_ratio(get(data, "pair_one_live", "64", a, "ns_per_op"), base1)]
                for a in sorted(set(allocs) | set(allocs_of(data, "pair")), key=order_key)]
        md += [table(["allocator", "nothing else live", "one kept live"], rows), ""]
        chk0 = get(data, "pair", "64", BASE, "same_class_live")
        chk1 = get(data, "pair_one_live", "64", BASE, "same_class_live")
        if chk0 is not None or chk1 is not None:
            ok = chk0 == 0 and chk1 == 1
            md += [f"mimalloc's heap held {fmt(chk0, 0)} and {fmt(chk1, 0)} live 64-byte objects "
                   "before the two loops (counted with `mi_heap_visit_blocks`): "
                   + ("the two cases are what they claim." if ok else
                      "**not the 0 and 1 the two cases claim; read them with that in mind.**"), ""]
        base = get(data, "pair", "64", BASE, "ns_per_op")
        swim = [(get(data, "pair", "64", a, "ns_per_op"), a) for a in allocs if a.startswith("swim-")]
        swim = [x for x in swim if x[0]]
        if base and swim:
            best, who = min(swim)
            r = best / base
            targets.append(("64-byte single-thread pair: fastest swim-mem time / mimalloc's", "≤ 0.5",
                            f"{fmt(r, 3)} ({who}: {fmt(best)} ns vs {fmt(base)} ns)", r <= 0.5))

    # ---- (b) bursts ----
    for wl, title in (("burst_lifo", "LIFO"), ("burst_random", "random order")):
        ns = params_of(data, wl)
        allocs = allocs_of(data, wl)
        if not ns:
            continue
        md += [f"## (b) Bursts, {title}: allocate N × 64 B, then free them", "",
               "ns per operation (an allocation or a free; ratio to mimalloc)", ""]
        rows = []
        for a in allocs:
            row = [a]
            for n in ns:
                v = get(data, wl, n, a, "ns_per_op")
                base = get(data, wl, n, BASE, "ns_per_op")
                row.append(f"{fmt(v)} ({fmt(v / base)})" if v and base else fmt(v))
            rows.append(row)
        md += [table(["allocator"] + [f"N={int(n):,}" for n in ns], rows), ""]
        write_dat(folder, f"{wl}.dat", ["N"] + allocs,
                  [[float(n)] + [get(data, wl, n, a, "ns_per_op") for a in allocs] for n in ns])
        plots_ok &= lines(folder, f"{wl}.png", f"{wl}.dat", len(allocs),
                          f"(b) bursts, {title} frees, 64 B", "N (objects per burst)", "ns per operation",
                          allocs)
        md += [f"![{wl}]({wl}.png)", ""]

    # ---- (c) producer/consumer ----
    allocs = allocs_of(data, "xthread")
    if allocs:
        md += ["## (c) Producer/consumer: every object freed by the other thread", "",
               "Two threads, 64 B objects passed through a ring; million objects per second "
               "(ratio to mimalloc, above 1 is better).", ""]
        base = get(data, "xthread", "64", BASE, "items_per_second")
        rows, dat = [], []
        for a in allocs:
            v = get(data, "xthread", "64", a, "items_per_second")
            rows.append([a, fmt(v / 1e6 if v else None), fmt(v / base) if v and base else "–"])
            dat.append([a, v / 1e6 if v else None])
        md += [table(["allocator", "Mobjects/s", "vs mimalloc"], rows), ""]
        write_dat(folder, "xthread.dat", ["allocator", "Mobjects/s"], dat)
        plots_ok &= bars(folder, "xthread.png", "xthread.dat", 1,
                         "(c) producer/consumer, cross-thread frees", "million objects / s")
        md += ["![xthread](xthread.png)", ""]
        swim = [(get(data, "xthread", "64", a, "items_per_second"), a) for a in allocs if a.startswith("swim-")]
        swim = [x for x in swim if x[0]]
        if base and swim:
            best, who = max(swim)
            r = best / base
            targets.append(("Two-thread cross-thread free throughput: best swim-mem / mimalloc's", "≥ 1",
                            f"{fmt(r, 3)} ({who})", r >= 1))

    # ---- (d) latency ----
    allocs = allocs_of(data, "latency")
    if allocs:
        lat = lambda a, f: get(data, "latency", "16-256", a, f)
        timers = [lat(a, "timer_ns") for a in allocs if lat(a, "timer_ns") is not None]
        ticks = [lat(a, "tick_ns") for a in allocs if lat(a, "tick_ns") is not None]
        span = lambda v: (f"{fmt(min(v))}–{fmt(max(v))} ns" if fmt(min(v)) != fmt(max(v))
                          else f"{fmt(v[0])} ns") if v else "not measured"
        md += ["## (d) Latency per operation on a fragmented heap", "",
               "65,536 slots filled with 16–256 B objects, a random half freed; then "
               f"{fmt(lat(allocs[0], 'ops'))} random operations "
               "(a free where the slot is full, an allocation where it is empty), each timed "
               "alone between fenced rdtsc/rdtscp reads. Absolute percentiles in ns, side by "
               "side for every allocator; they include the timer's own cost "
               f"({span(timers)} here: column `timer`, the median of timing nothing), and the "
               f"timer resolves nothing finer than its step ({span(ticks)} here: column `tick`, "
               "the smallest difference between two distinct readings), so differences of a "
               "step or two between allocators are not differences. `tail` is p99.99 / p50, "
               "`tail net of timer` the same with the timer's cost taken off both (`n/a` where "
               "p50 is not above the timer's cost: nothing is left to divide by). `max` is "
               "dominated by the machine (preemption of a 2-core VM), not by the allocators. "
               "The Slab rows and the trivial free list go through a power-of-two class lookup "
               "(one Slab or list per class).", ""]
        rows, dat = [], []

        def net_tail(a):
            g = lambda f: lat(a, f)
            if not g("p50_ns") or g("timer_ns") is None or g("p50_ns") <= g("timer_ns"):
                return None
            return (g("p9999_ns") - g("timer_ns")) / (g("p50_ns") - g("timer_ns"))

        for a in allocs:
            g = lambda f: lat(a, f)
            rows.append([a, fmt(g("p50_ns")), fmt(g("p99_ns")), fmt(g("p9999_ns")), fmt(g("p999_ns")),
                         fmt(g("max_ns")), fmt(g("timer_ns")), fmt(g("tick_ns")), fmt(g("tail_ratio")),
                         "n/a" if net_tail(a) is None and g("p50_ns") is not None else fmt(net_tail(a))])
            dat.append([a, g("p50_ns"), g("p99_ns"), g("p9999_ns"), g("max_ns")])
        md += [table(["allocator", "p50 ns", "p99 ns", "p99.99 ns", "p99.9 ns", "max ns", "timer ns",
                      "tick ns", "tail", "tail net of timer"], rows), ""]
        write_dat(folder, "latency.dat", ["allocator", "p50", "p99", "p99.99", "max"], dat)
        plots_ok &= bars(folder, "latency.png", "latency.dat", 4,
                         "(d) latency per operation, fragmented heap", "ns (log scale)", logscale=True)
        md += ["![latency](latency.png)", ""]
        swim = [(net_tail(a), lat(a, "tail_ratio"), a)
                for a in allocs if a.startswith("swim-")]
        undefined = [x[2] for x in swim if x[0] is None and lat(x[2], "p50_ns") is not None]
        swim = [x for x in swim if x[0] is not None]
        if swim:
            net, raw, who = min(swim)
            ref = [f"{b}: " + (f"{fmt(net_tail(b))} net, " if net_tail(b) is not None else "net n/a, ")
                   + f"{fmt(lat(b, 'tail_ratio'))} raw" for b in ("glibc", "mimalloc") if lat(b, "tail_ratio")]
            if undefined:
                ref.append("p50 at the timer's cost, net n/a: " + ", ".join(undefined))
            targets.append(("p99.99 latency / median, best swim-mem configuration (net of the timer's cost)",
                            "≤ 10", f"{fmt(net)} net, {fmt(raw)} raw ({'; '.join([who] + ref)})", net <= 10))

    # ---- (e) overhead and fragmentation ----
    allocs = allocs_of(data, "overhead")
    if allocs:
        sizes = params_of(data, "overhead")
        md += ["## (e) Bytes of overhead per object", "",
               "Resident memory grown while allocating (and writing) N objects, per object, "
               "minus the requested size, each allocator in a fresh process; for swim-mem also "
               "by its own accounting (`internal`: bytes held for the objects / N − size).", ""]
        rows, dat = [], []
        for a in allocs:
            row, drow = [a], [a]
            for s in sizes:
                v = get(data, "overhead", s, a, "overhead_rss_B")
                iv = get(data, "overhead", s, a, "overhead_internal_B")
                row.append(fmt(v, 1) + (f" (internal {fmt(iv, 1)})" if iv is not None else ""))
                drow.append(v)
            rows.append(row)
            dat.append(drow)
        md += [table(["allocator"] + [f"{s} B objects" for s in sizes], rows), ""]
        write_dat(folder, "overhead.dat", ["allocator"] + [f"{s} B" for s in sizes], dat)
        plots_ok &= bars(folder, "overhead.png", "overhead.dat", len(sizes),
                         "(e) overhead per object (resident memory)", "bytes per object")
        md += ["![overhead](overhead.png)", ""]
        for label, names, limit in (("Slab blocks", ("swim-Slab(so)", "swim-Slab(lf)", "swim-SlabCache"), 0.0),
                                    ("Pack objects", ("swim-Pack(so)", "swim-Pack(lf)"), 8.0),
                                    ("Pool objects (tag + hunk headers and tails)",
                                     ("swim-Pool(so)", "swim-Pool(lf)"), 8.0)):
            vals = [(get(data, "overhead", s, a, "overhead_internal_B"), a, s)
                    for a in names for s in sizes]
            vals = [v for v in vals if v[0] is not None]
            if vals:
                worst = max(vals)
                rss = max((get(data, "overhead", s, a, "overhead_rss_B") or 0) for a in names for s in sizes)
                targets.append((f"Overhead per object, {label} (worst size, own accounting)",
                                f"≤ {limit:g} B", f"{fmt(worst[0], 1)} B ({worst[1]}, {worst[2]} B objects; "
                                f"resident-memory view ≤ {fmt(rss, 1)} B)", worst[0] <= limit + 1e-9))
    allocs = allocs_of(data, "fragmentation")
    if allocs:
        md += ["## (e) Fragmentation after churn", "",
               "64 MiB live of 9–1024 B objects, replaced at random 4 times over (churn), then a "
               "random 75 % freed; each allocator's release call (malloc_trim, mi_collect, "
               "jemalloc purge, tcmalloc ReleaseFreeMemory, tbbmalloc clean, Pool::trim) runs "
               "before each measurement. Fragmentation = 1 − live bytes / resident bytes "
               "(`internal`: / bytes the swim-mem allocator holds). These are raw blocks, "
               "which nothing can move; compaction of leased structures is the next table.", ""]
        rows, dat = [], []
        for a in allocs:
            g = lambda f: get(data, "fragmentation", "9-1024", a, f)
            pc = lambda v: f"{100 * v:.1f} %" if v is not None else "–"
            rows.append([a, pc(g("frag_after_churn")), pc(g("frag_after_free75")),
                         pc(g("frag_internal_after_churn")), pc(g("frag_internal_after_free75"))])
            dat.append([a, g("frag_after_churn"), g("frag_after_free75")])
        md += [table(["allocator", "after churn", "after freeing 75 %", "internal, after churn",
                      "internal, after freeing 75 %"], rows), ""]
        write_dat(folder, "fragmentation.dat", ["allocator", "after churn", "after freeing 75%"], dat)
        plots_ok &= bars(folder, "fragmentation.png", "fragmentation.dat", 2,
                         "(e) fragmentation (1 - live / resident)", "fraction")
        md += ["![fragmentation](fragmentation.png)", ""]
    # ---- (e) compaction and stow of leased structures ----
    allocs = allocs_of(data, "compaction")
    frag_rows = []
    if allocs:
        any_a = allocs[0]
        g0 = lambda f: get(data, "compaction", "tree", any_a, f)
        md += ["## (e) Fragmentation after churn, then after compaction or stow", "",
               f"A binary search tree of `Raw<Box<Node>>` ({g0('node_B') or 0:.0f}-byte nodes, "
               f"{g0('nodes') or 0:,.0f} of them) in a Pool of 64 KiB hunks over an AddrSpace of "
               "4 KiB pages, built and then churned (a random node erased and a new one "
               "inserted, 4 × the tree's size) while garbage objects of 9–1024 B are "
               "allocated between the nodes (at most as many live as there are nodes) and freed in random "
               "order; at the end all garbage is freed. Then either `try_compact(pool, tree)` "
               "(survivors copied into fresh hunks of the same Pool, emptied hunks given "
               "back) or `try_stow(tree, fresh_pool)` (a second run with the same seed). "
               "`frag` is `pool_fragmentation` (holes, unusable hunk ends and padding over "
               "the bytes consumed); `held / in use` is the bytes the Pool holds from its "
               "heap over the bytes of live objects (1.125 is the 8-byte tag of a 64-byte "
               "node); time is per live node moved.", ""]
        rows, dat = [], []
        pc = lambda v: f"{100 * v:.2f} %" if v is not None else "–"
        for a in allocs:
            g = lambda f: get(data, "compaction", "tree", a, f)
            mib = lambda v: f"{v / 2**20:.2f} MiB" if v is not None else "–"
            rows.append([a, fmt(g("live_nodes"), 0), pc(g("frag_churn")), fmt(g("held_over_used_churn")),
                         mib(g("reserved_churn_B")),
                         pc(g("frag_compact")), fmt(g("held_over_used_compact"), 3), mib(g("reserved_compact_B")),
                         fmt(g("compact_ns_per_node")),
                         pc(g("frag_stow")), fmt(g("held_over_used_stow"), 3), mib(g("reserved_stow_B")),
                         fmt(g("stow_ns_per_node"))])
            dat.append([a] + [None if g(f) is None else 100 * g(f)
                              for f in ("frag_churn", "frag_compact", "frag_stow")])
            if g("frag_compact") is not None:
                frag_rows.append((g("frag_compact"), g("frag_stow"), a))
        md += [table(["configuration", "live nodes", "frag after churn", "held / in use", "held",
                      "frag after compact", "held / in use", "held", "compact ns/node",
                      "frag after stow", "held / in use", "held", "stow ns/node"], rows), ""]
        # No underscores in gnuplot labels: its enhanced text makes them subscripts.
        write_dat(folder, "compaction.dat", ["configuration", "after churn", "after compaction",
                                             "after stow"], dat)
        plots_ok &= bars(folder, "compaction.png", "compaction.dat", 3,
                         "(e) fragmentation of a leased tree in a Pool: churn, then compaction or stow",
                         "% of the bytes consumed (log scale)", logscale=True)
        md += ["![compaction](compaction.png)", ""]
    # ---- (e') stow throughput: exclusive copies vs shared relocations ----
    for a in allocs_of(data, "stow"):
        for param in ["tree"]:
            g = lambda f: get(data, "stow", param, a, f)
            if g("raw_tree_ns_per_node") is None:
                continue
            md += ["## (e') Stow throughput: exclusive copies vs shared relocations", "",
                   "One structure stowed back and forth between two single-owner Packs "
                   f"({g('nodes') or 0:,.0f} nodes), in ns per node. The "
                   "baseline is a tree of `Raw` leases (a recursive copy); a tree of `Hard` "
                   "leases relocates every node (lock, copy, log; forwards published at "
                   "commit, old stubs freed); the DAG adds a Hard to one node shared by all; "
                   "the list has a Soft back pointer (a cycle) at every node.", "",
                   table(["structure", "ns / node", "ratio to Raw tree"],
                         [["Raw tree (baseline)", fmt(g("raw_tree_ns_per_node")), "1.00"],
                          ["Hard tree", fmt(g("hard_tree_ns_per_node")), fmt(g("hard_tree_over_raw"))],
                          ["Hard DAG", fmt(g("hard_dag_ns_per_node")), fmt(g("hard_dag_over_raw"))],
                          ["Hard/Soft list", fmt(g("hard_soft_list_ns_per_node")),
                           fmt(g("list_over_raw"))]]), ""]
    if frag_rows:
        worst = max(frag_rows)
        stow_worst = max((r[1] for r in frag_rows if r[1] is not None), default=None)
        targets.append(("Fragmentation after compaction (pool_fragmentation, worst configuration)",
                        "≤ 2 %", f"{100 * worst[0]:.2f} % ({worst[2]}; after stow into a fresh Pool "
                        f"{'–' if stow_worst is None else f'{100 * stow_worst:.2f} %'})",
                        worst[0] <= 0.02))
    else:
        targets.append(("Fragmentation after compaction", "≤ 2 %",
                        "not measured (no compaction results in this run)", None))

    # ---- (e) lease overhead ----
    leases = allocs_of(data, "lease_overhead")
    if leases:
        sizes = params_of(data, "lease_overhead")
        md += ["## (e) Bytes of overhead per leased object", "",
               "N leases of a T of 16, 64 or 256 bytes made in a Pack: bytes consumed per "
               "object beyond sizeof(T) (the tag, in-object metadata and its padding), and "
               "the handle's size. `u32` / `u64` are 4 / 8 bytes of user metadata: `Ptr` keeps "
               "it in the object (padded to T's 8-byte alignment), `Raw` in the handle.", ""]
        rows = []
        lease_order = ["Raw<Box<T>>", "Ptr<Box<T>>", "Ptr<Box<T, u32>>", "Ptr<Box<T, u64>>",
                       "Raw<Box<T, u32>>"]
        leases.sort(key=lambda a: (lease_order.index(a) if a in lease_order else len(lease_order), a))
        b = lambda v: "–" if v is None else f"{v:.0f}"
        for a in leases:
            row = [f"`{a}`"]
            for sz in sizes:
                v = get(data, "lease_overhead", sz, a, "object_overhead_B")
                h = get(data, "lease_overhead", sz, a, "handle_B")
                row.append(f"{b(v)} B (handle {b(h)} B)")
            rows.append(row)
        md += [table(["lease"] + [f"T = {sz} B" for sz in sizes], rows), ""]
        raw = [get(data, "lease_overhead", sz, "Raw<Box<T>>", "object_overhead_B") for sz in sizes]
        raw = [v for v in raw if v is not None]
        if raw:
            targets.append(("Overhead per object, Raw<Box<T>> (and Ptr<Box<T>>: no metadata)", "≤ 8 B",
                            f"{fmt(max(raw), 1)} B (the tag; handle 8 B)", max(raw) <= 8 + 1e-9))
        # Ptr<Box<T, M>>: what the library adds beyond the user's own metadata M.
        beyond = {}
        for m in ("u32", "u64"):
            for sz in sizes:
                v = get(data, "lease_overhead", sz, f"Ptr<Box<T, {m}>>", "object_overhead_B")
                mb = get(data, "lease_overhead", sz, f"Ptr<Box<T, {m}>>", "meta_B")
                if v is not None and mb is not None:
                    beyond[m] = max(beyond.get(m, 0.0), v - mb)
        if beyond:
            worst = max(beyond.values())
            targets.append(("Overhead per object, Ptr<Box<T, M>>, beyond M itself", "≤ 8 B",
                            ", ".join(f"{fmt(v, 1)} B with a {4 if m == 'u32' else 8}-byte M"
                                      for m, v in sorted(beyond.items()))
                            + " (the tag, plus M's padding to T's alignment)", worst <= 8 + 1e-9))

    # ---- (f) callgrind ----
    cgmd = os.path.join(folder, "callgrind.md")
    if os.path.exists(cgmd):
        md += ["## (f) Instructions per operation (callgrind)", "",
               "64-byte objects; the empty loop's instructions are subtracted "
               "(benchmarks/callgrind.sh). Every row as callgrind.sh printed it; a row that "
               "could not be counted says why.", "", open(cgmd).read().strip(), ""]
        slab = [(v, op) for (a, op), v in cg.items()
                if op in ("slabcache_pair", "slab_so_pair", "slab_lf_pair")]
        if slab:
            best, who = min(slab)
            targets.append(("Instructions per Slab allocate+free pair, fast path", "≤ 20",
                            f"{fmt(best, 1)} ({who}; " + ", ".join(f"{k}: {fmt(v, 1)}" for v, k in sorted(slab)) + ")",
                            best <= 20))
        pack = [(v, op) for (a, op), v in cg.items() if op in ("pack_so_alloc", "pack_lf_alloc")]
        if pack:
            best, who = min(pack)
            pairs = ", ".join(f"{op}: {fmt(v, 1)}" for (a, op), v in sorted(cg.items())
                              if op.startswith("pack_") and cg_kind(op) in ("pair", "one_live"))
            targets.append(("Instructions per Pack allocation", "≤ 10",
                            f"{fmt(best, 1)} ({who}; " + ", ".join(f"{k}: {fmt(v, 1)}" for v, k in sorted(pack))
                            + (f"; allocate+free pairs: {pairs}" if pairs else "") + ")",
                            best <= 10))

    # ---- (g) mixed sizes ----
    allocs = allocs_of(data, "mixed")
    mix = lambda a, f: get(data, "mixed", "16-4096", a, f)
    best_malloc = [(mix(b, "ns_per_step"), b) for b in ("jemalloc", "tcmalloc", "mimalloc")
                   if mix(b, "ns_per_step")]
    best_malloc = min(best_malloc) if best_malloc else (None, None)
    if allocs:
        md += ["## (g) Mixed sizes: the workload a general-purpose allocator is chosen on", "",
               "1e5 live slots of sizes uniform 16 B – 4 KiB; each step frees a random slot and "
               "allocates a random size into it, and writes the whole object; in a child process. "
               f"ns per step (ratio to the best of jemalloc, tcmalloc and mimalloc in this run: "
               f"{best_malloc[1] or 'not measured'}), the peak resident set grown over the live "
               "bytes, and the resident set after everything was freed and the allocator's "
               "release call ran, over that before the allocator was built.", ""]
        rows = [[a, with_ratio(mix(a, "ns_per_step"), best_malloc[0]), fmt(mix(a, "peak_rss_over_live"), 3),
                 fmt(mix(a, "rss_after_free_over_empty"), 3)] for a in allocs]
        md += [table(["allocator", "ns per step", "peak resident ÷ live", "resident after free ÷ empty"],
                     rows), ""]

    # ---- device ----
    dev = os.path.join(folder, "device.json")
    device_note = "not measured (no GPU on this machine; device/bench/run.sh said SKIPPED)"
    if os.path.exists(dev):
        try:
            d = json.load(open(dev))
        except ValueError:
            d = {}
        if d.get("status") == "ok":
            md += ["## Device workloads", "", "```", json.dumps(d, indent=1)[:4000], "```", ""]
            rate = d.get("headline", {}).get("swim_16B_allocs_per_s_at_1e7")
            ratio = d.get("headline", {}).get("swim_over_cuda_malloc_16B_at_1e7")
            if rate:
                targets.append(("Device: 16 B allocations per second at 1e7 threads", "≥ 1e9",
                                f"{rate:.3g}", rate >= 1e9))
            if ratio:
                targets.append(("Device: swim-mem / CUDA in-kernel malloc, same run", "≥ 100",
                                f"{ratio:.3g}", ratio >= 100))
            device_note = None
    if device_note:
        targets.append(("Device: ≥ 1e9 allocs/s at 1e7 threads, ≥ 100× CUDA malloc", "(H100)",
                        device_note, None))

    # ---- the like-for-like tables, placed after the targets ----
    like = []
    ns = lambda w, p, a: get(data, w, p, a, "ns_per_op")
    lat = lambda a, f: get(data, "latency", "16-256", a, f)
    bursts = params_of(data, "burst_lifo")
    picks = [bursts[0], bursts[-1]] if len(bursts) > 1 else bursts
    cols = [("pair 64 B", lambda a: ns("pair", "64", a), 2)]
    cols += [(f"LIFO burst, N={int(n):,}", lambda a, n=n: ns("burst_lifo", n, a), 2) for n in picks]
    cols += [(f"random burst, N={int(n):,}", lambda a, n=n: ns("burst_random", n, a), 2) for n in picks]
    cols += [("latency p50", lambda a: lat(a, "p50_ns"), 2), ("latency p99.99", lambda a: lat(a, "p9999_ns"), 2),
             ("instructions per pair", lambda a: cg_get(cg, a, "pair"), 1)]
    like += ["## Fixed-size paths: Slab and SlabCache against memory_pool and the physical limit", "",
             "One object size, the heap called directly (as code that holds the Slab of its type "
             "does). ns per pair or per operation (an allocation or a free), latency in ns "
             "(workload d: mixed 16–256 B through a power-of-two class lookup), callgrind "
             "instructions per 64-byte allocate+free pair. In parentheses: the ratio to the "
             f"**trivial free list** (`{FIXED_BASE}`: an intrusive list of units threaded through "
             "one region, pop = one load and one store, push = two stores; single thread, no "
             "checks) in the same run: no fixed-size allocator can go below it.", ""]
    like += [table(["allocator"] + [c[0] for c in cols],
                   [[a] + [with_ratio(f(a), f(FIXED_BASE), d) for _, f, d in cols] for a in FIXED]),
             "", LEGEND, ""]

    base_mi = lambda f: f(BASE)
    gcols = [("pair 64 B, nothing else live", lambda a: ns("pair", "64", a), BASE),
             ("pair 64 B, one kept live", lambda a: ns("pair_one_live", "64", a), BASE),
             ("producer/consumer, M objects/s", lambda a: (lambda v: v / 1e6 if v else None)(
                 get(data, "xthread", "64", a, "items_per_second")), BASE),
             ("mixed 16 B–4 KiB, ns per step", lambda a: mix(a, "ns_per_step"), best_malloc[1])]
    like += ["## General-purpose: the any-size fronts against the mallocs", "",
             "`swim-try_malloc` is the one-call form (`try_malloc` / `try_free`: the process hold "
             "with its per-thread caches); `swim-SizeClasses` is the hold called directly. "
             "Against glibc malloc, mimalloc, jemalloc, tcmalloc and oneTBB's scalable_malloc, "
             "each in the same run. Ratios in parentheses are to mimalloc in the same case "
             f"(ns per step of the mixed workload: to the best of jemalloc, tcmalloc and mimalloc, "
             f"here {best_malloc[1] or 'not measured'}); below 1 is faster, except for objects per "
             "second, where above 1 is better.", ""]
    like += [table(["allocator"] + [c[0] for c in gcols] + ["latency p50 / p99 / p99.99 ns"],
                   [[a] + [with_ratio(f(a), f(b) if b else None) for _, f, b in gcols]
                    + [" / ".join(fmt(lat(a, k)) for k in ("p50_ns", "p99_ns", "p9999_ns"))
                       if lat(a, "p50_ns") is not None else NOT_MEASURED]
                    for a in GENERAL]), ""]
    mcols = [("peak resident ÷ live (mixed)", lambda a: mix(a, "peak_rss_over_live"), None, 3),
             ("resident after free ÷ empty (mixed)", lambda a: mix(a, "rss_after_free_over_empty"), None, 3),
             ("instructions per pair, nothing else live", lambda a: cg_get(cg, a, "pair"), BASE, 1),
             ("instructions per pair, one kept live", lambda a: cg_get(cg, a, "one_live"), BASE, 1)]
    like += ["Memory (workload g) and callgrind instructions per 64-byte allocate+free pair "
             "(ratio to mimalloc's in the same case).", "",
             table(["allocator"] + [c[0] for c in mcols],
                   [[a] + [with_ratio(f(a), f(b) if b else None, d) for _, f, b, d in mcols]
                    for a in GENERAL]), "", LEGEND, ""]

    hcols = [("allocation alone", lambda a: cg_get(cg, a, "alloc")),
             ("pair, nothing else live (reset)", lambda a: cg_get(cg, a, "pair")),
             ("pair, one kept live (LIFO)", lambda a: cg_get(cg, a, "one_live"))]
    like += ["## Pack and Pool: instructions per allocation and per allocate+free pair", "",
             "callgrind, 64 bytes. A pair with nothing else live resets the region (Pack) or the "
             "head hunk (Pool) at the free; with one object kept live the free gives the pair's "
             "bytes back LIFO. Time per pair from workload (a) beside them, ns.", "",
             table(["hold"] + [c[0] for c in hcols] + ["pair 64 B, ns", "pair 64 B one kept live, ns"],
                   [[a] + [fmt(f(a), 1) for _, f in hcols]
                    + [fmt(ns("pair", "64", a)), fmt(ns("pair_one_live", "64", a))] for a in HOLDS]),
             "", LEGEND, ""]

    # ---- the general-purpose targets (docs/benchmarks.md, "Targets"), measured on try_malloc ----
    tm = "swim-try_malloc"
    v, b = ns("pair_one_live", "64", tm), ns("pair_one_live", "64", BASE)
    targets.append(("64-byte pair through try_malloc, one block kept live: time / mimalloc's", "≤ 0.5",
                    f"{fmt(v / b, 3)} ({fmt(v)} ns vs {fmt(b)} ns)" if v and b else "not measured",
                    (v / b <= 0.5) if v and b else None))
    v = cg_get(cg, tm, "one_live")
    targets.append(("Instructions per try_malloc + try_free pair, one block kept live", "≤ 25",
                    f"{fmt(v, 1)} (nothing else live: {fmt(cg_get(cg, tm, 'pair'), 1)}; mimalloc "
                    f"{fmt(cg_get(cg, BASE, 'one_live'), 1)} / {fmt(cg_get(cg, BASE, 'pair'), 1)})"
                    if v is not None else "not measured", (v <= 25) if v is not None else None))
    v = get(data, "xthread", "64", tm, "items_per_second")
    b = get(data, "xthread", "64", BASE, "items_per_second")
    targets.append(("Producer/consumer, cross-thread frees, try_malloc / mimalloc", "≥ 1.5",
                    f"{fmt(v / b, 3)} ({fmt(v / 1e6)} vs {fmt(b / 1e6)} M objects/s)" if v and b
                    else "not measured", (v / b >= 1.5) if v and b else None))
    v = mix(tm, "ns_per_step")
    targets.append(("Mixed workload, try_malloc ns per step / best of jemalloc, tcmalloc, mimalloc", "≤ 1",
                    f"{fmt(v / best_malloc[0], 3)} ({fmt(v)} ns vs {best_malloc[1]} {fmt(best_malloc[0])} ns)"
                    if v and best_malloc[0] else "not measured",
                    (v / best_malloc[0] <= 1) if v and best_malloc[0] else None))
    v = mix(tm, "peak_rss_over_live")
    targets.append(("Mixed workload, try_malloc peak resident ÷ live bytes", "≤ 1.15",
                    fmt(v, 3) if v is not None and v >= 0 else "not measured",
                    (v <= 1.15) if v is not None and v >= 0 else None))
    v = mix(tm, "rss_after_free_over_empty")
    targets.append(("Mixed workload, try_malloc resident after freeing everything ÷ empty", "≤ 1.05",
                    fmt(v, 3) if v is not None and v >= 0 else "not measured",
                    (v <= 1.05) if v is not None and v >= 0 else None))

    # ---- targets first ----
    head = ["## Targets", ""]
    trow = []
    for what, goal, got, ok in targets:
        verdict = "**met**" if ok else ("**MISSED**" if ok is False else "not measured")
        trow.append([what, goal, got, verdict])
    head += [table(["target", "goal", "measured", "verdict"], trow), ""]
    if not plots_ok:
        head += ["(Some plots were not drawn: gnuplot is missing or failed; `apt-get install gnuplot-nox`.)", ""]
    md = md[:intro_end] + head + like + md[intro_end:]
    with open(os.path.join(folder, "summary.md"), "w") as f:
        f.write("\n".join(md) + "\n")
    print("\n".join(head))


if __name__ == "__main__":
    main()
