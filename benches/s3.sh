#!/usr/bin/env bash
# Objects per second through the S3 job: jobrun running jobs/s3-thumbnails.toml
# against a GNU parallel pipeline doing the same work with the same client
# (jobs/s3/s3 with S3_CLIENT=curl), against a local S3 server (s3s-fs).
#
# Usage: benches/s3.sh            Env: N (objects, default 2000), ROUNDS (default 3),
#                                      JOBRUN (default target/release/jobrun), NO_BUILD=1
# Needs: s3s-fs (cargo install s3s-fs --version 0.14.1 --locked --features binary),
#        the AWS CLI (pip install awscli), curl, GNU parallel.
#
# Each round runs both, alternating, from an empty destination bucket and no
# journal: list the bucket, then per object download, thumbnail (16 px) and
# upload, then the index page. GNU parallel runs one `get && thumb && put`
# pipeline per object at -j 32, jobrun its pools (net 32, cpu one per CPU).
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
N=${N:-2000}
ROUNDS=${ROUNDS:-3}
JOBRUN=${JOBRUN:-"$root/target/release/jobrun"}
for c in s3s-fs aws curl parallel; do
  command -v "$c" >/dev/null || { echo "missing: $c (see the header of $0)" >&2; exit 1; }
done
[[ ${NO_BUILD:-0} == 1 ]] || cargo build --release --quiet --manifest-path "$root/Cargo.toml"

tmp=$(mktemp -d)
server=
cleanup() { [[ -z $server ]] || kill "$server" 2>/dev/null || true; rm -rf "$tmp"; }
trap cleanup EXIT

target=$tmp/imgtool-target
cargo build --release --quiet --manifest-path "$root/jobs/imgtool/Cargo.toml" --target-dir "$target"
tool=$target/release/imgtool

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
mkdir -p "$tmp/data/photos" "$tmp/data/thumbs" "$tmp/seed"
s3s-fs --host 127.0.0.1 --port "$port" --access-key bench --secret-key bench-secret "$tmp/data" \
  >"$tmp/server.log" 2>&1 &
server=$!
export S3_ENDPOINT=http://127.0.0.1:$port S3_CLIENT=curl AWS_ACCESS_KEY_ID=bench \
  AWS_SECRET_ACCESS_KEY=bench-secret AWS_DEFAULT_REGION=us-east-1
until curl -s -o /dev/null "$S3_ENDPOINT"; do sleep 0.05; done

# Small pictures (32 px) from the example's samples, N objects in all.
i=0
for f in "$root"/jobs/images/*.jpg; do "$tool" thumb "$f" "$tmp/seed/$i.jpg" 32; i=$((i + 1)); done
for ((k = 0; k < N; k++)); do cp "$tmp/seed/$((k % i)).jpg" "$tmp/data/photos/p$(printf %05d $k).jpg"; done

empty_dst() { rm -rf "$tmp/data/thumbs" "$tmp"/data/.bucket-dGh1bWJz.*; mkdir -p "$tmp/data/thumbs"; }

run_jobrun() {
  local d=$tmp/jobrun
  rm -rf "$d" && mkdir -p "$d/s3" "$d/.jobrun"
  cp "$root/jobs/s3-thumbnails.toml" "$d/"
  cp "$root/jobs/s3/s3" "$d/s3/"
  ln -s "$root/jobs/imgtool" "$d/imgtool"
  ln -s "$target" "$d/.jobrun/imgtool-target"
  "$JOBRUN" "$d/s3-thumbnails.toml" -q --var size=16
}

run_parallel() {
  local d=$tmp/parallel
  rm -rf "$d" && mkdir -p "$d/s3" && cd "$d"
  cp "$root/jobs/s3/s3" s3/
  s3/s3 list photos | awk 'tolower($0) ~ /[.](jpe?g|png)$/' >keys.txt
  mkdir -p in thumbs
  parallel -j 32 --halt now,fail=1 \
    "s3/s3 get photos {} in/{} && $tool thumb in/{} thumbs/{.}-16.png 16 && s3/s3 put thumbs/{.}-16.png thumbs {.}-16.png" \
    <keys.txt
  find thumbs -name '*-16.png' | LC_ALL=C sort | "$tool" index thumbs/index.html -
  s3/s3 put thumbs/index.html thumbs index.html
  cd "$root"
}

declare -A secs
for ((r = 1; r <= ROUNDS; r++)); do
  for t in jobrun parallel; do
    empty_dst
    t0=$EPOCHREALTIME
    "run_$t" >/dev/null
    s=$(awk "BEGIN { printf \"%.3f\", $EPOCHREALTIME - $t0 }")
    got=$(find "$tmp/data/thumbs" -name '*-16.png' | wc -l)
    [[ $got == "$N" ]] || { echo "error: $t uploaded $got of $N" >&2; exit 1; }
    secs[$t]+="$s "
    echo "round $r  $t  ${s}s  $(awk "BEGIN { printf \"%.1f\", $N / $s }") objects/s"
  done
done

median() { tr ' ' '\n' <<<"$1" | grep . | sort -g | awk '{ a[NR] = $1 } END { print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2 }'; }
echo "== $N objects, $ROUNDS rounds, medians"
for t in jobrun parallel; do
  m=$(median "${secs[$t]}")
  printf '%-9s %8.2f s  %6.1f objects/s\n' "$t" "$m" "$(awk "BEGIN { print $N / $m }")"
done
