#!/usr/bin/env bash
# A read-only output directory is refused before any work starts (issue 12, part 3).
#
#   Tests/Hardening/readonly_out.sh        (QAT=path/to/qat)
#
# The directory is a read-only bind mount (mount --bind, then remount ro): the tests run as
# root, and root passes every permission-bit check, so `chmod a-w` would test nothing; a
# read-only mount refuses root too (EROFS), as a read-only NFS export or a full-quota volume
# would. Without mount(2) the directory is /proc, which refuses new files to root as well.
# Every writing verb gets out= (dump: its FILE) inside it and a MODEL (or notebook) that does
# not exist: the error must name the output directory, not the missing model, which shows the
# check comes before loading anything; and the verb must print nothing else.
# Ends `readonly_out=ok verbs=N`.
source "$(dirname "$0")/lib.sh"
fail() { echo "readonly_out=FAIL: $*"; exit 1; }
ro=$WORK/ro
mkdir -p "$ro"
if mount --bind "$ro" "$ro" 2>/dev/null && mount -o remount,ro,bind "$ro" 2>/dev/null; then
    how="a read-only bind mount"
    trap 'umount "$ro" 2>/dev/null; cleanup_work' EXIT
else
    umount "$ro" 2>/dev/null
    ro=/proc
    how="/proc (mount not permitted here)"
fi
touch "$ro/probe" 2>/dev/null && fail "$ro accepts files; the test would test nothing"

missing=$WORK/no-such-model
verbs=(
    "blockap $missing out=$ro/bap"
    "blockap $missing out=$WORK/ok dump=$ro/d.h5"
    "e2eqp $missing out=$ro/e2e"
    "qfa train $missing base=rtn out=$ro/qfa"
    "qfa subnet $missing bits=3 out=$ro/sub"
    "quantize $missing method=rtn bits=4 out=$ro/q"
    "export $missing format=fp out=$ro/x"
    "dump $ro/sub/d.h5 no_such_variable"
    "sweep $WORK/no-such.qat grid=bits=[2] out=$ro/sw"
)
for v in "${verbs[@]}"; do
    # shellcheck disable=SC2086  # the verb line is split into words on purpose
    out=$("$QAT" $v 2>&1) && fail "'qat $v' succeeded"
    echo "$out" | grep -q "cannot write in the directory $ro" || fail "'qat $v' did not name $ro: $out"
    [ "$(echo "$out" | wc -l)" -le 2 ] || fail "'qat $v' printed more than its error (work started?): $out"
    echo "$out" | grep -q "no-such" && fail "'qat $v' looked at its input before checking the output: $out"
done
echo "refused before any work, on $how: ${#verbs[@]} verb lines"
echo "readonly_out=ok verbs=${#verbs[@]}"
