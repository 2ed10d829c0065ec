#!/usr/bin/env python3
"""Independent check of a GPTQ checkpoint written by QATLab (`export MODEL format=gptq|gptq_v2`).

Run by Tests/QATQuantTests/GPTQOracleTests.swift on every test run. It unpacks the GPTQ directory
with numpy, following the layout as AutoGPTQ / GPTQModel define it (not QATLab's code):
  qweight int32 [in*b/32 (padded), out]: for b in {2,4,8} word r holds inputs r*k .. r*k+k-1
      (k = 32/b), input r*k+j at bit offset b*j; for b = 3 each 3-word unit holds 32 inputs:
        word 0: inputs 0-9 at 0,3,..,27, bits 0-1 of input 10 at 30-31
        word 1: bit 2 of input 10 at 0, inputs 11-20 at 1,4,..,28, bit 0 of input 21 at 31
        word 2: bits 1-2 of input 21 at 0-1, inputs 22-31 at 2,5,..,29
  qzeros int32 [n_groups, out*b/32 (padded)]: the same scheme along the output dim;
      checkpoint_format "gptq" stores z-1 (z = (field + 1) & (2^b - 1)), "gptq_v2" stores z
  scales fp16 [n_groups, out], g_idx int32 [in] (act-order: any permutation of groups)
  W[o, i] = scales[g_idx[i], o] * (q[i, o] - z[g_idx[i], o]), computed in float32
and compares every linear, tensor by tensor, with the weight of the same name in QATLab's own
dequantized F32 export of the same model (`export MODEL format=fp`).

Tolerance (the fp16 scale budget): the GPTQ file stores each scale s as h = fp16(s), rounded to
nearest, so |h - s| <= 2^-11 |s| for normal fp16 values and <= 2^-25 below 2^-14 (subnormals).
With d = q - z (an exact small integer) the two weights are fl32(d*h) and fl32(d*s), hence
  |W_oracle - W_fp| <= |d| * (FP16_SCALE_REL * |h| + FP16_SCALE_ABS) + F32_ROUNDING * (|W_oracle| + |W_fp|)
with FP16_SCALE_REL = 2^-11 * (1 + 2^-10) (the bound relative to h rather than s), FP16_SCALE_ABS =
2^-25 and F32_ROUNDING = 2^-24. When the exported model's scales are already fp16 values the
budget's first term is loose and the weights must agree bit for bit; the test asserts that.
Every other tensor (embedding, norms, head, biases) must equal the F32 value rounded to fp16.
Padding (qweight rows past `in`, qzeros fields past `out`) must be zero.

safetensors is parsed here in plain Python + numpy: 8-byte little-endian header length, a JSON
header {name: {dtype, shape, data_offsets}}, then the raw little-endian tensor bytes.

Usage: gptq_unpack_check.py GPTQ_DIR FP_DIR
Prints one JSON object: {"bits", "group_size", "desc_act", "format", "tensors": {name: {"kind":
"linear"|"fp16", "max_abs_diff", "budget_ratio" (worst |diff| / budget; linears only), "exact",
"padding_nonzero" (linears only)}}, "failures": [...]}. Exit status 0 when every tensor is
within its budget, 1 otherwise, 2 on bad usage. Needs numpy only.
"""
import json
import os
import struct
import sys

import numpy as np

FP16_SCALE_REL = 2.0 ** -11 * (1 + 2.0 ** -10)
FP16_SCALE_ABS = 2.0 ** -25
F32_ROUNDING = 2.0 ** -24

DTYPES = {"F16": "<f2", "F32": "<f4", "F64": "<f8", "I32": "<i4", "I64": "<i8", "U8": "u1", "I8": "i1"}
PACKED_SUFFIXES = ("qweight", "qzeros", "scales", "g_idx")


def read_safetensors(path):
    with open(path, "rb") as f:
        blob = f.read()
    (n,) = struct.unpack("<Q", blob[:8])
    header = json.loads(blob[8:8 + n].decode("utf-8"))
    data = blob[8 + n:]
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        if info["dtype"] not in DTYPES:
            raise SystemExit(f"{path}: {name}: dtype {info['dtype']} is not one this oracle reads")
        a, b = info["data_offsets"]
        out[name] = np.frombuffer(data[a:b], dtype=np.dtype(DTYPES[info["dtype"]])).reshape(info["shape"])
    return out


def unpack_along_rows(words, bits, n):
    """words: uint32 [rows, cols] packed along axis 0 -> (values [n, cols], nonzero padding values)."""
    words = words.astype(np.uint64)  # room for the shifts below
    mask = (1 << bits) - 1
    rows, cols = words.shape
    if bits in (2, 4, 8):
        k = 32 // bits
        out = np.zeros((rows * k, cols), dtype=np.int64)
        for j in range(k):
            out[j::k] = (words >> (bits * j)) & mask
    else:
        assert bits == 3, bits
        assert rows % 3 == 0, f"3-bit rows {rows} not a multiple of 3"
        out = np.zeros((rows // 3 * 32, cols), dtype=np.int64)
        for u in range(rows // 3):
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
    assert out.shape[0] >= n, f"{rows} words hold {out.shape[0]} values, fewer than {n}"
    return out[:n], int(np.count_nonzero(out[n:]))


def expected_words(n, bits):
    unit = 32 if bits == 3 else 32 // bits
    return -(-n // unit) * unit * bits // 32


def settings(gptq_dir):
    with open(os.path.join(gptq_dir, "config.json")) as f:
        qc = json.load(f)["quantization_config"]
    with open(os.path.join(gptq_dir, "quantize_config.json")) as f:
        qc2 = json.load(f)
    for key in ("bits", "group_size", "desc_act", "sym", "checkpoint_format", "quant_method"):
        assert qc[key] == qc2[key], f"{key}: config.json {qc[key]} vs quantize_config.json {qc2[key]}"
    assert qc["quant_method"] == "gptq" and qc["checkpoint_format"] in ("gptq", "gptq_v2"), qc
    return qc


def check_linear(q, m, bits, fmt, group_size, ref):
    qweight = q[m + ".qweight"].view(np.uint32)
    qzeros = q[m + ".qzeros"].view(np.uint32)
    scales = q[m + ".scales"]
    g_idx = q[m + ".g_idx"].astype(np.int64)
    assert scales.dtype == np.float16, (m, scales.dtype)
    n_in, n_out = g_idx.shape[0], scales.shape[1]
    n_groups = -(-n_in // (n_in if group_size == -1 else group_size))
    assert scales.shape[0] == n_groups, (m, scales.shape, n_groups)
    assert qweight.shape == (expected_words(n_in, bits), n_out), (m, qweight.shape)
    assert qzeros.shape == (n_groups, expected_words(n_out, bits)), (m, qzeros.shape)
    assert g_idx.min() >= 0 and g_idx.max() < n_groups, (m, "g_idx outside the groups")
    codes, pad_q = unpack_along_rows(qweight, bits, n_in)  # [in, out]
    fields, pad_z = unpack_along_rows(np.ascontiguousarray(qzeros.T), bits, n_out)  # [out, groups]
    fields = fields.T
    mask = (1 << bits) - 1
    zeros = (fields + 1) & mask if fmt == "gptq" else fields
    h = scales.astype(np.float32)[g_idx]  # [in, out]
    d = codes.astype(np.float32) - zeros.astype(np.float32)[g_idx]
    w = (d * h).T  # [out, in]
    assert ref.dtype == np.float32 and ref.shape == w.shape, (m, ref.dtype, ref.shape, w.shape)
    diff = np.abs(w.astype(np.float64) - ref.astype(np.float64))
    budget = (np.abs(d) * (FP16_SCALE_REL * np.abs(h.astype(np.float64)) + FP16_SCALE_ABS)).T \
        + F32_ROUNDING * (np.abs(w.astype(np.float64)) + np.abs(ref.astype(np.float64)))
    # a zero budget (d = 0 and both weights 0) allows no difference at all
    ratio = float(np.max(np.divide(diff, budget, out=np.where(diff > 0, np.inf, 0.0), where=budget > 0)))
    return {"kind": "linear", "max_abs_diff": float(diff.max()), "budget_ratio": ratio,
            "exact": bool(np.array_equal(w.view(np.uint32), ref.view(np.uint32))), "padding_nonzero": pad_q + pad_z}


def check(gptq_dir, fp_dir):
    qc = settings(gptq_dir)
    bits, fmt = qc["bits"], qc["checkpoint_format"]
    q = read_safetensors(os.path.join(gptq_dir, "model.safetensors"))
    fp = read_safetensors(os.path.join(fp_dir, "model.safetensors"))
    modules = sorted(k[: -len(".qweight")] for k in q if k.endswith(".qweight"))
    tensors, failures = {}, []
    for m in modules:
        name = m + ".weight"
        if name not in fp:
            failures.append(f"{name}: not in the F32 export")
            continue
        r = check_linear(q, m, bits, fmt, qc["group_size"], fp[name])
        tensors[name] = r
        if r["budget_ratio"] > 1 or r["padding_nonzero"]:
            failures.append(f"{name}: max |diff| {r['max_abs_diff']:.3g} is {r['budget_ratio']:.3g} x the fp16 scale budget, "
                            f"{r['padding_nonzero']} nonzero padding values")
    for k in sorted(k for k in q if k.rsplit(".", 1)[-1] not in PACKED_SUFFIXES):
        if q[k].dtype != np.float16 or k not in fp:
            failures.append(f"{k}: {q[k].dtype} (expected float16), in the F32 export: {k in fp}")
            continue
        rounded = fp[k].astype(np.float16)
        exact = bool(np.array_equal(q[k].view(np.uint16), rounded.view(np.uint16)))
        tensors[k] = {"kind": "fp16", "exact": exact,
                      "max_abs_diff": float(np.max(np.abs(q[k].astype(np.float64) - fp[k].astype(np.float64))))}
        if not exact:
            failures.append(f"{k}: not the fp16 rounding of the F32 export")
    for k in sorted(set(fp) - set(tensors)):
        failures.append(f"{k}: only in the F32 export")
    return {"bits": bits, "group_size": qc["group_size"], "desc_act": qc["desc_act"], "format": fmt,
            "tensors": tensors, "failures": failures}


def main():
    if len(sys.argv) != 3:
        print(__doc__, file=sys.stderr)
        return 2
    report = check(sys.argv[1], sys.argv[2])
    print(json.dumps(report))
    return 1 if report["failures"] else 0


if __name__ == "__main__":
    sys.exit(main())
