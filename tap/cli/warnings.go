package cli

import (
	"fmt"
	"sort"
	"time"

	"github.com/cio-singer/tap-customerio-webhook/tap/metrics"
)

// Thresholds of the warnings `status` prints; deploy/prometheus/alerts.yml
// alerts on the same conditions.
const (
	warnQuietToken = 30 * time.Minute // a token's last accepted webhook is older
	warnBacklogAge = 15 * time.Minute // the oldest unemitted webhook is older
	// warnUnloadedAge: the oldest webhook not known to be loaded is older.
	warnUnloadedAge = 30 * time.Minute
)

// statusWarnings turns a server's figures into what a person should act
// on, in words: the conditions of the shipped alert rules.
func statusWarnings(s metrics.Snapshot) []string {
	var warns []string
	if sv := s.Server; sv != nil {
		for _, t := range sv.Tokens {
			if age := seconds(t.LastAcceptedAge); t.LastAccepted != nil && age > warnQuietToken {
				warns = append(warns, fmt.Sprintf("token %s: last webhook accepted %s ago; if Customer.io normally sends by now, check its webhook's activity log (a failing event holds back all later ones)",
					t.ID, age.Round(time.Second)))
			}
			if t.SpoolRefused > 0 {
				warns = append(warns, fmt.Sprintf("token %s: %s webhooks refused by the spool (503) since start: free space in spool_dir or raise spool_max_bytes; Customer.io retries them",
					t.ID, count(t.SpoolRefused)))
			}
		}
		for _, r := range sv.Refusals {
			for _, code := range metrics.RefusalCodes {
				if what, ok := refusalWords[code]; ok && r.ByCode[code] > 0 {
					warns = append(warns, fmt.Sprintf("token %s: %s webhooks %s since start", r.TokenID, count(r.ByCode[code]), what))
				}
			}
		}
		for _, c := range sv.Requests {
			if c.Code == 404 && c.Count > 0 {
				warns = append(warns, fmt.Sprintf("%s requests named an unknown token: a revoked or mistyped token in a Customer.io webhook URL, or a scanner (404 since start)", count(c.Count)))
			}
		}
	}
	if sp := s.Spool; sp != nil {
		if l := sp.Loaded; l != nil {
			if age := seconds(l.OldestAge); age > warnUnloadedAge {
				warns = append(warns, fmt.Sprintf("the oldest webhook after the state the last load started from was received %s ago: do scheduled loads run, and get the target's last state?", age.Round(time.Second)))
			}
		}
		if e := sp.Emitted; e != nil {
			if age := seconds(e.OldestAge); age > warnBacklogAge {
				warns = append(warns, fmt.Sprintf("the oldest webhook not emitted yet was received %s ago: is the tap | target pipeline (or the scheduled load) running?", age.Round(time.Second)))
			}
		}
	}
	sort.Strings(warns)
	return warns
}

// refusalWords says what a per-token refusal code means and what to do;
// 503s are the spool's (webhooks_spool_refused_total) or the budget's.
var refusalWords = map[string]string{
	"401": "refused for a missing or wrong signature (401): make signing_keys match Customer.io's signing key",
	"405": "sent with a method other than POST (405): check the client or proxy",
	"413": "over max_body_bytes (413): raise it, Customer.io retries them",
}

func seconds(s float64) time.Duration { return time.Duration(s * float64(time.Second)) }

// count writes a count as /metrics does.
func count(n uint64) string { return metrics.FormatValue(float64(n)) }
