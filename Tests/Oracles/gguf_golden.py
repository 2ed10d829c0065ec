#!/usr/bin/env python3
"""Golden files for the GGUF reader tests (Tests/QATIOTests/GGUFTests.swift).

The oracle is the PyPI `gguf` package (writer and numpy dequantizers), independent of QATLab.

Writes into Tests/QATIOTests/Golden/:
  gguf_types.gguf   written by gguf.GGUFWriter, alignment 64. For each ggml type T in TYPES a
                    tensor "q.T" of shape (3, 512) made of random but valid blocks (random bytes;
                    fp16 scale fields replaced by finite values, one of them subnormal), and
                    "golden.T", F32, the same values dequantized by gguf.quants.dequantize.
                    Plus metadata of every value type (see META below; GGUFTests.swift checks the
                    same values).
  smollm2_rows.gguf (only when the SmolLM2 model file exists) F32 tensors "<name>.rows" holding
                    the first ROWS rows of a few tensors of the model, dequantized by the oracle.

Run from the repository root:  python3 Tests/Oracles/gguf_golden.py
Deterministic (fixed seed); rerunning rewrites identical files.
"""
import os
import sys

import numpy as np
import gguf
from gguf import GGMLQuantizationType as Q, GGUFValueType as V

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
OUT = os.path.join(ROOT, "Tests", "QATIOTests", "Golden")
MODEL = os.path.join(ROOT, "Models", "SmolLM2-135M-Instruct.Q4_1.gguf")

TYPES = ["F32", "F16", "BF16", "Q4_0", "Q4_1", "Q5_0", "Q5_1", "Q8_0", "Q4_K", "Q5_K", "Q6_K"]
ROWS, COLS = 3, 512

# Byte offsets of the fp16 scale fields inside one block (see GGUFTypes.swift).
HALF_FIELDS = {
    "Q4_0": [0], "Q4_1": [0, 2], "Q5_0": [0], "Q5_1": [0, 2], "Q8_0": [0],
    "Q4_K": [0, 2], "Q5_K": [0, 2], "Q6_K": [208],
}

# Metadata of every value type; the Swift test expects exactly these.
META = [
    ("test.u8", 200, V.UINT8, None),
    ("test.i8", -100, V.INT8, None),
    ("test.u16", 60000, V.UINT16, None),
    ("test.i16", -30000, V.INT16, None),
    ("test.u32", 4000000000, V.UINT32, None),
    ("test.i32", -2000000000, V.INT32, None),
    ("test.u64", 2**63 + 5, V.UINT64, None),
    ("test.i64", -(2**62) - 3, V.INT64, None),
    ("test.f32", 0.1, V.FLOAT32, None),
    ("test.f64", 3.141592653589793, V.FLOAT64, None),
    ("test.bool", True, V.BOOL, None),
    ("test.string", "h\u00e9llo \u2713", V.STRING, None),
    ("test.strings", ["a", "", "\u00fc"], V.ARRAY, V.STRING),
    ("test.i32s", [1, -2, 3], V.ARRAY, V.INT32),
    ("test.f32s", [0.5, -1.25], V.ARRAY, V.FLOAT32),
    ("test.nested", [[1, 2], [3]], V.ARRAY, V.ARRAY),
]


def random_blocks(rng, name):
    """(ROWS, bytes per row) uint8 of valid blocks of type `name`."""
    qtype = Q[name]
    block, size = gguf.GGML_QUANT_SIZES[qtype]
    n_blocks = ROWS * COLS // block
    if name == "F32":
        return rng.standard_normal(ROWS * COLS).astype(np.float32).view(np.uint8).reshape(ROWS, -1)
    if name == "F16":
        vals = (rng.standard_normal(ROWS * COLS) * 4).astype(np.float16)
        vals[:4] = np.array([6e-8, -1e-5, 65504, 0], dtype=np.float16)  # subnormals, max, zero
        return vals.view(np.uint8).reshape(ROWS, -1)
    if name == "BF16":
        f = rng.standard_normal(ROWS * COLS).astype(np.float32)
        return (f.view(np.uint32) >> 16).astype(np.uint16).view(np.uint8).reshape(ROWS, -1)
    raw = rng.integers(0, 256, size=(n_blocks, size), dtype=np.uint8)
    for off in HALF_FIELDS[name]:
        scale = (rng.uniform(0.001, 0.1, n_blocks) * rng.choice([-1, 1], n_blocks)).astype(np.float16)
        scale[0] = np.uint16(1).view(np.float16)  # the smallest subnormal
        raw[:, off:off + 2] = scale.view(np.uint8).reshape(n_blocks, 2)
    return raw.reshape(ROWS, -1)


def write_types():
    rng = np.random.default_rng(20240601)
    path = os.path.join(OUT, "gguf_types.gguf")
    w = gguf.GGUFWriter(path, "test")
    w.add_custom_alignment(64)
    for key, val, vtype, sub in META:
        w.add_key_value(key, val, vtype, sub_type=sub)
    for name in TYPES:
        data = random_blocks(rng, name)
        w.add_tensor("q." + name, data, raw_dtype=Q[name])
        golden = gguf.quants.dequantize(data, Q[name]).astype(np.float32)
        assert golden.shape == (ROWS, COLS) and np.isfinite(golden).all(), name
        w.add_tensor("golden." + name, golden)
    finish(w)
    print("wrote", path, os.path.getsize(path), "bytes")


def write_model_rows(names, rows=4):
    if not os.path.exists(MODEL):
        print("skipped smollm2_rows.gguf: no", MODEL)
        return
    r = gguf.GGUFReader(MODEL)
    by_name = {t.name: t for t in r.tensors}
    path = os.path.join(OUT, "smollm2_rows.gguf")
    w = gguf.GGUFWriter(path, "test")
    for name in names:
        t = by_name[name]
        full = gguf.quants.dequantize(t.data, t.tensor_type).astype(np.float32)
        w.add_tensor(name + ".rows", np.ascontiguousarray(full[:rows]))
        print(name, t.tensor_type.name, full.shape)
    finish(w)
    print("wrote", path, os.path.getsize(path), "bytes")


def finish(w):
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


if __name__ == "__main__":
    os.makedirs(OUT, exist_ok=True)
    write_types()
    write_model_rows(["token_embd.weight", "blk.0.attn_q.weight", "blk.29.ffn_down.weight"])
    sys.exit(0)
