"""The inference peers: transformers' LlamaForCausalLM on the model QATLab benchmarks.

Loading: a .gguf file goes through transformers' own GGUF reader (dequantized to fp32 exactly as
QATLab dequantizes it; `from_pretrained(gguf_file=)` would need `accelerate`, which the venv does
not carry, so the model is built from the GGUF's config and its state dict loaded by hand); a
directory goes through `from_pretrained` (a Hugging Face checkpoint, or QATLab's
`export ... format=fp` safetensors directory).

Each measure_* returns a dict of the fields of the peer line (torch_peer.py prints it). Timing:
one untimed warm-up, then the best of `repeats` runs, as QATLab's bench keeps the best.
"""
import math
import os
import time

import torch


def load_model(path):
    """LlamaForCausalLM in fp32, eval mode, attention through torch's SDPA (its fastest CPU path)."""
    from transformers import LlamaConfig, LlamaForCausalLM

    if path.endswith(".gguf"):
        from transformers.modeling_gguf_pytorch_utils import load_gguf_checkpoint

        config = load_gguf_checkpoint(path)["config"]
        if config.get("model_type") not in ("llama", None):
            raise ValueError(f"{path} holds a {config.get('model_type')} model; the peer runs LLaMA-family GGUFs only")
        model = LlamaForCausalLM(LlamaConfig(**config, attn_implementation="sdpa"))
        tensors = load_gguf_checkpoint(path, return_tensors=True, model_to_load=model)["tensors"]
        result = model.load_state_dict({k: torch.as_tensor(v) for k, v in tensors.items()}, strict=False)
        # a tied head is the embedding itself, so only lm_head.weight may be absent
        missing = [k for k in result.missing_keys if not (k == "lm_head.weight" and model.config.tie_word_embeddings)]
        if missing or result.unexpected_keys:
            raise ValueError(f"GGUF tensors do not match the model: missing {missing[:4]}, unexpected {result.unexpected_keys[:4]}")
    elif os.path.isdir(path):
        model = LlamaForCausalLM.from_pretrained(path, dtype=torch.float32, attn_implementation="sdpa")
    else:
        raise ValueError(f"{path} is neither a .gguf file nor a checkpoint directory")
    return model.float().eval()


def autocast(dtype):
    """bf16: torch's CPU autocast (matmuls in bf16, reductions in fp32); fp32: nothing."""
    if dtype == "bf16":
        return torch.autocast("cpu", dtype=torch.bfloat16)
    return torch.autocast("cpu", enabled=False)


def best_time(run, repeats):
    """One warm-up, then the best of `repeats` timed calls of run()."""
    run()
    best = math.inf
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        best = min(best, time.perf_counter() - start)
    return best


def random_tokens(count, vocab, seed):
    g = torch.Generator().manual_seed(seed)
    return torch.randint(0, vocab, (count,), generator=g)


def measure_prefill(model, seq, repeats, dtype):
    """`bench model`: one forward of 1 x seq tokens, logits for every position."""
    ids = random_tokens(seq, model.config.vocab_size, 9).unsqueeze(0)

    def run():
        with torch.inference_mode(), autocast(dtype):
            model(input_ids=ids, use_cache=False)

    seconds = best_time(run, repeats)
    return {"batch": 1, "seq": seq, "seconds": seconds, "tok_per_s": seq / seconds}


def window_nll(model, window, dtype):
    """Summed next-token NLL of one window (positions 0..T-2 predict 1..T-1), in fp64."""
    with torch.inference_mode(), autocast(dtype):
        logits = model(input_ids=window.unsqueeze(0), use_cache=False).logits[0]
    logp = torch.log_softmax(logits.float(), dim=-1)
    return -logp[:-1].gather(1, window[1:].unsqueeze(1)).double().sum().item()


def measure_eval(model, seq, windows, repeats, dtype, tokens=None):
    """`bench eval`'s perplexity: `windows` windows of seq tokens, each its own forward, every
    token of every window counted. With QATLab's tokens, the perplexity checks the two runs
    score the same model."""
    if tokens is None:
        tokens = random_tokens(seq * windows, model.config.vocab_size, 11)
    if tokens.numel() < seq * windows:
        raise ValueError(f"{tokens.numel()} tokens given; {windows} windows of {seq} need {seq * windows}")
    cut = [tokens[w * seq:(w + 1) * seq] for w in range(windows)]
    total = [0.0]

    def run():
        total[0] = sum(window_nll(model, w, dtype) for w in cut)

    seconds = best_time(run, repeats)
    ppl = math.exp(total[0] / (windows * (seq - 1)))
    return {"batch": 1, "seq": seq, "windows": windows, "seconds": seconds,
            "tok_per_s": windows * seq / seconds, "ppl": ppl}


def greedy_decode(model, prompt, new_tokens, dtype):
    """Prefill the prompt into transformers' KV cache, then new_tokens greedy steps of one token.
    Returns (prefill seconds, decode seconds, tokens)."""
    from transformers import DynamicCache

    with torch.inference_mode(), autocast(dtype):
        cache = DynamicCache(config=model.config)
        start = time.perf_counter()
        out = model(input_ids=prompt.unsqueeze(0), cache=cache, use_cache=True)
        nxt = out.logits[0, -1].argmax()
        prefill = time.perf_counter() - start
        produced = [int(nxt)]
        start = time.perf_counter()
        for _ in range(new_tokens - 1):
            out = model(input_ids=nxt.view(1, 1), cache=cache, use_cache=True)
            nxt = out.logits[0, -1].argmax()
            produced.append(int(nxt))
        decode = time.perf_counter() - start
    return prefill, decode, produced


def measure_decode(model, prompt_tokens, new_tokens, repeats, dtype):
    """Greedy decoding with the KV cache after a prompt of random tokens. tok_per_s is the decode
    rate: the new_tokens - 1 tokens after the first (which the prefill produces) over their time."""
    if new_tokens < 2:
        raise ValueError(f"new_tokens={new_tokens}; decoding needs at least 2 to time a step")
    prompt = random_tokens(prompt_tokens, model.config.vocab_size, 13)
    greedy_decode(model, prompt, 4, dtype)   # warm-up
    best_prefill, best_decode = math.inf, math.inf
    for _ in range(repeats):
        p, d, _ = greedy_decode(model, prompt, new_tokens, dtype)
        best_prefill, best_decode = min(best_prefill, p), min(best_decode, d)
    return {"batch": 1, "prompt_tokens": prompt_tokens, "new_tokens": new_tokens, "seconds": best_decode,
            "prefill_tok_per_s": prompt_tokens / best_prefill, "tok_per_s": (new_tokens - 1) / best_decode}


def measure_mm(repeats):
    """torch.mm GFLOP/s on 2048 x 2048 x 2048 fp32, the twin of QATLab's sgemm line."""
    g = torch.Generator().manual_seed(1)
    a, b = torch.randn(2048, 2048, generator=g), torch.randn(2048, 2048, generator=g)
    seconds = best_time(lambda: torch.mm(a, b), repeats)
    return 2 * 2048 ** 3 / seconds / 1e9
