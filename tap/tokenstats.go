package tap

import (
	"context"
	"fmt"
	"io"
	"sort"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cio-singer/tap-customerio-webhook/tap/receiver"
)

// tokenStats counts, per token id, the webhooks the spool accepted and
// refused. Customer.io holds back every later event behind one that
// fails, so a feed that stops (a token revoked on one side, a proxy
// answering 4xx) shows here first: one token's webhooks stop while the
// others go on. Safe for concurrent use.
type tokenStats struct {
	now  func() time.Time
	byID sync.Map // token id -> *tokenCounts
}

type tokenCounts struct {
	accepted     atomic.Uint64
	refused      atomic.Uint64 // the spool could not take it: answered 503
	lastAccepted atomic.Int64  // unix nanoseconds; 0 when none since start
}

func newTokenStats(now func() time.Time) *tokenStats { return &tokenStats{now: now} }

func (s *tokenStats) counts(id string) *tokenCounts {
	if c, ok := s.byID.Load(id); ok {
		return c.(*tokenCounts) //nolint:forcetypeassert // only *tokenCounts is stored
	}
	c, _ := s.byID.LoadOrStore(id, &tokenCounts{})
	return c.(*tokenCounts) //nolint:forcetypeassert // only *tokenCounts is stored
}

// countingAppender passes appends to the spool and counts their outcome
// per token.
type countingAppender struct {
	next  receiver.Appender
	stats *tokenStats
}

func (a countingAppender) Append(ctx context.Context, body []byte, tokenID string) (uint64, error) {
	off, err := a.next.Append(ctx, body, tokenID)
	c := a.stats.counts(tokenID)
	if err != nil {
		c.refused.Add(1)
	} else {
		c.accepted.Add(1)
		c.lastAccepted.Store(a.stats.now().UnixNano())
	}
	return off, err
}

// tokenSample is one token's figures, for /metrics and status.
type tokenSample struct {
	id                string
	accepted, refused uint64
	lastAccepted      time.Time // zero when none since start
}

// snapshot returns the figures of every token in ids (the tokens accepted
// now, so each has a series from the start, at 0) and of any other token
// that was counted since, sorted by id.
func (s *tokenStats) snapshot(ids []string) []tokenSample {
	for _, id := range ids {
		s.counts(id)
	}
	var out []tokenSample
	s.byID.Range(func(k, v any) bool {
		c := v.(*tokenCounts)                                                                     //nolint:forcetypeassert // only *tokenCounts is stored
		ts := tokenSample{id: k.(string), accepted: c.accepted.Load(), refused: c.refused.Load()} //nolint:forcetypeassert // keys are strings
		if ns := c.lastAccepted.Load(); ns != 0 {
			ts.lastAccepted = time.Unix(0, ns)
		}
		out = append(out, ts)
		return true
	})
	sort.Slice(out, func(i, j int) bool { return out[i].id < out[j].id })
	return out
}

// writeRefusals writes webhook_refusals_total: for every token in ids (at 0
// from the start) and any other refused since, the webhooks refused by
// status code ("other" for codes beyond 401, 405, 413 and 503).
func writeRefusals(w io.Writer, ids []string, refused map[string]map[int]uint64) {
	all := map[string]bool{}
	for _, id := range ids {
		all[id] = true
	}
	for id := range refused {
		all[id] = true
	}
	sorted := make([]string, 0, len(all))
	for id := range all {
		sorted = append(sorted, id)
	}
	sort.Strings(sorted)
	var samples []sample
	for _, id := range sorted {
		for _, code := range []int{401, 405, 413, 503, 0} {
			label := strconv.Itoa(code)
			if code == 0 {
				label = "other"
			}
			samples = append(samples, sample{fmt.Sprintf("token_id=%q,code=%q", id, label), float64(refused[id][code])})
		}
	}
	writeFamily(w, "webhook_refusals_total", "counter", "Webhooks with a known token that were refused, by token id and status code.", samples...)
}

// write writes the per-token families of /metrics.
func (s *tokenStats) write(w io.Writer, ids []string) {
	samples := s.snapshot(ids)
	var accepted, refused, last, age []sample
	for _, ts := range samples {
		label := fmt.Sprintf("token_id=%q", ts.id)
		accepted = append(accepted, sample{label, float64(ts.accepted)})
		refused = append(refused, sample{label, float64(ts.refused)})
		if !ts.lastAccepted.IsZero() {
			last = append(last, sample{label, float64(ts.lastAccepted.UnixNano()) / 1e9})
			age = append(age, sample{label, max(0, s.now().Sub(ts.lastAccepted).Seconds())})
		}
	}
	writeFamily(w, "webhooks_accepted_total", "counter", "Webhooks written to the spool and answered 200, by token id.", accepted...)
	writeFamily(w, "webhooks_spool_refused_total", "counter", "Webhooks with a good token the spool could not take (answered 503), by token id.", refused...)
	writeFamily(w, "webhook_last_accepted_timestamp_seconds", "gauge", "When the last webhook of each token was answered 200 (since this process started).", last...)
	writeFamily(w, "webhook_last_accepted_age_seconds", "gauge", "Seconds since the last webhook of each token was answered 200 (since this process started).", age...)
}
