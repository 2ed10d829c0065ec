#!/usr/bin/env python3
"""Training curves from a QATLab training log (OUT.work/train_log.h5).

Reads the layout written by Sources/QATTrain/TrainingLog.swift:
  /blockap/block_NNN/{loss,lr,grad_norm}  float32 (steps)   per-block Block-AP curves
  /blockap/block_NNN/val_mse              float32 (epochs)  validation MSE per epoch
      attrs: block, rtn_val_mse, seconds
  /e2eqp/{loss,lr,grad_norm}              float32 (steps)
      attrs: initial_val_loss, final_val_loss, seconds, steps
Either group may be missing. Draws Block-AP training loss per block (log y), Block-AP validation
MSE per epoch against the RTN starting point, and the E2E-QP loss, as one PNG.

  python3 Plots/plot_training.py OUT.work/train_log.h5 [--out FILE.png] [--smooth N]
"""
import argparse
import os
import sys

import h5py
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.ticker import MaxNLocator  # noqa: E402


def smooth(y, n):
    """Trailing moving average over n steps (n <= 1: unchanged)."""
    if n <= 1 or len(y) < n:
        return y
    c = np.cumsum(np.insert(y.astype(np.float64), 0, 0.0))
    head = c[1:n] / np.arange(1, n)
    return np.concatenate([head, (c[n:] - c[:-n]) / n])


def blocks(f):
    """(block number, group) for each /blockap/block_NNN, in block order."""
    if "blockap" not in f:
        return []
    out = []
    for name, g in f["blockap"].items():
        if isinstance(g, h5py.Group):
            out.append((int(g.attrs.get("block", name.split("_")[-1])), g))
    return sorted(out, key=lambda t: t[0])


def positive(y):
    """The values with non-positive ones masked (a log axis cannot show them)."""
    y = np.asarray(y, dtype=np.float64)
    return np.where(y > 0, y, np.nan)


def plot_blockap_loss(ax, bl, n):
    for b, g in bl:
        y = smooth(g["loss"][:], n)
        ax.plot(np.arange(len(y)), positive(y), label=f"block {b}", linewidth=1)
    ax.set_yscale("log")
    ax.set_title("Block-AP training loss" + (f" (moving average {n})" if n > 1 else ""))
    ax.set_xlabel("step")
    ax.set_ylabel("block output MSE")
    if len(bl) <= 12:
        ax.legend(fontsize=7, ncol=2)


def plot_blockap_val(ax, bl):
    for b, g in bl:
        v = g["val_mse"][:]
        rtn = g.attrs.get("rtn_val_mse")
        ys = np.concatenate([[rtn], v]) if rtn is not None else v
        xs = np.arange(len(ys)) if rtn is not None else np.arange(1, len(ys) + 1)
        ax.plot(xs, positive(ys), marker="o", markersize=3, label=f"block {b}")
    ax.set_yscale("log")
    ax.set_title("Block-AP validation MSE (epoch 0 = RTN start)")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("epoch")
    ax.set_ylabel("validation MSE")
    if len(bl) <= 12:
        ax.legend(fontsize=7, ncol=2)


def plot_e2e(ax, g, n):
    y = g["loss"][:]
    ax.plot(np.arange(len(y)), y, color="0.75", linewidth=0.8, label="per step")
    if n > 1:
        ax.plot(np.arange(len(y)), smooth(y, n), linewidth=1.5, label=f"moving average {n}")
    title = "E2E-QP loss"
    a, b = g.attrs.get("initial_val_loss"), g.attrs.get("final_val_loss")
    if a is not None and b is not None:
        title += f" (validation {a:.4g} -> {b:.4g})"
    ax.set_title(title)
    ax.set_xlabel("step")
    ax.set_ylabel("cross-entropy")
    ax.legend(fontsize=7)


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("log", help="train_log.h5 written by blockap / e2eqp")
    p.add_argument("--out", help="PNG to write (default: <log>.png beside the log)")
    p.add_argument("--smooth", type=int, default=1, help="moving-average window in steps (default 1: none)")
    a = p.parse_args()
    out = a.out or os.path.splitext(a.log)[0] + ".png"
    with h5py.File(a.log, "r") as f:
        bl = blocks(f)
        panels = (["loss", "val"] if bl else []) + (["e2e"] if "e2eqp" in f else [])
        if not panels:
            sys.exit(f"{a.log}: neither /blockap nor /e2eqp is present; is this a QATLab train_log.h5?")
        fig, axes = plt.subplots(1, len(panels), figsize=(6 * len(panels), 4.5), squeeze=False)
        for ax, kind in zip(axes[0], panels):
            if kind == "loss":
                plot_blockap_loss(ax, bl, a.smooth)
            elif kind == "val":
                plot_blockap_val(ax, bl)
            else:
                plot_e2e(ax, f["e2eqp"], a.smooth)
            ax.grid(alpha=0.3)
        fig.tight_layout()
        fig.savefig(out, dpi=120)
    print(out)


if __name__ == "__main__":
    main()
