#!/usr/bin/env python3
"""Golden files for the Qwen2.5-Coder-0.5B fidelity tests (Tests/QATModelTests/QwenTests.swift).

The oracle is Hugging Face transformers, independent of QATLab: it loads the same GGUF file
(transformers' GGUF loader dequantizes every tensor with the `gguf` package to float32 and
converts the GGUF vocabulary into a fast tokenizer), and runs the model in float64 so that the
reference carries no float32 rounding of its own.

Needs the peer venv (Tests/Peers/setup_venv.sh: torch, transformers, gguf) and the installed
model (`QAT_MODELS=qwen2.5-coder-0.5b bash setup.sh`). Run from the repository root:
    $HOME/.cache/qatlab/venv/bin/python Tests/Oracles/qwen_golden.py
Deterministic (no sampling); rerunning rewrites the same files up to float64 summation order.

Writes into Tests/QATModelTests/Golden/:
  qwen0.5b_golden.json      everything below except the full logits rows:
    model, model_bytes, model_sha256   the GGUF the numbers belong to
    prompts[i]: text, ids (HF tokenizer), argmax (at every position), top (at every position, the
                TOP largest logits as [id, logit] pairs, largest first), last_row_index (row of
                the .f32 file holding this prompt's full last-position logits)
    greedy[i]:  text, ids, new_ids (GREEDY tokens of greedy decoding), new_text, min_margin (the
                smallest gap between the best and second-best logit over the steps: a test
                comparing float32 decoding to this needs the gap to be well above its budget)
    tokenizer:  cases of {text, ids, ids_no_special}: HF tokenizer ids with special tokens such as
                <|im_end|> recognised in the text, and with them split as ordinary text
    ppl:        text (a bundled text name), bytes (the excerpt is the text's first `bytes`
                bytes), excerpt_sha256, ctx, windows, tokens, mean_nll, ppl; QATLab's definition
                (Sources/QATModel/Evaluation.swift): non-overlapping windows of ctx, each scored
                on its ctx-1 next-token predictions, ppl = exp(mean NLL over all of them)
  qwen0.5b_last_rows.f32    float32 little-endian, row-major (len(prompts), vocab), no header: the
                            last-position logits of each prompt
"""
import hashlib
import json
import os
import sys

import numpy as np
import torch
from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer
from transformers.modeling_gguf_pytorch_utils import load_gguf_checkpoint

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
OUT = os.path.join(ROOT, "Tests", "QATModelTests", "Golden")
MODEL_DIR = os.path.join(ROOT, "Models")
MODEL_FILE = "Qwen2.5-Coder-0.5B-Instruct.Q5_0.gguf"
TEXT = "gnu-standards"

TOP = 8        # logits kept at every position of a prompt
GREEDY = 16    # tokens of each greedy continuation
PPL_CTX, PPL_WINDOWS = 256, 2

PROMPTS = [
    "def fibonacci(n):\n\tif n < 2:\n\t\treturn n\n\treturn",
    "The capital of France is",
    "快速排序的时间复杂度是",
]
GREEDY_PROMPTS = [
    "def fibonacci(n):",
    "#include <stdio.h>\n\nint main(void) {\n",
]
# Strings where byte-level BPE and the Qwen2 pre-tokenizer (single digits, \p{L} runs, newline
# runs, trailing whitespace) are easy to get wrong.
TOKENIZER_CASES = [
    "def f(x):\n\treturn x  *  2\n\n\n",
    "if (a) {\n        b();\n    }\t\t// done   ",
    "Numbers: 1234567890, 3.14159, -42, 1e-10, 0x1F",
    "机器学习是人工智能的一个分支。",
    "日本語のテキストと한국어 텍스트",
    "Café naïve résumé Ångström façade über",
    "Emoji: 🙂👍🏽 🇫🇷 👨‍👩‍👧 ✓",
    "   leading spaces and trailing   ",
    "mixed\r\nline\rendings\n",
    "<|im_start|>user\nhello<|im_end|>",
    "don't won't I'll we've they're it's",
    "print(\"héllo wörld\")  # コメント",
]


def sha256_file(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def load_model(path):
    """The GGUF as transformers reads it: its config reader and its GGUF tensor loader (dequantized
    by gguf to float32, renamed to transformers' parameter names), run in float64. Called
    directly rather than through from_pretrained(gguf_file=), which also wants `accelerate`."""
    config = AutoConfig.from_pretrained(MODEL_DIR, gguf_file=MODEL_FILE)
    config._attn_implementation = "eager"
    model = AutoModelForCausalLM.from_config(config, dtype=torch.float64)
    tensors = load_gguf_checkpoint(path, return_tensors=True, model_to_load=model)["tensors"]
    missing, unexpected = model.load_state_dict({k: torch.as_tensor(v) for k, v in tensors.items()}, strict=False)
    # rotary inv_freq buffers are computed, not stored; anything else missing is an error
    missing = [k for k in missing if not k.endswith("inv_freq")]
    if missing or unexpected:
        sys.exit(f"GGUF tensors do not cover the model: missing {missing[:5]}, unexpected {unexpected[:5]}")
    return model.eval()


def logits_of(model, ids):
    with torch.no_grad():
        out = model(torch.tensor([ids], dtype=torch.long))
    return out.logits[0].numpy()   # (T, V) float64


def prompt_entry(model, tok, text, row):
    ids = tok.encode(text, add_special_tokens=True)
    logits = logits_of(model, ids)
    top = []
    for r in logits:
        order = np.argsort(-r, kind="stable")[:TOP]
        top.append([[int(j), float(r[j])] for j in order])
    entry = {"text": text, "ids": ids, "argmax": [int(a) for a in logits.argmax(axis=1)], "top": top,
             "last_row_index": row}
    return entry, logits[-1].astype(np.float32)


def greedy_entry(model, tok, text):
    ids = tok.encode(text, add_special_tokens=True)
    seq, margins = list(ids), []
    for _ in range(GREEDY):
        last = logits_of(model, seq)[-1]
        two = np.sort(last)[-2:]
        margins.append(float(two[1] - two[0]))
        seq.append(int(last.argmax()))
        if seq[-1] == tok.eos_token_id:
            break
    new = seq[len(ids):]
    return {"text": text, "ids": ids, "new_ids": new, "new_text": tok.decode(new), "min_margin": min(margins)}


def ppl_entry(model, tok):
    path = os.path.join(ROOT, "Data", "text", TEXT + ".txt")
    with open(path, "rb") as f:
        raw = f.read()
    # the shortest prefix ending at a newline with enough tokens for the windows
    size = 0
    while True:
        size = raw.index(b"\n", size + 1000) + 1
        ids = tok.encode(raw[:size].decode("utf-8"), add_special_tokens=True)
        if len(ids) >= PPL_CTX * PPL_WINDOWS:
            break
    total = 0.0
    for w in range(PPL_WINDOWS):
        window = ids[w * PPL_CTX:(w + 1) * PPL_CTX]
        logits = torch.tensor(logits_of(model, window))
        nll = torch.nn.functional.cross_entropy(logits[:-1], torch.tensor(window[1:]), reduction="sum")
        total += float(nll)
    mean = total / (PPL_WINDOWS * (PPL_CTX - 1))
    return {"text": TEXT, "bytes": size, "excerpt_sha256": hashlib.sha256(raw[:size]).hexdigest(), "ctx": PPL_CTX,
            "windows": PPL_WINDOWS, "tokens": len(ids), "mean_nll": mean, "ppl": float(np.exp(mean))}


def main():
    path = os.path.join(MODEL_DIR, MODEL_FILE)
    if not os.path.exists(path):
        sys.exit(f"{path} is missing: run `QAT_MODELS=qwen2.5-coder-0.5b bash setup.sh` first")
    tok = AutoTokenizer.from_pretrained(MODEL_DIR, gguf_file=MODEL_FILE)
    model = load_model(path)
    prompts, rows = [], []
    for i, text in enumerate(PROMPTS):
        entry, row = prompt_entry(model, tok, text, i)
        prompts.append(entry)
        rows.append(row)
    golden = {
        "model": MODEL_FILE, "model_bytes": os.path.getsize(path), "model_sha256": sha256_file(path),
        "reference": "transformers' GGUF config and tensor loader (weights dequantized to float32 by gguf), Qwen2ForCausalLM run in float64, eager attention",
        "prompts": prompts,
        "last_rows_file": "qwen0.5b_last_rows.f32",
        "last_rows_dtype": "float32 little-endian, row-major (len(prompts), vocab), no header",
        "vocab": int(rows[0].shape[0]),
        "greedy": [greedy_entry(model, tok, t) for t in GREEDY_PROMPTS],
        "tokenizer": [{"text": t, "ids": tok.encode(t, add_special_tokens=True),
                       "ids_no_special": tok.encode(t, add_special_tokens=True, split_special_tokens=True)}
                      for t in TOKENIZER_CASES],
        "ppl": ppl_entry(model, tok),
    }
    np.stack(rows).astype("<f4").tofile(os.path.join(OUT, "qwen0.5b_last_rows.f32"))
    with open(os.path.join(OUT, "qwen0.5b_golden.json"), "w", encoding="utf-8") as f:
        json.dump(golden, f, ensure_ascii=False, indent=1)
        f.write("\n")
    for g in golden["greedy"]:
        print(f"greedy {g['text']!r} -> {g['new_text']!r} (min margin {g['min_margin']:.4f})")
    print(f"ppl {golden['ppl']['ppl']:.4f} on {golden['ppl']['bytes']} bytes of {TEXT}")


if __name__ == "__main__":
    main()
