package e2e

import (
	"encoding/json"
	"fmt"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cio-singer/tap-customerio-webhook/tap/appapi/appapitest"
)

// TestPipelineAppAPISQLite: the real tap binary, reading a local fake of
// the App API (app_api_url), piped into the real target-sqlite: a listen ""
// run emits the App API streams and exits; the rows are in SQLite, and the
// state the target printed carries the deliveries bookmark, with which a
// second run reads only the lookback window again.
func TestPipelineAppAPISQLite(t *testing.T) {
	t.Parallel()
	sqlite, err := exec.LookPath("sqlite3")
	if err != nil {
		t.Skip("sqlite3 CLI not installed") // the rows are read with a client of no code of ours
	}
	fake := appapitest.New(t, appapitest.Options{})
	now := time.Now()
	const n = 250
	if err := fake.AddDeliveries(appapitest.Deliveries(n, now.Add(-10*24*time.Hour), now.Add(-time.Minute))...); err != nil {
		t.Fatal(err)
	}
	fake.SetTable("/v1/campaigns", json.RawMessage(`{"id":23,"name":"Welcome"}`))
	fake.SetTable("/v1/newsletters", json.RawMessage(`{"id":4,"name":"March"}`))

	dir := t.TempDir()
	db := filepath.Join(dir, "customerio.db")
	tapCfg := filepath.Join(dir, "tap.json")
	writeJSON(t, tapCfg, map[string]any{"listen": "", "spool_dir": filepath.Join(dir, "spool"),
		"app_api_key": fake.Key(), "app_api_url": fake.URL,
		"app_api_start_date": now.Add(-14 * 24 * time.Hour).UTC().Format(time.RFC3339), "app_api_lookback": "48h"})
	targetCfg := filepath.Join(dir, "target.json")
	writeJSON(t, targetCfg, map[string]any{"database": db})

	state := runOnce(t, tapCfg, targetCfg, "")
	out, err := exec.Command(sqlite, db, "select count(distinct id), count(*), sum(recipient like '%@example.com') from deliveries; "+
		"select name from campaigns; select count(*) from newsletters;").CombinedOutput()
	if err != nil || strings.Join(strings.Fields(string(out)), " ") != fmt.Sprintf("%d|%d|%d Welcome 1", n, n, n) {
		t.Fatalf("sqlite rows: %q %v", out, err)
	}
	var st struct {
		Bookmarks struct {
			Deliveries struct {
				Created int64 `json:"created"`
			} `json:"deliveries"`
			Data json.RawMessage `json:"data"`
		} `json:"bookmarks"`
	}
	if err := json.Unmarshal([]byte(state), &st); err != nil || st.Bookmarks.Deliveries.Created < now.Unix() || st.Bookmarks.Data == nil {
		t.Fatalf("target's last state %s: want a deliveries bookmark of at least %d and the spool's", state, now.Unix())
	}

	before := len(fake.Requests())
	runOnce(t, tapCfg, targetCfg, state)
	from := st.Bookmarks.Deliveries.Created - 48*3600 - 1
	asked := 0
	for _, r := range fake.Requests()[before:] {
		if r.Path != "/v1/messages" {
			continue
		}
		asked++
		if ts, _ := strconv.ParseInt(r.Query.Get("start_ts"), 10, 64); ts < from {
			t.Fatalf("second run asked for deliveries from %s, before the lookback window (%d)", r.Query.Get("start_ts"), from)
		}
	}
	if asked == 0 {
		t.Fatal("second run did not read deliveries")
	}
	out, err = exec.Command(sqlite, db, "select count(distinct id), count(*) from deliveries").CombinedOutput()
	if err != nil || strings.TrimSpace(string(out)) != fmt.Sprintf("%d|%d", n, n) {
		t.Fatalf("after the second run: %q %v (the key is id: re-read rows replace their row)", out, err)
	}
}

// runOnce runs tap | target-sqlite to the end and returns the last state
// the target printed.
func runOnce(t *testing.T, tapCfg, targetCfg, state string) string {
	t.Helper()
	return runLoaderInto(t, "target-sqlite", tapCfg, targetCfg, state, pipeOptions{}).lastState
}
