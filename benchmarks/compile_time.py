#!/usr/bin/env python3
"""Compile time of a typical unit of signal code, and of the dispatcher header.

Builds one translation unit with 40 slot lambdas over 8 signal signatures (each connected to
its signal, then every signal sent once) three ways: with authevents::Signal, with a
std::vector<std::function> per signature (the floor) and, when its headers are installed, with
Boost.Signals2. Also units that only include a header: <authevents/dispatcher.hpp> beside
<fmt/format.h> alone (the include-cost table), and the parts the dispatcher cannot do without
(<authevents/signal.hpp>, <authevents/events.hpp>, <fmt/core.h>), and <authevents/events.hpp>
alone (the built-in events and their descriptions). Each unit is compiled REPEAT
times (default 3), all units interleaved, with `$CXX -std=c++17 -O2 -c` (CXX defaults to g++;
no ccache; --opt changes -O2) and the tables give the median time of each and its ratio to its
reference. Times are the compiler's CPU time (user + system), which moves less than wall time
when other work shares the machine.

Usage: python3 benchmarks/compile_time.py [--repeat N] [--opt O0|O2] [--keep DIR] [--time-trace]
                                         [--only include]
  --time-trace  (clang++ only) also writes -ftime-trace JSON next to the kept sources.
  --only WORD   only the units whose name contains WORD (e.g. `include`: the include-cost
                table alone, a minute rather than several), plus the references they need.
"""
import argparse
import os
import pathlib
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile

ROOT = pathlib.Path(__file__).resolve().parent.parent

# (parameter list, arguments for the send, how a slot uses them)
SIGNATURES = [
    ("int", "1", "sink += a0;"),
    ("const std::string&", 'std::string("ada")', "sink += static_cast<long>(a0.size());"),
    ("double, int", "2.5, 3", "sink += static_cast<long>(a0) + a1;"),
    ("const std::vector<int>&", "std::vector<int>{1, 2}", "sink += static_cast<long>(a0.size());"),
    ("int, int, int", "1, 2, 3", "sink += a0 + a1 + a2;"),
    ("const char*", '"x"', "sink += a0[0];"),
    ("long, const std::string&", 'long{4}, std::string("b")',
     "sink += a0 + static_cast<long>(a1.size());"),
    ("bool", "true", "sink += a0 ? 1 : 0;"),
]
SLOTS_PER_SIGNATURE = 5  # 40 slots in all

PRELUDE = """#include <string>
#include <vector>
long sink = 0;
"""


def parameters(signature):
    types = [t.strip() for t in signature.split(",")]
    return ", ".join(f"{t} a{i}" for i, t in enumerate(types))


# How each library spells the unit: include, signal declaration, connect, send.
LIBRARIES = {
    "authevents": ("#include <authevents/signal.hpp>",
                   "authevents::Signal<{sig}> signal{i};",
                   "signal{i}.connect({slot});", "signal{i}.send({args});"),
    "std_function": ("#include <functional>",
                     "std::vector<std::function<void({sig})>> signal{i};",
                     "signal{i}.emplace_back({slot});",
                     "for (const auto& slot : signal{i}) {{ slot({args}); }}"),
    "boost_signals2": ("#include <boost/signals2.hpp>",
                       "boost::signals2::signal<void({sig})> signal{i};",
                       "signal{i}.connect({slot});", "signal{i}({args});"),
}


def unit(library):
    """The source of the 40-slot unit for `library`."""
    include, declare, connect, send = LIBRARIES[library]
    lines = [include, PRELUDE]
    for index, (signature, _, _) in enumerate(SIGNATURES):
        lines.append(declare.format(sig=signature, i=index))
    lines.append("void connect_all() {")
    for index, (signature, _, body) in enumerate(SIGNATURES):
        for slot in range(SLOTS_PER_SIGNATURE):
            lam = f"[]({parameters(signature)}) {{ {body} sink += {slot}; }}"
            lines.append("    " + connect.format(i=index, slot=lam))
    lines.append("}")
    lines.append("void send_all() {")
    for index, (_, arguments, _) in enumerate(SIGNATURES):
        lines.append("    " + send.format(i=index, args=arguments))
    lines.append("}")
    return "\n".join(lines) + "\n"


HEADERS = {
    "include_dispatcher": "#include <authevents/dispatcher.hpp>\n",
    "include_signal": "#include <authevents/signal.hpp>\n",
    "include_events": "#include <authevents/events.hpp>\n",
    "include_dispatcher_parts": "#include <authevents/signal.hpp>\n"
                                "#include <authevents/events.hpp>\n#include <fmt/core.h>\n",
    "include_fmt_core": "#include <fmt/core.h>\n",
    "include_fmt_format": "#include <fmt/format.h>\n",
}


def compile_seconds(compiler, optimisation, source, extra):
    """CPU seconds (user + system) the compiler spent: steadier than wall time on a machine
    shared with other work."""
    # With -ftime-trace, clang writes the profile beside the object: keep both with the source.
    output = str(source.with_suffix(".o")) if extra else os.devnull
    command = [compiler, "-std=c++17", f"-{optimisation}", "-c", str(source), "-o", output,
               f"-I{ROOT / 'include'}", *extra]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    subprocess.run(command, check=True)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--opt", choices=["O0", "O2"], default="O2",
                        help="optimisation level of every unit (default O2)")
    parser.add_argument("--keep", help="write the sources (and time traces) to this directory")
    parser.add_argument("--time-trace", action="store_true")
    parser.add_argument("--only", help="only the units whose name contains this word")
    options = parser.parse_args()
    compiler = os.environ.get("CXX", "g++")

    have_boost = pathlib.Path("/usr/include/boost/signals2.hpp").exists()
    units = {"authevents": unit("authevents"), "std_function": unit("std_function")}
    if have_boost:
        units["boost_signals2"] = unit("boost_signals2")
    units.update(HEADERS)
    if options.only:
        # The references the chosen units' ratios are taken to come along.
        wanted = {name for name in units if options.only in name}
        if any(name.startswith("include") for name in wanted):
            wanted.add("include_fmt_format")
        if wanted & {"authevents", "boost_signals2"}:
            wanted.add("std_function")
        if not wanted:
            parser.error(f"--only {options.only}: no unit's name contains it ({', '.join(units)})")
        units = {name: text for name, text in units.items() if name in wanted}

    directory = pathlib.Path(options.keep or tempfile.mkdtemp(prefix="authevents-ct-"))
    directory.mkdir(parents=True, exist_ok=True)
    times = {name: [] for name in units}
    extra = ["-ftime-trace"] if options.time_trace else []
    try:
        for name, text in units.items():
            (directory / f"{name}.cpp").write_text(text, encoding="utf-8")
        # Interleaved (every unit once per round): a neighbour's burst of work slows every
        # unit a little rather than one unit a lot.
        for _ in range(options.repeat):
            for name in units:
                times[name].append(
                    compile_seconds(compiler, options.opt, directory / f"{name}.cpp", extra))
        for name, values in times.items():
            print(f"  {name}: " + ", ".join(f"{t:.2f}" for t in values) + " s", file=sys.stderr)
        medians = {name: statistics.median(values) for name, values in times.items()}
    finally:
        if not options.keep:
            shutil.rmtree(directory, ignore_errors=True)

    version = subprocess.run([compiler, "--version"], capture_output=True, text=True).stdout
    print(f"Compile time, {version.splitlines()[0]}, -std=c++17 -{options.opt}, median of "
          f"{options.repeat}, CPU seconds of the compiler [ratio to the reference]")
    if "std_function" in medians:
        table(medians, [
            ("40 slots over 8 signatures, authevents", "authevents", "std_function", 2.0),
            ("the same with std::vector<std::function>", "std_function", None, None),
            ("the same with Boost.Signals2", "boost_signals2", "std_function", None),
        ])
    if "include_fmt_format" not in medians:
        return
    print("\nInclude cost: a unit that only includes the header(s)")
    table(medians, [
        ("#include <authevents/dispatcher.hpp>", "include_dispatcher", "include_fmt_format", 2.0),
        ("signal.hpp + events.hpp + <fmt/core.h> (what the dispatcher builds on)",
         "include_dispatcher_parts", "include_fmt_format", None),
        ("#include <authevents/signal.hpp>", "include_signal", "include_fmt_format", None),
        ("#include <authevents/events.hpp> (the built-in events' descriptions)",
         "include_events", "include_fmt_format", None),
        ("#include <fmt/core.h>", "include_fmt_core", "include_fmt_format", None),
        ("#include <fmt/format.h>", "include_fmt_format", None, None),
    ])


def table(medians, rows):
    """Prints one Markdown table: (label, unit, reference unit or None, target ratio or None)."""
    print("\n| unit | seconds | reference | ratio | target |")
    print("|---|---|---|---|---|")
    for label, name, reference, target in rows:
        if name not in medians:
            if name == "boost_signals2" and "std_function" in medians:
                print(f"| {label} | not installed | | | |")
            continue
        ratio = f"{medians[name] / medians[reference]:.2f}x" if reference else ""
        verdict = ""
        if target is not None:
            met = medians[name] / medians[reference] <= target
            verdict = f"<= {target}x: {'met' if met else 'MISSED'}"
        print(f"| {label} | {medians[name]:.2f} | {reference or ''} | {ratio} | {verdict} |")


if __name__ == "__main__":
    main()
