#!/usr/bin/env python3
"""Independent check of QATLab's multiple-choice scoring (`mc`), run by
Tests/QATEvalTests/MultipleChoiceTests.swift. Log-likelihoods come from a plain full numpy
forward (llama_reference.forward, float64) of context + continuation[:-1] over a safetensors
model: for each request, the sum over the continuation tokens of log softmax(logits)[token].

Two modes:
  mc_oracle.py MODEL_DIR REQUESTS.json
      REQUESTS.json: [{"context": [ids], "continuation": [ids]}, ...]; prints one JSON list of
      log-likelihoods, in order.
  mc_oracle.py MODEL_DIR --task TASK.jsonl [--shots K] [--seed S] [--limit N]
      Scores a JSONL task of generic items ({"context", "choices", "gold"}) end to end, deciding
      itself which items are scored and which are shots, following lm-evaluation-harness:
        - every item is scored (the first N with --limit);
        - the few-shot examples come from the task's train split when it has one, else (a test
          split) its validation split, else from the task's own other items, never the item
          itself nor an equal item. A file DIR/P<sep><split>.jsonl (<sep> in _ - .; <split> in
          test, validation, valid, val, dev) has a train split when DIR/P<sep>train.jsonl
          exists; a test file's validation split is the first of DIR/P<sep>validation|valid|
          val|dev.jsonl;
        - item i's examples: generator xoshiro256** (Blackman & Vigna), its four words of state
          the first four outputs of splitmix64 from (seed + i * 0x2545F4914F6CDD1D) mod 2^64; the
          candidates in file order, then for j in 0..<K swap candidate j with candidate
          j + next() % (n - j); the first K are the examples, in that order;
        - the prompt: each example's context + " " + its gold choice, then a blank line, then
          the item's context; continuations " " + choice (lm-eval's target delimiter);
        - encoding as lm-eval's _encode_pair: trailing spaces of the context move to the
          continuation; the model's tokenizer must be QATLab's byte tokenizer
          ("qatlab_tokenizer": "byte": token = UTF-8 byte), an empty context is [BOS];
        - acc = mean [first argmax LL == gold], acc_norm = mean [first argmax LL / len(cont) ==
          gold] (lm-eval divides by the continuation's length in characters), stderr =
          sqrt(p (1 - p) / (n - 1)).
      Prints {"n", "correct", "correct_norm" (item counts), "acc", "acc_norm", "acc_stderr", "shots_from" (a path or null), "shots"
      ([[candidate indices]] per item), "loglik" ([[LL per choice]] per item)}.
Needs numpy only (the safetensors file is read here: 8-byte little-endian header length, JSON
header, raw little-endian tensors)."""
import json
import math
import os
import struct
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import llama_reference as ref  # noqa: E402
from xoshiro import Xoshiro256StarStar  # noqa: E402

DTYPES = {"F32": np.float32, "F16": np.float16, "F64": np.float64}
MASK64 = (1 << 64) - 1
ITEM_SEED_STEP = 0x2545F4914F6CDD1D
EVAL_SPLITS = ["test", "validation", "valid", "val", "dev"]


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
    return model, cfg


def loglik(model, context, continuation):
    ids = list(context) + list(continuation[:-1])
    logits = ref.forward(model, ids)[len(context) - 1:]
    m = logits.max(axis=-1, keepdims=True)
    logp = logits - (m + np.log(np.exp(logits - m).sum(axis=-1, keepdims=True)))
    return float(sum(logp[i, t] for i, t in enumerate(continuation)))


def read_items(path):
    items = []
    with open(path, encoding="utf-8") as f:
        for line in f:
            if line.strip():
                o = json.loads(line)
                items.append((o["context"], [" " + c for c in o["choices"]], int(o["gold"])))
    return items


def few_shot_split_path(path):
    directory, name = os.path.split(path)
    if not name.endswith(".jsonl"):
        return None
    base = name[: -len(".jsonl")]
    for split in EVAL_SPLITS:
        for sep in "_-.":
            if base.endswith(sep + split):
                prefix = base[: -len(split)]
                for other in ["train"] + (EVAL_SPLITS[1:] if split == "test" else []):
                    candidate = os.path.join(directory, prefix + other + ".jsonl")
                    if os.path.exists(candidate):
                        return candidate
                return None
    return None


def draw_shots(items, split, i, k, seed):
    if k == 0:
        return []
    if split is not None:
        candidates = list(range(len(split)))
    else:
        candidates = [j for j in range(len(items)) if j != i and items[j] != items[i]]
    assert len(candidates) >= k, f"item {i}: {len(candidates)} candidates for {k} shots"
    rng = Xoshiro256StarStar((seed + i * ITEM_SEED_STEP) & MASK64)
    for j in range(k):
        r = j + rng.next() % (len(candidates) - j)
        candidates[j], candidates[r] = candidates[r], candidates[j]
    return candidates[:k]


def encode_pair(context, continuation, bos):
    while context.endswith(" "):
        context, continuation = context[:-1], " " + continuation
    ctx = list(context.encode("utf-8")) or [bos]
    return ctx, list(continuation.encode("utf-8"))


def first_argmax(values):
    return max(range(len(values)), key=lambda j: (values[j], -j))


def score_task(model, cfg, path, shots, seed, limit):
    assert cfg.get("qatlab_tokenizer") == "byte", "task mode needs QATLab's byte tokenizer model"
    items = read_items(path)
    split_path = few_shot_split_path(path)
    split = read_items(split_path) if split_path else None
    pool = split if split is not None else items
    scored = items[:limit] if limit else items
    all_shots, all_ll, correct, correct_norm = [], [], 0, 0
    for i, (context, choices, gold) in enumerate(scored):
        picks = draw_shots(items, split, i, shots, seed)
        prefix = "".join(pool[j][0] + pool[j][1][pool[j][2]] + "\n\n" for j in picks)
        ll = []
        for cont in choices:
            c, k = encode_pair(prefix + context, cont, int(cfg["bos_token_id"]))
            assert len(c) + len(k) <= int(cfg["max_position_embeddings"]), f"item {i} is longer than the model's positions"
            ll.append(loglik(model, c, k))
        correct += int(first_argmax(ll) == gold)
        correct_norm += int(first_argmax([v / len(cont) for v, cont in zip(ll, choices)]) == gold)
        all_shots.append(picks)
        all_ll.append(ll)
    n = len(scored)
    acc, acc_norm = correct / n, correct_norm / n
    return {"n": n, "correct": correct, "correct_norm": correct_norm, "acc": acc, "acc_norm": acc_norm, "acc_stderr": math.sqrt(acc * (1 - acc) / (n - 1)) if n > 1 else 0.0,
            "shots_from": split_path, "shots": all_shots, "loglik": all_ll}


def main():
    args = sys.argv[1:]
    if len(args) >= 3 and args[1] == "--task":
        opts = dict(zip(args[3::2], args[4::2]))
        model, cfg = load(args[0])
        print(json.dumps(score_task(model, cfg, args[2], int(opts.get("--shots", 0)), int(opts.get("--seed", 1)),
                                    int(opts["--limit"]) if "--limit" in opts else None)))
        return 0
    if len(args) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    model, _ = load(args[0])
    with open(args[1]) as f:
        requests = json.load(f)
    print(json.dumps([loglik(model, r["context"], r["continuation"]) for r in requests]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
