#!/usr/bin/env python3
"""A line plot of one column of a QATLab results table against another, one line per group.

Reads a table saved by ResultsTable.save (the `table` verb's save to .csv or .h5):
  .csv  RFC 4180, a header line of column names; numbers at full precision, empty = missing
  .h5   /tables/<name>/<column> float32 (rows), NaN = missing or text; attributes: on the group
        name, rows, columns (JSON list, column order), datasets (JSON list, same order); on each
        dataset column, index, values (float64, full precision), text (JSON list, text or null)
The layout is documented at the top of Sources/QATResults/ResultsTable.swift.

  python3 Plots/plot_table.py results.h5 --x bits --y ppl [--group method] [--logy] [--out F.png]
"""
import argparse
import csv
import json
import math
import os
import sys

import h5py
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def number(s):
    try:
        return float(s)
    except ValueError:
        return None


def read_csv(path):
    """{column: [cell, ...]} with cells float, str or None (empty), and the column order."""
    with open(path, newline="", encoding="utf-8") as f:
        rows = list(csv.reader(f))
    if not rows:
        sys.exit(f"{path}: the file is empty")
    header, body = rows[0], rows[1:]
    cols = {c: [] for c in header}
    for r in body:
        for c, v in zip(header, r):
            cols[c].append(None if v == "" else (number(v) if number(v) is not None else v))
    return cols, header


def read_h5(path, name):
    with h5py.File(path, "r") as f:
        if "tables" not in f:
            sys.exit(f"{path}: no /tables group; was it written by `table ... out=FILE.h5`?")
        names = list(f["tables"].keys())
        if name is None:
            if len(names) != 1:
                sys.exit(f"{path}: holds tables {names}; choose one with --table")
            name = names[0]
        g = f["tables"][name.replace("/", "_")]
        order = json.loads(g.attrs["columns"])
        cols = {}
        for column, ds in zip(order, json.loads(g.attrs["datasets"])):
            d = g[ds]
            values = d.attrs["values"]
            text = json.loads(d.attrs["text"]) if "text" in d.attrs else [None] * len(values)
            cols[column] = [t if t is not None else (None if math.isnan(v) else float(v)) for v, t in zip(values, text)]
    return cols, order


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("path", help="results table (.csv or .h5)")
    p.add_argument("--x", required=True, help="column for the x axis (numbers)")
    p.add_argument("--y", required=True, help="column for the y axis (numbers)")
    p.add_argument("--group", help="column whose values split the rows into lines (e.g. method)")
    p.add_argument("--table", dest="table_name", help="table name inside an .h5 file holding several")
    p.add_argument("--logy", action="store_true", help="logarithmic y axis")
    p.add_argument("--title", help="figure title (default: '<y> vs <x>')")
    p.add_argument("--out", help="PNG to write (default: <table>_<y>_vs_<x>.png beside the table)")
    a = p.parse_args()
    ext = os.path.splitext(a.path)[1].lower()
    cols, order = read_csv(a.path) if ext == ".csv" else read_h5(a.path, a.table_name)
    for c in [a.x, a.y] + ([a.group] if a.group else []):
        if c not in cols:
            sys.exit(f"{a.path}: no column '{c}'; the columns are {order}")
    groups = {}
    for i in range(len(cols[a.x])):
        x, y = cols[a.x][i], cols[a.y][i]
        if not isinstance(x, float) or not isinstance(y, float) or (a.logy and y <= 0):
            continue
        key = str(cols[a.group][i]) if a.group else a.y
        groups.setdefault(key, []).append((x, y))
    if not groups:
        sys.exit(f"{a.path}: no row has numbers in both '{a.x}' and '{a.y}'")
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for key, pts in groups.items():
        pts.sort()
        ax.plot([q[0] for q in pts], [q[1] for q in pts], marker="o", label=key)
    if a.logy:
        ax.set_yscale("log")
    ax.set_xlabel(a.x)
    ax.set_ylabel(a.y)
    ax.set_title(a.title or f"{a.y} vs {a.x}")
    ax.grid(alpha=0.3)
    if a.group or len(groups) > 1:
        ax.legend(title=a.group)
    fig.tight_layout()
    out = a.out or f"{os.path.splitext(a.path)[0]}_{a.y}_vs_{a.x}.png"
    fig.savefig(out, dpi=120)
    print(out)


if __name__ == "__main__":
    main()
