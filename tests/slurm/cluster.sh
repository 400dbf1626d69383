#!/usr/bin/env bash
# A one-node SLURM cluster on 127.0.0.1 for the engine tests; no systemd.
#
#   tests/slurm/cluster.sh start DIR   # config, munge key, state and logs under DIR; waits until the node is idle
#   tests/slurm/cluster.sh stop DIR    # cancels the cluster's jobs, stops the daemons this script started (by PID)
#
# Clients find the cluster through SLURM_CONF=DIR/slurm.conf. Nothing outside
# DIR is written. Needs root (the daemons run as root) and the Debian packages
# slurmctld, slurmd, slurm-client and munge.
#
# Ports: JOBRUN_SLURM_CTLD_PORT (default 6817), JOBRUN_SLURM_SLURMD_PORT (6818).
set -euo pipefail

cmd=${1:-}
D=${2:-}
if [[ -z $cmd || -z $D ]]; then
  echo "usage: $0 start|stop DIR" >&2
  exit 2
fi
mkdir -p "$D"
D=$(cd "$D" && pwd)
CONF=$D/slurm.conf
SOCK=$D/munge/munge.socket.2
export SLURM_CONF=$CONF

say() { echo "[cluster] $*" >&2; }

# Is the pid in this pid file alive and still the program we started?
ours() {
  local f=$D/run/$1.pid p
  [[ -s $f ]] || return 1
  p=$(<"$f")
  [[ $(cat "/proc/$p/comm" 2>/dev/null) == "$1" ]]
}

write_config() {
  mkdir -p "$D"/{munge,key,ctld,spool,log,run}
  chmod 0755 "$D/munge"
  chmod 0700 "$D/key"
  # The name only has to be one slurmctld takes for this host; every address is pinned to loopback.
  cat >"$CONF" <<EOF
ClusterName=jobrun-test
SlurmctldHost=localhost(127.0.0.1)
SlurmctldPort=${JOBRUN_SLURM_CTLD_PORT:-6817}
SlurmdPort=${JOBRUN_SLURM_SLURMD_PORT:-6818}
CommunicationParameters=NoCtldInAddrAny,NoInAddrAny
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$SOCK
SlurmUser=root
SlurmdUser=root
StateSaveLocation=$D/ctld
SlurmdSpoolDir=$D/spool
SlurmctldPidFile=$D/run/slurmctld.pid
SlurmdPidFile=$D/run/slurmd.pid
SlurmctldLogFile=$D/log/slurmctld.log
SlurmdLogFile=$D/log/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
SchedulerType=sched/backfill
# Start array tasks as soon as a CPU is free (the default delay is a 3 s tick).
SchedulerParameters=batch_sched_delay=0,sched_min_interval=0
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
MpiDefault=none
MailProg=/bin/true
ReturnToService=2
InactiveLimit=0
KillWait=5
Waittime=0
MinJobAge=300
NodeName=localhost NodeAddr=127.0.0.1 CPUs=$(nproc) State=UNKNOWN
PartitionName=test Nodes=ALL Default=YES MaxTime=INFINITE State=UP
EOF
  if [[ ! -s $D/key/munge.key ]]; then
    head -c 1024 /dev/urandom >"$D/key/munge.key"
    chmod 0400 "$D/key/munge.key"
  fi
}

wait_for() { # tries command...
  local n=$1; shift
  for ((i = 0; i < n; i++)); do
    "$@" >/dev/null 2>&1 && return 0
    sleep 0.1
  done
  return 1
}

node_up() {
  local st
  st=$(sinfo -h -n localhost -o %T 2>/dev/null) || return 1
  [[ $st == idle* || $st == mixed* || $st == allocated* ]]
}

queue_empty() { [[ -z $(squeue -h 2>/dev/null) ]]; }

fail() {
  say "$1"
  tail -n 20 "$D"/log/*.log >&2 2>/dev/null || true
  exit 1
}

start() {
  local t0=$EPOCHREALTIME
  write_config
  if ! ours munged; then
    munged --force --socket="$SOCK" --key-file="$D/key/munge.key" \
      --pid-file="$D/run/munged.pid" --log-file="$D/log/munged.log" \
      --seed-file="$D/key/munged.seed"
    wait_for 50 test -S "$SOCK" || fail "munged did not start"
  fi
  if ! ours slurmctld; then
    slurmctld -f "$CONF" -i
    wait_for 100 scontrol ping || fail "slurmctld did not answer"
  fi
  if ! ours slurmd; then
    slurmd -f "$CONF" -N localhost
  fi
  if ! wait_for 200 node_up; then
    scontrol update nodename=localhost state=resume 2>/dev/null || true
    wait_for 50 node_up || fail "the node did not come up"
  fi
  say "up in $(awk "BEGIN { printf \"%.2f\", $EPOCHREALTIME - $t0 }")s: SLURM_CONF=$CONF"
}

stop() {
  local name p jobs
  # Jobs first, so no job step outlives its daemons.
  if ours slurmctld; then
    jobs=$(squeue -h -o %A 2>/dev/null | sort -u | tr '\n' ' ' || true)
    if [[ -n ${jobs// /} ]]; then
      # shellcheck disable=SC2086 # one word per job id
      scancel $jobs 2>/dev/null || true
      wait_for 100 queue_empty || true
    fi
  fi
  for name in slurmd slurmctld munged; do
    if ours "$name"; then
      p=$(<"$D/run/$name.pid")
      kill -TERM "$p"
      for _ in $(seq 100); do [[ -d /proc/$p ]] || break; sleep 0.1; done
      [[ -d /proc/$p ]] && kill -KILL "$p"
    fi
    rm -f "$D/run/$name.pid"
  done
  say "stopped"
}

case $cmd in
  start) start ;;
  stop) stop ;;
  *) echo "usage: $0 start|stop DIR" >&2; exit 2 ;;
esac
