#!/usr/bin/env bash
# llama.cpp as the judge of exported GGUF files (Tests/Oracles/llamacpp_ppl.py): a venv with
# llama-cpp-python, which compiles llama.cpp from source (CPU only, a few minutes on 2 cores).
# It lives outside the repository, in ${QAT_LLAMACPP_VENV:-$HOME/.cache/qatlab/venv-llamacpp},
# and is built once; re-running the script only checks it. CI does not run it.
#
#   bash Tests/Peers/setup_llamacpp.sh
#   "$HOME/.cache/qatlab/venv-llamacpp/bin/python" Tests/Oracles/llamacpp_ppl.py FILE.gguf ...
#   "$HOME/.cache/qatlab/venv-llamacpp/bin/python" Tests/Oracles/llamacpp_quantize_check.py F32.gguf QAT.gguf --type q4_k
set -euo pipefail
venv="${QAT_LLAMACPP_VENV:-$HOME/.cache/qatlab/venv-llamacpp}"
pin="llama-cpp-python==0.3.36"
if [ ! -x "$venv/bin/python" ]; then
    echo "setup_llamacpp: creating $venv"
    mkdir -p "$(dirname "$venv")"
    python3 -m venv "$venv"
fi
if ! "$venv/bin/python" -c 'import llama_cpp' 2>/dev/null; then
    "$venv/bin/python" -m pip install --quiet --upgrade pip >/dev/null
    # numpy: the oracle scripts' windows and log-softmax. The build is CPU-only and portable
    # (no -march=native), with the number of compile jobs capped so it shares the machine.
    "$venv/bin/python" -m pip install --quiet numpy
    CMAKE_ARGS="-DGGML_NATIVE=OFF -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON -DLLAMA_CURL=OFF" \
    CMAKE_BUILD_PARALLEL_LEVEL="${QAT_BUILD_JOBS:-2}" \
        "$venv/bin/python" -m pip install --no-cache-dir --verbose "$pin"
fi
# gguf: llamacpp_quantize_check.py reads both files with it (the version the suite's goldens used).
"$venv/bin/python" -c 'import gguf' 2>/dev/null || "$venv/bin/python" -m pip install --quiet "gguf==0.19.0"
"$venv/bin/python" - <<'PY'
import llama_cpp
print(f"setup_llamacpp: llama-cpp-python {llama_cpp.__version__} ok")
PY
