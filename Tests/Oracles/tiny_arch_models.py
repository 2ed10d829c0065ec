#!/usr/bin/env python3
"""Tiny random models of each architecture QATLab loads, written by transformers itself, with
transformers' logits as the golden reference (Tests/QATModelTests/TinyArchTests.swift).

Needs the peer venv (Tests/Peers/setup_venv.sh: torch, transformers). Run from the repository root:
    $HOME/.cache/qatlab/venv/bin/python Tests/Oracles/tiny_arch_models.py
Deterministic: torch's generator seeded per model; rerunning rewrites the same files.

Writes Tests/QATModelTests/TinyArch/NAME/ for each NAME in MODELS:
  config.json, model.safetensors   model.save_pretrained(): transformers' own config and float32
                                   weights (vocabulary 258, so QATLab reads it with its byte
                                   tokenizer; no tokenizer.json)
  golden.json                      ids (the input), T, V, argmax, the reference, and for a setting
                                   QATLab refuses: "refusal" (a phrase its error must contain) and
                                   "refusal_at" (0: loading is refused; n: an input of n tokens is)
  logits.f32                       float32 little-endian, row-major (T, V), no header: transformers'
                                   logits for `ids`, the model run in float64 (weights are exactly
                                   the stored float32 values)

Weights are drawn N(0, 1) and scaled (matrices by 1/sqrt(fan-in) times 2, norms 1 + 0.2 N,
biases 0.5 N), so the logits spread over several units and a wrong layout shows far above 1e-4.
"""
import json
import math
import os

import numpy as np
import torch
from transformers import (LlamaConfig, LlamaForCausalLM, MistralConfig, MistralForCausalLM, Qwen2Config,
                          Qwen2ForCausalLM, Qwen3Config, Qwen3ForCausalLM)

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
OUT = os.path.join(ROOT, "Tests", "QATModelTests", "TinyArch")

SHAPE = dict(vocab_size=258, hidden_size=64, intermediate_size=96, num_hidden_layers=2, num_attention_heads=4,
             num_key_value_heads=2, head_dim=16, max_position_embeddings=64, rms_norm_eps=1e-6, rope_theta=10000.0,
             bos_token_id=256, eos_token_id=257)
IDS = [256] + list(b"def f(x):\n\treturn x")   # BOS then bytes, 20 tokens

MODELS = {
    # LLaMA with its own LM head
    "llama": (LlamaForCausalLM, LlamaConfig(**SHAPE, tie_word_embeddings=False), {}),
    # Llama-3.2 style: the LM head is the embedding (tie_word_embeddings), rope_theta 500000
    "llama32_tied": (LlamaForCausalLM, LlamaConfig(**{**SHAPE, "rope_theta": 500000.0}, tie_word_embeddings=True), {}),
    # Llama-3.1/3.2 RoPE scaling ("llama3": long wavelengths slowed down by `factor`, a smooth band
    # between). With head_dim 16 and theta 5e5, frequency 0 lies in the smooth band and 1..7 are
    # slowed down, so plain RoPE misses these logits by far more than 1e-4
    "llama3_rope": (LlamaForCausalLM, LlamaConfig(**{k: v for k, v in SHAPE.items() if k != "rope_theta"},
                                                  rope_parameters={"rope_type": "llama3", "rope_theta": 500000.0, "factor": 8.0,
                                                                   "low_freq_factor": 1.0, "high_freq_factor": 4.0,
                                                                   "original_max_position_embeddings": 16},
                                                  tie_word_embeddings=True), {}),
    # Qwen2: q/k/v projections with biases, o_proj without
    "qwen2": (Qwen2ForCausalLM, Qwen2Config(**SHAPE, tie_word_embeddings=False), {}),
    # Mistral with a sliding window as long as the input: full attention, same numbers; a longer
    # input is refused (QATLab does not implement the window)
    "mistral": (MistralForCausalLM, MistralConfig(**SHAPE, sliding_window=len(IDS), tie_word_embeddings=False),
                {"refusal_at": len(IDS) + 1, "refusal": "exceeds the sliding window"}),
    # Qwen3: per-head RMSNorm of q and k (gains of size head_dim) before RoPE, no q/k/v biases, and a
    # head_dim (24) that is not hidden / heads (16), so q_proj is (96, 64)
    "qwen3": (Qwen3ForCausalLM, Qwen3Config(**{**SHAPE, "head_dim": 24}, tie_word_embeddings=False), {}),
}


def randomize(model, generator):
    with torch.no_grad():
        for name, p in model.named_parameters():
            noise = torch.randn(p.shape, generator=generator, dtype=torch.float32)
            if name.endswith("norm.weight"):
                p.copy_(1 + 0.2 * noise)
            elif name.endswith(".bias"):
                p.copy_(0.5 * noise)
            else:
                p.copy_(noise * 2 / math.sqrt(p.shape[-1]))


def main():
    for i, (name, (cls, config, extra)) in enumerate(MODELS.items()):
        torch.manual_seed(0)
        model = cls(config).float()
        randomize(model, torch.Generator().manual_seed(1000 + i))
        out = os.path.join(OUT, name)
        os.makedirs(out, exist_ok=True)
        model.save_pretrained(out, safe_serialization=True)
        gen = os.path.join(out, "generation_config.json")
        if os.path.exists(gen):
            os.remove(gen)
        with torch.no_grad():
            logits = model.double()(torch.tensor([IDS])).logits[0].numpy()
        logits.astype("<f4").tofile(os.path.join(out, "logits.f32"))
        golden = {"ids": IDS, "T": len(IDS), "V": SHAPE["vocab_size"], "logits_file": "logits.f32",
                  "reference": f"transformers {cls.__name__}, float64 forward of the stored float32 weights",
                  "argmax": [int(a) for a in logits.argmax(axis=1)], **extra}
        with open(os.path.join(out, "golden.json"), "w") as f:
            json.dump(golden, f, indent=1)
            f.write("\n")
        print(f"{name}: max |logit| {np.abs(logits).max():.3f}, files in {out}")


if __name__ == "__main__":
    main()
