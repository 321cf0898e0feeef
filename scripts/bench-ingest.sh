#!/usr/bin/env bash
# Durable ingest against its limit, in one run on one machine, with wrk as
# the client (a C client lighter than the servers it measures):
#   1. noop: a fasthttp server that only reads the body and answers 200;
#   2. serve: the receiver alone (token, signature, spool append with a
#      group-committed fdatasync, 200);
#   3. tap: receiver + emitter, Singer output piped into `cat > /dev/null`.
# Same wrk threads and connections, same pre-signed ~1 KB bodies, several
# rounds in turn; the figures are the medians.
# Then: the tap's peak RSS while its spool fills with unemitted events
# (stdout is a pipe nobody reads).
# Usage: scripts/bench-ingest.sh [seconds] [connections] [rounds]   (make bench runs it)
# BASE_BIN=dir adds rows "serve@base" and "tap@base" measured with the binaries in dir (say a
# build of main), in turn with this tree's in every round, for a before/after in one sitting.
# FILL_SECS=0 skips the peak-RSS run.
# KAFKA=1 adds the row "serve-kafka": `serve` with "spool": "kafka" against a 3-broker kfake
# cluster (`cio-loadgen kfake`, a fresh one each round, data on disk, a separate process on the
# same cores), and prints its ratio to the disk `serve` of the same rounds. KAFKA_SYNC_WRITES=1
# makes kfake fsync every produced batch before answering (as Redpanda does; Apache Kafka's
# default answers from the page cache, as kfake does without it).
# Needs: wrk (Debian package wrk), python3.
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-10}
conns=${2:-64}
rounds=${3:-3}
threads=${WRK_THREADS:-2}
fill_secs=${FILL_SECS:-60}
command -v wrk >/dev/null || { echo "bench-ingest: wrk is missing (apt-get install wrk)" >&2; exit 1; }
go build -o bin/ ./cmd/...
work=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$work"' EXIT
key="bench-signing-key"
token="bench-token-0123456789abcdef0123456789abcdef"
port_noop=18181 port_tap=18182 kafka_ports=18192,18193,18194

wait_ready() { for _ in $(seq 200); do curl -sf -o /dev/null "$1" && return 0; sleep 0.05; done; echo "not ready: $1" >&2; exit 1; }
# load URL: one wrk run; prints wrk's JSON summary line (from the script's done()).
load() { wrk -t"$threads" -c"$conns" -d"${2:-$secs}s" -s "$work/req.lua" "$1" | grep '^{'; }

bin/cio-loadgen wrk-script --path "/webhook/$token" --requests 2000 --body-bytes 1024 --signing-key "$key" > "$work/req.lua"
cat > "$work/tap.json" <<JSON
{"listen":"127.0.0.1:$port_tap","webhook_tokens":["$token"],"signing_keys":["$key"],"spool_dir":"$work/spool","log_level":"warn"}
JSON
brokers=$(echo "$kafka_ports" | sed 's/[0-9]*/"127.0.0.1:&"/g')
cat > "$work/kafka.json" <<JSON
{"listen":"127.0.0.1:$port_tap","webhook_tokens":["$token"],"signing_keys":["$key"],"spool_dir":"$work/spool","log_level":"warn",
 "spool":"kafka","kafka_brokers":[$brokers],"kafka_topic":"customerio-webhooks"}
JSON

echo "machine: $(nproc) cores, $(uname -r); wrk $threads threads x $conns connections, $secs s per run, $rounds rounds; signed bodies of ~1 KB"
for round in $(seq "$rounds"); do
  bin/cio-loadgen noop --listen 127.0.0.1:$port_noop & pid=$!
  wait_ready http://127.0.0.1:$port_noop/
  echo "noop $(load http://127.0.0.1:$port_noop)" >> "$work/results"
  kill $pid; wait $pid 2>/dev/null || true

  for bin in ${BASE_BIN:+"$BASE_BIN"} bin; do
    suffix=; [ "$bin" = bin ] || suffix=@base
    rm -rf "$work/spool"
    "$bin/tap-customerio-webhook" serve --config "$work/tap.json" & pid=$!
    wait_ready http://127.0.0.1:$port_tap/readyz
    echo "serve$suffix $(load http://127.0.0.1:$port_tap)" >> "$work/results"
    kill -TERM $pid; wait $pid

    rm -rf "$work/spool"
    "$bin/tap-customerio-webhook" --config "$work/tap.json" | cat > /dev/null & pid=$!
    wait_ready http://127.0.0.1:$port_tap/readyz
    echo "tap$suffix $(load http://127.0.0.1:$port_tap)" >> "$work/results"
    pkill -TERM -f "tap-customerio-webhook --config $work/tap.json" || true; wait $pid
  done

  if [ "${KAFKA:-0}" = 1 ]; then
    rm -rf "$work/kafka" "$work/brokers"
    sync=(); [ "${KAFKA_SYNC_WRITES:-0}" = 1 ] && sync=(--sync-writes)
    bin/cio-loadgen kfake --dir "$work/kafka" --ports "$kafka_ports" --partitions 6 "${sync[@]}" > "$work/brokers" & kfake=$!
    for _ in $(seq 200); do [ -s "$work/brokers" ] && break; sleep 0.05; done
    [ -s "$work/brokers" ] || { echo "kfake did not start" >&2; exit 1; }
    bin/tap-customerio-webhook serve --config "$work/kafka.json" & pid=$!
    wait_ready http://127.0.0.1:$port_tap/readyz
    echo "serve-kafka $(load http://127.0.0.1:$port_tap)" >> "$work/results"
    kill -TERM $pid; wait $pid
    kill -TERM $kfake; wait $kfake
  fi
  echo "round $round done" >&2
done
python3 - "$work/results" <<'PY'
import json, statistics, sys
runs = {}
for line in open(sys.argv[1]):
    name, js = line.split(" ", 1)
    runs.setdefault(name, []).append(json.loads(js))
med = lambda rs, f: statistics.median(f(r) for r in rs)
base = med(runs["noop"], lambda r: r["rps"])
print(f"{'server':<12} {'req/s (median)':>15} {'x noop':>7} {'p50 ms':>7} {'p99 ms':>7} {'non-2xx':>8} {'errors':>7}  rounds' req/s")
for name in ("noop", "serve@base", "serve", "serve-kafka", "tap@base", "tap"):
    if name not in runs:
        continue
    rs = runs[name]
    rps = med(rs, lambda r: r["rps"])
    print(f"{name:<12} {rps:>15.0f} {rps/base:>7.2f} {med(rs, lambda r: r['latency_ms']['p50']):>7.2f} "
          f"{med(rs, lambda r: r['latency_ms']['p99']):>7.2f} {sum(r['non_2xx'] for r in rs):>8} "
          f"{sum(r['socket_errors'] for r in rs):>7}  {' '.join('%.0f' % r['rps'] for r in rs)}")
if "serve-kafka" in runs:
    ratios = [k["rps"] / d["rps"] for k, d in zip(runs["serve-kafka"], runs["serve"])]
    print(f"serve-kafka / serve (disk), same rounds: median {statistics.median(ratios):.2f}; "
          f"rounds {' '.join('%.2f' % r for r in ratios)}")
PY
rm -rf "$work/spool"
[ "$fill_secs" -gt 0 ] || exit 0

mkfifo "$work/out"
bin/tap-customerio-webhook --config "$work/tap.json" > "$work/out" & tap=$!
exec 3<"$work/out"   # opened, never read: the emitter blocks once the pipe is full
wait_ready http://127.0.0.1:$port_tap/readyz
fill=$(load http://127.0.0.1:$port_tap "$fill_secs")
hwm=$(awk '/VmHWM/ {print $2}' /proc/$tap/status)
spooled=$(du -sm "$work/spool" | cut -f1)
echo "spool filled for ${fill_secs}s: $fill; spool ${spooled} MB unemitted; tap peak RSS $((hwm / 1024)) MB"
kill -KILL $tap; exec 3<&-
