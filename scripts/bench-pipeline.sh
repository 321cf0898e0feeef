#!/usr/bin/env bash
# End to end, HTTP to committed rows: tap-customerio-webhook | target-postgres
# under signed load for DURATION (default 60s). See e2e/pipebench.
# Usage: scripts/bench-pipeline.sh [duration] [connections]   (make bench runs it)
set -euo pipefail
cd "$(dirname "$0")/.."
go build -o bin/ ./cmd/...
echo "machine: $(nproc) cores, $(uname -r); load average: $(cut -d' ' -f1-3 /proc/loadavg)"
go run ./e2e/pipebench -bin bin -duration "${1:-60s}" -conns "${2:-64}"
