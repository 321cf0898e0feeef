package tap

import (
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cio-singer/tap-customerio-webhook/tap/metrics"
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
	return parseExposition(t, string(body)), string(body)
}

// parseExposition reads the sample lines of a Prometheus text exposition
// into name{labels} (without the prefix) -> value.
func parseExposition(t *testing.T, text string) map[string]float64 {
	t.Helper()
	out := map[string]float64{}
	for _, line := range strings.Split(text, "\n") {
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if i < 0 || err != nil {
			t.Fatalf("not a sample line: %q", line)
		}
		out[strings.TrimPrefix(line[:i], metrics.Prefix)] = v
	}
	return out
}

// TestMetrics: /metrics counts requests by code, spool records, emitted
// records per stream, rejected bodies and the backlog, in the Prometheus
// text format with HELP and TYPE for every family.
func TestMetrics(t *testing.T) {
	t.Parallel()
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

// TestMetricsPerToken: every accepted token has its series from the start
// (at 0, so an alert on "no increase" works after a restart), webhooks the
// spool took count as accepted with their time, and ones it refused (503)
// as refused.
func TestMetricsPerToken(t *testing.T) {
	t.Parallel()
	cfg := testConfig(t, t.TempDir())
	cfg.SpoolMaxBytes = 64 << 10 // far below what LoadConfig accepts: the spool fills at once
	rt := startTap(t, cfg, Bookmark{}, nil)
	waitReady(t, rt.base)
	perToken := func(m map[string]float64, family string) (string, float64) {
		var key string
		var v float64
		for k, val := range m {
			if strings.HasPrefix(k, family+`{token_id="`) {
				if key != "" {
					t.Fatalf("%s: two series, %s and %s; want one token", family, key, k)
				}
				key, v = k, val
			}
		}
		return key, v
	}
	m, _ := scrape(t, rt.base)
	if k, v := perToken(m, "webhooks_accepted_total"); k == "" || v != 0 {
		t.Fatalf("before any webhook: %q = %v; want one series at 0", k, v)
	}
	if k, _ := perToken(m, "webhook_last_accepted_timestamp_seconds"); k != "" {
		t.Fatalf("before any webhook %s is set", k)
	}
	start := time.Now()
	for _, id := range []string{"t1", "t2"} {
		if code := post(t, rt.url, sentEvent(id)); code != 200 {
			t.Fatalf("POST %s: %d", id, code)
		}
	}
	big := sentEvent("big") + strings.Repeat(" ", 40<<10)
	refused := 0
	for i := 0; i < 5 && refused == 0; i++ {
		if post(t, rt.url, big) == 503 {
			refused++
		}
	}
	if refused == 0 {
		t.Fatal("the spool never refused a webhook over spool_max_bytes")
	}
	m, _ = scrape(t, rt.base)
	_, accepted := perToken(m, "webhooks_accepted_total")
	_, spoolRefused := perToken(m, "webhooks_spool_refused_total")
	_, last := perToken(m, "webhook_last_accepted_timestamp_seconds")
	_, age := perToken(m, "webhook_last_accepted_age_seconds")
	if accepted < 2 || spoolRefused != 1 {
		t.Errorf("accepted %v, refused %v; want at least 2 and exactly 1", accepted, spoolRefused)
	}
	if at := time.Unix(0, int64(last*1e9)); at.Before(start.Add(-time.Second)) || at.After(time.Now().Add(time.Second)) || age < 0 || age > time.Since(start).Seconds()+1 {
		t.Errorf("last accepted %v (age %vs); want within this test's %v", at, age, time.Since(start))
	}
	rt.stop(t)
}

// TestMetricsLoadedOffset: under serve with scheduled loads, /metrics says
// how far a target had loaded when the last load run started (its
// --state) and how old the oldest record past it is: a load run from an
// empty state leaves everything unloaded as far as the tap knows; the next
// run, from the target's state, moves loaded_offset and the age drops to 0.
func TestMetricsLoadedOffset(t *testing.T) {
	t.Parallel()
	cfg := testConfig(t, t.TempDir())
	base := startServe(t, cfg)
	waitReady(t, base)
	url := base + "/webhook/" + testToken
	for _, id := range []string{"l1", "l2", "l3"} {
		if code := post(t, url, sentEvent(id)); code != 200 {
			t.Fatalf("POST %s: %d", id, code)
		}
	}
	_, st := load(t, cfg, Bookmark{})
	m, _ := scrape(t, base)
	if m["loaded_offset"] != 0 || m["unloaded_oldest_age_seconds"] <= 0 || m["emitted_offset"] != 3 {
		t.Fatalf("after a load from no state: loaded_offset %v, unloaded age %v, emitted %v; want 0, > 0, 3",
			m["loaded_offset"], m["unloaded_oldest_age_seconds"], m["emitted_offset"])
	}
	load(t, cfg, st)
	m, _ = scrape(t, base)
	if m["loaded_offset"] != 3 || m["unloaded_oldest_age_seconds"] != 0 {
		t.Fatalf("after a load from the state: loaded_offset %v, unloaded age %v; want 3, 0", m["loaded_offset"], m["unloaded_oldest_age_seconds"])
	}
}

// TestMetricsRefusalsPerToken: webhooks with a known token that are refused
// count per token and code (every token has its series at 0 from the
// start): a missing signature 401, a GET 405, an oversized body 413.
func TestMetricsRefusalsPerToken(t *testing.T) {
	t.Parallel()
	cfg := testConfig(t, t.TempDir())
	cfg.SigningKeys = []string{"signing-key-for-this-test"}
	cfg.MaxBodyBytes = 1 << 10
	rt := startTap(t, cfg, Bookmark{}, nil)
	waitReady(t, rt.base)
	refusals := func() map[string]float64 {
		m, _ := scrape(t, rt.base)
		out := map[string]float64{}
		for k, v := range m {
			if rest, ok := strings.CutPrefix(k, `webhook_refusals_total{token_id="`); ok {
				_, labels, _ := strings.Cut(rest, `",`)
				out[strings.TrimSuffix(labels, "}")] = v
			}
		}
		return out
	}
	if got := refusals(); len(got) != 5 || got[`code="401"`] != 0 {
		t.Fatalf("before any webhook: %v; want five series at 0", got)
	}
	if code := post(t, rt.url, sentEvent("unsigned")); code != 401 {
		t.Fatalf("unsigned: %d", code)
	}
	resp, err := http.Get(rt.url)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if code := post(t, rt.url, sentEvent("big")+strings.Repeat(" ", 2<<10)); code != 413 {
		t.Fatalf("oversized: %d", code)
	}
	got := refusals()
	want := map[string]float64{`code="401"`: 1, `code="405"`: 1, `code="413"`: 1, `code="503"`: 0, `code="other"`: 0}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("webhook_refusals_total{%s} = %v; want %v (all: %v)", k, got[k], v, got)
		}
	}
	rt.stop(t)
}

// TestMetricsJSONIsTheSameSnapshot: GET /metrics asked for JSON answers
// the figures the text is written from (what `status` reads); the text
// stays what a scraper gets without asking.
func TestMetricsJSONIsTheSameSnapshot(t *testing.T) {
	t.Parallel()
	rt := startTap(t, testConfig(t, t.TempDir()), Bookmark{}, nil)
	waitReady(t, rt.base)
	post(t, rt.url, sentEvent("j1"))
	post(t, rt.url, `not json`)
	rt.recordsUntilState(t, 2)

	req, err := http.NewRequest(http.MethodGet, rt.base+"/metrics", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Accept", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); resp.StatusCode != http.StatusOK || ct != "application/json" {
		t.Fatalf("GET /metrics asking for JSON: %d %q", resp.StatusCode, ct)
	}
	var snap metrics.Snapshot
	if err := json.NewDecoder(resp.Body).Decode(&snap); err != nil {
		t.Fatal(err)
	}
	var fromJSON strings.Builder
	snap.WriteText(&fromJSON)
	fromText, text := scrape(t, rt.base)
	if !strings.HasPrefix(text, "# HELP ") {
		t.Fatalf("/metrics without asking is not the text exposition:\n%s", text)
	}
	got := parseExposition(t, fromJSON.String())
	for key, want := range fromText {
		// The scrape itself is one more 200; ages move between the two requests.
		if key == `http_requests_total{code="200"}` || strings.Contains(key, "age_seconds") {
			continue
		}
		if got[key] != want {
			t.Errorf("%s: %v in JSON, %v in the text", key, got[key], want)
		}
	}
	if len(got) != len(fromText) || got[`records_emitted_total{stream="rejected"}`] != 1 || got["emitted_offset"] != 2 {
		t.Errorf("JSON has %d series, the text %d: %v", len(got), len(fromText), got)
	}
	rt.stop(t)
}
