#!/usr/bin/env python3
"""Independent check of a GGUF file written by QATLab (`export MODEL format=gguf`).

Run by Tests/QATQuantTests/GGUFExportOracleTests.swift. It reads the file with llama.cpp's own
Python package `gguf` (GGUFReader, and gguf.quants.dequantize for every block type), not with
QATLab's reader, and compares every tensor with the weight of the same model in QATLab's
dequantized F32 export (`export MODEL format=fp`: a Hugging Face directory, rotate-half q/k rows).

Names: the Hugging Face name of each GGUF tensor, as llama.cpp's convert_hf_to_gguf.py maps them
(token_embd <- model.embed_tokens, output_norm <- model.norm, output <- lm_head, blk.N.attn_norm <-
input_layernorm, ffn_norm <- post_attention_layernorm, attn_q/k/v/output <- self_attn.q/k/v/o_proj,
ffn_gate/up/down <- mlp.gate/up/down_proj). For general.architecture "llama" the converter
permutes q and k (weights and biases) for llama.cpp's interleaved RoPE:
  w.reshape(heads, 2, rows // heads // 2, ...).swapaxes(1, 2).reshape(w.shape)
with heads = attention.head_count for q and attention.head_count_kv for k; the reference gets the
same permutation here. "qwen2" and "qwen3" are not permuted; qwen3's blk.N.attn_q_norm/attn_k_norm
<- self_attn.q_norm/k_norm. Every Hugging Face tensor must have exactly one GGUF tensor and the
reverse, except rope_freqs.weight (llama.cpp's converter writes it for config.json rope_scaling
"llama3"): it is compared with the divisors computed here from config.json by transformers'
formula (wavelength 2 pi theta^(2i/D) against original_max_position_embeddings / low_freq_factor
and / high_freq_factor), to float32 rounding.

Tolerances:
  F32   bit for bit.
  F16   equal to numpy's float16 rounding (nearest even) of the F32 value.
  BF16  equal to the F32 value rounded to nearest even on its top 16 bits.
  Q4_0, Q5_0, Q8_0 (w = d * (q - c)), Q4_1, Q5_1 (w = d * q + m): QATLab's weight is (q - z) * s
      with s and -s*z stored as the fp16 d and m, each within 2^-11 of its own magnitude (nearest
      rounding, normal range), so per element
        |w_gguf - w_ref| <= 2^-11 (1 + 2^-10) (QMAX |d| + |m|) + 2^-24 (|w_gguf| + |w_ref|) + 2^-24
      with QMAX the largest |code| the type multiplies d by (8, 16, 128, 15, 31) and the last two
      terms the fp32 roundings of both sides (2^-24: absolute slack for subnormal d). d and m are
      read from the raw blocks here (byte offsets 0 and 2 of each block, ggml-common.h).
  Q2_K, Q3_K, Q4_K, Q5_K, Q6_K, IQ4_NL: written only from a linear quantized in that llama.cpp
      format (quantize / blockap / e2eqp format=F), whose weight is ggml's decoding of the very bytes
      exported: bit for bit.
  Metadata: general.architecture is llama, qwen2 or qwen3, and ARCH.block_count, .embedding_length,
      .attention.head_count(_kv), .feed_forward_length, .vocab_size agree with config.json.

Usage: gguf_check.py FILE.gguf FP_DIR [GGUF_PYTHON_PATH]
Prints one JSON object {"architecture", "tensors": {gguf name: {"type", "max_abs_diff",
"budget_ratio" (quantized only), "exact"}}, "failures": [...]}; exit status 0 when every tensor is
within its tolerance, 1 otherwise, 2 on bad usage. Needs numpy, pyyaml and the gguf package
(setup.sh unpacks it into Tests/Oracles/.deps, which is put on sys.path).
"""
import json
import os
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, ".deps"))

from gptq_unpack_check import read_safetensors  # noqa: E402  (the plain-numpy safetensors reader)

# type name -> (largest |code| multiplied by d, has m at byte offset 2)
BLOCK_TYPES = {"Q4_0": (8, False), "Q5_0": (16, False), "Q8_0": (128, False), "Q4_1": (15, True), "Q5_1": (31, True)}
# types QATLab writes only as a format quantizer's own blocks (exact by construction)
OWN_BLOCK_TYPES = {"Q2_K", "Q3_K", "Q4_K", "Q5_K", "Q6_K", "IQ4_NL"}
FP16_REL = 2.0 ** -11 * (1 + 2.0 ** -10)
F32_ROUND = 2.0 ** -24

HF_OF = {"attn_norm": "input_layernorm", "ffn_norm": "post_attention_layernorm",
         "attn_q": "self_attn.q_proj", "attn_k": "self_attn.k_proj", "attn_v": "self_attn.v_proj",
         "attn_output": "self_attn.o_proj", "ffn_gate": "mlp.gate_proj", "ffn_up": "mlp.up_proj",
         "ffn_down": "mlp.down_proj", "attn_q_norm": "self_attn.q_norm", "attn_k_norm": "self_attn.k_norm"}


def hf_name(name):
    top = {"token_embd.weight": "model.embed_tokens.weight", "output_norm.weight": "model.norm.weight",
           "output.weight": "lm_head.weight", "rope_freqs.weight": "rope_freqs.weight"}
    if name in top:
        return top[name]
    parts = name.split(".")   # blk N kind weight|bias
    if len(parts) != 4 or parts[0] != "blk" or parts[2] not in HF_OF:
        return None
    return f"model.layers.{parts[1]}.{HF_OF[parts[2]]}.{parts[3]}"


def llama3_rope_factors(config):
    """The D/2 frequency divisors of config.json's llama3 rope scaling, None without one."""
    scaling = config.get("rope_scaling") or config.get("rope_parameters") or {}
    if scaling.get("rope_type", scaling.get("type")) != "llama3":
        return None
    theta = config.get("rope_theta") or scaling["rope_theta"]
    d = config.get("head_dim") or config["hidden_size"] // config["num_attention_heads"]
    original, low, high, factor = (scaling["original_max_position_embeddings"], scaling["low_freq_factor"],
                                   scaling["high_freq_factor"], scaling["factor"])
    wavelength = 2 * np.pi * theta ** (np.arange(0, d, 2, dtype=np.float64) / d)
    smooth = (original / wavelength - low) / (high - low)
    return np.where(wavelength < original / high, 1.0,
                    np.where(wavelength > original / low, factor, 1 / ((1 - smooth) / factor + smooth)))


def permute(w, heads):
    return w.reshape(heads, 2, w.shape[0] // heads // 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)


def bf16_round(x):
    bits = np.ascontiguousarray(x, dtype=np.float32).view(np.uint32).astype(np.uint64)
    rounded = ((bits + 0x7FFF + ((bits >> 16) & 1)) >> 16) << 16
    return rounded.astype(np.uint32).view(np.float32)


def block_budget(raw, type_name, rows, cols, got, ref):
    qmax, has_m = BLOCK_TYPES[type_name]
    blocks = raw.reshape(rows, cols // 32, -1)
    d = np.abs(blocks[:, :, 0:2].copy().view(np.float16).astype(np.float64))[:, :, 0]
    m = np.abs(blocks[:, :, 2:4].copy().view(np.float16).astype(np.float64))[:, :, 0] if has_m else 0 * d
    per_block = FP16_REL * (qmax * d + m)
    return np.repeat(per_block, 32, axis=1) + F32_ROUND * (np.abs(got) + np.abs(ref)) + F32_ROUND


def check(path, fp_dir):
    import gguf
    from gguf.quants import dequantize
    reader = gguf.GGUFReader(path)
    fields = {k: f.contents() for k, f in reader.fields.items() if not k.startswith("tokenizer.ggml.")}
    arch = fields.get("general.architecture")
    failures = []
    if arch not in ("llama", "qwen2", "qwen3"):
        failures.append(f"general.architecture is {arch!r}, expected llama, qwen2 or qwen3")
    with open(os.path.join(fp_dir, "config.json")) as f:
        config = json.load(f)
    for key, hf in [("block_count", "num_hidden_layers"), ("embedding_length", "hidden_size"),
                    ("attention.head_count", "num_attention_heads"), ("attention.head_count_kv", "num_key_value_heads"),
                    ("feed_forward_length", "intermediate_size"), ("vocab_size", "vocab_size")]:
        if fields.get(f"{arch}.{key}") != config.get(hf):
            failures.append(f"{arch}.{key} = {fields.get(f'{arch}.{key}')} but config.json {hf} = {config.get(hf)}")
    heads, kv_heads = fields.get(f"{arch}.attention.head_count"), fields.get(f"{arch}.attention.head_count_kv")
    reference = dict(read_safetensors(os.path.join(fp_dir, "model.safetensors")))
    factors = llama3_rope_factors(config)
    if factors is not None:
        reference["rope_freqs.weight"] = factors.astype(np.float32)
    seen, report = set(), {}
    for t in reader.tensors:
        name, type_name = t.name, t.tensor_type.name
        hf = hf_name(name)
        if hf is None or hf not in reference:
            failures.append(f"{name}: no tensor {hf} in the reference")
            continue
        seen.add(hf)
        ref = np.asarray(reference[hf], dtype=np.float32)
        if arch == "llama" and (".attn_q." in name or ".attn_k." in name):
            ref = permute(ref, heads if ".attn_q." in name else kv_heads)
        got = dequantize(t.data, t.tensor_type).astype(np.float32).reshape(ref.shape)
        diff = np.abs(got.astype(np.float64) - ref.astype(np.float64))
        entry = {"type": type_name, "max_abs_diff": float(diff.max(initial=0.0))}
        if name == "rope_freqs.weight":   # computed, not stored: both sides round a float64 to float32
            ok = type_name == "F32" and bool(np.all(diff <= 2.0 ** -23 * np.abs(ref.astype(np.float64))))
        elif type_name == "F32":
            ok = np.array_equal(got.view(np.uint32), ref.view(np.uint32))
        elif type_name == "F16":
            ok = np.array_equal(got, ref.astype(np.float16).astype(np.float32))
        elif type_name == "BF16":
            ok = np.array_equal(got, bf16_round(ref))
        elif type_name in OWN_BLOCK_TYPES:
            ok = np.array_equal(got.view(np.uint32), ref.view(np.uint32))
        elif type_name in BLOCK_TYPES and ref.ndim == 2:
            budget = block_budget(np.asarray(t.data), type_name, ref.shape[0], ref.shape[1], got, ref)
            ratio = float((diff / budget).max(initial=0.0))
            entry["budget_ratio"] = ratio
            ok = ratio <= 1.0
        else:
            ok = False
            failures.append(f"{name}: type {type_name} is not one this check knows")
        entry["exact"] = bool(np.array_equal(got, ref))
        if not ok and type_name != "unknown":
            failures.append(f"{name} ({type_name}): max |diff| {entry['max_abs_diff']:.3g} outside its tolerance")
        report[name] = entry
    for hf in sorted(set(reference) - seen):
        failures.append(f"{hf}: in the reference but not in the GGUF file")
    return {"architecture": arch, "tensors": report, "failures": failures}


def main():
    if len(sys.argv) not in (3, 4):
        print(__doc__.strip().splitlines()[-6], file=sys.stderr)
        return 2
    if len(sys.argv) == 4:
        sys.path.insert(0, sys.argv[3])
    result = check(sys.argv[1], sys.argv[2])
    print(json.dumps(result))
    return 1 if result["failures"] else 0


if __name__ == "__main__":
    sys.exit(main())
