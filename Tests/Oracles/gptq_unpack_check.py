#!/usr/bin/env python3
"""Independent check of QATLab's GPTQ export (Sources/QATQuant/Packing.swift, GPTQCheckpoint.swift).

Unpacks a GPTQ checkpoint directory with numpy, following the layout as documented for AutoGPTQ
(/work/shared/research/qfa_baselines.md section C.2), not QATLab's code:
  qweight int32 [in*b/32, out]: for b in {2,4,8} word r holds inputs r*k .. r*k+k-1 (k = 32/b),
      input r*k+j at bit offset b*j; for b = 3 each 3-word unit holds 32 inputs:
        word 0: inputs 0-9 at 0,3,..,27, bits 0-1 of input 10 at 30-31
        word 1: bit 2 of input 10 at 0, inputs 11-20 at 1,4,..,28, bit 0 of input 21 at 31
        word 2: bits 1-2 of input 21 at 0-1, inputs 22-31 at 2,5,..,29
  qzeros int32 [n_groups, out*b/32]: the same scheme along the output dim; checkpoint_format
      "gptq" stores z-1 (z = (field + 1) & (2^b - 1)), "gptq_v2" stores z
  scales fp16 [n_groups, out], g_idx int32 [in]
  W[o, i] = scales[g_idx[i], o] * (q[i, o] - z[g_idx[i], o])
and compares every linear with the weight of the same name in a dequantized F32 export of the same
model written by QATLab (directory NAME_fp beside NAME), bit for bit (both computed in float32).
Every other tensor (embedding, norms, head, biases) must equal the F32 value rounded to fp16.

Usage: gptq_unpack_check.py DIR_OR_ROOT [...]
  A GPTQ directory is checked against DIR_fp; a root is searched for GPTQ directories
  (those holding quantize_config.json) whose NAME_fp sibling exists, or, for the committed
  golden directories pack_NAME, against /tmp/qat_pack_oracle/NAME_fp.
Needs numpy and safetensors (pip install numpy safetensors).
"""
import json
import os
import sys

import numpy as np
from safetensors.numpy import load_file

ORACLE_TMP = "/tmp/qat_pack_oracle"


def unpack_along_rows(words, bits, n):
    """words: uint32 [rows, cols] packed along axis 0 -> values [n, cols] (padding dropped)."""
    words = words.astype(np.uint64)  # room for the shifts below
    mask = (1 << bits) - 1
    rows, cols = words.shape
    if bits in (2, 4, 8):
        k = 32 // bits
        out = np.zeros((rows * k, cols), dtype=np.int64)
        for j in range(k):
            out[j::k] = (words >> (bits * j)) & mask
        return out[:n]
    assert bits == 3, bits
    assert rows % 3 == 0, f"3-bit rows {rows} not a multiple of 3"
    units = rows // 3
    out = np.zeros((units * 32, cols), dtype=np.int64)
    for u in range(units):
        w0, w1, w2 = words[3 * u], words[3 * u + 1], words[3 * u + 2]
        base = 32 * u
        for j in range(10):
            out[base + j] = (w0 >> (3 * j)) & 7
        out[base + 10] = ((w0 >> 30) & 3) | ((w1 & 1) << 2)
        for j in range(11, 21):
            out[base + j] = (w1 >> (3 * (j - 11) + 1)) & 7
        out[base + 21] = ((w1 >> 31) & 1) | ((w2 & 3) << 1)
        for j in range(22, 32):
            out[base + j] = (w2 >> (3 * (j - 22) + 2)) & 7
    return out[:n]


def check_pair(gptq_dir, fp_dir):
    with open(os.path.join(gptq_dir, "config.json")) as f:
        qc = json.load(f)["quantization_config"]
    with open(os.path.join(gptq_dir, "quantize_config.json")) as f:
        qc2 = json.load(f)
    for key in ("bits", "group_size", "desc_act", "sym", "checkpoint_format", "quant_method"):
        assert qc[key] == qc2[key], f"{key}: config.json {qc[key]} vs quantize_config.json {qc2[key]}"
    bits, fmt = qc["bits"], qc["checkpoint_format"]
    assert qc["quant_method"] == "gptq" and fmt in ("gptq", "gptq_v2")
    mask = (1 << bits) - 1
    q = load_file(os.path.join(gptq_dir, "model.safetensors"))
    fp = load_file(os.path.join(fp_dir, "model.safetensors"))
    modules = sorted(k[: -len(".qweight")] for k in q if k.endswith(".qweight"))
    worst = 0.0
    zero_zeros = 0
    for m in modules:
        qweight = q[m + ".qweight"].view(np.uint32)
        qzeros = q[m + ".qzeros"].view(np.uint32)
        scales = q[m + ".scales"]
        g_idx = q[m + ".g_idx"].astype(np.int64)
        assert qweight.dtype == np.uint32 and scales.dtype == np.float16
        n_in, n_out = g_idx.shape[0], scales.shape[1]
        codes = unpack_along_rows(qweight, bits, n_in)  # [in, out]
        fields = unpack_along_rows(qzeros.T, bits, n_out).T  # [groups, out]
        zeros = (fields + 1) & mask if fmt == "gptq" else fields
        zero_zeros += int((zeros == 0).sum())
        s = scales.astype(np.float32)[g_idx]  # [in, out]
        z = zeros.astype(np.float32)[g_idx]
        w = ((codes.astype(np.float32) - z) * s).T  # [out, in], float32 like QATLab
        ref = fp[m + ".weight"]
        assert ref.dtype == np.float32 and ref.shape == w.shape, (m, ref.dtype, ref.shape, w.shape)
        diff = float(np.max(np.abs(w - ref)))
        worst = max(worst, diff)
        if not np.array_equal(w.view(np.uint32), ref.view(np.uint32)):
            bad = int((w.view(np.uint32) != ref.view(np.uint32)).sum())
            raise AssertionError(f"{gptq_dir}: {m}: {bad} weights differ, max |diff| {diff}")
    floats = [k for k in q if not k.rsplit(".", 1)[-1] in ("qweight", "qzeros", "scales", "g_idx")]
    for k in floats:
        assert q[k].dtype == np.float16, (k, q[k].dtype)
        assert np.array_equal(q[k].view(np.uint16), fp[k].astype(np.float16).view(np.uint16)), f"{k} is not the fp16 rounding of the F32 export"
    extra = set(fp) - {m + ".weight" for m in modules} - set(floats)
    assert not extra, f"tensors only in the F32 export: {sorted(extra)}"
    print(f"OK {os.path.basename(gptq_dir)}: bits={bits} group_size={qc['group_size']} desc_act={qc['desc_act']} "
          f"format={fmt}: {len(modules)} linears bit-exact (max |diff| {worst}), "
          f"{len(floats)} fp16 tensors exact, {zero_zeros} zero points equal to 0")


def pairs(arg):
    if os.path.exists(os.path.join(arg, "quantize_config.json")):
        yield arg, arg.rstrip("/") + "_fp"
        return
    for name in sorted(os.listdir(arg)):
        d = os.path.join(arg, name)
        if not os.path.exists(os.path.join(d, "quantize_config.json")):
            continue
        fp = d + "_fp"
        if not os.path.isdir(fp) and name.startswith("pack_"):
            fp = os.path.join(ORACLE_TMP, name[len("pack_"):] + "_fp")
        yield d, fp


def main():
    if len(sys.argv) < 2:
        print(__doc__)
        return 2
    n = 0
    for arg in sys.argv[1:]:
        for d, fp in pairs(arg):
            if not os.path.isdir(fp):
                raise SystemExit(f"{d}: no dequantized export at {fp}; run the Swift tests with QAT_WRITE_GOLDEN=1 first")
            check_pair(d, fp)
            n += 1
    print(f"{n} GPTQ directories checked")
    return 0 if n else 1


if __name__ == "__main__":
    sys.exit(main())
