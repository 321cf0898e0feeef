// Package reliability holds the fault-injection suite of the whole
// pipeline: it builds the real binaries and proves that every webhook
// answered 2xx ends up in PostgreSQL exactly once, through kill -9 crash
// loops, lost and failed writes, full disks, warehouse outages and hostile
// HTTP clients. See RELIABILITY.md at the repository root.
//
// `go test ./reliability` runs the short version (part of `make test`);
// RELIABILITY_FULL=1 (set by `make test-faults`) runs the long one.
package reliability
