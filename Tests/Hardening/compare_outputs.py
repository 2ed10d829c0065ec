#!/usr/bin/env python3
"""Bit-for-bit comparison of two runs' outputs for the hardening harness (kill_resume.sh,
disk_full.sh).

    compare_outputs.py st A.safetensors B.safetensors   every tensor's dtype, shape and bytes
    compare_outputs.py h5 A.h5 B.h5                      every dataset and attribute
    compare_outputs.py line "LINE A" "LINE B"           a verb's key=value summary line

Run-dependent values are skipped, and only those: safetensors metadata (it records the run's
seconds and source path; the tensors carry their own checksums), the attributes `seconds` and
`peak_rss_mb`, and the keys tok_per_s, seconds, peak_rss_mb and out. Exit status 1 on the first
difference, with what differs.
"""
import json
import struct
import sys

SKIP_KEYS = {"tok_per_s", "seconds", "peak_rss_mb", "out"}


def tensors(path):
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        data = f.read()
    header.pop("__metadata__", None)
    return {k: (v["dtype"], v["shape"], data[v["data_offsets"][0]:v["data_offsets"][1]]) for k, v in header.items()}


def compare_st(a, b):
    ta, tb = tensors(a), tensors(b)
    if set(ta) != set(tb):
        return f"tensor names differ: only in {a}: {sorted(set(ta) - set(tb))[:5]}, only in {b}: {sorted(set(tb) - set(ta))[:5]}"
    for k in sorted(ta):
        if ta[k] != tb[k]:
            return f"tensor {k} differs between {a} and {b}"
    return None


def h5_items(path):
    import h5py
    import numpy as np
    out = {}
    with h5py.File(path, "r") as f:
        def visit(name, obj):
            for k, v in obj.attrs.items():
                if k not in ("seconds", "peak_rss_mb"):
                    out[f"{name}@{k}"] = np.asarray(v).tobytes()
            if isinstance(obj, h5py.Dataset):
                out[name] = obj[()].tobytes() if obj.shape != () else np.asarray(obj[()]).tobytes()
        f.visititems(visit)
    return out


def compare_h5(a, b):
    ia, ib = h5_items(a), h5_items(b)
    if set(ia) != set(ib):
        return f"objects differ: only in {a}: {sorted(set(ia) - set(ib))[:5]}, only in {b}: {sorted(set(ib) - set(ia))[:5]}"
    for k in sorted(ia):
        if ia[k] != ib[k]:
            return f"{k} differs between {a} and {b}"
    return None


def compare_line(a, b):
    def kv(line):
        return {p.split("=", 1)[0]: p.split("=", 1)[1] for p in line.split() if "=" in p and p.split("=", 1)[0] not in SKIP_KEYS}
    ka, kb = kv(a), kv(b)
    if not ka:
        return f"no key=value pairs in '{a}'"
    return None if ka == kb else f"summary lines differ: {ka} vs {kb}"


def main():
    if len(sys.argv) != 4 or sys.argv[1] not in ("st", "h5", "line"):
        print(__doc__)
        return 2
    kind, a, b = sys.argv[1:]
    err = {"st": compare_st, "h5": compare_h5, "line": compare_line}[kind](a, b)
    if err:
        print("MISMATCH: " + err)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
