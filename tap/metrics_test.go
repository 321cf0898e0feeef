package tap

import (
	"io"
	"net/http"
	"strings"
	"testing"
)

func scrape(t *testing.T, base string) (map[string]float64, string) {
	t.Helper()
	resp, err := http.Get(base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		t.Fatalf("GET /metrics: %d", resp.StatusCode)
	}
	samples, _ := parseExposition(string(body))
	out := map[string]float64{}
	for _, s := range samples {
		key := strings.TrimPrefix(s.name, metricPrefix)
		if s.labels != "" {
			key += "{" + s.labels + "}"
		}
		out[key] = s.value
	}
	return out, string(body)
}

// TestMetrics: /metrics counts requests by code, spool records, emitted
// records per stream, rejected bodies and the backlog, in the Prometheus
// text format with HELP and TYPE for every family.
func TestMetrics(t *testing.T) {
	rt := startTap(t, testConfig(t, t.TempDir()), Bookmark{}, nil)
	waitReady(t, rt.base)
	post(t, rt.url, sentEvent("m1"))
	post(t, rt.url, sentEvent("m2"))
	post(t, rt.url, `not json`)
	if code := post(t, rt.base+"/webhook/wrong-token-0123456789abcdef0123456789", sentEvent("x")); code != 404 {
		t.Fatalf("wrong token: %d", code)
	}
	rt.recordsUntilState(t, 3)

	m, body := scrape(t, rt.base)
	want := map[string]float64{
		`http_requests_total{code="404"}`:          1,
		`records_emitted_total{stream="data"}`:     2,
		`records_emitted_total{stream="rejected"}`: 1,
		`rejected_bodies_total`:                    1,
		`spool_durable_offset`:                     3,
		`spool_records`:                            3,
		`emitted_offset`:                           3,
		`backlog_records`:                          0,
		`backlog_oldest_age_seconds`:               0,
		`webhook_tokens`:                           1,
	}
	// 200s: three webhooks plus the /readyz probes of waitReady.
	if got := m[`http_requests_total{code="200"}`]; got < 4 {
		t.Errorf(`http_requests_total{code="200"} = %v; want 3 webhooks and a probe`, got)
	}
	for k, v := range want {
		if got, ok := m[k]; !ok || got != v {
			t.Errorf("%s = %v (present %v); want %v", k, got, ok, v)
		}
	}
	if m["spool_bytes"] <= 0 || m["spool_segments"] < 1 {
		t.Errorf("spool_bytes %v, spool_segments %v; want > 0", m["spool_bytes"], m["spool_segments"])
	}
	// Every family has HELP and TYPE before its samples.
	seen := map[string]bool{}
	for _, line := range strings.Split(body, "\n") {
		if f, ok := strings.CutPrefix(line, "# TYPE "); ok {
			seen[strings.Fields(f)[0]] = true
			continue
		}
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		name := strings.FieldsFunc(line, func(r rune) bool { return r == '{' || r == ' ' })[0]
		family := name
		for _, suf := range []string{"_bucket", "_sum", "_count"} {
			if f, ok := strings.CutSuffix(name, suf); ok && seen[f] {
				family = f
			}
		}
		if !seen[family] {
			t.Errorf("sample %q before its # TYPE line", line)
		}
		if !strings.Contains(body, "# HELP "+family+" ") {
			t.Errorf("no HELP for %s", family)
		}
	}
	rt.stop(t)
}
