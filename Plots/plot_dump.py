#!/usr/bin/env python3
"""Histograms of the values of tensors in a QATLab HDF5 dump (e.g. Block-AP weight gradients).

Reads any float or integer dataset. The dump layouts are documented where they are written:
  Sources/QATTrain/BlockAPDump.swift   /block_NNN/step_SSSSS/{input,target,output}
                                       /block_NNN/step_SSSSS/<linear>/{input,output,weight_grad,
                                                                      scales_grad,zeros_grad}
  the `dump` verb (QATToolkit)         /<name> with shape attributes
Each dataset named by --path (repeatable) or matched by --match (a substring of the path, e.g.
"weight_grad") gets one panel; the title carries shape, mean, std, min, max and the count of
non-finite values (which are left out of the histogram).

  python3 Plots/plot_dump.py dump.h5 --match weight_grad [--bins 100] [--logy] [--out F.png]
  python3 Plots/plot_dump.py dump.h5 --path /block_000/step_00010/q_proj/weight_grad
  python3 Plots/plot_dump.py dump.h5 --list
"""
import argparse
import math
import os
import sys

import h5py
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

MAX_PANELS = 24


def datasets(f):
    """Paths of every numeric dataset in the file, in traversal order."""
    out = []

    def visit(name, obj):
        if isinstance(obj, h5py.Dataset) and obj.dtype.kind in "fiu":
            out.append("/" + name)

    f.visititems(visit)
    return out


def panel(ax, path, d, bins, logy):
    v = np.asarray(d[()], dtype=np.float64).ravel()
    finite = v[np.isfinite(v)]
    bad = v.size - finite.size
    if finite.size:
        ax.hist(finite, bins=bins, color="#4e79a7")
        stats = f"mean {finite.mean():.3g}  std {finite.std():.3g}\nmin {finite.min():.3g}  max {finite.max():.3g}"
    else:
        ax.text(0.5, 0.5, "no finite values", ha="center", va="center", transform=ax.transAxes)
        stats = ""
    if logy:
        ax.set_yscale("log")
    note = f"  ({bad} non-finite skipped)" if bad else ""
    ax.set_title(f"{path}\nshape {list(d.shape)}{note}\n{stats}", fontsize=8)
    ax.set_xlabel("value", fontsize=8)
    ax.set_ylabel("count", fontsize=8)
    ax.tick_params(labelsize=7)


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("dump", help="HDF5 file written by `dump` or by blockap's dump= option")
    p.add_argument("--path", action="append", default=[], help="dataset to plot (repeatable)")
    p.add_argument("--match", help="plot every dataset whose path contains this text")
    p.add_argument("--bins", type=int, default=100, help="histogram bins (default 100)")
    p.add_argument("--logy", action="store_true", help="logarithmic count axis (shows the tails)")
    p.add_argument("--list", action="store_true", help="list the datasets with shapes and exit")
    p.add_argument("--out", help="PNG to write (default: <dump>_<match or dataset>.png beside the dump)")
    a = p.parse_args()
    with h5py.File(a.dump, "r") as f:
        every = datasets(f)
        if a.list:
            for name in every:
                print(name, list(f[name].shape), f[name].dtype)
            return
        chosen = list(a.path) + [n for n in every if a.match and a.match in n and n not in a.path]
        missing = [n for n in a.path if n not in f or not isinstance(f[n], h5py.Dataset)]
        if missing:
            sys.exit(f"{a.dump}: no dataset {missing}; run with --list to see the names")
        if not chosen:
            sys.exit(f"{a.dump}: nothing to plot; give --path or --match (run with --list to see the names)")
        if len(chosen) > MAX_PANELS:
            print(f"{len(chosen)} datasets match; plotting the first {MAX_PANELS}", file=sys.stderr)
            chosen = chosen[:MAX_PANELS]
        cols = min(3, len(chosen))
        rows = math.ceil(len(chosen) / cols)
        fig, axes = plt.subplots(rows, cols, figsize=(4.8 * cols, 3.8 * rows), squeeze=False)
        for ax, name in zip(axes.ravel(), chosen):
            panel(ax, name, f[name], a.bins, a.logy)
        for ax in axes.ravel()[len(chosen):]:
            ax.axis("off")
        fig.tight_layout()
        tag = a.match or chosen[0].strip("/").replace("/", "_")
        out = a.out or f"{os.path.splitext(a.dump)[0]}_{tag}.png"
        fig.savefig(out, dpi=110)
    print(out)


if __name__ == "__main__":
    main()
