#!/usr/bin/env python3
"""Perplexity of a GGUF file computed by llama.cpp itself (through llama-cpp-python), on the same
windows as `qat ppl MODEL TEXT ctx=C max_windows=W`, to judge QATLab's GGUF export.

QATLab's convention (Sources/QATModel/Evaluation.swift): the text is tokenized as one stream (one
BOS at its start when the tokenizer adds one), cut into non-overlapping windows of C tokens (a last
partial window dropped), each window run on its own from an empty context; every position 1..C-1
of a window is predicted from the tokens before it; ppl = exp(mean NLL over all scored tokens).
Here llama.cpp evaluates each window's token ids (a fresh KV cache per window, logits for every
position) and the NLL is computed from its logits in float64 (log-softmax).

The ids: by default the text is tokenized by llama.cpp's tokenizer from the file's own metadata
(tokenizer.ggml.*, BOS as tokenizer.ggml.add_bos_token says, special tokens not parsed, as `qat
ppl` does). With --ids FILE the ids are read from FILE instead (whitespace-separated integers, e.g.
the output of `qat tokenize`), so both sides see exactly the same tokens. The script prints the
token count and the first 16 ids so they can be compared with QATLab's `tokens_in_text=`.

Run with the llama.cpp venv (Tests/Peers/setup_llamacpp.sh builds it; CI does not):
  $HOME/.cache/qatlab/venv-llamacpp/bin/python Tests/Oracles/llamacpp_ppl.py FILE.gguf Data/text/devil.txt \
      --ctx 512 --max-windows 8 [--threads 2] [--ids IDS_FILE]
Prints one JSON line: {"file", "ppl", "mean_nll", "windows", "ctx", "scored_tokens",
"tokens_in_text", "first_ids", "seconds", "llama_cpp_version"}.
"""
import argparse
import json
import math
import time

import numpy as np


def load_ids(llm, args):
    if args.ids:
        with open(args.ids) as f:
            return [int(t) for t in f.read().split()]
    with open(args.text, "rb") as f:
        text = f.read()
    add_bos = llm.metadata.get("tokenizer.ggml.add_bos_token", "false") == "true"
    return llm.tokenize(text, add_bos=add_bos, special=False)


def window_nll(llm, ids):
    """Sum of -log p(ids[i] | ids[:i]) for i in 1..len(ids)-1, from llama.cpp's logits."""
    llm.reset()
    llm.eval(ids)
    logits = np.asarray(llm.scores[: len(ids)], dtype=np.float64)
    total = 0.0
    for i in range(len(ids) - 1):
        row = logits[i]
        top = row.max()
        log_z = top + math.log(np.exp(row - top).sum())
        total += log_z - row[ids[i + 1]]
    return total


def main():
    p = argparse.ArgumentParser(description=__doc__.strip().splitlines()[0])
    p.add_argument("gguf")
    p.add_argument("text")
    p.add_argument("--ctx", type=int, default=512)
    p.add_argument("--max-windows", type=int, default=None)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--ids", default=None)
    args = p.parse_args()

    import llama_cpp
    llm = llama_cpp.Llama(model_path=args.gguf, n_ctx=args.ctx, n_batch=args.ctx, n_ubatch=args.ctx,
                          logits_all=True, n_threads=args.threads, n_threads_batch=args.threads,
                          verbose=False, seed=0)
    ids = load_ids(llm, args)
    windows = len(ids) // args.ctx
    if args.max_windows is not None:
        windows = min(windows, args.max_windows)
    if windows == 0:
        raise SystemExit(f"{args.text}: {len(ids)} tokens, fewer than one window of ctx={args.ctx}")
    start = time.time()
    total = 0.0
    for w in range(windows):
        total += window_nll(llm, ids[w * args.ctx:(w + 1) * args.ctx])
    scored = windows * (args.ctx - 1)
    mean = total / scored
    print(json.dumps({"file": args.gguf, "ppl": math.exp(mean), "mean_nll": mean, "windows": windows, "ctx": args.ctx,
                      "scored_tokens": scored, "tokens_in_text": len(ids), "first_ids": list(ids[:16]),
                      "seconds": round(time.time() - start, 1), "llama_cpp_version": llama_cpp.__version__}))


if __name__ == "__main__":
    main()
