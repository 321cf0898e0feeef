#!/usr/bin/env bash
# End to end, HTTP to committed rows: the real tap-customerio-webhook piped into the real
# target-postgres, loading a private PostgreSQL cluster, under signed load. See e2e/pipebench.
# Usage: scripts/bench-pipeline.sh [duration] [connections] [runs]   (make bench runs it)
# The client is wrk (WRK_THREADS threads, default 2; a new signed event_id per request); each
# run first measures the same wrk against `cio-loadgen noop` for NOOP_DURATION (default 20s,
# 0 skips it). CLIENT=loadgen drives the load with `cio-loadgen run` (a Go client that costs
# more CPU than the server it measures) instead, paced at RATE requests/s when RATE is set.
# The spool's end offset is read from spool_dir/DURABLE every 20 ms for freshness;
# SAMPLE_SOURCE=metrics reads it from /metrics instead (which costs the tap CPU under load).
# Ends with a Markdown table for BENCHMARKS.md.
# Needs: wrk (Debian package wrk) unless CLIENT=loadgen; PostgreSQL server binaries (initdb).
set -euo pipefail
cd "$(dirname "$0")/.."
go build -o bin/ ./cmd/...
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
go build -o "$work/pipebench" ./e2e/pipebench
dirty=$(git status --porcelain --untracked-files=no 2>/dev/null | grep -q . && echo " (with uncommitted changes)" || true)
echo "commit: $(git rev-parse --short HEAD 2>/dev/null || echo unknown)$dirty; $(date -u '+%Y-%m-%d %H:%M UTC'); $(nproc) cores, $(uname -r)"
"$work/pipebench" -bin bin -client "${CLIENT:-wrk}" -duration "${1:-60s}" -conns "${2:-64}" -runs "${3:-1}" \
  -threads "${WRK_THREADS:-2}" -noop-duration "${NOOP_DURATION:-20s}" -rate "${RATE:-0}" \
  -sample-source "${SAMPLE_SOURCE:-durable}"
