#!/usr/bin/env python3
"""Golden logits for the QATModel tests (issue 3 acceptance: max |d| <= 1e-3, same argmax).

The reference is llama_reference.py (numpy, float64 activations, HF LlamaForCausalLM semantics),
independent of QATLab. Needs `pip install gguf safetensors tokenizers numpy`.

Run from the repository root:
    python3 Tests/Oracles/llama_golden.py [--model GGUF] [--tiny DIR --ids 1,2,3]
The SmolLM2 golden is written when the git-ignored model file exists (default
Models/SmolLM2-135M-Instruct.Q4_1.gguf); the tiny golden when --tiny names an existing HF
directory (config.json + model.safetensors), else it is skipped with a message.

Writes, under Tests/QATModelTests/Golden/:
  1. logits_smollm2.f32   raw little-endian float32, row-major (T, V): the full-vocabulary logits
                          of every position of the prompt (no header; T and V are in the JSON).
  2. logits_smollm2.json  {prompt, ids, T, V, logits_file, logits_dtype, argmax [T],
                          next_token_nll_mean (float64 mean over t=0..T-2 of
                          -log softmax(logits[t])[ids[t+1]]), greedy_ids, greedy_text,
                          model (path relative to the repo), model_sha256, reference (precision)}.
  3. logits_tiny.f32 / logits_tiny.json   the same for --tiny DIR with the given --ids
                          (prompt is null, model is the directory, model_sha256 that of
                          model.safetensors).
Deterministic: rerunning on the same model rewrites identical files.
"""
import argparse
import hashlib
import json
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import llama_reference as ref  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
OUT = os.path.join(ROOT, "Tests", "QATModelTests", "Golden")
SMOLLM2 = os.path.join(ROOT, "Models", "SmolLM2-135M-Instruct.Q4_1.gguf")
PROMPT = "The capital of France is"
GREEDY_STEPS = 5
PRECISION = ("numpy llama_reference.py: float32 weights (dequantized by gguf.quants), float64 "
             "activations, matmuls and softmax; logits rounded to float32")


def sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def gguf_tokenizer(path):
    """Byte-level BPE from the GGUF's tokenizer.ggml.tokens / merges (HF `tokenizers`). Plain
    GPT-2 pre-tokenization: enough for the ASCII prompt (the smollm digit split is irrelevant)."""
    import gguf
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers
    reader = gguf.GGUFReader(path)
    tokens = reader.fields["tokenizer.ggml.tokens"].contents()
    merges = [tuple(m.split(" ", 1)) for m in reader.fields["tokenizer.ggml.merges"].contents()]
    tok = Tokenizer(models.BPE({t: i for i, t in enumerate(tokens)}, merges))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    return tok, tokens


def golden(model, ids, name, extra):
    """Runs the reference on ids and writes logits_<name>.f32 / .json; returns the JSON dict."""
    t0 = time.time()
    logits64 = ref.forward(model, ids)
    logits = logits64.astype("<f4")
    T, V = logits.shape
    record = {
        "ids": [int(i) for i in ids], "T": T, "V": V,
        "logits_file": f"logits_{name}.f32",
        "logits_dtype": "float32 little-endian, row-major (T, V), no header",
        "argmax": [int(a) for a in logits64.argmax(axis=-1)],
        "next_token_nll_mean": ref.next_token_nll(logits64, list(ids)),
        "max_abs_logit": float(np.abs(logits64).max()),
        "reference": PRECISION,
    }
    record.update(extra)
    os.makedirs(OUT, exist_ok=True)
    with open(os.path.join(OUT, record["logits_file"]), "wb") as f:
        f.write(logits.tobytes())
    with open(os.path.join(OUT, f"logits_{name}.json"), "w") as f:
        json.dump(record, f, indent=1, ensure_ascii=False)
        f.write("\n")
    print(f"{name}: T={T} V={V} argmax={record['argmax']} "
          f"nll={record['next_token_nll_mean']:.6f} ({time.time() - t0:.1f}s forward)")
    return record


def smollm2_golden(path):
    t0 = time.time()
    tok, tokens = gguf_tokenizer(path)
    ids = tok.encode(PROMPT).ids
    vocab = {t: i for i, t in enumerate(tokens)}
    looked_up = [vocab[p] for p in ("The", "\u0120capital", "\u0120of", "\u0120France", "\u0120is")]
    if ids != looked_up:
        raise SystemExit(f"tokenizer ids {ids} differ from the vocabulary look-up {looked_up}")
    model = ref.load_gguf(path)
    print(f"loaded {path} in {time.time() - t0:.1f}s; ids={ids}")
    full = ref.greedy(model, ids, GREEDY_STEPS)
    cont = full[len(ids):]
    text = tok.decode(cont)
    print(f"greedy continuation ids={cont} text={text!r}")
    extra = {"prompt": PROMPT, "greedy_ids": cont, "greedy_text": text,
             "model": os.path.relpath(path, ROOT), "model_sha256": sha256(path)}
    rec = golden(model, ids, "smollm2", extra)
    if not text.startswith(" Paris"):
        raise SystemExit(f"sanity check failed: continuation {text!r} does not start with ' Paris'")
    return rec


def tiny_golden(directory, ids):
    """Golden logits for the embedded tiny model (HF directory) on the given token ids."""
    model = ref.load_hf_dir(directory)
    st = os.path.join(directory, "model.safetensors")
    extra = {"prompt": None, "greedy_ids": ref.greedy(model, ids, GREEDY_STEPS)[len(ids):],
             "model": os.path.relpath(os.path.abspath(directory), ROOT),
             "model_sha256": sha256(st) if os.path.exists(st) else None}
    return golden(model, ids, "tiny", extra)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", default=SMOLLM2, help="SmolLM2 GGUF (default: %(default)s)")
    ap.add_argument("--tiny", help="HF directory of the embedded tiny model (e.g. Data/tiny)")
    ap.add_argument("--ids", default="1,2,3", help="comma-separated token ids for --tiny")
    ap.add_argument("--skip-smollm2", action="store_true", help="only write the tiny golden")
    a = ap.parse_args()
    if not a.skip_smollm2:
        if os.path.exists(a.model):
            smollm2_golden(a.model)
        else:
            print(f"skipping SmolLM2 golden: {a.model} not found")
    if a.tiny:
        if os.path.isdir(a.tiny) and os.path.exists(os.path.join(a.tiny, "config.json")):
            tiny_golden(a.tiny, [int(x) for x in a.ids.split(",") if x.strip()])
        else:
            print(f"skipping tiny golden: {a.tiny} is not an HF model directory")


if __name__ == "__main__":
    main()
