#!/usr/bin/env bash
# Durable ingest against its limit, in one run on one machine:
#   1. a no-op fasthttp server that only reads the body and answers 200;
#   2. tap-customerio-webhook: token check, signature check, spool append
#      with group-committed fsync, 200; its Singer output goes to /dev/null.
# Same load generator, same signed ~1 KB bodies, same connections.
# Then: the tap's peak RSS while its spool fills with unemitted events
# (stdout is a pipe nobody reads).
# Usage: scripts/bench-ingest.sh [seconds] [connections]   (make bench runs it)
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-15}
conns=${2:-64}
fill_secs=${FILL_SECS:-60}
go build -o bin/ ./cmd/...
work=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$work"' EXIT
key="bench-signing-key"
token="bench-token-0123456789abcdef0123456789abcdef"

wait_ready() { for _ in $(seq 200); do curl -sf -o /dev/null "$1" && return 0; sleep 0.05; done; echo "not ready: $1" >&2; exit 1; }
field() { python3 -c "import json,sys; print(json.loads(sys.argv[1])[sys.argv[2]])" "$1" "$2"; }

echo "machine: $(nproc) cores, $(uname -r); load: $secs s x $conns connections, signed bodies of ~1 KB"

bin/cio-loadgen noop --listen 127.0.0.1:18181 & noop=$!
wait_ready http://127.0.0.1:18181/
base=$(bin/cio-loadgen run --url http://127.0.0.1:18181/webhook/x --conns "$conns" --duration "${secs}s" --signing-key "$key")
kill $noop; wait $noop 2>/dev/null || true
echo "noop fasthttp server:  $base"

cat > "$work/tap.json" <<JSON
{"listen":"127.0.0.1:18182","webhook_tokens":["$token"],"signing_keys":["$key"],"spool_dir":"$work/spool","log_level":"warn"}
JSON
bin/tap-customerio-webhook --config "$work/tap.json" > /dev/null & tap=$!
wait_ready http://127.0.0.1:18182/readyz
tapres=$(bin/cio-loadgen run --url "http://127.0.0.1:18182/webhook/$token" --conns "$conns" --duration "${secs}s" --signing-key "$key")
kill -TERM $tap; wait $tap
echo "tap-customerio-webhook: $tapres"

# The receiver alone (`serve`): the acknowledgement path without the
# emitter classifying and writing Singer messages on the same two cores.
rm -rf "$work/spool"
bin/tap-customerio-webhook serve --config "$work/tap.json" & tap=$!
wait_ready http://127.0.0.1:18182/readyz
serveres=$(bin/cio-loadgen run --url "http://127.0.0.1:18182/webhook/$token" --conns "$conns" --duration "${secs}s" --signing-key "$key")
kill -TERM $tap; wait $tap
echo "tap-customerio-webhook serve: $serveres"
python3 - "$base" "$tapres" "$serveres" <<'PY'
import json, sys
b, t, s = (json.loads(a) for a in sys.argv[1:4])
for name, r in (("tap (receive + emit)", t), ("tap serve (receive only)", s)):
    l = r['latency_ms']
    print(f"{name}: {r['rps']:.0f} req/s = {r['rps']/b['rps']:.2f} x noop ({b['rps']:.0f}/s); ack latency ms p50 {l['p50']:.2f} p99 {l['p99']:.2f} max {l['max']:.2f}; non-2xx {r['non_2xx']}")
PY
rm -rf "$work/spool"

mkfifo "$work/out"
bin/tap-customerio-webhook --config "$work/tap.json" > "$work/out" & tap=$!
exec 3<"$work/out"   # opened, never read: the emitter blocks once the pipe is full
wait_ready http://127.0.0.1:18182/readyz
fill=$(bin/cio-loadgen run --url "http://127.0.0.1:18182/webhook/$token" --conns "$conns" --duration "${fill_secs}s" --signing-key "$key")
hwm=$(awk '/VmHWM/ {print $2}' /proc/$tap/status)
spooled=$(du -sm "$work/spool" | cut -f1)
echo "spool filled for ${fill_secs}s: $(field "$fill" requests) requests, $(field "$fill" non_2xx) non-2xx, spool ${spooled} MB unemitted; tap peak RSS $((hwm / 1024)) MB"
kill -KILL $tap; exec 3<&-
