# Shared by the hardening scripts (kill_resume.sh, disk_full.sh, readonly_out.sh): the qat
# binary, a scratch directory, a seeded PRNG, the long runs on the embedded tiny model, and
# output comparison. Source it; it sets QAT, WORK, HERE, ROOT.
set -u
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
# the release binary: $QAT, else the one `swift build -c release` (with $SCRATCH_PATH if set) puts out
if [ -z "${QAT:-}" ]; then
    QAT="$(cd "$ROOT" && swift build -c release ${SCRATCH_PATH:+--scratch-path "$SCRATCH_PATH"} --show-bin-path)/qat"
fi
[ -x "$QAT" ] || { echo "no qat binary at $QAT: run swift build -c release (or set QAT=)" >&2; exit 2; }
# one thread: the same seed and thread count give the same numbers, and the runs stay small
export QAT_THREADS=${QAT_THREADS:-1}
export QAT_EXECUTABLE="$QAT"
WORK=$(mktemp -d "${TMPDIR:-/tmp}/qat-hardening-XXXXXX")
cleanup_work() { rm -rf "$WORK"; }
[ -n "${KEEP_WORK:-}" ] || trap cleanup_work EXIT
cd "$ROOT"   # `tiny` and the bundled texts resolve from the repository

# A 31-bit LCG: deterministic kill moments from a seed, the same with every bash.
RNG=1
rng_seed() { RNG=$(( ($1 * 2654435761 + 12345) % 2147483648 )); }
# rand_below N: a number in 0..<N in $R
rand_below() { RNG=$(( (RNG * 1103515245 + 12345) % 2147483648 )); R=$(( (RNG >> 8) % $1 )); }

now_ms() { echo $(( $(date +%s%N) / 1000000 )); }

# The four long runs, each about a second on one core: args_KIND OUT sets ARGS to the qat
# arguments writing to OUT; run_KIND OUT [KEY=VALUE...] runs it. E2E-QP trains the reference
# Block-AP checkpoint ($WORK/ref/blockap), so that reference must run first.
args_blockap() { ARGS=(blockap tiny bits=2 group=32 samples=16 val=4 seqlen=64 epochs=2 out="$1"); }
args_e2eqp()   { ARGS=(e2eqp "$WORK/ref/blockap" samples=64 val=4 seqlen=64 checkpoint_every=1 out="$1"); }
args_qfa()     { ARGS=(qfa train tiny base=rtn steps=16 samples=16 val=4 seqlen=64 checkpoint_every=1 out="$1"); }
args_sweep()   { ARGS=(sweep "$ROOT/Tests/Slurm/sweep_quick.qat" "grid=bits=[2 3] seed=[1 2]" backend=local jobs=2 out="$1"); }
run_kind() { local kind=$1 out=$2; shift 2; "args_$kind" "$out"; "$QAT" "${ARGS[@]}" "$@"; }

# the first python3 on PATH that imports h5py: a pyenv python3 may come before Debian's, which
# has python3-h5py (setup.sh installs it with apt)
PYTHON3=""
for p in $(type -ap python3) /usr/bin/python3; do
    if "$p" -c "import h5py, numpy" >/dev/null 2>&1; then PYTHON3=$p; break; fi
done
[ -n "$PYTHON3" ] || { echo "hardening: no python3 imports h5py; run bash setup.sh" >&2; exit 1; }
COMPARE="$PYTHON3 $HERE/compare_outputs.py"

# compare_run KIND REF_DIR TEST_DIR: the final outputs of one kind of run, bit for bit.
compare_run() {
    local kind=$1 ref=$2 got=$3
    # the sweep's last line is the merge's, which names paths; its results.csv is compared below
    [ $kind = sweep ] || $COMPARE line "$(tail -1 "$ref.log")" "$(tail -1 "$got.log")" || return 1
    case $kind in
        blockap|e2eqp)
            $COMPARE st "$ref/model.safetensors" "$got/model.safetensors" || return 1
            $COMPARE h5 "$ref.work/train_log.h5" "$got.work/train_log.h5" ;;
        qfa)
            $COMPARE st "$ref/qfa.safetensors" "$got/qfa.safetensors" || return 1
            $COMPARE h5 "$ref.work/train_log.h5" "$got.work/train_log.h5" ;;
        sweep)
            cmp "$ref/results.csv" "$got/results.csv" || { echo "MISMATCH: $ref/results.csv vs $got/results.csv"; return 1; } ;;
    esac
}

# merge_sweep DIR: merges a finished sweep (results.csv) and appends the summary to DIR.log.
merge_sweep() { "$QAT" sweep merge "$1" >> "$1.log" 2>&1; }
