#!/usr/bin/env bash
# CI check of sweeps on a real Slurm cluster (issue 11), on one Debian 12 machine as root:
#   1. starts munged (unless munge already works), slurmctld and slurmd in the foreground in the
#      background, with their own slurm.conf, state and logs in a temporary directory
#      (SLURM_CONF points the clients at it; /etc/slurm is not touched);
#   2. runs a 4-task sweep of Tests/Slurm/sweep_quick.qat (quick=1) with backend=local jobs=2
#      and through sbatch (backend=slurm cpus=1 wait=1), merges both and checks the merged
#      tables are identical (same seeds and one thread per task on both sides);
#   3. deletes one task's result, runs the Slurm sweep again and checks that only that task ran
#      (the array holds only its index, the other results keep their inodes) and the merge is
#      still identical;
#   4. stops the daemons it started by process id.
# Recipe: docs/slurm_local.md. Usage: bash Tests/Slurm/run_slurm_sweep.sh
# (QAT=path/to/qat, default .build/release/qat; KEEP=1 keeps the work directory).
set -euo pipefail
cd "$(dirname "$0")/../.."
QAT=$(realpath "${QAT:-.build/release/qat}")
NOTEBOOK=Tests/Slurm/sweep_quick.qat
GRID="bits=[2 3] seed=[1 2]"
work=$(mktemp -d /tmp/qat-slurm-XXXXXX)
pids=()

say() { echo "slurm-sweep: $*"; }
fail() { echo "slurm-sweep: FAILED: $*" >&2; exit 1; }

cleanup() {
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    for p in "${pids[@]}"; do
        for _ in $(seq 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
    done
    [ "${KEEP:-0}" = 1 ] && say "kept $work" || rm -rf "$work"
}
trap cleanup EXIT

[ "$(id -u)" -eq 0 ] || fail "run as root (the daemons run as root in this single-node test cluster)"
[ -x "$QAT" ] || fail "$QAT is not built; run: swift build -c release --product qat"
if ! command -v slurmctld >/dev/null || ! command -v munged >/dev/null; then
    say "installing slurm-wlm munge"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq slurm-wlm munge >/dev/null
fi

# --- munge (shared with anything already using it: only started, and stopped, when not running)
if ! munge -n 2>/dev/null | unmunge >/dev/null 2>&1; then
    if [ ! -s /etc/munge/munge.key ]; then
        say "creating /etc/munge/munge.key (mungekey -c)"
        mungekey -c -f -k /etc/munge/munge.key || fail "/etc/munge/munge.key is missing and mungekey -c failed"
    fi
    chown munge:munge /etc/munge/munge.key && chmod 400 /etc/munge/munge.key
    mkdir -p /run/munge && chown munge:munge /run/munge
    su -s /bin/sh munge -c /usr/sbin/munged
    for _ in $(seq 50); do [ -s /run/munge/munged.pid ] && break; sleep 0.1; done
    pids+=("$(cat /run/munge/munged.pid)")
    munge -n | unmunge >/dev/null || fail "munged started but munge -n | unmunge fails"
fi

# --- slurmctld + slurmd on localhost, configuration and state under $work
mem=$(( $(awk '/MemTotal/ {print $2}' /proc/meminfo) / 1024 * 8 / 10 ))
mkdir -p "$work/state" "$work/spool"
cat > "$work/slurm.conf" <<EOF
ClusterName=qatlab
SlurmctldHost=localhost
SlurmctldPort=${SLURMCTLD_PORT:-6817}
SlurmdPort=${SLURMD_PORT:-6818}
SlurmUser=root
AuthType=auth/munge
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
MpiDefault=none
ReturnToService=2
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
StateSaveLocation=$work/state
SlurmdSpoolDir=$work/spool
SlurmctldPidFile=$work/slurmctld.pid
SlurmdPidFile=$work/slurmd.pid
SlurmctldLogFile=$work/slurmctld.log
SlurmdLogFile=$work/slurmd.log
JobAcctGatherType=jobacct_gather/none
NodeName=localhost NodeHostname=$(hostname) CPUs=$(nproc) RealMemory=$mem State=UNKNOWN
PartitionName=debug Nodes=localhost Default=YES MaxTime=INFINITE State=UP
EOF
export SLURM_CONF=$work/slurm.conf
slurmctld -D -f "$SLURM_CONF" >"$work/slurmctld.out" 2>&1 & pids+=($!)
slurmd -D -f "$SLURM_CONF" -N localhost >"$work/slurmd.out" 2>&1 & pids+=($!)
for i in $(seq 60); do
    [ "$(sinfo -h -o %t 2>/dev/null)" = idle ] && break
    [ "$i" = 60 ] && { tail -5 "$work/slurmctld.log" "$work/slurmd.log" >&2; fail "the node did not come up idle in 30 s"; }
    sleep 0.5
done
say "cluster up: $(sinfo -h -o '%P %D %t %c')"

# --- the same grid on both backends
"$QAT" sweep "$NOTEBOOK" grid="$GRID" out="$work/local" backend=local jobs=2 quick=1
"$QAT" sweep merge "$work/local" >/dev/null
"$QAT" sweep "$NOTEBOOK" grid="$GRID" out="$work/slurm" backend=slurm cpus=1 wait=1 quick=1
"$QAT" sweep status "$work/slurm"
"$QAT" sweep merge "$work/slurm"
cmp "$work/local/results.csv" "$work/slurm/results.csv" || fail "merged tables differ (local vs slurm)"
say "merged tables identical: $(($(wc -l < "$work/slurm/results.csv") - 1)) rows"

# --- kill one task's result; the re-run must redo only that task
before=$(stat -c '%n %i' "$work"/slurm/tasks/000[013].h5)
rm "$work/slurm/tasks/0002.h5"
"$QAT" sweep status "$work/slurm" | grep -q 'missing=1' || fail "status does not report the deleted result as missing"
rerun=$("$QAT" sweep "$NOTEBOOK" grid="$GRID" out="$work/slurm" backend=slurm cpus=1 wait=1 quick=1)
echo "$rerun"
echo "$rerun" | grep -q 'to_run=1' || fail "the re-run did not plan exactly one task"
echo "$rerun" | grep -q 'array=2$' || fail "the re-run's array is not just task 2"
job=$(echo "$rerun" | sed -n 's/^slurm_job=//p')
ran=$(cd "$work/slurm/slurm" && ls "${job}"_*.out | tr '\n' ' ')
[ "$ran" = "${job}_2.out " ] || fail "the re-run job $job ran: $ran (expected only ${job}_2.out)"
[ "$(stat -c '%n %i' "$work"/slurm/tasks/000[013].h5)" = "$before" ] || fail "results of tasks 0, 1, 3 were rewritten"
"$QAT" sweep merge "$work/slurm" >/dev/null
cmp "$work/local/results.csv" "$work/slurm/results.csv" || fail "merged tables differ after the re-run"
say "slurm_sweep=ok tasks=4 rerun_tasks=1 job=$job"
