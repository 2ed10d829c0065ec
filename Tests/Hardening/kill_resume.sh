#!/usr/bin/env bash
# Kill/resume harness (issue 12, part 3): Block-AP, E2E-QP, LLM-QFA training and a local sweep
# on the embedded tiny model are killed with SIGKILL at seeded random moments and resumed until
# done; the final outputs must equal an uninterrupted run's bit for bit.
#
#   Tests/Hardening/kill_resume.sh            (QAT=path/to/qat, KILL_SEED=N, KILLS_PER_RUN=N)
#
# For each run: one uninterrupted reference; then episodes, each on a fresh directory: attempts
# started with resume=1 (the sweep: the same command again) and killed with SIGKILL (the whole
# process group, so a sweep's tasks die too) after a delay drawn in [0, 0.9 x the reference's
# wall time), until an attempt finishes before its kill moment or 4 kills landed; then a last
# resume to the end and the comparison; episodes repeat until KILLS_PER_RUN (6) kills landed per
# run. Compared: the summary line's numbers (not tok_per_s, seconds, peak_rss_mb, out), the
# checkpoint tensors (names, dtypes, shapes, bytes), every dataset and attribute of train_log.h5
# (not seconds, peak_rss_mb), the sweep's merged results.csv; and no X.tmp-<pid> / X.old-<pid> of a
# killed attempt may remain in the output (the next write of X reclaims it).
# Ends `kill_resume=ok points=N` (N: attempts killed while running), exit 1 on any mismatch.
source "$(dirname "$0")/lib.sh"
rng_seed "${KILL_SEED:-12}"
PER_RUN=${KILLS_PER_RUN:-6}
mkdir -p "$WORK/ref" "$WORK/kill"
POINTS=0

# attempt KIND OUT DELAY_MS: one resumed run killed after DELAY_MS; sets HIT=1 when it was
# still running at that moment.
attempt() {
    local kind=$1 out=$2 delay=$3
    # setsid: the run leads its own process group, so the kill reaches the sweep's tasks too
    "args_$kind" "$out"
    [ "$kind" = sweep ] || ARGS+=(resume=1)
    # setsid: the run leads its own process group, so the kill reaches the sweep's tasks too
    setsid "$QAT" "${ARGS[@]}" >> "$out.log" 2>&1 &
    local pid=$!
    sleep "$(printf '%d.%03d' $((delay / 1000)) $((delay % 1000)))"
    if kill -0 "$pid" 2>/dev/null; then
        kill -KILL -- "-$pid" 2>/dev/null && HIT=1 || HIT=0
    else
        HIT=0
    fi
    wait "$pid" 2>/dev/null
    # tasks of a killed sweep die with their group; give the kernel a moment to reap them
    sleep 0.05
}

# episode KIND DIR: attempts on a fresh DIR until one finishes before its kill moment (or 4
# kills landed), then the last resume and the comparison with the reference; adds to HITS.
episode() {
    local kind=$1 dir=$2 landed=0
    while [ $landed -lt 4 ]; do
        rand_below $(( DUR * 9 / 10 + 1 ))
        attempt $kind "$dir" "$R"
        [ $HIT = 1 ] || break
        landed=$((landed + 1))
    done
    if [ $kind = sweep ]; then
        run_kind sweep "$dir" >> "$dir.log" 2>&1 && merge_sweep "$dir"
    else
        run_kind $kind "$dir" resume=1 >> "$dir.log" 2>&1
    fi || { echo "kill_resume=FAIL: the last resume of $kind failed:"; tail -5 "$dir.log"; trap - EXIT; exit 1; }
    if ! compare_run $kind "$WORK/ref/$kind" "$dir"; then
        echo "kill_resume=FAIL run=$kind after $landed kills (work dir kept: $WORK)"
        trap - EXIT
        exit 1
    fi
    # what the killed attempts left half-written was reclaimed by the resumes (InterruptedWrites)
    local left
    left=$( { find "$dir" "$dir.work" \( -name '*.tmp-*' -o -name '*.old-*' \) 2>/dev/null; ls -d "$dir".tmp-* "$dir".old-* 2>/dev/null; } || true)
    if [ -n "$left" ]; then
        echo "kill_resume=FAIL run=$kind: temporaries of killed attempts were left behind:"; echo "$left"
        trap - EXIT
        exit 1
    fi
    HITS=$((HITS + landed))
}

for kind in blockap e2eqp qfa sweep; do
    start=$(now_ms)
    run_kind $kind "$WORK/ref/$kind" > "$WORK/ref/$kind.log" 2>&1 || { echo "reference $kind failed:"; tail -5 "$WORK/ref/$kind.log"; exit 1; }
    [ $kind = sweep ] && merge_sweep "$WORK/ref/$kind"
    DUR=$(( $(now_ms) - start ))
    HITS=0 n=0
    while [ $HITS -lt "$PER_RUN" ] && [ $n -lt $((PER_RUN * 3)) ]; do
        episode $kind "$WORK/kill/$kind-$n"
        n=$((n + 1))
    done
    echo "$kind: reference ${DUR} ms; $HITS kills over $n killed-and-resumed runs, each identical to the reference"
    POINTS=$((POINTS + HITS))
done
if [ $POINTS -lt 20 ]; then echo "kill_resume=FAIL only $POINTS kill points landed (need 20)"; exit 1; fi
echo "kill_resume=ok points=$POINTS"
