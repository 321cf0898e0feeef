#!/usr/bin/env bash
# target-postgres against its limit, psql, in one run on one PostgreSQL:
# N Customer.io-shaped records (~1 KB, 10% repeated event_id) loaded
#   (a) by the real target-postgres binary from a Singer file, and
#   (b) by psql: \copy into a temp table + INSERT ... SELECT DISTINCT ON
#       (event_id) ... ON CONFLICT DO UPDATE.
# Prints both wall times, their ratio and the target's peak RSS, for each
# size in BENCH_SIZES (default "300000 1000000": RSS must not grow with N).
# Usage: scripts/bench-target-postgres.sh   (make bench runs it)
set -euo pipefail
cd "$(dirname "$0")/.."
sizes=${BENCH_SIZES:-"300000 1000000"}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
go build -o "$work/target-postgres" ./cmd/target-postgres
go build -o "$work/bench" ./target/pgload/bench
echo "machine: $(nproc) cores, $(uname -r); PostgreSQL: $(psql --version | head -1), private cluster with fsync=off"
for n in $sizes; do
	echo "== $n records: bench -n $n -target target-postgres ${BENCH_FLAGS:-}"
	"$work/bench" -n "$n" -target "$work/target-postgres" -dir "$work" ${BENCH_FLAGS:-}
	rm -f "$work"/input.singer.jsonl "$work"/rows.copy
done
