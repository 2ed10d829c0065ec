#!/usr/bin/env python3
"""Golden block bytes for QATLab's quantizers in llama.cpp's formats (Tests/QATQuantTests/GGMLFormatTests.swift).

Oracles, both independent of QATLab:
  legacy types (q4_0 q4_1 q5_0 q5_1 q8_0)  the PyPI `gguf` package's numpy quantizers
                                           (gguf.quants.quantize), cross-checked against ggml's C
                                           quantize_row_*_ref: the script stops if they differ.
  k-quants (q2_k q3_k q4_k q5_k q6_k)      ggml's own quantize_row_*_ref (ggml-quants.c, no
                                           importance matrix), compiled from a ggml source tree
                                           with ggml_quant_harness.c and -ffp-contract=off (the
                                           `gguf` package has no k-quant quantizer).
  iq4_nl (llama.cpp's q2_k/q3_k fallback)  ggml's quantize_iq4_nl with no importance matrix (what
                                           llama.cpp's model quantizer runs; scale search ntry 7),
                                           through the same harness (`gguf` has no iq4_nl
                                           quantizer).
Dequantized values of every golden come from gguf.quants.dequantize (the decoders' oracle).

Input (input.f32, little-endian float32, 6400 values = 25 super-blocks = 200 32-element blocks):
  [0, 3072)     rows 0-1 of blk.0.ffn_down.weight of SmolLM2-135M (1536 inputs each)
  [3072, 5376)  rows 0-3 of blk.0.attn_q.weight (576 inputs each)
  [5376, 6400)  four edge super-blocks: all zeros; 128 zeros then 128 times 0.01; values of
                order 1e-6; one outlier 0.5 among values of order 1e-3 (seeded)
The SmolLM2 rows are read from Models/SmolLM2-135M-Instruct.Q4_1.gguf (the installed model) and
dequantized by `gguf`.

Output, in Tests/QATQuantTests/Golden/ggml/: input.f32, and per format F: F.bin (the blocks) and
F.dequant.f32 (gguf's dequantization of F.bin).

Run from the repository root with the shared venv and a ggml checkout (github.com/ggml-org/ggml,
src/ and include/ are enough):
  $HOME/.cache/qatlab/venv/bin/python Tests/Oracles/ggml_quant_golden.py --ggml /path/to/ggml
The goldens committed were made with gguf 0.19.0 and ggml d99724f2b141fed9e1a9f402213506c081433465.
Deterministic: rerunning rewrites identical files.
"""
import argparse
import os
import subprocess
import sys
import tempfile

import numpy as np
import gguf

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
OUT = os.path.join(ROOT, "Tests", "QATQuantTests", "Golden", "ggml")
MODEL = os.path.join(ROOT, "Models", "SmolLM2-135M-Instruct.Q4_1.gguf")
HERE = os.path.dirname(os.path.abspath(__file__))

LEGACY = {"q4_0": "Q4_0", "q4_1": "Q4_1", "q5_0": "Q5_0", "q5_1": "Q5_1", "q8_0": "Q8_0"}
KQUANTS = {"q2_k": "Q2_K", "q3_k": "Q3_K", "q4_k": "Q4_K", "q5_k": "Q5_K", "q6_k": "Q6_K"}
NONLINEAR = {"iq4_nl": "IQ4_NL"}


def model_rows(name, count):
    reader = gguf.GGUFReader(MODEL)
    for t in reader.tensors:
        if t.name == name:
            values = gguf.quants.dequantize(t.data, t.tensor_type)
            return np.asarray(values, dtype=np.float32)[:count].reshape(-1)
    sys.exit(f"{name} not in {MODEL}")


def edge_blocks():
    rng = np.random.default_rng(28)
    zeros = np.zeros(256, np.float32)
    half = np.concatenate([np.zeros(128, np.float32), np.full(128, 0.01, np.float32)])
    tiny = (rng.standard_normal(256) * 1e-6).astype(np.float32)
    outlier = (rng.standard_normal(256) * 1e-3).astype(np.float32)
    outlier[77] = 0.5
    return np.concatenate([zeros, half, tiny, outlier])


def build_harness(ggml, workdir):
    exe = os.path.join(workdir, "harness")
    cmd = ["gcc", "-O2", "-std=gnu11", "-ffp-contract=off", "-DNDEBUG",
           "-I", os.path.join(ggml, "include"), "-I", os.path.join(ggml, "src"),
           "-I", os.path.join(ggml, "src", "ggml-cpu"),
           os.path.join(HERE, "ggml_quant_harness.c"), os.path.join(HERE, "ggml_quant_stubs.c"),
           os.path.join(ggml, "src", "ggml-quants.c"), "-lm", "-o", exe]
    subprocess.run(cmd, check=True, stderr=subprocess.DEVNULL)
    return exe


def run_harness(exe, fmt, values):
    done = subprocess.run([exe, fmt, str(values.size)], input=values.tobytes(), capture_output=True, check=True)
    return np.frombuffer(done.stdout, dtype=np.uint8)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--ggml", required=True, help="a ggml source tree (src/ggml-quants.c)")
    args = parser.parse_args()
    values = np.concatenate([model_rows("blk.0.ffn_down.weight", 2), model_rows("blk.0.attn_q.weight", 4),
                             edge_blocks()]).astype("<f4")
    assert values.size == 6400
    os.makedirs(OUT, exist_ok=True)
    values.tofile(os.path.join(OUT, "input.f32"))
    with tempfile.TemporaryDirectory() as work:
        exe = build_harness(args.ggml, work)
        for fmt, qname in {**LEGACY, **KQUANTS, **NONLINEAR}.items():
            qtype = gguf.GGMLQuantizationType[qname]
            c_blocks = run_harness(exe, fmt, values)
            if fmt in LEGACY:
                blocks = np.asarray(gguf.quants.quantize(values.reshape(1, -1), qtype)).reshape(-1)
                if not np.array_equal(blocks, c_blocks):
                    sys.exit(f"{fmt}: gguf's quantizer and ggml's quantize_row_{fmt}_ref disagree")
            else:
                blocks = c_blocks
            blocks.tofile(os.path.join(OUT, f"{fmt}.bin"))
            deq = gguf.quants.dequantize(blocks.reshape(1, -1), qtype).reshape(-1).astype("<f4")
            deq.tofile(os.path.join(OUT, f"{fmt}.dequant.f32"))
            err = float(np.sqrt(np.mean((deq - values) ** 2)))
            print(f"{fmt}: {blocks.size} bytes, rms error {err:.3e}")


if __name__ == "__main__":
    main()
