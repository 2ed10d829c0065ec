#!/usr/bin/env python3
"""llama.cpp's own model quantizer as the oracle for `quantize format=F` on a whole real model.

QATLab's RTN in llama.cpp's block formats is checked block by block against ggml's
quantize_row_*_ref in the suite (Tests/Oracles/ggml_quant_golden.py, GGMLFormatTests). This script
checks the same claim end to end, on every block linear of a real model, with llama.cpp's
`llama_model_quantize` (what `llama-quantize` runs), no importance matrix, `pure` (every tensor
in the requested type, llama.cpp's own fallback where the input size is not whole super-blocks):

  1. QATLab exports the model as F32 (`export M format=gguf fp=f32 out=F32.gguf`).
  2. llama.cpp quantizes F32.gguf to type F               -> LLAMA.gguf
  3. QATLab quantizes the model in F and exports it         (`q = quantize M format=F`,
     `export q format=gguf out=QAT.gguf`)
  4. this script compares, for every blk.* tensor, the ggml type and the raw bytes.

Run with the llama.cpp venv (Tests/Peers/setup_llamacpp.sh; it also installs `gguf`):
  $HOME/.cache/qatlab/venv-llamacpp/bin/python Tests/Oracles/llamacpp_quantize_check.py \
      F32.gguf QAT.gguf --type q4_k [--work DIR]
With --golden FILE the script also records llama.cpp's result for the suite: FILE (JSON) gets, under
the type's name, every compared tensor's ggml type and the FNV-1a-64-over-words sum of its bytes
(Sources/QATIO/Checksum.swift defines it; fnv1a64w below is an independent Python version), and
LlamaCppQuantizeGoldenTests quantizes the installed model in that type and compares, tensor by
tensor. Other types already in FILE are kept.
Prints one line per tensor type found (`type=Q4_K tensors=30 identical=30`) and a JSON summary
{"type", "tensors", "identical", "type_mismatch", "byte_mismatch", "llama_cpp_version"}; exits 1
if any compared tensor differs.
"""
import argparse
import json
import os
import sys
import tempfile
from collections import Counter

import numpy as np
import gguf

FTYPES = {  # QATLab format name -> llama.cpp file type
    "q4_0": "LLAMA_FTYPE_MOSTLY_Q4_0", "q4_1": "LLAMA_FTYPE_MOSTLY_Q4_1",
    "q5_0": "LLAMA_FTYPE_MOSTLY_Q5_0", "q5_1": "LLAMA_FTYPE_MOSTLY_Q5_1",
    "q8_0": "LLAMA_FTYPE_MOSTLY_Q8_0", "q2_k": "LLAMA_FTYPE_MOSTLY_Q2_K",
    "q3_k": "LLAMA_FTYPE_MOSTLY_Q3_K_S", "q4_k": "LLAMA_FTYPE_MOSTLY_Q4_K_S",
    "q5_k": "LLAMA_FTYPE_MOSTLY_Q5_K_S", "q6_k": "LLAMA_FTYPE_MOSTLY_Q6_K",
}


def llama_quantize(src, dst, fmt, threads):
    import llama_cpp
    params = llama_cpp.llama_model_quantize_default_params()
    params.ftype = getattr(llama_cpp, FTYPES[fmt])
    params.nthread = threads
    params.pure = True            # the requested type everywhere (its fallback where it must)
    rc = llama_cpp.llama_model_quantize(src.encode(), dst.encode(), params)
    if rc != 0:
        raise SystemExit(f"llama_model_quantize({src} -> {fmt}) failed with {rc}")
    return llama_cpp.__version__


def fnv1a64w(data):
    """FNV-1a 64 over little-endian 8-byte words, then the tail bytes, then the byte count."""
    prime, mask = 0x100000001B3, (1 << 64) - 1
    raw = np.ascontiguousarray(data).view(np.uint8).reshape(-1)
    n = raw.size
    h = 0xCBF29CE484222325
    for w in raw[: n - n % 8].view("<u8").tolist():
        h = ((h ^ w) * prime) & mask
    for b in raw[n - n % 8:].tolist():
        h = ((h ^ b) * prime) & mask
    return f"{((h ^ n) * prime) & mask:016x}"


def write_golden(path, fmt, ref, version):
    golden = {}
    if os.path.exists(path):
        with open(path) as f:
            golden = json.load(f)
    golden["llama_cpp_version"] = version
    golden.setdefault("types", {})[fmt] = {
        name: [t.tensor_type.name, fnv1a64w(t.data)] for name, t in sorted(ref.items())
        if t.tensor_type not in (gguf.GGMLQuantizationType.F32, gguf.GGMLQuantizationType.F16)}
    with open(path, "w") as f:
        json.dump(golden, f, indent=1, sort_keys=True)
        f.write("\n")


def block_tensors(path):
    return {t.name: t for t in gguf.GGUFReader(path).tensors if t.name.startswith("blk.")}


def main():
    p = argparse.ArgumentParser(description=__doc__.strip().splitlines()[0])
    p.add_argument("f32", help="QATLab's F32 export of the model")
    p.add_argument("qat", help="QATLab's export of `quantize MODEL format=TYPE`")
    p.add_argument("--type", required=True, choices=sorted(FTYPES))
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--golden", default=None, help="record llama.cpp's tensors' types and sums here for the suite")
    p.add_argument("--work", default=None, help="where llama.cpp's file goes (default: a temporary directory)")
    args = p.parse_args()

    work = args.work or tempfile.mkdtemp(prefix="llamacpp-quantize-")
    os.makedirs(work, exist_ok=True)
    ref_path = os.path.join(work, f"llamacpp-{args.type}.gguf")
    version = llama_quantize(args.f32, ref_path, args.type, args.threads)
    ref, qat = block_tensors(ref_path), block_tensors(args.qat)
    if args.golden:
        write_golden(args.golden, args.type, ref, version)

    counts, identical, type_mismatch, byte_mismatch = Counter(), Counter(), [], []
    for name, r in sorted(ref.items()):
        if r.tensor_type in (gguf.GGMLQuantizationType.F32, gguf.GGMLQuantizationType.F16):
            continue   # norms and biases stay full precision on both sides
        t = qat.get(name)
        kind = r.tensor_type.name
        counts[kind] += 1
        if t is None or t.tensor_type != r.tensor_type:
            type_mismatch.append(f"{name}: llama.cpp {kind}, QATLab {t.tensor_type.name if t is not None else 'missing'}")
            continue
        if np.array_equal(np.asarray(r.data).view(np.uint8), np.asarray(t.data).view(np.uint8)):
            identical[kind] += 1
        else:
            diff = int(np.count_nonzero(np.asarray(r.data).view(np.uint8) != np.asarray(t.data).view(np.uint8)))
            byte_mismatch.append(f"{name} ({kind}): {diff} bytes differ")
    for kind in sorted(counts):
        print(f"type={kind} tensors={counts[kind]} identical={identical[kind]}")
    for line in type_mismatch + byte_mismatch:
        print("  " + line)
    print(json.dumps({"type": args.type, "tensors": sum(counts.values()), "identical": sum(identical.values()),
                      "type_mismatch": len(type_mismatch), "byte_mismatch": len(byte_mismatch),
                      "llama_cpp_version": version}))
    sys.exit(0 if not type_mismatch and not byte_mismatch else 1)


if __name__ == "__main__":
    main()
