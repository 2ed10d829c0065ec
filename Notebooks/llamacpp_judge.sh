#!/usr/bin/env bash
# llama.cpp as the judge of the GGUF files a notebook wrote (Notebooks/llamacpp.qat writes them to
# Notebooks/results/work/llamacpp/): for every FILE.gguf in DIR, llama.cpp's perplexity
# (Tests/Oracles/llamacpp_ppl.py, through llama-cpp-python) and QATLab's (`qat ppl FILE.gguf`) on the
# same text and windows, and their relative difference. Writes DIR/judge.csv and prints it.
#
#   bash Tests/Peers/setup_llamacpp.sh          # once: builds llama.cpp into a cached venv
#   bash Notebooks/llamacpp_judge.sh [DIR] [TEXT] [CTX] [WINDOWS]
# defaults: DIR=Notebooks/results/work/llamacpp TEXT=Data/text/devil.txt CTX=512 WINDOWS=8.
# The acceptance bound of issue 28 is |llama.cpp / QATLab - 1| <= 1% per file.
set -euo pipefail
dir="${1:-Notebooks/results/work/llamacpp}"
text="${2:-Data/text/devil.txt}"
ctx="${3:-512}"
windows="${4:-8}"
venv="${QAT_LLAMACPP_VENV:-$HOME/.cache/qatlab/venv-llamacpp}"
qat="${QAT:-.build/release/qat}"
if [ ! -x "$venv/bin/python" ]; then
    echo "llamacpp_judge: no llama.cpp venv at $venv; run: bash Tests/Peers/setup_llamacpp.sh" >&2
    exit 1
fi
if [ ! -x "$qat" ]; then
    echo "llamacpp_judge: no qat binary at $qat; build it (swift build -c release --product qat) or set QAT=" >&2
    exit 1
fi
shopt -s nullglob
files=("$dir"/*.gguf)
if [ ${#files[@]} -eq 0 ]; then
    echo "llamacpp_judge: no .gguf files in $dir; run the notebook first (qat notebook Notebooks/llamacpp.qat)" >&2
    exit 1
fi
out="$dir/judge.csv"
echo "file,bytes,ppl_qatlab,ppl_llamacpp,rel_diff,windows,ctx,text" > "$out.tmp"
for f in "${files[@]}"; do
    qat_ppl=$("$qat" ppl "$f" "$text" ctx="$ctx" max_windows="$windows" | sed -n 's/^ppl=\([^ ]*\) .*/\1/p' | tail -1)
    llama_ppl=$("$venv/bin/python" Tests/Oracles/llamacpp_ppl.py "$f" "$text" --ctx "$ctx" --max-windows "$windows" 2>/dev/null \
        | "$venv/bin/python" -c 'import json, sys; print(json.loads(sys.stdin.read().strip().splitlines()[-1])["ppl"])')
    rel=$("$venv/bin/python" -c "print(f'{$llama_ppl / $qat_ppl - 1:+.5f}')")
    echo "$(basename "$f"),$(stat -L -c %s "$f"),$qat_ppl,$llama_ppl,$rel,$windows,$ctx,$(basename "$text")" >> "$out.tmp"
done
mv "$out.tmp" "$out"
column -s, -t < "$out"
