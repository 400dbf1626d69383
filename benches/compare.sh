#!/usr/bin/env bash
# Side-by-side benchmarks: jobrun vs xargs, GNU parallel, rust-parallel and a
# bare posix_spawn floor (examples/spawn_floor.rs).
#
# Usage: benches/compare.sh [BENCH...]    BENCH: true5000 sleep40 failfast failkill timeout true20000 plan1m journal
#                                                 pipeline pools_cost noop20000 memory
# Env:   ROUNDS (default 7) rounds for true5000, sleep40 and failfast;
#        ROUNDS_20K (default 3) rounds for true20000;
#        ROUNDS_RES (default 5) rounds for pipeline and pools_cost;
#        SKIP_PARALLEL_20K=1 leaves GNU parallel out of true20000 (~1 min per run);
#        JOBRUN, FLOOR: binaries to use instead of target/release/{jobrun,examples/spawn_floor};
#        NO_BUILD=1 skips `cargo build --release`.
#
# Every benchmark runs ROUNDS rounds; each round runs every tool once, in the
# same order (round-robin), so a noisy neighbour hurts all tools alike. Wall
# time is taken with `date +%s%N` around the command, peak RSS and CPU time
# (user + sys of the tool and the children it waited for) with /usr/bin/time.
# Medians are printed with min/max, then ratios of medians. On a loaded
# machine the CPU time moves much less than the wall time.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
cd "$root"
# Every tool finds `true` and `sleep` on its first PATH lookup: xargs and GNU
# parallel search PATH for every unit, and a long PATH with /usr/bin far down
# would make them look slower than they are. (jobrun resolves once per task.)
export PATH="/usr/bin:/bin:$PATH"

ROUNDS=${ROUNDS:-7}
ROUNDS_20K=${ROUNDS_20K:-3}
ROUNDS_RES=${ROUNDS_RES:-5}
JOBRUN=${JOBRUN:-"$root/target/release/jobrun"}
FLOOR=${FLOOR:-"$root/target/release/examples/spawn_floor"}
STATE="$here/.state"
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT

all=(true5000 sleep40 failfast failkill timeout true20000 plan1m journal pipeline pools_cost noop20000 memory)
selected=("${@:-${all[@]}}")
uses() { # uses BENCH...: is any of them selected?
    local b s
    for b in "$@"; do for s in "${selected[@]}"; do [ "$b" != "$s" ] || return 0; done; done
    return 1
}

# ---------------------------------------------------------------- tools
missing=0
need() { # need CMD HOW-TO-INSTALL
    if ! command -v "$1" >/dev/null 2>&1; then
        echo "missing: $1 -- install with: $2" >&2
        missing=1
    fi
}
if [ "${INSTALL:-0}" = 1 ]; then
    command -v parallel >/dev/null || sudo apt-get install -y parallel
    command -v hyperfine >/dev/null || sudo apt-get install -y hyperfine
    ! uses true5000 sleep40 failfast true20000 || command -v rust-parallel >/dev/null || cargo install rust-parallel
fi
need parallel "sudo apt-get install parallel   (Debian/Ubuntu package \`parallel\`)"
# rust-parallel and script only for the benchmarks that run them.
! uses true5000 sleep40 failfast true20000 || need rust-parallel "cargo install rust-parallel"
! uses true5000 || need script "sudo apt-get install bsdutils"
[ -x /usr/bin/time ] || { echo "missing: /usr/bin/time -- install with: sudo apt-get install time" >&2; missing=1; }
# hyperfine is not needed (the rounds are written out below) but handy for
# one-off checks: sudo apt-get install hyperfine
if [ "$missing" = 1 ]; then
    echo "(or run with INSTALL=1 to install them)" >&2
    exit 1
fi
parallel --will-cite </dev/null >/dev/null 2>&1 || true # silence the citation notice

if [ "${NO_BUILD:-0}" != 1 ]; then
    echo "building jobrun and the spawn floor (release)" >&2
    cargo build --release --quiet --bin jobrun --example spawn_floor
fi

# ---------------------------------------------------------------- machine
machine() {
    echo "machine: $(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //'), kernel $(uname -r)"
    echo "tools:   $("$JOBRUN" --version 2>/dev/null || echo jobrun), $(xargs --version | head -n1)," \
        "$(parallel --version | head -n1), $(rust-parallel --version 2>/dev/null | head -n1 || echo no rust-parallel)"
    echo "load:    $(cut -d' ' -f1-3 /proc/loadavg)"
    echo "PATH:    $PATH"
}

# ---------------------------------------------------------------- measuring
# run_one NAME PREPARE CMD: run CMD once (after PREPARE, untimed); append
# "ns rss_kb cpu_ms" to $TMP/NAME. The RSS is the peak of the largest process in
# the tool's tree (getrusage RUSAGE_CHILDREN through /usr/bin/time), so for
# jobrun it is jobrun's own peak.
run_one() {
    local name=$1 prep=$2 cmd=$3 t0 t1 rss
    eval "$prep"
    # @T@ marks the tool in a pipeline; by default the whole command is the tool.
    case $cmd in *@T@*) ;; *) cmd="@T@ $cmd" ;; esac
    cmd=${cmd//@T@//usr/bin/time -f %M,%U,%S -o $TMP/rss}
    t0=$(date +%s%N)
    bash -c "$cmd" >/dev/null 2>"$TMP/err" || true
    t1=$(date +%s%N)
    rss=$(tail -n1 "$TMP/rss" | awk -F, '{ printf "%d %.0f", $1, ($2 + $3) * 1e3 }')
    echo "$((t1 - t0)) $rss" >>"$TMP/$name"
}

# stats NAME COLUMN: "median min max" of a column of $TMP/NAME.
stats() {
    awk -v c="$2" '{print $c}' "$TMP/$1" | sort -n | awk '
        { v[NR] = $1 }
        END { m = (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2; print m, v[1], v[NR] }'
}

# bench TITLE ROUNDS UNITS NAME PREP CMD [NAME PREP CMD]...
bench() {
    local title=$1 rounds=$2 units=$3
    shift 3
    local -a names=() preps=() cmds=()
    while [ $# -gt 0 ]; do
        names+=("$1"); preps+=("$2"); cmds+=("$3")
        rm -f "$TMP/$1"
        shift 3
    done
    echo
    echo "== $title ($rounds rounds, alternating)"
    for ((r = 1; r <= rounds; r++)); do
        for i in "${!names[@]}"; do
            run_one "${names[$i]}" "${preps[$i]}" "${cmds[$i]}"
        done
        echo "   round $r/$rounds done" >&2
    done
    printf '   %-22s %10s %10s %10s %9s %12s %22s\n' tool "median s" "min s" "max s" "us/unit" "peak RSS KB" "CPU s med (min-max)"
    for n in "${names[@]}"; do
        read -r med lo hi < <(stats "$n" 1)
        read -r rss _ _ < <(stats "$n" 2)
        read -r cm cl ch < <(stats "$n" 3)
        awk -v n="$n" -v m="$med" -v l="$lo" -v h="$hi" -v u="$units" -v r="$rss" -v cm="$cm" -v cl="$cl" -v ch="$ch" 'BEGIN {
            printf "   %-22s %10.3f %10.3f %10.3f %9.0f %12d %8.3f (%.3f-%.3f)\n", n, m / 1e9, l / 1e9, h / 1e9, m / 1e3 / u, r, cm / 1e3, cl / 1e3, ch / 1e3 }'
        echo "$med" >"$TMP/$n.median"
        echo "$cm" >"$TMP/$n.cpu"
    done
}

ratio() { # ratio A B [median|cpu]: median(A) / median(B), of wall (default) or CPU time
    local k=${3:-median}
    awk -v a="$(cat "$TMP/$1.$k")" -v b="$(cat "$TMP/$2.$k")" -v an="$1" -v bn="$2" -v k="$k" \
        'BEGIN { printf "   %-34s %.3f%s\n", an " / " bn, a / b, (k == "cpu" ? " (CPU time)" : "") }'
}

# Before each jobrun run: remove the journal (so every unit runs and the
# journal read stays the same size) but keep the log files, so a run
# truncates existing logs like any re-run does. `empty_state` removes the
# whole state dir instead (a first run; see the note in docs/BENCHMARKS.md
# about ext4 after deleting thousands of files).
fresh_state() { rm -f "$STATE"/*.journal "$STATE"/*.journal.lock; }
empty_state() { rm -rf "$STATE"; }

# ---------------------------------------------------------------- benchmarks
b_true5000() {
    local m="$here/true5000.toml"
    bench "5,000 x true at 2 workers" "$ROUNDS" 5000 \
        floor "" "$FLOOR 5000 2" \
        xargs "" "seq 5000 | @T@ xargs -P2 -n1 true" \
        jobrun-none fresh_state "$JOBRUN -q --progress none $m" \
        jobrun-plain fresh_state "$JOBRUN --progress plain $m" \
        jobrun-none-tty fresh_state "script -q -c '$JOBRUN -q --progress none $m' /dev/null" \
        jobrun-bar-tty fresh_state "script -q -c '$JOBRUN --progress bar $m' /dev/null" \
        jobrun-none-emptydir empty_state "$JOBRUN -q --progress none $m" \
        rust-parallel "" "seq 5000 | @T@ rust-parallel -j2 true" \
        parallel "" "seq 5000 | @T@ parallel -j2 true"
    echo "   ratios of medians:"
    ratio jobrun-none xargs
    ratio jobrun-none floor
    ratio jobrun-plain xargs
    ratio jobrun-bar-tty jobrun-none-tty
    ratio jobrun-none-emptydir xargs
    ratio xargs floor
    ratio rust-parallel xargs
    ratio parallel xargs
}

b_sleep40() {
    local m="$here/sleep40.toml"
    bench "40 x sleep 0.25 at 8 workers (ideal 1.25 s)" "$ROUNDS" 40 \
        floor "" "$FLOOR 40 8 sleep 0.25" \
        xargs "" "yes 0.25 | head -n 40 | @T@ xargs -P8 -n1 sleep" \
        jobrun-none fresh_state "$JOBRUN -q --progress none $m" \
        jobrun-plain fresh_state "$JOBRUN --progress plain $m" \
        rust-parallel "" "yes 0.25 | head -n 40 | @T@ rust-parallel -j8 sleep" \
        parallel "" "yes 0.25 | head -n 40 | @T@ parallel -j8 sleep"
    echo "   median / ideal 1.25 s:"
    for n in floor xargs jobrun-none jobrun-plain rust-parallel parallel; do
        awk -v n="$n" -v m="$(cat "$TMP/$n.median")" 'BEGIN { printf "   %-22s %.3f (%+.1f%%)\n", n, m / 1.25e9, (m / 1.25e9 - 1) * 100 }'
    done
    echo "   ratios of medians:"
    ratio jobrun-none floor
    ratio xargs floor
}

# Fail-fast: 200 x `sleep 0.1`, the unit at index 5 fails, 8 workers; running
# units finish, nothing new starts. Every tool runs the same shell snippet,
# which appends its index to a file when it starts (the "units started"
# count) and "END-NS INDEX" to another as the last thing it does (a unit
# that succeeds execs `date`, so the time is read by the process that then
# exits). Unit 5 also writes its pid when it starts, and a watcher polls a
# pidfd of it (python3 os.pidfd_open): the time the watcher wakes is at or
# after the moment the tool could first see unit 5's exit (it becomes a
# zombie and the pidfd readable at once).
#
# The bound: nothing may start once the tool has seen the failing unit's
# exit. A unit that exited before it frees its worker, whose next unit
# rightly starts, so a round may start at most workers + ended_before units,
# ended_before being the other units that ended before unit 5 exited. A
# unit's end time is at or before its exit and unit 5's watched exit at or
# after its own, so counting the end times before the watched exit never
# counts too few: started > bound is a start the tool should not have
# made. The watcher's wake-up may come late, which only loosens the bound.
# Without the watcher, unit 5's own end time stands in for its exit; the
# count can then miss units that end in the moment between that time and
# unit 5's exit, so it is printed as well ("by own end").
FF_SNIPPET='echo "$1" >> "$FF/started"; [ "$1" -ne 5 ] || echo $$ > "$FF/pid5"; sleep 0.1; [ "$1" -eq 5 ] || exec date "+%s%N $1" >> "$FF/ended"; date "+%s%N $1" >> "$FF/ended"; exit 1'
b_failfast() {
    local m="$here/failfast.toml" n r i k watch=0 wpid workers=8 # as in failfast.toml
    # Waits for $FF/pid5, then for that process to exit; writes the time.
    local watcher='
import os, select, sys, time
ff = sys.argv[1]
open(os.path.join(ff, "watching"), "w").close()
while True:
    try:
        with open(os.path.join(ff, "pid5")) as f:
            s = f.read()
        if s.endswith("\n"):
            break
    except FileNotFoundError:
        pass
    time.sleep(0.001)
try:
    fd = os.pidfd_open(int(s))
except ProcessLookupError:  # gone already: no watched exit this round
    sys.exit(0)
p = select.poll()
p.register(fd, select.POLLIN)
p.poll()
t = time.time_ns()
with open(os.path.join(ff, "exit5"), "w") as f:
    f.write("%d\n" % t)
'
    export FF="$TMP/ff"
    printf '%s\n' "#!/bin/sh" "$FF_SNIPPET" >"$TMP/ff-unit"
    printf '%s\n' "#!/bin/sh" "${FF_SNIPPET%exit 1}exit 255 # xargs stops on 255" >"$TMP/ff-unit-xargs"
    chmod +x "$TMP/ff-unit" "$TMP/ff-unit-xargs"
    export FF_UNIT="$TMP/ff-unit"
    ! python3 -c 'import os; os.pidfd_open(os.getpid())' 2>/dev/null || watch=1
    local -a names=(jobrun xargs rust-parallel parallel)
    local -a cmds=(
        "$JOBRUN -q --progress none $m"
        "seq 0 199 | xargs -P$workers -n1 $TMP/ff-unit-xargs"
        "seq 0 199 | rust-parallel -j$workers --exit-on-error $TMP/ff-unit"
        "seq 0 199 | parallel -j$workers --halt soon,fail=1 $TMP/ff-unit"
    )
    for n in "${names[@]}"; do rm -f "$TMP/ff.$n"; done
    echo
    echo "== fail-fast: 200 x sleep 0.1, unit 5 fails, $workers workers ($ROUNDS rounds, alternating)"
    [ "$watch" = 1 ] || echo "   (no python3 with os.pidfd_open: unit 5's exit is taken from its own end time)"
    for ((r = 1; r <= ROUNDS; r++)); do
        for i in "${!names[@]}"; do
            n=${names[$i]}
            rm -rf "$FF"
            fresh_state
            mkdir -p "$FF"
            : >"$FF/started"
            : >"$FF/ended"
            wpid=
            if [ "$watch" = 1 ]; then
                python3 -c "$watcher" "$FF" &
                wpid=$!
                # Up before the tool starts (unit 5 exits 0.1 s after).
                for ((k = 0; k < 500; k++)); do [ ! -e "$FF/watching" ] || break; sleep 0.01; done
            fi
            local t0 t1
            t0=$(date +%s%N)
            bash -c "${cmds[$i]}" >/dev/null 2>&1 || true
            t1=$(date +%s%N)
            # Units may still be running after a tool exits (they are not
            # ours to wait for); give them time to write their end time.
            sleep 0.3
            if [ -n "$wpid" ]; then
                kill "$wpid" 2>/dev/null || true
                wait "$wpid" 2>/dev/null || true
            fi
            # One line per round: wall, started, exit lag, bound, bound by
            # unit 5's own end time, whether its exit was watched.
            awk -v t0="$t0" -v t1="$t1" -v w="$workers" -v started="$(wc -l <"$FF/started")" \
                -v x="$(cat "$FF/exit5" 2>/dev/null)" '
                { t[NR] = $1; idx[NR] = $2; if ($1 > last) last = $1; if ($2 == 5) f = $1 }
                END {
                    if (f == "") { print "failfast: unit 5 wrote no end time" > "/dev/stderr"; exit 1 }
                    watched = (x != "")
                    if (!watched) x = f
                    for (k = 1; k <= NR; k++) {
                        if (idx[k] == 5) continue
                        if (t[k] < x) before++
                        if (t[k] < f) own++
                    }
                    printf "%d %d %d %d %d %d\n", t1 - t0, started, t1 - last, w + before, w + own, watched
                }' "$FF/ended" >>"$TMP/ff.$n"
        done
        echo "   round $r/$ROUNDS done" >&2
    done
    printf '   %-14s %-20s %-17s %-34s %-9s %-10s %s\n' tool "wall s med (min-max)" "started med (max)" "exit - last unit end, ms med (min-max)" "bound med" violations "by own end"
    for n in "${names[@]}"; do
        TMP_N="ff.$n"
        read -r wm wl wh < <(stats "$TMP_N" 1)
        read -r sm _ sh < <(stats "$TMP_N" 2)
        read -r lm ll lh < <(stats "$TMP_N" 3)
        read -r bm _ _ < <(stats "$TMP_N" 4)
        read -r v vo < <(awk '$2 > $4 { v++ } $2 > $5 { vo++ } END { print v + 0, vo + 0 }' "$TMP/$TMP_N")
        awk -v n="$n" -v wm="$wm" -v wl="$wl" -v wh="$wh" -v sm="$sm" -v sh="$sh" -v lm="$lm" -v ll="$ll" -v lh="$lh" \
            -v bm="$bm" -v v="$v" -v vo="$vo" -v r="$ROUNDS" 'BEGIN {
            printf "   %-14s %-20s %-17s %-34s %-9s %-10s %s\n", n, sprintf("%.3f (%.3f-%.3f)", wm/1e9, wl/1e9, wh/1e9),
                sprintf("%g (%d)", sm, sh), sprintf("%.1f (%.1f..%.1f)", lm/1e6, ll/1e6, lh/1e6), sprintf("%g", bm),
                sprintf("%d/%d", v, r), sprintf("%d/%d", vo, r) }'
    done
    echo "   target: started <= bound = workers + units that ended before unit 5 exited, in every round (0 violations); exit <= 50 ms after the last running unit"
    for n in "${names[@]}"; do
        k=$(awk '!$6 { u++ } END { print u + 0 }' "$TMP/ff.$n")
        [ "$k" = 0 ] || [ "$watch" = 0 ] || echo "   $n: in $k rounds unit 5's exit was not watched (its own end time stood in)"
    done
    for n in "${names[@]}"; do
        echo "   $n, started/bound per round: $(awk '{ printf "%s%d/%d", (NR > 1 ? " " : ""), $2, $4 }' "$TMP/ff.$n")"
    done
}

# Fail-fast with kill: the unit at index 5 fails after 0.1 s while its 7
# siblings run `sleep 30`; with FK_IGNORE=1 they ignore SIGTERM. Measures the
# tool's exit time minus the failure time, and whether any sibling is left.
FK_SNIPPET='echo $1 >> "$FK/started"; if [ "$1" -eq 5 ]; then sleep 0.1; date +%s%N > "$FK/failed"; exit 1; fi; [ "$FK_IGNORE" != 1 ] || trap "" TERM; exec sleep 30.017 # jobrun-failkill'
b_failkill() {
    local m="$here/failkill.toml" n r ign t0 t1 lag left
    export FK="$TMP/fk"
    printf '%s\n' "#!/bin/sh" "$FK_SNIPPET" >"$TMP/fk-unit"
    chmod +x "$TMP/fk-unit"
    export FK_UNIT="$TMP/fk-unit"
    local -a names=(jobrun parallel)
    local -a cmds=(
        "$JOBRUN -q --progress none $m"
        "seq 0 199 | parallel -j8 --halt now,fail=1 $TMP/fk-unit"
    )
    echo
    echo "== fail-fast with kill: unit 5 fails after 0.1 s, 7 siblings run sleep 30, 8 workers, kill_grace 1 s ($ROUNDS rounds, alternating)"
    for ign in 0 1; do
        for n in "${names[@]}"; do rm -f "$TMP/fk.$n.$ign"; done
    done
    for ((r = 1; r <= ROUNDS; r++)); do
        for ign in 0 1; do
            export FK_IGNORE=$ign
            for i in "${!names[@]}"; do
                n=${names[$i]}
                rm -rf "$FK"
                fresh_state
                mkdir -p "$FK"
                : >"$FK/started"
                bash -c "${cmds[$i]}" >/dev/null 2>&1 || true
                t1=$(date +%s%N)
                left=$(pgrep -U "$(id -u)" -fxc "sleep 30.017" || true)
                pkill -KILL -U "$(id -u)" -f "jobrun-failkill" 2>/dev/null || true
                pkill -KILL -U "$(id -u)" -fx "sleep 30.017" 2>/dev/null || true
                lag=$((t1 - $(cat "$FK/failed")))
                echo "$lag $(wc -l <"$FK/started") $left" >>"$TMP/fk.$n.$ign"
            done
        done
        echo "   round $r/$ROUNDS done" >&2
    done
    printf '   %-10s %-22s %28s %14s %14s\n' tool siblings "exit - failure, ms med (min-max)" "started med" "left running"
    for ign in 0 1; do
        for n in "${names[@]}"; do
            read -r lm ll lh < <(stats "fk.$n.$ign" 1)
            read -r sm _ _ < <(stats "fk.$n.$ign" 2)
            read -r _ _ xh < <(stats "fk.$n.$ign" 3)
            awk -v n="$n" -v g="$([ $ign = 1 ] && echo "ignore TERM" || echo "obey TERM")" -v lm="$lm" -v ll="$ll" -v lh="$lh" -v sm="$sm" -v xh="$xh" 'BEGIN {
                printf "   %-10s %-22s %18.1f (%.1f..%.1f) %14d %14d\n", n, g, lm/1e6, ll/1e6, lh/1e6, sm, xh }'
        done
    done
    echo "   target (jobrun): exit <= 100 ms + kill_grace (1 s) after the failure; nothing left running"
}

# Timeout precision: 20 x `sleep 10`, 300 ms timeout, 4 workers (ideal wall
# 5 x 0.3 = 1.5 s). jobrun's per-unit durations come from its events.
b_timeout() {
    local m="$here/timeout.toml"
    bench "timeouts: 20 x sleep 10 with a 300 ms timeout at 4 workers (ideal 1.5 s)" "$ROUNDS" 20 \
        jobrun fresh_state "$JOBRUN -q --progress none $m" \
        parallel "" "seq 20 | @T@ parallel -j4 --timeout 0.3 sleep 10"
    fresh_state
    "$JOBRUN" -q --progress none --events "$TMP/timeout.jsonl" "$m" >/dev/null 2>&1 || true
    echo "   jobrun, one run: duration of each timed-out unit (spawn to reap), s:"
    grep '"unit_finished"' "$TMP/timeout.jsonl" | sed 's/.*"duration_s":\([0-9.]*\).*/\1/' | sort -n |
        awk '{ v[NR] = $1 } END { printf "   min %.3f median %.3f max %.3f (n = %d)\n", v[1], v[int((NR + 1) / 2)], v[NR], NR }'
}

b_true20000() {
    local m="$here/true20000.toml"
    local -a extra=()
    [ "${SKIP_PARALLEL_20K:-0}" = 1 ] || extra=(parallel "" "seq 20000 | @T@ parallel -j2 true")
    bench "20,000 x true at 2 workers (wall, peak RSS)" "$ROUNDS_20K" 20000 \
        floor "" "$FLOOR 20000 2" \
        xargs "" "seq 20000 | @T@ xargs -P2 -n1 true" \
        jobrun-none fresh_state "$JOBRUN -q --progress none $m" \
        rust-parallel "" "seq 20000 | @T@ rust-parallel -j2 true" \
        "${extra[@]}"
    echo "   ratios of medians:"
    ratio jobrun-none xargs
    ratio jobrun-none floor
    echo "   target: jobrun peak RSS < 30 MB (30,720 KB)"
}

b_plan1m() {
    bench "jobrun plan --count, 1000 x 1000 matrix (1,000,000 units)" "$ROUNDS" 1000000 \
        plan-count "" "$JOBRUN plan --count $here/plan1m.toml"
}

# The journal's share: it cannot be turned off, so compare the state dir on
# disk with the state dir on tmpfs (/dev/shm), and count its syscalls.
b_journal() {
    local m="$here/true5000.toml" shm
    shm=$(mktemp -d /dev/shm/jobrun-bench.XXXXXX)
    sed 's|^state_dir = .*|state_dir = "'"$shm"'/state"|' "$m" >"$TMP/true5000-shm.toml"
    bench "journal: 5,000 x true, state dir on disk vs tmpfs" "$ROUNDS" 5000 \
        state-on-disk fresh_state "$JOBRUN -q --progress none $m" \
        state-on-tmpfs "rm -f $shm/state/*.journal $shm/state/*.journal.lock" "$JOBRUN -q --progress none $TMP/true5000-shm.toml"
    ratio state-on-disk state-on-tmpfs
    fresh_state
    if command -v perf >/dev/null && perf record -q -o "$TMP/perf.data" -F 2000 -g true 2>/dev/null; then
        perf record -q -o "$TMP/perf.data" -F 2000 "$JOBRUN" -q --progress none "$m" >/dev/null 2>&1 || true
        fresh_state
        echo "   CPU samples (perf, whole run incl. children) in journal code (journal::, blake3, serde_json):"
        perf report -i "$TMP/perf.data" --no-children --sort sym 2>/dev/null |
            awk '/^ +[0-9.]+%/ { t += $1; if ($0 ~ /journal|blake3|serde_json/) j += $1 }
                 END { printf "   %.2f%% of %.0f%% sampled\n", j, t }'
        echo "   CPU samples by thread (jobrun = the consumer thread that syncs the journal; workers write it):"
        perf report -i "$TMP/perf.data" --no-children --sort comm 2>/dev/null | awk '/^ +[0-9.]+%/ { print "   " $0 }' | head -n 6
    fi
    echo "   write and sync syscalls (strace -c -f; the \`true\` children make none):"
    strace -c -f -o "$TMP/strace" -e trace=fsync,fdatasync,write,pwrite64 "$JOBRUN" -q --progress none "$m" >/dev/null 2>&1 || true
    fresh_state
    sed 's/^/   /' "$TMP/strace"
    rm -rf "$shm"
}

# ---------------------------------------------------------------- resources
# A download -> process -> upload pipeline (benches/pipeline.toml): 60 items,
# sleep 0.2 -> a CPU burn -> sleep 0.2; jobrun holds the stages to net = 16
# and cpu = 2 at 32 workers. xargs and GNU parallel cannot separate stages, so
# they run each item's whole chain in one `sh -c` at J at once; the best J of
# each is what to compare. The burn is one awk process (single-threaded, all
# user time), measured alone in the same rounds: 5 in a row, and 60 at two at
# once (the CPU stage by itself, which bounds the pipeline from below).
PIPE_JS=(2 4 8 16 32)
b_pipeline() {
    local m="$TMP/pipeline.toml" j n best bestj med
    export PIPE_BURN="$TMP/burn"
    printf '%s\n' "#!/bin/sh" "exec awk 'BEGIN { for (i = 0; i < 6000000; i++) s += i }'" >"$PIPE_BURN"
    chmod +x "$PIPE_BURN"
    sed 's|^state_dir = .*|state_dir = "'"$TMP"'/pipeline-state"|' "$here/pipeline.toml" >"$m"
    local chain='sleep 0.2; "$PIPE_BURN"; sleep 0.2'
    local -a tools=(jobrun "" "$JOBRUN --fresh -q --progress none $m")
    for j in "${PIPE_JS[@]}"; do
        tools+=("xargs-j$j" "" "seq 60 | @T@ xargs -P$j -n1 sh -c '$chain' _")
        tools+=("parallel-j$j" "" "seq 60 | @T@ parallel -j$j sh -c \\''$chain'\\' _")
    done
    tools+=(burn-x5-serial "" "@T@ sh -c 'for i in 1 2 3 4 5; do \"\$PIPE_BURN\"; done'")
    tools+=(burn-x60-P2 "" "seq 60 | @T@ xargs -P2 -n1 $PIPE_BURN")
    bench "pipeline: 60 x (sleep 0.2 -> burn -> sleep 0.2); jobrun net = 16, cpu = 2, 32 workers" "$ROUNDS_RES" 60 "${tools[@]}"
    echo "   best J of each tool (lowest median):"
    for n in xargs parallel; do
        best=""
        for j in "${PIPE_JS[@]}"; do
            med=$(cat "$TMP/$n-j$j.median")
            if [ -z "$best" ] || [ "$med" -lt "$best" ]; then best=$med bestj=$j; fi
        done
        cp "$TMP/$n-j$bestj.median" "$TMP/$n-best.median"
        awk -v n="$n" -v j="$bestj" -v m="$best" 'BEGIN { printf "   %-22s J = %-3d %.3f s\n", n, j, m / 1e9 }'
    done
    echo "   ratios of medians:"
    ratio jobrun xargs-best
    ratio jobrun parallel-best
    # Lower bound: the CPU stage (60 burns on 2 cores, measured as
    # burn-x60-P2) or the network stage (120 transfers of 0.2 s on 16 slots =
    # 1.5 s), whichever is longer, plus the fill: the first burn cannot start
    # before one download (0.2 s), the last upload ends 0.2 s after the last burn.
    awk -v b5="$(cat "$TMP/burn-x5-serial.median")" -v c="$(cat "$TMP/burn-x60-P2.median")" \
        -v jr="$(cat "$TMP/jobrun.median")" 'BEGIN {
        net = 120 * 0.2 / 16; cpu = c / 1e9; lb = (cpu > net ? cpu : net) + 0.4
        printf "   one burn alone: %.3f s (median of 5 in a row / 5); 60 x burn / 2 cores from that: %.3f s\n", b5 / 5e9, 60 * b5 / 5e9 / 2
        printf "   CPU stage alone (60 burns, 2 at once, measured): %.3f s; network stage: 120 x 0.2 s / 16 = %.3f s\n", cpu, net
        printf "   lower bound = max(CPU stage, network stage) + fill 0.4 s = %.3f s; jobrun / bound = %.3f\n", lb, jr / 1e9 / lb }'
}

# What the pools cost when they never bind: `true` units at 2 workers, the
# same job with no pools and with pools of 1,000 that every unit takes 1 of
# (so choosing and taking happen on every start, but nothing ever waits).
# The manifests are written into the temp dir, with a throwaway state dir.
true_job() { # true_job FILE UNITS POOLS: POOLS = 0, 2 or 3
    local f=$1 n=$2 k=$3 uses="" i
    {
        echo "[job]"
        echo "name = \"pools$k-$n\""
        echo "workers = 2"
        echo "state_dir = \"$TMP/state-$k-$n\""
        if [ "$k" -gt 0 ]; then
            echo "[resources]"
            for i in $(seq 1 "$k"); do
                echo "p$i = 1000"
                uses="$uses${uses:+, }p$i = 1"
            done
        fi
        echo "[[task]]"
        echo "name = \"t\""
        echo "matrix.i = { range = [0, $n] }"
        [ -z "$uses" ] || echo "uses = { $uses }"
        echo 'run = ["true"]'
    } >"$f"
}
b_pools_cost() {
    local n
    true_job "$TMP/nopools.toml" 5000 0
    true_job "$TMP/pools2.toml" 5000 2
    for n in 10000 30000 100000; do true_job "$TMP/pools3-$n.toml" "$n" 3; done
    # One untimed run of each first, so every timed run truncates existing
    # logs (like any re-run) instead of some creating them.
    for f in nopools pools2 pools3-10000 pools3-30000 pools3-100000; do
        "$JOBRUN" --fresh -q --progress none "$TMP/$f.toml" >/dev/null 2>&1 || true
    done
    bench "pools that never bind: 5,000 x true at 2 workers, no pools vs two pools (a = b = 1000, uses 1 of each)" "$ROUNDS_RES" 5000 \
        no-pools "" "$JOBRUN --fresh -q --progress none $TMP/nopools.toml" \
        two-pools "" "$JOBRUN --fresh -q --progress none $TMP/pools2.toml"
    echo "   ratios of medians (target: <= 1.05):"
    ratio two-pools no-pools
    ratio two-pools no-pools cpu
    local -a tools=()
    for n in 10000 30000 100000; do
        tools+=("three-pools-$n" "" "$JOBRUN --fresh -q --progress none $TMP/pools3-$n.toml")
    done
    # Units differ per tool here, so the us/unit column is printed below.
    bench "three pools that never bind, 10k / 30k / 100k x true at 2 workers" "$ROUNDS_RES" 1 "${tools[@]}"
    echo "   us/unit (median wall / units; median CPU time / units):"
    for n in 10000 30000 100000; do
        awk -v n="$n" -v m="$(cat "$TMP/three-pools-$n.median")" -v c="$(cat "$TMP/three-pools-$n.cpu")" \
            'BEGIN { printf "   %-22s wall %7.1f   CPU %7.1f\n", n " units", m / 1e3 / n, c * 1e3 / n }'
    done
    awk -v a="$(cat "$TMP/three-pools-100000.median")" -v b="$(cat "$TMP/three-pools-10000.median")" \
        -v ca="$(cat "$TMP/three-pools-100000.cpu")" -v cb="$(cat "$TMP/three-pools-10000.cpu")" \
        'BEGIN { printf "   per unit, 100k / 10k: wall %.3f, CPU %.3f (target: flat, ~1.0)\n", (a / 100000) / (b / 10000), (ca / 100000) / (cb / 10000) }'
}

# A no-op rerun: 20,000 targets that exist and are up to date, no inputs.
# make stats each target; jobrun reads its journal, fingerprints each unit
# and stats its output. Both built their targets once before the rounds.
b_noop20000() {
    local d="$TMP/noop" i
    rm -rf "$d" && mkdir -p "$d/out"
    printf '[job]\nworkers = 2\nstate_dir = ".state"\n\n[[task]]\nname = "t"\nmatrix.i = { range = [0, 20000] }\nrun = ["touch", "out/{i}"]\noutputs = ["out/{i}"]\n' >"$d/job.toml"
    {
        printf 'all:'
        for ((i = 0; i < 20000; i++)); do printf ' out/%d' "$i"; done
        printf '\nout/%%:\n\ttouch $@\n'
    } >"$d/Makefile"
    (cd "$d" && make -j2 -s >/dev/null && rm -rf out && mkdir out && "$JOBRUN" -q --progress none job.toml >/dev/null)
    bench "no-op rerun: 20,000 up-to-date targets at 2 workers" "$ROUNDS_RES" 20000 \
        make "" "cd $d && @T@ make -j2 -s" \
        jobrun "" "cd $d && @T@ $JOBRUN -q --progress none job.toml"
    echo "   ratios of medians (target: <= 0.8):"
    ratio jobrun make
    ratio jobrun make cpu
}

# Memory scaling: peak RSS against the number of units and of workers. The
# unit count is what jobrun keeps per unit, so each size is a job whose first
# unit fails under `abort` (the plan, the scheduler and the journal are all
# set up; the run ends at once) next to a full run of 20,000 `true` for
# scale; the workers are 3,000 `sleep 0.1` at -j 1000, as xargs -P1000 runs them.
b_memory() {
    local n
    for n in 20000 200000; do
        printf '[job]\nname = "mem%s"\nworkers = 2\non_failure = "abort"\nstate_dir = "%s"\n\n[[task]]\nname = "t"\nmatrix.i = { range = [0, %s] }\nrun = ["false"]\n' \
            "$n" "$TMP/mem-state" "$n" >"$TMP/mem$n.toml"
    done
    printf '[job]\nname = "mem1"\nworkers = 2\nstate_dir = "%s"\n\n[[task]]\nname = "t"\nrun = ["true"]\n' "$TMP/mem-state" >"$TMP/mem1.toml"
    local fresh="rm -rf $TMP/mem-state"
    bench "memory: peak RSS by units (first unit fails, abort) and by workers" "$ROUNDS_RES" 1 \
        jobrun-1unit "$fresh" "$JOBRUN -q --progress none $TMP/mem1.toml" \
        jobrun-20k-abort "$fresh" "$JOBRUN -q --progress none $TMP/mem20000.toml" \
        jobrun-200k-abort "$fresh" "$JOBRUN -q --progress none $TMP/mem200000.toml" \
        xargs-20k-abort "" "seq 20000 | @T@ xargs -P2 -n1 sh -c 'exit 255'" \
        jobrun-j1000 fresh_state "$JOBRUN -q --progress none $here/sleep3000.toml" \
        xargs-P1000 "" "yes 0.1 | head -n 3000 | @T@ xargs -P1000 -n1 sleep"
    echo "   peak RSS, median KB (targets: 20k <= 6 MiB = 6,144 KB; 200k and -j 1000 <= 16 MiB = 16,384 KB):"
    for n in jobrun-1unit jobrun-20k-abort jobrun-200k-abort xargs-20k-abort jobrun-j1000 xargs-P1000; do
        read -r rss _ _ < <(stats "$n" 2)
        printf '   %-22s %8d KB\n' "$n" "$rss"
    done
    read -r a _ _ < <(stats jobrun-20k-abort 2)
    read -r b _ _ < <(stats jobrun-200k-abort 2)
    awk -v a="$a" -v b="$b" 'BEGIN { printf "   per unit (200k - 20k) / 180,000: %.0f bytes\n", (b - a) * 1024 / 180000 }'
}

machine
for b in "${selected[@]}"; do
    "b_$b"
done
fresh_state
echo
echo "load at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
