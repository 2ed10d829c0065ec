#!/usr/bin/env bash
# Disk full during a checkpoint or dump write (issue 12, part 3). Each case: the command exits
# non-zero with an error that names the file and says the disk or the file-size limit is full;
# the previous checkpoint is intact and loadable (a resume with space restored finishes and
# equals an uninterrupted run bit for bit); no temporary file is left under a final name.
#
#   Tests/Hardening/disk_full.sh        (QAT=path/to/qat)
#
# 1. Block-AP under a file-size limit (ulimit -f, SIGXFSZ ignored so write(2) returns EFBIG): the
#    per-block files (190 KB) fit, the final checkpoint's model.safetensors (890 KB) does not.
# 2. E2E-QP on a 1 MiB tmpfs (ENOSPC): the resumable state fits, the final checkpoint does not;
#    the tmpfs is then grown and the run resumed. Without mount(2) (not root, no CAP_SYS_ADMIN)
#    the case runs under ulimit -f instead and says so.
# 3. dump of a 2 MB tensor under ulimit -f over an earlier dump of the same name: the earlier
#    file stays byte for byte, and the process exits cleanly (it used to crash in libhdf5's
#    atexit handler after the failed close).
# Ends `disk_full=ok cases=3`.
source "$(dirname "$0")/lib.sh"
mkdir -p "$WORK/ref" "$WORK/full"
fail() { echo "disk_full=FAIL: $*"; exit 1; }

# expect_full LOG NAME: the run failed with an error naming NAME and a full disk or limit
expect_full() {
    grep -q "error" "$1" || fail "no error in $1"
    grep -E "error.*$2" "$1" | grep -qE "disk is full|file-size limit|disk full" || { tail -3 "$1"; fail "the error does not name $2 and a full disk/limit"; }
    ! grep -q "Program crashed\|Signal 11" "$1" || fail "crashed: $1"
}

# ---- 1. Block-AP, file-size limit on the final checkpoint
run_kind blockap "$WORK/ref/blockap" > "$WORK/ref/blockap.log" 2>&1 || fail "reference blockap"
out=$WORK/full/blockap
(trap '' XFSZ; ulimit -f 400; run_kind blockap "$out") > "$out.log" 2>&1 && fail "blockap under ulimit -f 400 succeeded"
expect_full "$out.log" "model.safetensors"
[ "$(ls "$out.work/blockap"/block_*.safetensors | wc -l)" = 4 ] || fail "the block checkpoints are not all there"
ls "$out.work/blockap" | grep -q tmp && fail "a temporary file was left in $out.work/blockap"
run_kind blockap "$out" resume=1 >> "$out.log" 2>&1 || fail "resume after the full disk failed"
grep -c "restored from the checkpoint" "$out.log" | grep -qx 4 || fail "the resume did not restore the 4 finished blocks"
compare_run blockap "$WORK/ref/blockap" "$out" || fail "blockap resumed after a full disk differs from the reference"
echo "blockap: final checkpoint hit the file-size limit; clear error; resumed from the intact block checkpoints, identical"

# ---- 2. E2E-QP on a small file system
run_kind e2eqp "$WORK/ref/e2eqp" > "$WORK/ref/e2eqp.log" 2>&1 || fail "reference e2eqp"
fs=$WORK/full/fs; mkdir -p "$fs"
if mount -t tmpfs -o size=1m tmpfs "$fs" 2>/dev/null; then
    how="a 1 MiB tmpfs (ENOSPC)"
    out=$fs/e2eqp
    run_kind e2eqp "$out" > "$WORK/full/e2eqp.log" 2>&1 && { umount "$fs"; fail "e2eqp on a 1 MiB tmpfs succeeded"; }
    cp -r "$out.work" "$WORK/full/state-after-failure"
    mount -o remount,size=64m "$fs" || fail "cannot grow the tmpfs"
    run_kind e2eqp "$out" resume=1 >> "$WORK/full/e2eqp.log" 2>&1 || { umount "$fs"; fail "resume after the full disk failed"; }
    cp -r "$out" "$out.work" "$WORK/full/" && umount "$fs"
    out=$WORK/full/e2eqp
else
    how="ulimit -f 600 (mount not permitted here)"
    out=$WORK/full/e2eqp
    (trap '' XFSZ; ulimit -f 600; run_kind e2eqp "$out") > "$WORK/full/e2eqp.log" 2>&1 && fail "e2eqp under ulimit -f succeeded"
    cp -r "$out.work" "$WORK/full/state-after-failure"
    run_kind e2eqp "$out" resume=1 >> "$WORK/full/e2eqp.log" 2>&1 || fail "resume after the full disk failed"
fi
expect_full "$WORK/full/e2eqp.log" "safetensors"
grep -q "resumed at step 16" "$WORK/full/e2eqp.log" || fail "the resume did not start from the saved state (step 16)"
$COMPARE st "$WORK/full/state-after-failure/e2eqp/state.safetensors" "$out.work/e2eqp/state.safetensors" || fail "the state changed"
compare_run e2eqp "$WORK/ref/e2eqp" "$out" || fail "e2eqp resumed after a full disk differs from the reference"
echo "e2eqp: final checkpoint hit $how; clear error; resumed from the intact state, identical"

# ---- 3. an HDF5 dump over an earlier one
d=$WORK/full/dump.h5
printf 'x = randn 4 4 seed=1\ndump %s x\n' "$d" > "$WORK/small.qat"
printf 'x = randn 512 1024 seed=1\ndump %s x\n' "$d" > "$WORK/big.qat"
"$QAT" run "$WORK/small.qat" > /dev/null 2>&1 || fail "the small dump failed"
cp "$d" "$WORK/dump-before.h5"
(trap '' XFSZ; ulimit -f 500; "$QAT" run "$WORK/big.qat") > "$WORK/full/dump.log" 2>&1
rc=$?
[ $rc = 1 ] || { tail -3 "$WORK/full/dump.log"; fail "dump under ulimit -f exited $rc, expected 1 (an error, not a crash)"; }
expect_full "$WORK/full/dump.log" "dump.h5"
cmp -s "$d" "$WORK/dump-before.h5" || fail "the earlier dump changed"
ls "$WORK/full" | grep -q "dump.h5.tmp" && fail "a temporary dump file was left"
echo "dump: hit the file-size limit; clear error, clean exit; the earlier file is unchanged"
echo "disk_full=ok cases=3"
