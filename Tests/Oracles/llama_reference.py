#!/usr/bin/env python3
"""Independent numpy reference of the LLaMA-family forward pass (Hugging Face LlamaForCausalLM
semantics), used by llama_golden.py to write golden logits for the Swift model tests.

Precision: weights are kept as float32 (as loaded / dequantized); every activation and every
matmul is computed in float64 (numpy upcasts the float32 weight per product), softmax included.
The result is therefore the float64 "exact" value of the float32 model; callers round to float32.

Forward pass (per HF modeling_llama / modeling_qwen2):
  1. h = embed_tokens[ids]
  2. per layer:  x = rms(h) * input_layernorm;  q,k,v = x W^T (+ bias);  RoPE(q,k) in the
     rotate_half layout (first half of each head paired with the second half);  causal GQA
     attention (kv head = q head // (n_heads / n_kv_heads)), scale 1/sqrt(head_dim);
     h += o_proj(attn);  x = rms(h) * post_attention_layernorm;  h += down(silu(gate x) * up x)
  3. logits = rms(h) * norm, times lm_head^T (lm_head = embed_tokens when tied / absent).
  rms(x) = x / sqrt(mean(x^2) + eps);  inv_freq = 1 / theta^(arange(0, D, 2) / D);
  cos/sin of pos * inv_freq, duplicated over the two halves of the head.

Loaders (both return a Model with HF tensor names and (out, in) weight layout):
  load_gguf(path)   the PyPI `gguf` reader; llama.* (or qwen2.*) metadata; tensors dequantized by
                    gguf.quants.dequantize. The reader's numpy shape is already (ne[1], ne[0]) =
                    (out, in), i.e. HF layout. For arch "llama", llama.cpp's converter permuted the
                    rows of q_proj/k_proj (LlamaModel.permute: reshape(n_head, 2, D/2, in),
                    swapaxes(1, 2), reshape back; n_head = n_kv_heads for K) so that its
                    interleaved RoPE matches; we apply the inverse (reshape(n_head, D/2, 2, in),
                    swapaxes(1, 2)). Qwen2 GGUFs are not permuted (llama.cpp uses NEOX RoPE there).
  load_hf_dir(dir)  config.json + model.safetensors (or a sharded model.safetensors.index.json).

Run from the repository root:  python3 Tests/Oracles/llama_reference.py
  runs self_check(): a random small GQA config with biases; checks that (a) GGUF-permuted Q/K with
  interleaved (GPT-J pair) RoPE equals HF Q/K with rotate_half, (b) unpermute(permute(W)) == W,
  (c) a GGUF written with gguf.GGUFWriter from permuted weights and an HF safetensors directory
  written from the same weights both load back to the same logits.
"""
import json
import os
import sys
from dataclasses import dataclass, field

import numpy as np


@dataclass
class Config:
    vocab_size: int
    hidden_size: int
    intermediate_size: int
    num_layers: int
    num_heads: int
    num_kv_heads: int
    head_dim: int
    rms_norm_eps: float
    rope_theta: float


@dataclass
class Model:
    config: Config
    weights: dict = field(default_factory=dict)  # HF names -> float32 arrays, (out, in) layout

    def w(self, name):
        return self.weights[name]

    def opt(self, name):
        return self.weights.get(name)

    def lm_head(self):
        head = self.weights.get("lm_head.weight")
        return head if head is not None else self.weights["model.embed_tokens.weight"]


# ---------------------------------------------------------------- the Q/K row permutation

def gguf_permute(w, n_head):
    """What llama.cpp's converter does to HF q/k rows (and biases): the row index
    (head, half s, j) moves to (head, j, s), so each head's rows become pair-interleaved."""
    shape = w.shape
    return w.reshape(n_head, 2, shape[0] // n_head // 2, *shape[1:]).swapaxes(1, 2).reshape(shape)


def gguf_unpermute(w, n_head):
    """Inverse of gguf_permute: pair-interleaved GGUF rows back to the HF rotate_half order."""
    shape = w.shape
    return w.reshape(n_head, shape[0] // n_head // 2, 2, *shape[1:]).swapaxes(1, 2).reshape(shape)


# ---------------------------------------------------------------- forward pass

def rms_norm(x, weight, eps):
    return x / np.sqrt(np.mean(x * x, axis=-1, keepdims=True) + eps) * weight


def rope_tables(cfg, T):
    d = cfg.head_dim
    inv_freq = 1.0 / (cfg.rope_theta ** (np.arange(0, d, 2, dtype=np.float64) / d))
    ang = np.arange(T, dtype=np.float64)[:, None] * inv_freq[None, :]  # (T, D/2)
    return np.cos(ang), np.sin(ang)


def apply_rope(x, cos, sin, layout):
    """x: (heads, T, D). layout 'half' = HF rotate_half; 'pairs' = interleaved (2i, 2i+1)."""
    if layout == "half":
        c = np.concatenate([cos, cos], axis=-1)
        s = np.concatenate([sin, sin], axis=-1)
        h = x.shape[-1] // 2
        rot = np.concatenate([-x[..., h:], x[..., :h]], axis=-1)
        return x * c + rot * s
    a, b = x[..., 0::2], x[..., 1::2]
    out = np.empty_like(x)
    out[..., 0::2] = a * cos - b * sin
    out[..., 1::2] = a * sin + b * cos
    return out


def linear(x, model, name):
    y = x @ model.w(name + ".weight").T.astype(np.float64)
    bias = model.opt(name + ".bias")
    return y if bias is None else y + bias


def attention(x, model, i, cos, sin, layout):
    cfg = model.config
    T, D = x.shape[0], cfg.head_dim
    p = f"model.layers.{i}.self_attn."
    q = linear(x, model, p + "q_proj").reshape(T, cfg.num_heads, D).transpose(1, 0, 2)
    k = linear(x, model, p + "k_proj").reshape(T, cfg.num_kv_heads, D).transpose(1, 0, 2)
    v = linear(x, model, p + "v_proj").reshape(T, cfg.num_kv_heads, D).transpose(1, 0, 2)
    q, k = apply_rope(q, cos, sin, layout), apply_rope(k, cos, sin, layout)
    group = cfg.num_heads // cfg.num_kv_heads
    k, v = np.repeat(k, group, axis=0), np.repeat(v, group, axis=0)  # q head h uses kv h // group
    scores = q @ k.transpose(0, 2, 1) / np.sqrt(D)
    scores = np.where(np.tril(np.ones((T, T), dtype=bool)), scores, -np.inf)
    scores = np.exp(scores - scores.max(axis=-1, keepdims=True))
    probs = scores / scores.sum(axis=-1, keepdims=True)
    out = (probs @ v).transpose(1, 0, 2).reshape(T, cfg.num_heads * D)
    return linear(out, model, p + "o_proj")


def mlp(x, model, i):
    p = f"model.layers.{i}.mlp."
    g = linear(x, model, p + "gate_proj")
    return linear(g / (1.0 + np.exp(-g)) * linear(x, model, p + "up_proj"), model, p + "down_proj")


def forward(model, ids, layout="half"):
    """Logits (T, vocab) in float64 for token ids; layout selects the RoPE pairing (the weights
    must match it: 'half' for HF layout, 'pairs' for GGUF-permuted Q/K)."""
    cfg = model.config
    ids = np.asarray(ids, dtype=np.int64)
    h = model.w("model.embed_tokens.weight")[ids].astype(np.float64)
    cos, sin = rope_tables(cfg, len(ids))
    for i in range(cfg.num_layers):
        p = f"model.layers.{i}."
        x = rms_norm(h, model.w(p + "input_layernorm.weight"), cfg.rms_norm_eps)
        h = h + attention(x, model, i, cos, sin, layout)
        x = rms_norm(h, model.w(p + "post_attention_layernorm.weight"), cfg.rms_norm_eps)
        h = h + mlp(x, model, i)
    h = rms_norm(h, model.w("model.norm.weight"), cfg.rms_norm_eps)
    return h @ model.lm_head().T.astype(np.float64)


def greedy(model, ids, steps):
    ids = list(ids)
    for _ in range(steps):
        ids.append(int(np.argmax(forward(model, ids)[-1])))
    return ids


def next_token_nll(logits, ids):
    """Mean over t = 0..T-2 of -log softmax(logits[t])[ids[t+1]] (float64)."""
    lg = np.asarray(logits, dtype=np.float64)[:-1]
    m = lg.max(axis=-1, keepdims=True)
    lse = (m + np.log(np.exp(lg - m).sum(axis=-1, keepdims=True)))[:, 0]
    return float(np.mean(lse - lg[np.arange(len(ids) - 1), np.asarray(ids[1:])]))


# ---------------------------------------------------------------- loaders

GGUF_NAMES = {  # GGUF per-block suffix -> HF per-layer suffix
    "attn_norm.weight": "input_layernorm.weight",
    "attn_q.weight": "self_attn.q_proj.weight", "attn_q.bias": "self_attn.q_proj.bias",
    "attn_k.weight": "self_attn.k_proj.weight", "attn_k.bias": "self_attn.k_proj.bias",
    "attn_v.weight": "self_attn.v_proj.weight", "attn_v.bias": "self_attn.v_proj.bias",
    "attn_output.weight": "self_attn.o_proj.weight",
    "ffn_norm.weight": "post_attention_layernorm.weight",
    "ffn_gate.weight": "mlp.gate_proj.weight", "ffn_up.weight": "mlp.up_proj.weight",
    "ffn_down.weight": "mlp.down_proj.weight",
}
GGUF_GLOBAL = {"token_embd.weight": "model.embed_tokens.weight",
               "output_norm.weight": "model.norm.weight", "output.weight": "lm_head.weight"}


def gguf_field(reader, key, default=None):
    f = reader.fields.get(key)
    return default if f is None else f.contents()


def gguf_config(reader):
    arch = gguf_field(reader, "general.architecture")
    if arch not in ("llama", "qwen2"):
        raise ValueError(f"unsupported general.architecture {arch!r}; expected llama or qwen2")
    g = lambda k, d=None: gguf_field(reader, f"{arch}.{k}", d)
    heads, emb = int(g("attention.head_count")), int(g("embedding_length"))
    head_dim = int(g("attention.key_length", emb // heads))
    if int(g("rope.dimension_count", head_dim)) != head_dim:
        raise ValueError("partial rotary (rope.dimension_count != head_dim) is not supported")
    embd = next(t for t in reader.tensors if t.name == "token_embd.weight")
    cfg = Config(vocab_size=int(g("vocab_size", int(embd.shape[1]))), hidden_size=emb,
                 intermediate_size=int(g("feed_forward_length")),
                 num_layers=int(g("block_count")), num_heads=heads,
                 num_kv_heads=int(g("attention.head_count_kv", heads)), head_dim=head_dim,
                 rms_norm_eps=float(g("attention.layer_norm_rms_epsilon")),
                 rope_theta=float(g("rope.freq_base", 10000.0)))
    return arch, cfg


def load_gguf(path):
    import gguf
    reader = gguf.GGUFReader(path)
    arch, cfg = gguf_config(reader)
    model = Model(cfg)
    for t in reader.tensors:
        w = np.asarray(gguf.quants.dequantize(t.data, t.tensor_type), dtype=np.float32)
        # The reader's numpy shape is reversed ne: (ne1, ne0) = (out, in) for a matrix.
        w = w.reshape(tuple(int(n) for n in reversed(t.shape)))
        if arch == "llama" and ".attn_q." in t.name:
            w = gguf_unpermute(w, cfg.num_heads)
        elif arch == "llama" and ".attn_k." in t.name:
            w = gguf_unpermute(w, cfg.num_kv_heads)
        model.weights[hf_name(t.name)] = w
    return model


def hf_name(gguf_name):
    if gguf_name in GGUF_GLOBAL:
        return GGUF_GLOBAL[gguf_name]
    parts = gguf_name.split(".", 2)
    if parts[0] != "blk" or len(parts) != 3 or parts[2] not in GGUF_NAMES:
        raise ValueError(f"unexpected GGUF tensor {gguf_name!r}")
    return f"model.layers.{int(parts[1])}.{GGUF_NAMES[parts[2]]}"


def hf_config(cfg_json):
    c = cfg_json
    if c.get("rope_scaling"):
        raise ValueError(f"rope_scaling {c['rope_scaling']!r} is not supported by this oracle")
    heads = int(c["num_attention_heads"])
    return Config(vocab_size=int(c["vocab_size"]), hidden_size=int(c["hidden_size"]),
                  intermediate_size=int(c["intermediate_size"]),
                  num_layers=int(c["num_hidden_layers"]), num_heads=heads,
                  num_kv_heads=int(c.get("num_key_value_heads") or heads),
                  head_dim=int(c.get("head_dim") or c["hidden_size"] // heads),
                  rms_norm_eps=float(c.get("rms_norm_eps", 1e-6)),
                  rope_theta=float(c.get("rope_theta", 10000.0)))


def load_hf_dir(path):
    from safetensors.numpy import load_file
    with open(os.path.join(path, "config.json")) as f:
        cfg_json = json.load(f)
    model = Model(hf_config(cfg_json))
    index = os.path.join(path, "model.safetensors.index.json")
    if os.path.exists(index):
        with open(index) as f:
            files = sorted(set(json.load(f)["weight_map"].values()))
    else:
        files = ["model.safetensors"]
    for name in files:
        for k, v in load_file(os.path.join(path, name)).items():
            model.weights[k] = np.asarray(v, dtype=np.float32)  # bf16 needs a float-capable dtype
    if cfg_json.get("tie_word_embeddings", False):
        model.weights.pop("lm_head.weight", None)
    return model


def load(path):
    return load_hf_dir(path) if os.path.isdir(path) else load_gguf(path)


# ---------------------------------------------------------------- self check

def random_model(rng, cfg, bias=True, tied=False):
    m = Model(cfg)
    W = m.weights
    r = lambda *s: (rng.standard_normal(s) * 0.2).astype(np.float32)
    W["model.embed_tokens.weight"] = r(cfg.vocab_size, cfg.hidden_size)
    qd, kd = cfg.num_heads * cfg.head_dim, cfg.num_kv_heads * cfg.head_dim
    for i in range(cfg.num_layers):
        p = f"model.layers.{i}."
        W[p + "input_layernorm.weight"] = 1 + r(cfg.hidden_size)
        W[p + "post_attention_layernorm.weight"] = 1 + r(cfg.hidden_size)
        for n, out in (("q", qd), ("k", kd), ("v", kd)):
            W[p + f"self_attn.{n}_proj.weight"] = r(out, cfg.hidden_size)
            if bias:
                W[p + f"self_attn.{n}_proj.bias"] = r(out)
        W[p + "self_attn.o_proj.weight"] = r(cfg.hidden_size, qd)
        W[p + "mlp.gate_proj.weight"] = r(cfg.intermediate_size, cfg.hidden_size)
        W[p + "mlp.up_proj.weight"] = r(cfg.intermediate_size, cfg.hidden_size)
        W[p + "mlp.down_proj.weight"] = r(cfg.hidden_size, cfg.intermediate_size)
    W["model.norm.weight"] = 1 + r(cfg.hidden_size)
    if not tied:
        W["lm_head.weight"] = r(cfg.vocab_size, cfg.hidden_size)
    return m


def permuted_copy(model):
    cfg = model.config
    out = Model(cfg, dict(model.weights))
    for k in model.weights:
        if ".q_proj." in k:
            out.weights[k] = gguf_permute(model.weights[k], cfg.num_heads)
        elif ".k_proj." in k:
            out.weights[k] = gguf_permute(model.weights[k], cfg.num_kv_heads)
    return out


def write_gguf(model, path):
    import gguf
    cfg = model.config
    w = gguf.GGUFWriter(path, "llama")
    w.add_block_count(cfg.num_layers)
    w.add_context_length(64)
    w.add_embedding_length(cfg.hidden_size)
    w.add_feed_forward_length(cfg.intermediate_size)
    w.add_head_count(cfg.num_heads)
    w.add_head_count_kv(cfg.num_kv_heads)
    w.add_rope_freq_base(cfg.rope_theta)
    w.add_layer_norm_rms_eps(cfg.rms_norm_eps)
    w.add_rope_dimension_count(cfg.head_dim)
    w.add_vocab_size(cfg.vocab_size)
    inverse = {v: k for k, v in GGUF_NAMES.items()}
    for name, t in permuted_copy(model).weights.items():
        if name.startswith("model.layers."):
            _, _, i, rest = name.split(".", 3)
            gname = f"blk.{i}.{inverse[rest]}"
        else:
            gname = {v: k for k, v in GGUF_GLOBAL.items()}[name]
        w.add_tensor(gname, np.ascontiguousarray(t, dtype=np.float32))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


def write_hf_dir(model, path, tied):
    from safetensors.numpy import save_file
    c = model.config
    os.makedirs(path, exist_ok=True)
    cfg = {"architectures": ["LlamaForCausalLM"], "vocab_size": c.vocab_size,
           "hidden_size": c.hidden_size, "intermediate_size": c.intermediate_size,
           "num_hidden_layers": c.num_layers, "num_attention_heads": c.num_heads,
           "num_key_value_heads": c.num_kv_heads, "rms_norm_eps": c.rms_norm_eps,
           "rope_theta": c.rope_theta, "tie_word_embeddings": tied}
    with open(os.path.join(path, "config.json"), "w") as f:
        json.dump(cfg, f)
    save_file(model.weights, os.path.join(path, "model.safetensors"))


def self_check(tmp="/tmp/llama_reference_check"):
    rng = np.random.default_rng(7)
    cfg = Config(vocab_size=50, hidden_size=48, intermediate_size=80, num_layers=2, num_heads=6,
                 num_kv_heads=2, head_dim=8, rms_norm_eps=1e-5, rope_theta=500.0)
    ids = rng.integers(0, cfg.vocab_size, size=11)
    for bias in (True, False):
        hf = random_model(rng, cfg, bias=bias)
        ref = forward(hf, ids, "half")
        perm = permuted_copy(hf)
        d_pairs = np.abs(forward(perm, ids, "pairs") - ref).max()
        d_wrong = np.abs(forward(perm, ids, "half") - ref).max()  # must differ: test has teeth
        w = hf.w("model.layers.0.self_attn.k_proj.weight")
        roundtrip = np.array_equal(gguf_unpermute(gguf_permute(w, 2), 2), w)
        print(f"bias={bias}: permuted+pairs vs HF+half max|d|={d_pairs:.2e}; "
              f"permuted+half {d_wrong:.2e}; unpermute(permute) exact: {roundtrip}")
        assert d_pairs < 1e-10 and d_wrong > 1e-3 and roundtrip
    os.makedirs(tmp, exist_ok=True)
    for tied in (False, True):
        hf = random_model(rng, cfg, bias=False, tied=tied)
        ref = forward(hf, ids)
        gpath = os.path.join(tmp, f"m_tied{int(tied)}.gguf")
        write_gguf(hf, gpath)
        d_gguf = np.abs(forward(load_gguf(gpath), ids) - ref).max()
        hdir = os.path.join(tmp, f"hf_tied{int(tied)}")
        write_hf_dir(hf, hdir, tied)
        d_hf = np.abs(forward(load_hf_dir(hdir), ids) - ref).max()
        # Not bit-exact: GGUF stores eps and theta as float32 (1e-5 -> 9.99999975e-06).
        print(f"tied={tied}: GGUF round trip max|d|={d_gguf:.2e}; HF dir max|d|={d_hf:.2e}")
        assert d_gguf < 1e-10 and d_hf < 1e-10
    print("self_check OK")


if __name__ == "__main__":
    self_check()
    if len(sys.argv) > 1:  # optional: greedy continuation of token ids on a real model
        m = load(sys.argv[1])
        print(greedy(m, [int(x) for x in sys.argv[2].split(",")], int(sys.argv[3]) if len(sys.argv) > 3 else 5))
