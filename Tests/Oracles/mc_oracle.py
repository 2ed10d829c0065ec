#!/usr/bin/env python3
"""Independent check of QATLab's multiple-choice log-likelihoods: for each request, the sum over
the continuation tokens of log softmax(logits)[token], from a plain full numpy forward
(llama_reference.forward, float64) of context + continuation[:-1] over a safetensors model.

Usage: mc_oracle.py MODEL_DIR REQUESTS.json
  REQUESTS.json: [{"context": [ids], "continuation": [ids]}, ...]
Prints one JSON list of log-likelihoods, in order. Needs numpy only (the safetensors file is read
here: 8-byte little-endian header length, JSON header, raw little-endian tensors)."""
import json
import os
import struct
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import llama_reference as ref  # noqa: E402

DTYPES = {"F32": np.float32, "F16": np.float16, "F64": np.float64}


def read_safetensors(path):
    with open(path, "rb") as f:
        blob = f.read()
    n = struct.unpack("<Q", blob[:8])[0]
    header = json.loads(blob[8:8 + n])
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        a, b = info["data_offsets"]
        raw = np.frombuffer(blob[8 + n + a:8 + n + b], dtype=DTYPES[info["dtype"]])
        out[name] = raw.reshape(info["shape"]).astype(np.float32)
    return out


def load(model_dir):
    with open(os.path.join(model_dir, "config.json")) as f:
        cfg = json.load(f)
    model = ref.Model(ref.hf_config(cfg))
    model.weights.update(read_safetensors(os.path.join(model_dir, "model.safetensors")))
    if cfg.get("tie_word_embeddings", False):
        model.weights.pop("lm_head.weight", None)
    return model


def loglik(model, context, continuation):
    ids = list(context) + list(continuation[:-1])
    logits = ref.forward(model, ids)[len(context) - 1:]
    m = logits.max(axis=-1, keepdims=True)
    logp = logits - (m + np.log(np.exp(logits - m).sum(axis=-1, keepdims=True)))
    return float(sum(logp[i, t] for i, t in enumerate(continuation)))


def main():
    model = load(sys.argv[1])
    with open(sys.argv[2]) as f:
        requests = json.load(f)
    print(json.dumps([loglik(model, r["context"], r["continuation"]) for r in requests]))


if __name__ == "__main__":
    main()
