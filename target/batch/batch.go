// Package batch buffers the rows of one stream until they should load:
// when enough records or bytes are buffered, or the oldest record has
// waited long enough. Its shape follows Benthos' batch policy: [Buffer.Add]
// reports a full buffer, [Buffer.UntilNext] says when age makes it due, and
// [Buffer.Flush] takes the rows out.
//
// A Buffer only counts and keeps rows; it does no I/O and starts no
// timers, so the caller decides when to look at it. The clock it reads is
// injected. A Buffer is not safe for concurrent use.
//
//	b := batch.NewBuffer(batch.Policy{MaxRecords: 1000, MaxBytes: 1 << 20, MaxAge: time.Second}, time.Now)
//	if b.Add(seq, key, row, len(record)) {
//		load(b.Flush())
//	}
package batch

import "time"

// Row is one row of a table: a value per column.
type Row = []any

// Policy says when a Buffer is due. A Buffer is full at MaxRecords records
// or MaxBytes bytes, whichever comes first, and due by age MaxAge after its
// oldest record arrived.
type Policy struct {
	MaxRecords int
	MaxBytes   int64
	MaxAge     time.Duration
}

// Buffer holds the rows of one stream not yet handed to a loader, with the
// number of the oldest record among them.
type Buffer struct {
	policy Policy
	now    func() time.Time

	rows    []Row          // nil entries are rows replaced by a later record with the same key
	index   map[string]int // key -> position in rows
	rejects []Row
	bytes   int
	first   int64     // number of the oldest record buffered
	started time.Time // when the oldest record arrived, for MaxAge
}

// NewBuffer returns an empty Buffer that flushes by p and reads the time
// from now.
func NewBuffer(p Policy, now func() time.Time) *Buffer {
	return &Buffer{policy: p, now: now}
}

// Add buffers row, made from record number seq of size bytes, and reports
// whether the buffer is now full. Records are numbered in input order.
//
// The last record per key wins within a batch: when key is not "" and an
// earlier row of this buffer has the same key, that row is dropped and row
// takes its place at the end. A batch therefore holds one row per key, in
// the order of each key's last record, which is what an upsert needs (one
// statement cannot update a row twice) and what replaying the input would
// leave. The dropped record still counts towards MaxRecords and MaxBytes,
// as it was read and held. A key of "" means the stream has no key: every
// row is kept.
func (b *Buffer) Add(seq int64, key string, row Row, size int) (full bool) {
	b.start(seq)
	if key != "" {
		if b.index == nil {
			b.index = map[string]int{}
		}
		if prev, ok := b.index[key]; ok {
			b.rows[prev] = nil
		}
		b.index[key] = len(b.rows)
	}
	b.rows = append(b.rows, row)
	return b.grow(size)
}

// AddReject buffers row, a row of the rejected-records table made from
// record number seq of size bytes, which could not become a row of its
// own table; it reports whether the buffer is now full. Rejects load with
// the batch, so the oldest record counts them too.
func (b *Buffer) AddReject(seq int64, row Row, size int) (full bool) {
	b.start(seq)
	b.rejects = append(b.rejects, row)
	return b.grow(size)
}

func (b *Buffer) start(seq int64) {
	if b.Empty() {
		b.first, b.started = seq, b.now()
	}
}

func (b *Buffer) grow(size int) bool {
	b.bytes += size
	return b.Len() >= b.policy.MaxRecords || int64(b.bytes) >= b.policy.MaxBytes
}

// Empty reports whether nothing is buffered.
func (b *Buffer) Empty() bool { return len(b.rows) == 0 && len(b.rejects) == 0 }

// Len returns the number of records buffered, counting records whose row a
// later one with the same key replaced.
func (b *Buffer) Len() int { return len(b.rows) + len(b.rejects) }

// Bytes returns the sum of the sizes given to Add and AddReject since the
// last Flush.
func (b *Buffer) Bytes() int { return b.bytes }

// OldestSeq returns the number of the oldest record buffered; ok is false
// when the buffer is empty.
func (b *Buffer) OldestSeq() (seq int64, ok bool) { return b.first, !b.Empty() }

// UntilNext returns how long until the oldest record buffered is MaxAge
// old: zero or less when the buffer is due now. ok is false when the buffer
// is empty and no age applies.
func (b *Buffer) UntilNext() (d time.Duration, ok bool) {
	if b.Empty() {
		return 0, false
	}
	return b.started.Add(b.policy.MaxAge).Sub(b.now()), true
}

// Batch is what Flush takes out of a Buffer.
type Batch struct {
	Rows     []Row // one per key, in the order of each key's last record
	Rejects  []Row // in arrival order
	FirstSeq int64 // number of the oldest record among Rows and Rejects
	Bytes    int
}

// Flush empties the buffer and returns what it held. The Batch owns its
// slices; the buffer starts new ones.
func (b *Buffer) Flush() Batch {
	rows := b.rows[:0]
	for _, row := range b.rows {
		if row != nil {
			rows = append(rows, row)
		}
	}
	out := Batch{Rows: rows, Rejects: b.rejects, FirstSeq: b.first, Bytes: b.bytes}
	b.rows, b.index, b.rejects, b.bytes, b.first, b.started = nil, nil, nil, 0, 0, time.Time{}
	return out
}
