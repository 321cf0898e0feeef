package cli

import (
	"strings"
	"testing"
	"time"

	"github.com/cio-singer/tap-customerio-webhook/tap/metrics"
)

// TestStatusWarnings: each condition of the shipped alert rules becomes a
// sentence; a healthy server gives none.
func TestStatusWarnings(t *testing.T) {
	t.Parallel()
	last := time.Now()
	healthy := metrics.Snapshot{
		Server: &metrics.Server{
			Requests: []metrics.CodeCount{{Code: 200, Count: 50}},
			Tokens:   []metrics.Token{{ID: "cio", Accepted: 50, LastAccepted: &last, LastAcceptedAge: 12}},
			Refusals: []metrics.Refusals{{TokenID: "cio", ByCode: map[string]uint64{"401": 0}}},
		},
		Spool: &metrics.Spool{Emitted: &metrics.Backlog{OldestAge: 3}},
	}
	if w := statusWarnings(healthy); len(w) != 0 {
		t.Fatalf("healthy server warns: %q", w)
	}
	sick := metrics.Snapshot{
		Server: &metrics.Server{
			Requests: []metrics.CodeCount{{Code: 404, Count: 2}},
			Tokens:   []metrics.Token{{ID: "cio", LastAccepted: &last, LastAcceptedAge: 3700, SpoolRefused: 4}},
			Refusals: []metrics.Refusals{{TokenID: "cio", ByCode: map[string]uint64{"401": 7, "413": 1, "503": 3}}},
		},
		Spool: &metrics.Spool{Emitted: &metrics.Backlog{OldestAge: 1000}, Loaded: &metrics.Loaded{OldestAge: 2000}},
	}
	got := strings.Join(statusWarnings(sick), "\n")
	for _, want := range []string{
		"token cio: 7 webhooks refused for a missing or wrong signature (401)",
		"2 requests named an unknown token",
		"token cio: 1 webhooks over max_body_bytes (413)",
		"token cio: last webhook accepted 1h1m40s ago",
		"token cio: 4 webhooks refused by the spool",
		"received 16m40s ago",
		"the last load started from was received 33m20s ago",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("warnings lack %q:\n%s", want, got)
		}
	}
	if n := strings.Count(got, "(503)"); n != 1 {
		t.Errorf("%d warnings name 503; want only the spool's (a refusal with 503 is the spool's or the budget's):\n%s", n, got)
	}
}
