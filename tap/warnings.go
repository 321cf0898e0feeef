package tap

import (
	"fmt"
	"sort"
	"strings"
	"time"
)

// Thresholds of the warnings `status` prints; deploy/prometheus/alerts.yml
// alerts on the same conditions.
const (
	warnQuietToken = 30 * time.Minute // a token's last accepted webhook is older
	warnBacklogAge = 15 * time.Minute // the oldest unemitted webhook is older
	// warnUnloadedAge: the oldest webhook not known to be loaded is older.
	warnUnloadedAge = 30 * time.Minute
)

// statusWarnings turns a scrape of /metrics into what a person should act
// on, in words: the conditions of the shipped alert rules.
func statusWarnings(samples []parsedMetric) []string {
	var warns []string
	codes := map[string]float64{}
	for _, s := range samples {
		name := strings.TrimPrefix(s.name, metricPrefix)
		switch name {
		case "http_requests_total":
			codes[labelValue(s.labels, "code")] = s.value
		case "webhook_last_accepted_age_seconds":
			if age := time.Duration(s.value * float64(time.Second)); age > warnQuietToken {
				warns = append(warns, fmt.Sprintf("token %s: last webhook accepted %s ago; if Customer.io normally sends by now, check its webhook's activity log (a failing event holds back all later ones)",
					labelValue(s.labels, "token_id"), age.Round(time.Second)))
			}
		case "webhook_refusals_total":
			if what, ok := refusalWords[labelValue(s.labels, "code")]; ok && s.value > 0 {
				warns = append(warns, fmt.Sprintf("token %s: %s webhooks %s since start", labelValue(s.labels, "token_id"), formatValue(s.value), what))
			}
		case "webhooks_spool_refused_total":
			if s.value > 0 {
				warns = append(warns, fmt.Sprintf("token %s: %s webhooks refused by the spool (503) since start: free space in spool_dir or raise spool_max_bytes; Customer.io retries them",
					labelValue(s.labels, "token_id"), formatValue(s.value)))
			}
		case "unloaded_oldest_age_seconds":
			if age := time.Duration(s.value * float64(time.Second)); age > warnUnloadedAge {
				warns = append(warns, fmt.Sprintf("the oldest webhook after the state the last load started from was received %s ago: do scheduled loads run, and get the target's last state?", age.Round(time.Second)))
			}
		case "backlog_oldest_age_seconds":
			if age := time.Duration(s.value * float64(time.Second)); age > warnBacklogAge {
				warns = append(warns, fmt.Sprintf("the oldest webhook not emitted yet was received %s ago: is the tap | target pipeline (or the scheduled load) running?", age.Round(time.Second)))
			}
		}
	}
	for _, c := range []struct{ code, what string }{
		{"404", "named an unknown token: a revoked or mistyped token in a Customer.io webhook URL, or a scanner"},
	} {
		if n := codes[c.code]; n > 0 {
			warns = append(warns, fmt.Sprintf("%s requests %s (%s since start)", formatValue(n), c.what, c.code))
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

// labelValue returns the value of label name in a `a="x",b="y"` label set.
func labelValue(labels, name string) string {
	for _, part := range strings.Split(labels, ",") {
		if v, ok := strings.CutPrefix(part, name+`="`); ok {
			return strings.TrimSuffix(v, `"`)
		}
	}
	return ""
}
