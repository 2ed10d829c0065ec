#!/usr/bin/env python3
"""Redraw every ablation notebook's figure from its HDF5 table alone (Notebooks/results/NAME.h5).

One generic line plot per notebook, with the settings in FIGURES below (x, y, the column that
splits lines, log y, axis labels with units). Tables are read with plot_table.read_h5 (layout:
Sources/QATResults/ResultsTable.swift); the run attributes (model, seed, quick, version) go into
the figure's footnote so a quick-run figure cannot pass for a full one, and the table's
fp_ppl_devil attribute (the full-precision perplexity) is drawn as a dashed FP16 line on devil
perplexity plots.

  python3 Plots/plot_notebooks.py                          # every table in Notebooks/results/ -> Plots/redrawn/
  python3 Plots/plot_notebooks.py phases samples --dir Notebooks/results/quick --out /tmp/figs
"""
import argparse
import math
import os
import sys

import h5py
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.ticker import FuncFormatter, MaxNLocator  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from plot_table import read_h5  # noqa: E402

PPL = "perplexity on devil (ctx windows, lower is better)"
MARKERS = "osD^vPX"
PPL_ANY = "perplexity (ctx windows, lower is better)"
# name: list of (figure suffix, x, x label, y column(s), group column, log y)
FIGURES = {
    "phases": [("", "wbits", "weight bits", ["ppl_devil"], "method", True)],
    "blockap_trainables": [("", "norms", "RMSNorm gains trained (0/1)", ["ppl_devil"], "train", True)],
    "e2eqp_params": [("", "bits_paper", "average bits per weight (paper count)", ["ppl_devil"], "train", False)],
    "samples": [("_gap", "windows", "calibration windows", ["rel_gap"], "phase", False),
                ("_ppl", "windows", "calibration windows", ["ppl_devil"], "phase", True)],
    "group_size": [("", "bits", "average bits per weight", ["ppl_devil"], "wbits", True)],
    "calibration_source": [("", "calib_n", "calibration text (1 fortunes, 2 devil, 3 gnu-standards)", ["ppl_devil", "ppl_gnu_standards"], "wbits", True)],
    "same_budget": [("", "windows", "calibration windows", ["ppl_devil"], "method", True)],
    "full_model_qat": [("", "wbits", "weight bits", ["ppl_devil"], "method", True)],
    "e2eqp_init": [("", "init_n", "start (1 RTN, 2 GPTQ, 3 AWQ, 4 Block-AP)", ["ppl_devil"], "stage", True)],
    "qfa_sampling": [("", "wbits", "uniform subnet bits", ["ppl_devil"], "sampler", True)],
    "qfa_adapters": [("", "wbits", "uniform subnet bits", ["ppl_devil"], "adapters", True)],
    "qfa_period": [("", "wbits", "uniform subnet bits", ["ppl_devil"], "period_fraction", True)],
    "qfa_search": [("", "budget", "mean-width budget", ["picked_heldout_ppl", "random_best_heldout_ppl", "uniform_heldout_ppl"], None, True)],
    "inspect": [("", "count", "elements in the tensor", ["std"], "tensor", True)],
    "llamacpp": [("", "bits", "stored bits per weight of the block linears", ["ppl_devil"], "method", True)],
    "beat_ptq": [("", "wall", "wall time per row (s, 2 threads; evaluation not counted)", ["ppl_devil"], "spec", True)],
}
YLABEL = {"ppl_devil": PPL, "rel_gap": "(validation - training loss) / training loss (%)", "std": "standard deviation",
          "picked_heldout_ppl": "held-out perplexity on fortunes (lower is better)", "ppl_gnu_standards": "perplexity"}


def label(v):
    """A group value as a legend entry: 2.0 -> "2", text as it is."""
    return str(int(v)) if isinstance(v, float) and v == int(v) else str(v)


def draw(name, cols, attrs, spec, out):
    suffix, x, xlabel, ys, group, logy = spec
    fig, ax = plt.subplots(figsize=(8.5, 4.5))
    fp = attrs.get("fp_ppl_devil") if "ppl_devil" in ys else None
    for y in ys:
        lines = {}
        for i, xv in enumerate(cols[x]):  # main() refused a table without x, y or group
            yv = cols[y][i]
            if not isinstance(xv, float) or not isinstance(yv, float) or (logy and yv <= 0):
                continue
            if isinstance(fp, float) and group and cols[group][i] == "fp":
                continue  # the full-precision row is the dashed FP16 line, not a point at x = 16
            key = (y + " " if len(ys) > 1 else "") + (label(cols[group][i]) if group else "")
            lines.setdefault(key.strip() or y, []).append((xv, yv))
        for key, pts in lines.items():
            pts.sort()
            n = len(ax.get_lines())  # markers shrink and change shape so a line drawn over another's equal points still shows
            ax.plot([p[0] for p in pts], [p[1] for p in pts], marker=MARKERS[n % len(MARKERS)],
                    markersize=max(4, 9 - 1.2 * n), label=key)
    if isinstance(fp, float):
        ax.axhline(fp, color="black", linestyle="--", linewidth=1, label=f"FP16 on devil ({fp:.2f})")
    if logy:
        ax.set_yscale("log")
        lo, hi = ax.get_ylim()
        if hi / lo < 100:  # under two decades: plain numbers (40, 60, 100, 200), not 6x10^1
            ax.yaxis.set_major_formatter(FuncFormatter(plain_tick))
            ax.yaxis.set_minor_formatter(FuncFormatter(lambda v, _: plain_tick(v) if leading_digit(v) in (2, 4, 6) else ""))
    ax.set_xlabel(xlabel)
    ax.set_ylabel(YLABEL.get(ys[0], ys[0]) if len(ys) == 1 or not all(y.startswith("ppl_") for y in ys) else PPL_ANY)
    xs = [v for v in cols[x] if isinstance(v, float)]
    if xs and all(v == int(v) for v in xs):  # categories and counts: no 1.25 ticks
        if len(set(xs)) <= 8:  # few settings (32 / 64 / 128 windows): a tick at each, none between
            ax.set_xticks(sorted(set(xs)))
        else:
            ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_title(name.replace("_", " "))
    ax.grid(alpha=0.3)
    if ax.get_legend_handles_labels()[0]:
        # outside the axes, so no legend can cover a point
        ax.legend(title=group, fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1), borderaxespad=0)
    note = " ".join(f"{k}={attrs[k]}" for k in ("model", "quick", "seed", "qatlab_version") if k in attrs)
    fig.text(0.01, 0.01, note, fontsize=7, color="gray")
    fig.tight_layout(rect=(0, 0.03, 1, 1))
    path = os.path.join(out, f"{name}{suffix}.png")
    fig.savefig(path, dpi=120)
    plt.close(fig)
    print(path)


def leading_digit(v):
    return int(round(v / 10 ** math.floor(math.log10(v)))) if v > 0 else 0


def plain_tick(v, _=None):
    return f"{v:g}"


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("names", nargs="*", help="notebooks to draw (default: every table found)")
    p.add_argument("--dir", default="Notebooks/results", help="where NAME.h5 are")
    p.add_argument("--out", default="Plots/redrawn", help="where the PNGs go (not Plots/, where the notebooks' own figures are)")
    a = p.parse_args()
    names = a.names or [n for n in FIGURES if os.path.exists(os.path.join(a.dir, n + ".h5"))]
    if not names:
        sys.exit(f"no notebook tables in {a.dir}; run the notebooks first")
    os.makedirs(a.out, exist_ok=True)
    for name in names:
        if name not in FIGURES:
            sys.exit(f"unknown notebook {name}; known: {', '.join(FIGURES)}")
        path = os.path.join(a.dir, name + ".h5")
        if not os.path.exists(path):
            sys.exit(f"no table {path}: run `qat notebook Notebooks/{name}.qat` first (or give --dir)")
        cols, _ = read_h5(path, "res")
        if "gap" in cols and "rel_gap" not in cols:  # tables written before samples.qat recorded rel_gap
            cols["rel_gap"] = [100 * g / t if isinstance(g, float) and isinstance(t, float) and t else None
                               for g, t in zip(cols["gap"], cols["train_loss"])]
        with h5py.File(path, "r") as f:
            attrs = {k: (v.decode() if isinstance(v, bytes) else v) for k, v in f["/tables/res"].attrs.items()}
        for spec in FIGURES[name]:
            missing = [c for c in [spec[1], *spec[3], spec[4]] if c and c not in cols]
            if missing:
                sys.exit(f"{path}: no column {', '.join(missing)} for the {name}{spec[0]} figure; has {', '.join(cols)}")
            draw(name, cols, attrs, spec, a.out)


if __name__ == "__main__":
    main()
