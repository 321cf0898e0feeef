// Package target is the core the Singer targets share (target-postgres,
// target-sqlite): it reads Singer messages, turns records into rows of
// tables derived from each stream's SCHEMA, and hands them in batches to a
// warehouse [Loader]. A STATE goes to stdout only once every record before
// it is committed, so resuming from the last state printed loses nothing;
// loads are idempotent upserts, so replaying after a crash adds nothing.
//
// The pieces of a run, each with its own tests:
//
//   - read.go: readAhead parses lines on a goroutine of its own and passes
//     on line-numbered messages.
//   - stream.go: a stream's SCHEMA becomes a layout (schema.go) and a
//     table; its RECORDs become rows (convert.go) with the metadata
//     columns (metadata.go) filled by name.
//   - target/batch: a stream's rows wait in a batch.Buffer until it is
//     full by records or bytes or old enough; the last record per key wins
//     within a batch.
//   - runner.go: the main loop sends due batches to the load worker and
//     tells the state gate how far records are committed.
//   - worker.go, retry.go, recover.go: the load worker makes the warehouse
//     calls, retries transient failures with capped backoff and splits a
//     batch refused on its data to keep what loads.
//   - gate.go: stateGate holds each STATE until the records before it are
//     committed.
//
// Main wires it to flags, config and a loader's [Plugin].
package target
