#!/usr/bin/env bash
# The Python side that only the peer benchmarks and the oracle scripts need (CI does not): a venv
# with CPU-only PyTorch, transformers (its GGUF loader), the gguf package and safetensors, all
# pinned. It lives outside the repository, in ${QAT_VENV:-$HOME/.cache/qatlab/venv}, and is made
# once; re-running the script checks the pins and installs only what is missing.
#
#   bash Tests/Peers/setup_venv.sh            # create or complete the venv
#   "$HOME/.cache/qatlab/venv/bin/python" Tests/Peers/torch_peer.py ...
set -euo pipefail
venv="${QAT_VENV:-$HOME/.cache/qatlab/venv}"
pins=(
    "torch==2.13.0"
    "transformers==5.25.0"
    "gguf==0.19.0"
    "safetensors"
    "numpy"
    "sentencepiece"
)
if [ ! -x "$venv/bin/python" ]; then
    echo "setup_venv: creating $venv"
    mkdir -p "$(dirname "$venv")"
    python3 -m venv "$venv"
fi
"$venv/bin/python" -m pip install --quiet --upgrade pip >/dev/null
# torch==2.13.0 is satisfied by the CPU-only wheel 2.13.0+cpu when pip's find-links holds it (this
# workplace's machines have it in /opt/wheels); elsewhere PyPI's wheel of the same version is used.
"$venv/bin/python" -m pip install --quiet "${pins[@]}"
"$venv/bin/python" - <<'PY'
import torch, transformers, gguf
print(f"setup_venv: torch {torch.__version__} ({torch.get_num_threads()} threads), "
      f"transformers {transformers.__version__}, gguf ok")
PY
