package batch

import (
	"reflect"
	"testing"
	"time"
)

// fakeClock is a clock the test moves by hand.
type fakeClock struct{ t time.Time }

func (c *fakeClock) now() time.Time { return c.t }

func newTestBuffer(p Policy) (*Buffer, *fakeClock) {
	c := &fakeClock{t: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}
	return NewBuffer(p, c.now), c
}

func big() Policy { return Policy{MaxRecords: 1000, MaxBytes: 1 << 30, MaxAge: time.Hour} }

func TestBuffer_LastRecordPerKeyWins(t *testing.T) {
	t.Parallel()
	b, _ := newTestBuffer(big())
	b.Add(10, "a", Row{"a", 1}, 1)
	b.Add(11, "b", Row{"b", 1}, 1)
	b.Add(12, "a", Row{"a", 2}, 1)
	b.Add(13, "c", Row{"c", 1}, 1)
	b.Add(14, "b", Row{"b", 2}, 1)
	if b.Len() != 5 {
		t.Fatalf("Len %d, want 5: replaced records still count", b.Len())
	}
	got := b.Flush()
	want := []Row{{"a", 2}, {"c", 1}, {"b", 2}} // one per key, in order of each key's last record
	if !reflect.DeepEqual(got.Rows, want) {
		t.Fatalf("rows %v, want %v", got.Rows, want)
	}
	if got.FirstSeq != 10 {
		t.Fatalf("FirstSeq %d, want 10: the oldest record read, even though its row was replaced", got.FirstSeq)
	}
}

func TestBuffer_NoKeyKeepsEveryRow(t *testing.T) {
	t.Parallel()
	b, _ := newTestBuffer(big())
	b.Add(0, "", Row{1}, 1)
	b.Add(1, "", Row{1}, 1)
	if got := b.Flush().Rows; len(got) != 2 {
		t.Fatalf("%d rows, want 2", len(got))
	}
}

func TestBuffer_FullByRecords(t *testing.T) {
	t.Parallel()
	p := big()
	p.MaxRecords = 3
	b, _ := newTestBuffer(p)
	if b.Add(0, "k", Row{1}, 1) || b.Add(1, "k", Row{2}, 1) {
		t.Fatal("full before 3 records")
	}
	if !b.AddReject(2, Row{"rejected"}, 1) {
		t.Fatal("not full at 3 records (a same-key pair and a reject)")
	}
	got := b.Flush()
	if len(got.Rows) != 1 || len(got.Rejects) != 1 {
		t.Fatalf("rows %v rejects %v", got.Rows, got.Rejects)
	}
}

func TestBuffer_FullByBytes(t *testing.T) {
	t.Parallel()
	p := big()
	p.MaxBytes = 100
	b, _ := newTestBuffer(p)
	if b.Add(0, "", Row{1}, 60) {
		t.Fatal("full at 60 of 100 bytes")
	}
	if !b.Add(1, "", Row{2}, 40) {
		t.Fatal("not full at 100 of 100 bytes")
	}
	if b.Bytes() != 100 {
		t.Fatalf("Bytes %d", b.Bytes())
	}
}

func TestBuffer_UntilNext(t *testing.T) {
	t.Parallel()
	p := big()
	p.MaxAge = 10 * time.Second
	b, clock := newTestBuffer(p)
	if _, ok := b.UntilNext(); ok {
		t.Fatal("an empty buffer has an age deadline")
	}
	b.Add(0, "", Row{1}, 1)
	clock.t = clock.t.Add(4 * time.Second)
	b.Add(1, "", Row{2}, 1) // does not restart the age
	if d, ok := b.UntilNext(); !ok || d != 6*time.Second {
		t.Fatalf("UntilNext %v %v, want 6s true", d, ok)
	}
	clock.t = clock.t.Add(7 * time.Second)
	if d, _ := b.UntilNext(); d > 0 {
		t.Fatalf("UntilNext %v after MaxAge passed, want <= 0", d)
	}
	b.Flush()
	if _, ok := b.UntilNext(); ok {
		t.Fatal("a flushed buffer has an age deadline")
	}
	b.Add(2, "", Row{3}, 1) // the age starts again with the next record
	if d, _ := b.UntilNext(); d != 10*time.Second {
		t.Fatalf("UntilNext %v after a flush, want 10s", d)
	}
}

func TestBuffer_FlushStartsOver(t *testing.T) {
	t.Parallel()
	b, _ := newTestBuffer(big())
	if _, ok := b.OldestSeq(); ok {
		t.Fatal("an empty buffer has an oldest record")
	}
	b.Add(5, "k", Row{1}, 7)
	b.AddReject(6, Row{2}, 3)
	if seq, ok := b.OldestSeq(); !ok || seq != 5 {
		t.Fatalf("OldestSeq %d %v", seq, ok)
	}
	first := b.Flush()
	if first.Bytes != 10 || first.FirstSeq != 5 {
		t.Fatalf("batch %+v", first)
	}
	if !b.Empty() || b.Len() != 0 || b.Bytes() != 0 {
		t.Fatalf("buffer not empty after Flush: %d records, %d bytes", b.Len(), b.Bytes())
	}
	b.Add(9, "k", Row{3}, 1) // the key of the flushed batch does not carry over
	second := b.Flush()
	if len(second.Rows) != 1 || second.FirstSeq != 9 {
		t.Fatalf("second batch %+v", second)
	}
	if !reflect.DeepEqual(first.Rows, []Row{{1}}) {
		t.Fatalf("the first batch changed after the buffer was reused: %v", first.Rows)
	}
}
