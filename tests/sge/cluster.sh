#!/usr/bin/env bash
# A one-node Son of Grid Engine for the engine tests (Debian packages
# gridengine-master, gridengine-exec, gridengine-client); no systemd.
#
#   tests/sge/cluster.sh start   # configures the cell, starts master and exec daemon, waits for the queue
#   tests/sge/cluster.sh stop    # deletes the cluster's jobs, stops both daemons
#
# Needs root. Grid Engine's ports (6444/6445) are fixed and it keeps its
# state in /var/lib/gridengine, so there is one such cluster per machine.
# The packages must have been installed with the master preseeded to this
# host (see .ci/run).
set -euo pipefail

cmd=${1:-}
HOST=$(hostname)
CELL=/var/lib/gridengine/default
say() { echo "[sge] $*" >&2; }

wait_for() { # tries command...
  local n=$1; shift
  for ((i = 0; i < n; i++)); do
    "$@" >/dev/null 2>&1 && return 0
    sleep 0.1
  done
  return 1
}

fail() {
  say "$1"
  tail -n 20 /var/spool/gridengine/qmaster/messages "/var/spool/gridengine/execd/$HOST/messages" >&2 2>/dev/null || true
  exit 1
}

# The queue instance is there and carries no state letter (u, E, d, ...).
queue_ready() {
  local line
  line=$(qstat -f -q all.q 2>/dev/null | grep "^all.q@") || return 1
  [[ $(awk '{print NF}' <<<"$line") -eq 5 ]]
}

# A live (not zombie) process with this name.
alive() {
  local p
  for p in $(pgrep -x "$1"); do
    [[ $(awk '{print $3}' "/proc/$p/stat" 2>/dev/null) != Z ]] && return 0
  done
  return 1
}

start() {
  local t0=$EPOCHREALTIME tmp
  # 127.0.0.1 resolves to `localhost`: without the alias every command is "access denied".
  echo "$HOST localhost" >"$CELL/common/host_aliases"
  if ! alive sge_qmaster; then
    /etc/init.d/gridengine-master start >/dev/null
    wait_for 100 qhost || fail "sge_qmaster did not answer"
  fi
  wait_for 100 qconf -sconf global || fail "sge_qmaster does not answer qconf"
  tmp=$(mktemp -d)
  qconf -as "$HOST" >/dev/null 2>&1 || true
  # Root may run jobs (min_uid/min_gid); finished tasks reach qacct within a second.
  qconf -sconf global | sed -e 's/^min_uid .*/min_uid 0/' -e 's/^min_gid .*/min_gid 0/' \
    -e 's/flush_time=[^,[:space:]]*/flush_time=00:00:01/' >"$tmp/global"
  qconf -Mconf "$tmp/global" >/dev/null 2>&1 || true
  qconf -ssconf | sed 's/^schedule_interval .*/schedule_interval 0:0:1/' >"$tmp/sched"
  qconf -Msconf "$tmp/sched" >/dev/null 2>&1 || true
  if ! qconf -shgrp @allhosts >/dev/null 2>&1; then
    printf 'group_name @allhosts\nhostlist %s\n' "$HOST" >"$tmp/hgrp"
    qconf -Ahgrp "$tmp/hgrp" >/dev/null
  fi
  # The default template names a parallel environment `smp` that does not exist, and
  # its load threshold puts the queue in alarm (no job starts) on a busy machine.
  local qop=-Mq
  qconf -sq all.q >"$tmp/q0" 2>/dev/null || { qconf -sq >"$tmp/q0"; qop=-Aq; }
  sed -e 's/^qname .*/qname all.q/' -e 's/^hostlist .*/hostlist @allhosts/' \
    -e 's/^slots .*/slots 4/' -e 's/^pe_list .*/pe_list NONE/' \
    -e 's/^load_thresholds .*/load_thresholds NONE/' "$tmp/q0" >"$tmp/q"
  qconf "$qop" "$tmp/q" >/dev/null
  rm -rf "$tmp"
  if ! alive sge_execd; then
    /etc/init.d/gridengine-exec start >/dev/null
  fi
  wait_for 300 queue_ready || fail "the queue all.q did not come up"
  say "up in $(awk "BEGIN { printf \"%.2f\", $EPOCHREALTIME - $t0 }")s"
}

stop() {
  if qhost >/dev/null 2>&1; then
    qdel -u '*' '*' >/dev/null 2>&1 || true
    # The init script's stop does not stop the master.
    qconf -ke "$HOST" >/dev/null 2>&1 || true
    qconf -km >/dev/null 2>&1 || true
  fi
  # So that a start right after does not talk to a master on its way out.
  wait_for 100 eval '! alive sge_execd && ! alive sge_qmaster' || say "the daemons are still running"
  say "stopped"
}

case $cmd in
  start) start ;;
  stop) stop ;;
  *) echo "usage: $0 start|stop" >&2; exit 2 ;;
esac
