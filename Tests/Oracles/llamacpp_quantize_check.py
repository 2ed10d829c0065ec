#!/usr/bin/env python3
"""llama.cpp itself as the oracle of QATLab's quantizers in llama.cpp's block formats.

Given QATLab's F32 export of a model (`export MODEL format=gguf out=FP.gguf`) and QATLab's export
of the same model quantized in format F (`q = quantize MODEL format=F`, `export q format=gguf
out=QAT.gguf`), this script has llama.cpp quantize FP.gguf to F with its own model quantizer
(llama_cpp.llama_model_quantize: pure, so every tensor gets F's type rather than llama.cpp's
per-tensor mixture; no importance matrix; llama.cpp's own fallback type for rows that are not
whole blocks) and compares every block linear (blk.N.*.weight of two dimensions) of the two files
tensor by tensor: the ggml type, then the stored bytes.

Usage (the llama.cpp venv, Tests/Peers/setup_llamacpp.sh; CI does not run it):
  $HOME/.cache/qatlab/venv-llamacpp/bin/python Tests/Oracles/llamacpp_quantize_check.py FP.gguf QAT.gguf F
with F one of q4_0 q4_1 q5_0 q5_1 q8_0 q2_k q3_k q4_k q5_k q6_k iq4_nl. Prints one JSON line:
{"format", "identical", "bytes_differ": [names], "types_differ": {"QAT_TYPE->LLAMA_TYPE": count},
"llama_cpp_version"}; exit status 0 when every compared tensor is identical, 1 otherwise.
"""
import json
import os
import sys
import tempfile

# format -> the llama_ftype whose default type it is (the k-quants' _S variants: pure uses the default)
FTYPES = {"q4_0": "Q4_0", "q4_1": "Q4_1", "q5_0": "Q5_0", "q5_1": "Q5_1", "q8_0": "Q8_0", "q2_k": "Q2_K",
          "q3_k": "Q3_K_S", "q4_k": "Q4_K_S", "q5_k": "Q5_K_S", "q6_k": "Q6_K", "iq4_nl": "IQ4_NL"}


def llama_quantize(src, dst, fmt):
    import ctypes
    import llama_cpp
    params = llama_cpp.llama_model_quantize_default_params()
    params.ftype = getattr(llama_cpp, "LLAMA_FTYPE_MOSTLY_" + FTYPES[fmt])
    params.pure = True
    params.nthread = 2
    if llama_cpp.llama_model_quantize(src.encode(), dst.encode(), ctypes.byref(params)) != 0:
        sys.exit(f"llama_model_quantize failed on {src}")
    return llama_cpp.__version__


def block_linears(path):
    import gguf
    import numpy as np
    out = {}
    for t in gguf.GGUFReader(path).tensors:
        if t.name.startswith("blk.") and t.name.endswith(".weight") and len(t.shape) == 2:
            out[t.name] = (t.tensor_type.name, np.asarray(t.data).tobytes())
    return out


def main():
    if len(sys.argv) != 4 or sys.argv[3] not in FTYPES:
        print(f"usage: llamacpp_quantize_check.py FP.gguf QAT.gguf FORMAT, FORMAT one of {' '.join(FTYPES)}", file=sys.stderr)
        return 2
    fp, qat, fmt = sys.argv[1:]
    with tempfile.TemporaryDirectory() as work:
        ref_path = os.path.join(work, "llama.gguf")
        version = llama_quantize(fp, ref_path, fmt)
        ref = block_linears(ref_path)
    ours = block_linears(qat)
    identical, bytes_differ, types_differ = 0, [], {}
    for name, (qtype, data) in sorted(ours.items()):
        rtype, rdata = ref.get(name, ("missing", b""))
        if qtype != rtype:
            key = f"{qtype}->{rtype}"
            types_differ[key] = types_differ.get(key, 0) + 1
        elif data != rdata:
            bytes_differ.append(name)
        else:
            identical += 1
    print(json.dumps({"format": fmt, "identical": identical, "bytes_differ": bytes_differ,
                      "types_differ": types_differ, "llama_cpp_version": version}))
    return 0 if not bytes_differ and not types_differ else 1


if __name__ == "__main__":
    sys.exit(main())
