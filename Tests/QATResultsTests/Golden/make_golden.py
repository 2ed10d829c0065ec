#!/usr/bin/env python3
"""Golden files for Tests/QATResultsTests/ResultsTableTests.swift, written independently of QATLab.

  results.csv  the test table as Python's csv module writes it (RFC 4180: CRLF, minimal quoting)
  results.h5   the same table in the HDF5 layout documented at the top of
               Sources/QATResults/ResultsTable.swift, written with h5py

Run from anywhere: python3 Tests/QATResultsTests/Golden/make_golden.py (needs numpy, h5py).
"""
import csv
import json
import math
import os

import h5py
import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
COLUMNS = ["method", "ppl", "note", "bits"]          # first-seen order
ROWS = [                                              # None: an empty cell
    {"method": "fp16", "ppl": 12.345, "note": "baseline"},
    {"method": "rtn", "bits": 2, "ppl": 1234567.5, "note": 'says "hi", then\nleaves'},
    {"method": "gptq, act-order", "bits": 3, "ppl": 0.1 + 0.2},
    {"bits": 4, "ppl": 1e-05, "note": "plain"},
]


def csv_text(v):
    if v is None:
        return ""
    if isinstance(v, float) and v.is_integer() and abs(v) < 1e15:
        return str(int(v))
    return repr(v) if isinstance(v, float) else str(v)


def write_csv(path):
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f, lineterminator="\r\n", quoting=csv.QUOTE_MINIMAL)
        w.writerow(COLUMNS)
        for r in ROWS:
            w.writerow([csv_text(r.get(c)) for c in COLUMNS])


def write_h5(path):
    with h5py.File(path, "w") as f:
        g = f.create_group("/tables/results")
        for i, c in enumerate(COLUMNS):
            cells = [r.get(c) for r in ROWS]
            nums = [float(v) if isinstance(v, (int, float)) else math.nan for v in cells]
            d = g.create_dataset(c, data=np.array(nums, dtype=np.float32))
            d.attrs["column"] = c
            d.attrs["index"] = np.int64(i)
            d.attrs["values"] = np.array(nums, dtype=np.float64)
            if any(isinstance(v, str) for v in cells):
                d.attrs["text"] = json.dumps([v if isinstance(v, str) else None for v in cells])
        g.attrs["name"] = "results"
        g.attrs["rows"] = np.int64(len(ROWS))
        g.attrs["columns"] = json.dumps(COLUMNS)
        g.attrs["datasets"] = json.dumps(COLUMNS)


if __name__ == "__main__":
    write_csv(os.path.join(HERE, "results.csv"))
    write_h5(os.path.join(HERE, "results.h5"))
    print("wrote results.csv and results.h5 in", HERE)
