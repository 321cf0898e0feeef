package tap

import (
	"context"
	"sort"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cio-singer/tap-customerio-webhook/tap/metrics"
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

// snapshot returns the figures of every token in ids (the tokens accepted
// now, so each has a series from the start, at 0) and of any other token
// that was counted since, sorted by id.
func (s *tokenStats) snapshot(ids []string) []metrics.Token {
	for _, id := range ids {
		s.counts(id)
	}
	now := s.now()
	var out []metrics.Token
	s.byID.Range(func(k, v any) bool {
		c := v.(*tokenCounts)                                                                           //nolint:forcetypeassert // only *tokenCounts is stored
		t := metrics.Token{ID: k.(string), Accepted: c.accepted.Load(), SpoolRefused: c.refused.Load()} //nolint:forcetypeassert // keys are strings
		if ns := c.lastAccepted.Load(); ns != 0 {
			at := time.Unix(0, ns)
			t.LastAccepted, t.LastAcceptedAge = &at, max(0, now.Sub(at).Seconds())
		}
		out = append(out, t)
		return true
	})
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

// refusals returns, for every token in ids (at 0 from the start) and any
// other refused since, the webhooks refused by status code (the
// receiver's code 0 is "other": beyond 401, 405, 413 and 503).
func refusals(ids []string, refused map[string]map[int]uint64) []metrics.Refusals {
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
	out := make([]metrics.Refusals, 0, len(sorted))
	for _, id := range sorted {
		byCode := map[string]uint64{}
		for _, code := range []int{401, 405, 413, 503, 0} {
			label := strconv.Itoa(code)
			if code == 0 {
				label = "other"
			}
			byCode[label] = refused[id][code]
		}
		out = append(out, metrics.Refusals{TokenID: id, ByCode: byCode})
	}
	return out
}
