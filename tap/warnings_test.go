package tap

import (
	"strings"
	"testing"
)

// TestStatusWarnings: each condition of the shipped alert rules becomes a
// sentence; a healthy scrape gives none.
func TestStatusWarnings(t *testing.T) {
	t.Parallel()
	const healthy = `tap_customerio_webhook_http_requests_total{code="200"} 50
tap_customerio_webhook_webhook_last_accepted_age_seconds{token_id="cio"} 12
tap_customerio_webhook_webhooks_spool_refused_total{token_id="cio"} 0
tap_customerio_webhook_backlog_oldest_age_seconds 3
tap_customerio_webhook_webhook_refusals_total{token_id="cio",code="401"} 0
`
	samples, _ := parseExposition(healthy)
	if w := statusWarnings(samples); len(w) != 0 {
		t.Fatalf("healthy scrape warns: %q", w)
	}
	const sick = `tap_customerio_webhook_webhook_refusals_total{token_id="cio",code="401"} 7
tap_customerio_webhook_webhook_refusals_total{token_id="cio",code="413"} 1
tap_customerio_webhook_webhook_refusals_total{token_id="cio",code="503"} 3
tap_customerio_webhook_http_requests_total{code="404"} 2
tap_customerio_webhook_webhook_last_accepted_age_seconds{token_id="cio"} 3700
tap_customerio_webhook_webhooks_spool_refused_total{token_id="cio"} 4
tap_customerio_webhook_backlog_oldest_age_seconds 1000
tap_customerio_webhook_unloaded_oldest_age_seconds 2000
`
	samples, _ = parseExposition(sick)
	got := strings.Join(statusWarnings(samples), "\n")
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
}
