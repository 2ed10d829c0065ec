#!/usr/bin/env bash
# Tests/Fuzz/run.sh: builds and runs QATLab's libFuzzer targets (issue 12, part 1).
#
#   Tests/Fuzz/run.sh --list              the target names, one a line
#   Tests/Fuzz/run.sh TARGET SECONDS      replays TARGET's regression inputs, then fuzzes it
#   Tests/Fuzz/run.sh --ci                every target: regressions, then 20 s of fuzzing
#   Tests/Fuzz/run.sh --replay [TARGET]   regression inputs only (all targets by default)
#   Tests/Fuzz/run.sh --build             build every target and stop
# Exit status: 0 when nothing was found; 1 on any crash, ASan report, leak, timeout or
# out-of-memory (libFuzzer's artifact is kept under WORK/artifacts/TARGET/); 2 on usage or
# build errors. Extra libFuzzer flags can be passed in QAT_FUZZ_FLAGS (e.g. "-runs=1000000").
#
# How it is built, kept out of `swift build`:
#   1. SwiftPM builds the library modules (QATTensor ... QATTrain, QATEval and QATInterp) in their own
#      scratch directory SCRATCH (default .build-fuzz/san) with -sanitize=fuzzer,address (one flag:
#      swiftc keeps only the last -sanitize=; with -c, "fuzzer" means coverage instrumentation
#      only, libFuzzer's main is linked in step 2; check: libFuzzer's "INFO: Loaded 1 modules
#      (N inline 8-bit counters)" shows N ~ 87,000, not ~600), and
#      -enable-testing so targets can reach internal readers (@testable import).
#   2. swiftc compiles each target, Support.swift (the entry points) and, for the checkpoint
#      targets, TinyCheckpoint.swift and Tests/QATTrainTests/TinyQuantizedModel.swift, links them with the modules' object files (the list is
#      read from SwiftPM's per-module `sources` file, so deleted sources leave no stale objects)
#      and libFuzzer + ASan, into WORK/bin/TARGET (default WORK .build-fuzz/work).
# Layout under WORK: bin/TARGET, corpus/TARGET/ (grown by fuzzing; seeded on first use by
# running the target with QAT_FUZZ_SEEDS=DIR, see Support.swift), artifacts/TARGET/.
# Tests/Fuzz/regressions/TARGET/ holds every input that ever crashed a target (fixed since);
# each is replayed here and, for blockap, by the Swift Testing suite FuzzRegressionTests (QATTrainTests).
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
FUZZ="$ROOT/Tests/Fuzz"
SCRATCH="${QAT_FUZZ_SCRATCH:-$ROOT/.build-fuzz/san}"
WORK="${QAT_FUZZ_WORK:-$ROOT/.build-fuzz/work}"
TARGETS=(gguf safetensors config tokenizer native gptq blockap hdf5 interp mcdata)
MODULES=(QATTensor QATAutograd QATIO QATTokenizer QATModel QATEval QATQuant QATTrain QATInterp)
CI_SECONDS=20
export QAT_ROOT="$ROOT"
# Leaks are findings, except the upstream ones listed (with evidence) in lsan.supp.
export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:allocator_may_return_null=1}"
export LSAN_OPTIONS="${LSAN_OPTIONS:-suppressions=$FUZZ/lsan.supp:print_suppressions=0}"

die() { echo "run.sh: $*" >&2; exit 2; }

# Per target: extra sources and the largest input libFuzzer makes (real seeds are bigger for
# the binary formats).
extra_sources() { case "$1" in native|gptq|blockap) echo "$FUZZ/TinyCheckpoint.swift $ROOT/Tests/QATTrainTests/TinyQuantizedModel.swift" ;; esac; }
max_len() {
    case "$1" in
        gguf) echo 131072 ;; safetensors|native|gptq) echo 65536 ;; blockap) echo 32768 ;; mcdata) echo 4096 ;; *) echo 16384 ;;
    esac
}

build_modules() {
    [ -n "${QAT_FUZZ_SKIP_MODULES:-}" ] && return 0   # iterating on the targets only
    # One -sanitize= flag with both sanitizers: swiftc keeps only the LAST -sanitize= option, so
    # "-sanitize=fuzzer -sanitize=address" built ASan-only objects with no coverage counters
    # (libFuzzer then saw ~600 PCs, all from the target file, and could not steer the readers).
    local flags=(-c release --scratch-path "$SCRATCH" -Xswiftc -sanitize=fuzzer,address -Xswiftc -enable-testing)
    (cd "$ROOT" && swift build "${flags[@]}" --target QATTrain && swift build "${flags[@]}" --target QATEval && swift build "${flags[@]}" --target QATInterp) >&2 \
        || die "building the instrumented modules failed (see above)"
}

module_objects() {
    local m src dir="$SCRATCH/release"
    for m in "${MODULES[@]}"; do
        [ -f "$dir/$m.build/sources" ] || die "$dir/$m.build/sources is missing: the module build did not run"
        while read -r src; do
            src="${src//\\ / }"
            echo "$dir/$m.build/$(basename "$src").o"
        done < "$dir/$m.build/sources"
    done
}

build_target() {
    local t="$1" objs
    mkdir -p "$WORK/bin"
    mapfile -t objs < <(module_objects)
    # shellcheck disable=SC2046
    swiftc -O -sanitize=fuzzer,address -parse-as-library -module-name "Fuzz_$t" -target-cpu haswell \
        -I "$SCRATCH/release/Modules" \
        -Xcc -fmodule-map-file="$ROOT/Sources/CHDF5/module.modulemap" \
        -Xcc -fmodule-map-file="$ROOT/Sources/CBLAS/module.modulemap" \
        -Xcc -fmodule-map-file="$SCRATCH/release/CBF16.build/module.modulemap" -Xcc -I"$ROOT/Sources/CBF16/include" \
        $(pkg-config --cflags-only-I hdf5 openblas) \
        "$FUZZ/Support.swift" $(extra_sources "$t") "$FUZZ/Targets/$t.swift" "${objs[@]}" "$SCRATCH/release/CBF16.build/bf16.c.o" \
        $(pkg-config --libs hdf5 openblas) -ldnnl -lgomp -o "$WORK/bin/$t" 2> "$WORK/bin/$t.log" \
        || { grep -v "Cannot export local symbol" "$WORK/bin/$t.log" >&2; die "building target $t failed"; }
}

seed_corpus() {
    local t="$1" dir="$WORK/corpus/$1"
    mkdir -p "$dir"
    if [ -z "$(ls -A "$dir")" ]; then QAT_FUZZ_SEEDS="$dir" "$WORK/bin/$t"; fi
}

replay() {
    local t="$1" dir="$FUZZ/regressions/$1"
    [ -d "$dir" ] && [ -n "$(ls -A "$dir")" ] || return 0
    echo "== $t: replaying $(ls "$dir" | wc -l) regression inputs"
    "$WORK/bin/$t" -runs=1 -rss_limit_mb=2048 -timeout=20 "$dir"/* > "$WORK/artifacts/$t.replay.log" 2>&1 \
        || { tail -40 "$WORK/artifacts/$t.replay.log"; echo "run.sh: $t FAILED on a regression input"; return 1; }
}

fuzz() {
    local t="$1" secs="$2" reg="$FUZZ/regressions/$1" status=0
    mkdir -p "$WORK/artifacts/$t" "$reg"
    seed_corpus "$t"
    replay "$t" || return 1
    echo "== $t: fuzzing for $secs s (corpus $(ls "$WORK/corpus/$t" | wc -l) files)"
    # shellcheck disable=SC2086
    nice -n 10 "$WORK/bin/$t" -max_total_time="$secs" -max_len="$(max_len "$t")" -timeout=10 -rss_limit_mb=2048 \
        -print_final_stats=1 -artifact_prefix="$WORK/artifacts/$t/" ${QAT_FUZZ_FLAGS:-} \
        "$WORK/corpus/$t" "$reg" > "$WORK/artifacts/$t.log" 2>&1 || status=$?
    grep -E "^stat::number_of_executed_units|^stat::average_exec_per_sec|^stat::peak_rss_mb" "$WORK/artifacts/$t.log" | tr '\n' ' '
    echo "corpus=$(ls "$WORK/corpus/$t" | wc -l)"
    if [ "$status" -ne 0 ]; then
        grep -E -A30 "ERROR: |==ERROR|Fatal error|SUMMARY" "$WORK/artifacts/$t.log" | head -60
        echo "run.sh: $t FAILED (exit $status); artifacts in $WORK/artifacts/$t/"
        return 1
    fi
}

known() { local t; for t in "${TARGETS[@]}"; do [ "$t" = "$1" ] && return 0; done; return 1; }

mkdir -p "$WORK/artifacts"
case "${1:-}" in
    --list) printf '%s\n' "${TARGETS[@]}" ;;
    --build) build_modules; for t in "${TARGETS[@]}"; do build_target "$t"; done ;;
    --replay)
        build_modules
        failed=0
        for t in "${2:-${TARGETS[@]}}"; do known "$t" || die "unknown target '$t'"; build_target "$t"; replay "$t" || failed=1; done
        exit $failed ;;
    --ci)
        build_modules
        failed=0
        for t in "${TARGETS[@]}"; do build_target "$t"; fuzz "$t" "$CI_SECONDS" || failed=1; done
        exit $failed ;;
    ""|-h|--help) sed -n '2,9p' "$0"; exit 2 ;;
    *)
        known "$1" || die "unknown target '$1'; run.sh --list names them"
        [[ "${2:-}" =~ ^[0-9]+$ ]] || die "give the seconds to fuzz: run.sh $1 SECONDS"
        build_modules
        build_target "$1"
        fuzz "$1" "$2" ;;
esac
