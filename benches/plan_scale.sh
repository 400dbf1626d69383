#!/usr/bin/env bash
# Plan-time size and time: generated manifests with huge matrices, long
# literal arrays, many excludes and many includes, each timed with
# `jobrun plan --count` (wall time and peak RSS, medians of ROUNDS runs).
#
# Usage: benches/plan_scale.sh [CASE...]
#   CASE: ranges30 ranges2 array100k array200k array1m array12m
#         exclude50k include10k include10k-new plan1m
# Env:   ROUNDS (default 5); JOBRUN (default target/release/jobrun);
#        LIMIT_KB (default 4194304): address-space limit per run (ulimit -v),
#        so a planner that allocates without bound fails instead of taking
#        the machine's memory; TIMEOUT (default 120 s) per run;
#        KEEP=DIR writes the manifests to DIR and keeps them.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
ROUNDS=${ROUNDS:-5}
JOBRUN=${JOBRUN:-"$root/target/release/jobrun"}
LIMIT_KB=${LIMIT_KB:-4194304}
TIMEOUT=${TIMEOUT:-120}
if [ -n "${KEEP:-}" ]; then
    DIR=$KEEP
    mkdir -p "$DIR"
else
    DIR=$(mktemp -d)
    trap 'rm -rf "$DIR"' EXIT
fi

head_task() { printf '[[task]]\nname = "t"\nrun = ["true"]\n'; }

# N keys `range = [0, 10000000]`: far past the 10,000,000-combination cap.
gen_ranges() {
    head_task
    for ((i = 1; i <= $1; i++)); do echo "matrix.k$i = { range = [0, 10000000] }"; done
}

# One literal array of N distinct integers, ten per line.
gen_array() {
    head_task
    echo "matrix.v = ["
    awk -v n="$1" 'BEGIN { for (i = 0; i < n; i++) printf "%d,%s", i, (i % 10 == 9) ? "\n" : " "; print "" }'
    echo "]"
}

# 100 x 1,000 combinations and N excludes, each removing one of them.
gen_exclude() {
    head_task
    echo 'matrix.a = { range = [0, 100] }'
    echo 'matrix.b = { range = [0, 1000] }'
    echo "exclude = ["
    awk -v n="$1" 'BEGIN { for (i = 0; i < n; i++) printf "  { a = %d, b = %d },\n", i % 100, int(i / 100) }'
    echo "]"
}

# 100 x 1,000 combinations and N includes, each extending one of them
# (naming both keys) with an extra key.
gen_include() {
    head_task
    echo 'matrix.a = { range = [0, 100] }'
    echo 'matrix.b = { range = [0, 1000] }'
    echo "include = ["
    awk -v n="$1" 'BEGIN { for (i = 0; i < n; i++) printf "  { a = %d, b = %d, note = \"n%d\" },\n", i % 100, int(i / 100), i }'
    echo "]"
}

# As gen_include, but each include contradicts every combination and adds one.
gen_include_new() {
    head_task
    echo 'matrix.a = { range = [0, 100] }'
    echo 'matrix.b = { range = [0, 1000] }'
    echo "include = ["
    awk -v n="$1" 'BEGIN { for (i = 0; i < n; i++) printf "  { a = %d, b = %d },\n", 100 + i % 100, int(i / 100) }'
    echo "]"
}

manifest() { # manifest CASE: writes $DIR/CASE.toml once, prints its path
    local f="$DIR/$1.toml"
    if [ ! -f "$f" ]; then
        case $1 in
        ranges30) gen_ranges 30 ;;
        ranges2) gen_ranges 2 ;;
        array100k) gen_array 100000 ;;
        array200k) gen_array 200000 ;;
        array1m) gen_array 1000000 ;;
        array12m) gen_array 12500000 ;;
        exclude50k) gen_exclude 50000 ;;
        include10k) gen_include 10000 ;;
        include10k-new) gen_include_new 10000 ;;
        plan1m) cat "$here/plan1m.toml" ;;
        *) echo "unknown case: $1" >&2; exit 2 ;;
        esac >"$f"
    fi
    echo "$f"
}

median() { sort -n | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

echo "machine: $(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //'), load $(cut -d' ' -f1-3 /proc/loadavg)"
echo "jobrun:  $JOBRUN"
printf '%-16s %10s %8s %12s  %s\n' case "median s" "max s" "peak RSS KB" "exit: output (last run)"
for c in "${@:-ranges30 ranges2 array100k array200k array1m exclude50k include10k include10k-new plan1m}"; do
    for c1 in $c; do
        f=$(manifest "$c1")
        : >"$DIR/times" && : >"$DIR/rss"
        for ((r = 1; r <= ROUNDS; r++)); do
            t0=$(date +%s%N)
            rc=0
            (ulimit -v "$LIMIT_KB" && exec timeout "$TIMEOUT" /usr/bin/time -f %M -o "$DIR/rss1" \
                "$JOBRUN" plan --count "$f") >"$DIR/out" 2>&1 || rc=$?
            t1=$(date +%s%N)
            echo "$(((t1 - t0) / 1000000))" >>"$DIR/times"
            tail -n1 "$DIR/rss1" >>"$DIR/rss" 2>/dev/null || echo 0 >>"$DIR/rss"
        done
        out=$(head -n2 "$DIR/out" | tr '\n' ' ' | cut -c1-80)
        printf '%-16s %10.3f %8.3f %12s  %s: %s\n' "$c1" \
            "$(median <"$DIR/times" | awk '{ print $1 / 1000 }')" \
            "$(sort -n "$DIR/times" | tail -n1 | awk '{ print $1 / 1000 }')" \
            "$(median <"$DIR/rss")" "$rc" "$out"
    done
done
