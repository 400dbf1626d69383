#!/usr/bin/env bash
# kill -9 of jobrun mid-run: how many units does the next run repeat?
#
# Usage: benches/kill9.sh [KILLS] [WORKERS]      (defaults: 10 kills, 8 workers)
# Env:   JOBRUN: the binary (default target/release/jobrun).
#
# A 3,000-unit job whose units append their index to ran.txt when done
# (`sleep 0.02; echo {i} >> ran.txt`) is started KILLS times and SIGKILLed
# 0.6 s in, then run to completion. Repeats are lines beyond one per unit;
# they are counted per kill (lines the next run adds for units already in
# ran.txt). Only units running at a kill may repeat: at most WORKERS each.
set -u
here=$(cd "$(dirname "$0")" && pwd)
JOBRUN=${JOBRUN:-"$here/../target/release/jobrun"}
JOBRUN=$(cd "$(dirname "$JOBRUN")" && pwd)/$(basename "$JOBRUN")
KILLS=${1:-10}
W=${2:-8}
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
cd "$dir"
cat > job.toml <<T
[job]
workers = $W
[[task]]
name = "t"
matrix.i = { range = [0, 3000] }
shell = "sleep 0.02; echo {i} >> ran.txt"
T
touch ran.txt
per=()
code=
for k in $(seq 0 "$KILLS"); do
    start=$(wc -l < ran.txt)
    if [ "$k" -lt "$KILLS" ]; then
        "$JOBRUN" -q --progress none job.toml 2>>err.txt &
        pid=$!
        sleep 0.6
        kill -9 "$pid" 2>/dev/null
        wait "$pid" 2>/dev/null
    else
        "$JOBRUN" -q --progress none job.toml 2>>err.txt
        code=$?
    fi
    if [ "$k" -gt 0 ]; then
        per+=("$(awk -v s="$start" 'NR <= s { seen[$0] = 1; next } ($0 in seen) { n++ } END { print n + 0 }' ran.txt)")
    fi
done
lines=$(wc -l < ran.txt)
uniq=$(sort -u ran.txt | wc -l)
echo "exit $code, $uniq of 3000 units done, $((lines - uniq)) repeats over $KILLS kills; per kill: ${per[*]}"
