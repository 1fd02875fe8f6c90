#!/usr/bin/env python3
"""Plots benchmark medians (ns, log scale) per case and library into a PNG.

Usage: plot.py results.json... output.png   (several files: medians over the processes)
"""
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402  (after choosing the backend)

from table import COLUMNS, LIBRARIES, load_medians  # noqa: E402


def main():
    medians, _ = load_medians(*sys.argv[1:-1])
    present = [lib for lib in LIBRARIES if any(key[1] == lib for key in medians)]
    columns = [col for col in COLUMNS if any((col[0], lib, col[1]) in medians for lib in present)]
    width = 0.8 / len(present)
    figure, axes = plt.subplots(figsize=(13, 5.5))
    for offset, library in enumerate(present):
        xs, ys = [], []
        for index, (case, count, _) in enumerate(columns):
            value = medians.get((case, library, count))
            if value is not None:
                xs.append(index + (offset - (len(present) - 1) / 2) * width)
                ys.append(value)
        axes.bar(xs, ys, width, label=library)
    axes.set_yscale("log")
    axes.set_ylabel("ns per operation (median, log scale)")
    axes.set_xticks(range(len(columns)))
    axes.set_xticklabels([heading for _, _, heading in columns], rotation=30, ha="right")
    axes.set_title("authevents vs the floor (std::function loop), Boost.Signals2, libsigc++")
    axes.grid(axis="y", which="both", alpha=0.3)
    axes.legend()
    figure.tight_layout()
    figure.savefig(sys.argv[-1], dpi=110)


if __name__ == "__main__":
    main()
