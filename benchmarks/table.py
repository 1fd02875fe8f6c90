#!/usr/bin/env python3
"""Prints benchmark medians as one table, with ratios to the floor, and checks the targets.

Usage: table.py [--cpu] results.json...   (Google Benchmark JSON with median aggregates, one
file per process). --cpu: every figure is the CPU time of the timed thread(s) rather than wall
time (on a machine with more runnable threads than CPUs, wall time also counts the time spent
waiting for a CPU); benchmarks/run passes it when BENCH_TIME=cpu. With several files, each figure is the median over the processes of its per-process
median, and each ratio the median over the processes of the ratio within each process: timings
move between processes (address-space layout, the machine's neighbours), ratios much less.
"""
import json
import statistics
import sys

LIBRARIES = ["floor", "authevents", "boost_signals2", "libsigcpp"]
COLUMNS = [  # (case, N, heading)
    ("emit", "0", "empty send"),
    ("emit", "1", "N=1"),
    ("emit", "8", "N=8"),
    ("emit", "64", "N=64"),
    ("emit_two_threads", "1", "2 threads, N=1 (per thread)"),
    ("emit_two_threads", "8", "2 threads, N=8 (per thread)"),
    ("emit_under_churn", "8", "N=8 under churn"),
    ("emit_paced_quiet", "8", "N=8 quiet, paced harness"),
    ("emit_paced_churn", "8", "N=8 under churn of 1 pair per send"),
    ("connect_disconnect", "1", "connect+disconnect, 1 slot"),
    ("connect_disconnect", "8", "connect+disconnect, 8 slots"),
    ("connect_disconnect", "64", "connect+disconnect, 64 slots"),
    ("dispatch", "0", "dispatcher, no handler"),
    ("dispatch", "8", "dispatcher, 8 handlers"),
]


CPU_TIME = False  # --cpu


def load_run(path):
    """{(case, library, N): median ns per operation (real time, or CPU time with --cpu)} of one
    process, and its context"""
    with open(path, encoding="utf-8") as results:
        data = json.load(results)
    medians = {}
    for run in data["benchmarks"]:
        if run.get("aggregate_name") != "median":
            continue
        parts = run["run_name"].split("/")
        case, library, count = parts[0], parts[1], parts[2]
        scale = {"ns": 1.0, "us": 1e3, "ms": 1e6}[run["time_unit"]]
        # With N threads, Google Benchmark divides the wall time by the iterations of all
        # threads together: the time one thread spends per operation is N times that.
        scale *= run.get("threads", 1)
        # The paced cases time batches of sends (manual time: the sender's CPU time per batch).
        scale /= run.get("sends_per_iteration", 1)
        paced = "sends_per_iteration" in run  # manual time: already the sender's CPU time
        if CPU_TIME and not paced:
            medians[(case, library, count)] = run["cpu_time"] * scale / run.get("threads", 1)
        else:
            medians[(case, library, count)] = run["real_time"] * scale
        # The CPU time of the timed thread(s): on a machine busier than its CPUs, wall time
        # also counts the time spent waiting for a CPU.
        # (Summed over the threads and divided by all their iterations: already per thread.)
        # (Not for the paced cases: their CPU time counts the sender's untimed waits.)
        if not paced:
            medians[("cpu:" + case, library, count)] = \
                run["cpu_time"] * scale / run.get("threads", 1)
        for counter in ("writes_per_send", "sender_waits_per_1k", "concurrent_pairs_per_send",
                        "line_transfer_ns"):
            if counter in run:
                medians[(counter + ":" + case, library, count)] = run[counter]
        # A paired case (paired.hpp): the median over its pairs of candidate / baseline.
        if case == "paired" and "ratio" in run:
            medians[("ratio:paired", library, count)] = run["ratio"]
    return medians, data.get("context", {})


def load_runs(paths):
    """The runs of load_run() for every path."""
    return [load_run(path) for path in paths]


def median_figures(runs):
    """{key: median over the runs of the figure}, for every key some run measured."""
    keys = {key for medians, _ in runs for key in medians}
    return {key: statistics.median(m[key] for m, _ in runs if key in m) for key in keys}


def load_medians(*paths):
    """median_figures() of the runs in `paths`, and the first run's context."""
    runs = load_runs(paths)
    return median_figures(runs), runs[0][1]


def ratios_per_run(runs, numerator, denominator):
    """numerator / denominator within each run that measured both, in run order."""
    return [m[numerator] / m[denominator] for m, _ in runs
            if m.get(numerator) is not None and m.get(denominator)]


def median_ratio(runs, numerator, denominator):
    """Median over the runs of numerator / denominator within each run (None if never both)."""
    ratios = ratios_per_run(runs, numerator, denominator)
    return statistics.median(ratios) if ratios else None


def judged_figure(pair_ratio, separate):
    """The figure a target is judged on: its paired ratio where it has one, else the ratio of
    its separate cases (None when neither was measured)."""
    return pair_ratio if pair_ratio is not None else separate


def verdict(value, limit):
    """"met" or "MISSED" for a figure against its limit; empty when there is no figure."""
    return "" if value is None else ("met" if value <= limit else "MISSED")


def line_transfer_key(library):
    """The key of the paced churn case's line transfer (LineBounce) in a run's figures."""
    return ("line_transfer_ns:emit_paced_churn", library, "8")


def churn_line_costs(runs, library):
    """For each process that measured the paced churn with its line transfer, lowest transfer
    first: (L: ns to move a cache line between the two threads, p: pairs the writer made per
    send while the sends were timed, T: lines each of those pairs cost the sender, the ratio
    churned / quiet that a send paying one line per pair would read). A change the writer makes
    reaches the sender as at least one line moved between their CPUs, so on a host whose L is
    several quiet sends no library's churned send stays near its quiet one."""
    costs = []
    for m, _ in runs:
        quiet = m.get(("emit_paced_quiet", library, "8"))
        churned = m.get(("emit_paced_churn", library, "8"))
        line = m.get(line_transfer_key(library))
        pairs = m.get(("concurrent_pairs_per_send:emit_paced_churn", library, "8"))
        if not quiet or churned is None or not line or not pairs:
            continue
        costs.append((line, pairs, (churned - quiet) / (pairs * line),
                      1 + pairs * line / quiet))
    return sorted(costs)


def cell(runs, medians, case, library, count):
    value = medians.get((case, library, count))
    if value is None:
        return "n/a"
    floor_ratio = median_ratio(runs, (case, library, count), (case, "floor", count))
    if floor_ratio is not None and library != "floor":
        return f"{value:.1f} [{floor_ratio:.2f}]"
    return f"{value:.1f}"


def main():
    global CPU_TIME
    paths = sys.argv[1:]
    if paths and paths[0] == "--cpu":
        CPU_TIME = True
        paths = paths[1:]
    runs = load_runs(paths)
    medians = median_figures(runs)
    context = runs[0][1]
    present = [lib for lib in LIBRARIES if any(key[1] == lib for key in medians)]
    columns = [col for col in COLUMNS if any((col[0], lib, col[1]) in medians for lib in present)]
    clock = "CPU time" if CPU_TIME else "wall time"
    print(f"Medians over {len(runs)} process(es) on {context.get('num_cpus', '?')} CPUs, ns of "
          f"{clock} per operation [ratio to the floor of the same column and process, "
          f"median]\n")
    print("| library | " + " | ".join(heading for _, _, heading in columns) + " |")
    print("|---" * (len(columns) + 1) + "|")
    for library in present:
        cells = [cell(runs, medians, case, library, count) for case, count, _ in columns]
        print(f"| {library} | " + " | ".join(cells) + " |")

    def ratio(numerator, denominator):
        return median_ratio(runs, numerator, denominator)

    def paired_each(what, count):
        return [m[("ratio:paired", what, count)] for m, _ in runs
                if ("ratio:paired", what, count) in m]

    def paired(what, count):
        values = paired_each(what, count)
        return statistics.median(values) if values else None

    ours = "authevents"
    # (target, (what, N) of its paired case or None, the separate cases' numerator and
    # denominator, limit)
    goals = [
        ("emit N=1 / floor", ("emit", "1"), ("emit", ours, "1"), ("emit", "floor", "1"), 2.0),
        ("emit N=8 / floor", ("emit", "8"), ("emit", ours, "8"), ("emit", "floor", "8"), 1.1),
        ("emit N=64 / floor", ("emit", "64"), ("emit", ours, "64"), ("emit", "floor", "64"),
         1.1),
        ("2 threads / 1 thread, N=1", ("two_threads", "1"), ("emit_two_threads", ours, "1"),
         ("emit", ours, "1"), 1.2),
        ("2 threads / 1 thread, N=8", ("two_threads", "8"), ("emit_two_threads", ours, "8"),
         ("emit", ours, "8"), 1.2),
        ("under churn / quiet, N=8 (writer unpaced: its rate is below)", None,
         ("emit_under_churn", ours, "8"), ("emit", ours, "8"), 3.0),
        ("under churn of 1 pair per send / quiet, N=8 (paced, sender's CPU time)", None,
         ("emit_paced_churn", ours, "8"), ("emit_paced_quiet", ours, "8"), 3.0),
        ("dispatch, 8 handlers / floor's 8 calls", ("dispatch", "8"), ("dispatch", ours, "8"),
         ("dispatch", "floor", "8"), 1.2),
        ("dispatch, no handler, logging off / empty send", ("dispatch", "0"),
         ("dispatch", ours, "0"), ("emit", ours, "0"), 10.0),
        ("dispatch, no handler, logger keeping warnings / empty send", ("quiet_logger", "0"),
         ("dispatch", "quiet_logger", "0"), ("emit", ours, "0"), 10.0),
    ]
    # (target, paired ratio or None, ratio of the separate cases, limit, the figure of each
    # process: its paired ratio where there is one, else its ratio of the separate cases)
    targets = []
    for name, pair, numerator, denominator, limit in goals:
        paired_values = paired_each(*pair) if pair is not None else []
        separate_values = ratios_per_run(runs, numerator, denominator)
        targets.append((name,
                        statistics.median(paired_values) if paired_values else None,
                        statistics.median(separate_values) if separate_values else None,
                        limit, paired_values or separate_values))
    machine = [("xchg", ("machine", "fence", "0")), ("mfence", ("machine", "fence", "1")),
               ("process-wide barrier (writers)", ("machine", "process_barrier", "0"))]
    costs = [f"{name} {medians[key]:.1f} ns" for name, key in machine if key in medians]
    if costs:
        print("\nThe machine: a full fence costs " + ", ".join(costs) +
              f" (the floor's N=1 send: {medians.get(('emit', 'floor', '1'), float('nan')):.1f} ns)")
    transfers = sorted(m[line_transfer_key(ours)] for m, _ in runs if line_transfer_key(ours) in m)
    if transfers:
        print("Moving a cache line from one CPU to the other (the churn case's two threads, "
              f"one way): {statistics.median(transfers):.0f} ns, each process "
              + ", ".join(f"{value:.0f}" for value in transfers) +
              " ns. Churn costs a send in proportion to it, and a shared host changes it "
              "when it moves the virtual CPUs.")
    floor_two = [paired("two_threads_floor", count) for count in ("1", "8")]
    print("\nTargets. \"measured\" is the paired figure where there is one: both sides timed in "
          "alternating batches of about 50 us within one case, at stack offsets stepping "
          "through 128 bytes, the median over the pairs (benchmarks/paired.hpp); \"separate "
          "cases\" divides the medians of two cases run seconds apart, which a machine whose "
          "speed drifts moves by more than the margins. \"each process\" lists the measured "
          "figure of every process, lowest first: on a shared host one process can run in a "
          "slower phase than the next and read another figure; the verdict is on the median.\n")
    print("| target | measured | separate cases | limit | | each process |")
    print("|---|---|---|---|---|---|")

    def shown(value):
        return "n/a" if value is None else f"{value:.2f}x"

    for name, pair_ratio, separate, limit, each in targets:
        value = judged_figure(pair_ratio, separate)
        spread = ", ".join(f"{figure:.2f}" for figure in sorted(each))
        print(f"| {name} | {shown(value)} | {shown(separate)} | {limit}x | "
              f"{verdict(value, limit)} | {spread} |")
    for count, floor_value in zip(("1", "8"), floor_two):
        ours_value = paired("two_threads", count)
        if floor_value is None or ours_value is None:
            continue
        # Two threads on two CPUs can slow each other in the hardware (a shared core, power or
        # memory budget): then the floor, which shares nothing writable, slows down too, and
        # no library can do better than it. Ours beside the floor's own slowdown:
        relative = ours_value / floor_value
        print(f"| 2 threads / 1 thread, N={count}, beside the floor's own (the floor's: "
              f"{floor_value:.2f}x) | {relative:.2f}x | | 1.2x | {verdict(relative, 1.2)} | |")
    # (target, paired ratio on CPU time or None, ratio of the separate cases' CPU times, limit)
    cpu = [
        ("2 threads / 1 thread, N=1, CPU time", paired("two_threads_cpu", "1"),
         ratio(("cpu:emit_two_threads", ours, "1"), ("cpu:emit", ours, "1")), 1.2),
        ("2 threads / 1 thread, N=8, CPU time", paired("two_threads_cpu", "8"),
         ratio(("cpu:emit_two_threads", ours, "8"), ("cpu:emit", ours, "8")), 1.2),
        ("under churn / quiet, N=8, CPU time of the sender", None,
         ratio(("cpu:emit_under_churn", ours, "8"), ("cpu:emit", ours, "8")), 3.0),
    ]
    for name, pair_ratio, separate, limit in cpu:
        value = judged_figure(pair_ratio, separate)
        if value is None:
            continue
        print(f"| {name} (wall time counts waiting for a CPU on a busy machine) | "
              f"{'' if pair_ratio is None else shown(pair_ratio)} | {shown(separate)} | "
              f"{limit}x | {verdict(value, limit)} | |")
    paced = medians.get(("writes_per_send:emit_paced_churn", ours, "8"))
    if paced is not None:
        print(f"| (paced: the writer made {paced:.3f} connect+disconnect pairs per send) | | | | | |")
    churn_lines = churn_line_costs(runs, ours)
    if churn_lines:
        print("| (paced, each process: L, what moving a cache line between the sender's and the "
              "writer's CPUs cost; p, the pairs made while sends were timed, per send; T, the "
              "lines each such pair cost a send, (churned - quiet) / (p L); and 1 + p L / quiet, "
              "the ratio a send that paid one line per pair would read) | | | | | " +
              "; ".join(f"L {line:.0f} ns, p {pairs:.2f}, T {lines:.1f}, one line: {bound:.2f}x"
                        for line, pairs, lines, bound in churn_lines) + " |")
    writes = medians.get(("writes_per_send:emit_under_churn", ours, "8"))
    waits = medians.get(("sender_waits_per_1k:emit_under_churn", ours, "8"))
    if writes is not None:
        print(f"| (under churn: the writer made {writes:.3f} connect+disconnect pairs per send, "
              f"the sender waited {waits or 0:.2f} times per 1000 sends; a busy machine gives "
              f"the writer less CPU, so less churn) | | | | | |")
    pair = medians.get(("connect_disconnect", ours, "64"))
    if pair is not None:
        print(f"| connect+disconnect, 64 slots | {pair:.1f} ns | | 100 ns | "
              f"{verdict(pair, 100)} | |")


if __name__ == "__main__":
    main()
