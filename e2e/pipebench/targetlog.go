package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"time"
)

// batchLog reads the target's log (log_level info): it keeps how long each
// batch took to load and commit (the "batch loaded" lines), the part of
// freshness after the batch is formed, and passes warnings and errors on.
type batchLog struct {
	took []span // one per batch, n = its rows
	done chan struct{}
}

func readBatchLog(r io.Reader, pass io.Writer) *batchLog {
	bl := &batchLog{done: make(chan struct{})}
	go func() {
		defer close(bl.done)
		sc := bufio.NewScanner(r)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			var l struct {
				Level   string  `json:"level"`
				Message string  `json:"message"`
				Took    float64 `json:"took"` // zerolog: milliseconds
				Rows    uint64  `json:"rows"`
			}
			if err := json.Unmarshal(sc.Bytes(), &l); err != nil || (l.Level != "info" && l.Level != "debug") {
				fmt.Fprintln(pass, sc.Text())
				continue
			}
			if l.Message == "batch loaded" {
				bl.took = append(bl.took, span{fresh: time.Duration(l.Took * float64(time.Millisecond)), n: l.Rows})
			}
		}
		_, _ = io.Copy(io.Discard, r)
	}()
	return bl
}

// summary describes the batches once the log is closed.
func (bl *batchLog) summary() string {
	<-bl.done
	if len(bl.took) == 0 {
		return "no batch loaded"
	}
	var rows uint64
	each := make([]span, len(bl.took))
	for i, b := range bl.took {
		rows += b.n
		each[i] = span{fresh: b.fresh, n: 1}
	}
	q := percentiles(each, 0.5, 0.99, 1)
	return fmt.Sprintf("%d batches of %d rows on average; each took to load and commit ms p50 %s p99 %s max %s",
		len(bl.took), rows/uint64(len(bl.took)), ms(q[0]), ms(q[1]), ms(q[2]))
}
