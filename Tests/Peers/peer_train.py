"""The training peers: one Block-AP step and one E2E-QP step in torch, as `qat bench train` runs them.

Quantization is EfficientQAT's own formulation (its quantizer module, re-written here), asymmetric
group-wise over the input dimension of each (out, in) weight, groups of `group` columns:
  s' = clamp_ste(s, 1e-4, 1e4)   z' = clamp_ste(round_ste(z), 0, qmax)
  fake (Block-AP):  W-hat = (clamp(round_ste(W / s') + z', 0, qmax) - z') * s'   (W, s, z train)
  hard (E2E-QP):    W = (q - z') * s'  with frozen uint8 codes q and zero points z (s trains)
round_ste / clamp_ste pass the gradient straight through; the clamp of the code is a real clamp.
Initialisation is min/max per group: s = clamp((max - min) / qmax, 1e-4, 1e4), z = round(-min / s).

Block-AP step (QATLab: TrainBench.swift): block 0 of the model, its seven linears fake-quantized,
`windows` x seq hidden states in, MSE to the full-precision block's output, backward to W, s, z
and the norm gains. E2E-QP step: every block linear hard-quantized, the whole model on 1 x seq
tokens, next-token cross-entropy, backward to the scales (embedding, norms, head frozen, as
E2E-QP trains). QATLab's bench times forward + backward; `optimizer=adamw` adds AdamW's step
(and zeroing the gradients) to the timed region for the step as training runs it.
"""
import math

import torch
import torch.nn.functional as F

from peer_model import autocast, best_time

LINEARS = (("self_attn", "q_proj"), ("self_attn", "k_proj"), ("self_attn", "v_proj"), ("self_attn", "o_proj"),
           ("mlp", "gate_proj"), ("mlp", "up_proj"), ("mlp", "down_proj"))


def round_ste(x):
    return (x.round() - x).detach() + x


def clamp_ste(x, lo, hi):
    return (x.clamp(lo, hi) - x).detach() + x


def minmax_init(weight, bits, group):
    """Per-group (s, z), each (rows, groups), from the group's min and max."""
    rows, cols = weight.shape
    if cols % group:
        raise ValueError(f"a {rows}x{cols} weight does not split into groups of {group}; use a group size dividing {cols}")
    w = weight.detach().reshape(rows, cols // group, group)
    lo, hi = w.amin(dim=2), w.amax(dim=2)
    s = ((hi - lo) / (2 ** bits - 1)).clamp(1e-4, 1e4)
    z = (-lo / s).clamp(-1e4, 1e4).round()
    return s, z


class FakeQuantLinear(torch.nn.Module):
    """A linear whose weight is fake-quantized on every forward, with learnable W, s, z."""

    def __init__(self, linear, bits, group):
        super().__init__()
        self.bits, self.group, self.qmax = bits, group, 2 ** bits - 1
        self.weight = torch.nn.Parameter(linear.weight.detach().clone())
        s, z = minmax_init(self.weight, bits, group)
        self.scales, self.zeros = torch.nn.Parameter(s), torch.nn.Parameter(z)

    def quantized_weight(self):
        rows, cols = self.weight.shape
        s = clamp_ste(self.scales, 1e-4, 1e4).unsqueeze(2)
        z = clamp_ste(round_ste(self.zeros), 0, self.qmax).unsqueeze(2)
        w = self.weight.reshape(rows, cols // self.group, self.group)
        code = (round_ste(w / s) + z).clamp(0, self.qmax)
        return ((code - z) * s).reshape(rows, cols)

    def forward(self, x):
        return F.linear(x, self.quantized_weight())


class HardQuantLinear(torch.nn.Module):
    """Frozen integer codes and zero points, learnable scales: W = (q - z') * s'."""

    def __init__(self, linear, bits, group):
        super().__init__()
        self.group, self.qmax = group, 2 ** bits - 1
        w = linear.weight.detach()
        rows, cols = w.shape
        s, z = minmax_init(w, bits, group)
        z = z.clamp(0, self.qmax)
        code = (w.reshape(rows, cols // group, group) / s.unsqueeze(2)).round() + z.unsqueeze(2)
        self.register_buffer("codes", code.clamp(0, self.qmax).to(torch.uint8).reshape(rows, cols))
        self.register_buffer("zeros", z)
        self.scales = torch.nn.Parameter(s)

    def forward(self, x):
        rows, cols = self.codes.shape
        q = self.codes.reshape(rows, cols // self.group, self.group).float()
        s = clamp_ste(self.scales, 1e-4, 1e4).unsqueeze(2)
        return F.linear(x, ((q - self.zeros.unsqueeze(2)) * s).reshape(rows, cols))


def quantize_layer(layer, make):
    for parent, name in LINEARS:
        owner = getattr(layer, parent)
        setattr(owner, name, make(getattr(owner, name)))


def optimizer_step(params, optimizer):
    """AdamW (weight decay 0, as both of EfficientQAT's phases train) or nothing."""
    if optimizer == "none":
        return lambda: None
    if optimizer != "adamw":
        raise ValueError(f"optimizer={optimizer}; expected none or adamw")
    opt = torch.optim.AdamW(params, lr=1e-5, weight_decay=0.0)

    def step():
        opt.step()
        opt.zero_grad(set_to_none=False)
    return step


def measure_blockap(model, seq, windows, bits, group, repeats, dtype, optimizer="none"):
    """One Block-AP step on block 0: tokens/s = windows x seq / step time."""
    layer = model.model.layers[0]
    hidden = model.config.hidden_size
    g = torch.Generator().manual_seed(1)
    x = torch.randn(windows, seq, hidden, generator=g)
    positions = torch.arange(seq).unsqueeze(0)
    rope = model.model.rotary_emb(x, positions)

    def block(inp):
        out = layer(inp, attention_mask=None, position_ids=positions, position_embeddings=rope)
        return out[0] if isinstance(out, tuple) else out

    with torch.no_grad():
        target = block(x)   # the full-precision block's output: Block-AP's regression target
    quantize_layer(layer, lambda lin: FakeQuantLinear(lin, bits, group))
    params = [p for p in layer.parameters()]
    for p in params:
        p.requires_grad_(True)
    step = optimizer_step(params, optimizer)

    def run():
        with autocast(dtype):
            loss = F.mse_loss(block(x).float(), target)
        loss.backward()
        step()

    model.train()
    seconds = best_time(run, repeats)
    return {"batch": windows, "seq": seq, "seconds": seconds, "tok_per_s": windows * seq / seconds,
            "quant": f"w{bits}g{group}", "optimizer": optimizer}


def measure_e2eqp(model, seq, bits, group, repeats, dtype, optimizer="none"):
    """One E2E-QP step: the whole model, 1 x seq tokens, cross-entropy, gradients to the scales."""
    for p in model.parameters():
        p.requires_grad_(False)
    linears = 0
    for layer in model.model.layers:
        quantize_layer(layer, lambda lin: HardQuantLinear(lin, bits, group))
        linears += len(LINEARS)
    scales = [m.scales for m in model.modules() if isinstance(m, HardQuantLinear)]
    step = optimizer_step(scales, optimizer)
    vocab = model.config.vocab_size
    tokens = torch.tensor([i * 7919 % vocab for i in range(seq + 1)])   # QATLab's bench sequence
    inputs, labels = tokens[:-1].unsqueeze(0), tokens[1:]

    def run():
        with autocast(dtype):
            logits = model(input_ids=inputs, use_cache=False).logits[0]
        F.cross_entropy(logits.float(), labels).backward()
        step()

    model.train()
    seconds = best_time(run, repeats)
    if not all(s.grad is not None and math.isfinite(s.grad.abs().sum().item()) for s in scales):
        raise ValueError("some scales got no finite gradient: the peer's E2E-QP step is broken")
    return {"batch": 1, "seq": seq, "seconds": seconds, "tok_per_s": seq / seconds,
            "quant": f"w{bits}g{group}", "linears": linears, "optimizer": optimizer}

