"""PyTorch peers of QATLab's benchmarks, on the same CPU, model, shapes and thread count.

Run with the peer venv (Tests/Peers/setup_venv.sh); `qat bench model|eval|train` call it
themselves (QATBench/TorchPeer.swift). One workload per run:

  prefill  `bench model`: forward of 1 x seq tokens (transformers' LlamaForCausalLM, SDPA attention)
  eval     `bench eval`:  perplexity over `windows` windows of seq tokens (--tokens: QATLab's)
  decode   greedy decoding with transformers' KV cache: --prompt tokens, then --new-tokens
  blockap  `bench train`: one Block-AP step, block 0 fake-quantized, --windows x seq (peer_train.py)
  e2eqp    `bench train`: one E2E-QP step, hard-quantized linears, 1 x seq

Output: stderr carries torch's own chatter; stdout ends with exactly one line
  peer workload=W dtype=fp32|bf16 threads=N key=value ... tok_per_s=X mm_gflops=Y torch=V
or, when the peer cannot run,
  peer error=<what went wrong, one line>
(exit status 2). --tokens FILE: raw little-endian int32 token ids (eval).
"""
import argparse
import os
import sys

os.environ.setdefault("TQDM_DISABLE", "1")   # the GGUF reader's progress bar; before tqdm loads

WORKLOADS = ("prefill", "eval", "decode", "blockap", "e2eqp")


def parse_args(argv):
    p = argparse.ArgumentParser(description="PyTorch peer of a QATLab benchmark")
    p.add_argument("--workload", required=True, choices=WORKLOADS)
    p.add_argument("--model", required=True, help="a .gguf file or a Hugging Face / QATLab fp checkpoint directory")
    p.add_argument("--threads", type=int, required=True)
    p.add_argument("--seq", type=int, default=512)
    p.add_argument("--windows", type=int, default=None, help="eval: windows of seq (4); blockap: windows per step (2)")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--dtype", choices=("fp32", "bf16"), default="fp32")
    p.add_argument("--tokens", default=None, help="eval: raw int32 token ids to score")
    p.add_argument("--prompt", type=int, default=16, help="decode: prompt tokens")
    p.add_argument("--new-tokens", type=int, default=64, help="decode: tokens generated")
    p.add_argument("--bits", type=int, default=2)
    p.add_argument("--group", type=int, default=64)
    p.add_argument("--optimizer", choices=("none", "adamw"), default="none")
    a = p.parse_args(argv)
    for name in ("threads", "seq", "repeats", "prompt", "new_tokens", "bits", "group"):
        if getattr(a, name) < 1:
            p.error(f"--{name.replace('_', '-')}={getattr(a, name)}; expected a positive number")
    return a


def read_tokens(path):
    import numpy as np
    import torch
    return torch.from_numpy(np.fromfile(path, dtype="<i4").astype("int64"))


def run(a):
    import torch
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    import peer_model
    import peer_train

    model = peer_model.load_model(a.model)
    if a.workload == "prefill":
        fields = peer_model.measure_prefill(model, a.seq, a.repeats, a.dtype)
    elif a.workload == "eval":
        tokens = read_tokens(a.tokens) if a.tokens else None
        fields = peer_model.measure_eval(model, a.seq, a.windows or 4, a.repeats, a.dtype, tokens)
    elif a.workload == "decode":
        fields = peer_model.measure_decode(model, a.prompt, a.new_tokens, a.repeats, a.dtype)
    elif a.workload == "blockap":
        fields = peer_train.measure_blockap(model, a.seq, a.windows or 2, a.bits, a.group, a.repeats, a.dtype, a.optimizer)
    else:
        fields = peer_train.measure_e2eqp(model, a.seq, a.bits, a.group, a.repeats, a.dtype, a.optimizer)
    fields["mm_gflops"] = peer_model.measure_mm(a.repeats)
    fields["torch"] = torch.__version__
    return fields


def peer_line(workload, dtype, threads, fields):
    def show(v):
        return f"{v:.6g}" if isinstance(v, float) else str(v)
    head = f"peer workload={workload} dtype={dtype} threads={threads}"
    return head + "".join(f" {k}={show(v)}" for k, v in fields.items())


def main(argv):
    a = parse_args(argv)
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    try:
        fields = run(a)
    except Exception as e:   # one line the bench can show; the traceback goes to stderr
        import traceback
        traceback.print_exc()
        message = " ".join(f"{type(e).__name__}: {e}".split())
        print(f"peer error={message}", flush=True)
        return 2
    print(peer_line(a.workload, a.dtype, a.threads, fields), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
