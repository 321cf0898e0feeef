package tap

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cio-singer/tap-customerio-webhook/tap/event"
)

// TestRunKeepsWithheldBody: a body that holds a deselected field it cannot
// be cleaned of goes out on rejected without its body, and the raw bytes
// stay in spool_dir/withheld under its rejection_id, even after a restart
// from the state has released the segment that held it.
func TestRunKeepsWithheldBody(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	sel := deselect(t, "data/properties/data/properties/recipient")
	rt := startTapWith(t, testConfig(t, dir), Bookmark{}, sel, nil)
	waitReady(t, rt.base)
	const raw = `not json, but it names ana.ruiz@example.org`
	if code := post(t, rt.url, raw); code != 200 {
		t.Fatalf("POST: %d", code)
	}
	var rejection struct {
		RejectionID string  `json:"rejection_id"`
		Body        *string `json:"body"`
		Reason      string  `json:"reason"`
	}
	for rejection.RejectionID == "" {
		m := rt.next(t)
		if m.Type == "RECORD" && m.Stream == "rejected" {
			if err := json.Unmarshal(m.Record, &rejection); err != nil {
				t.Fatal(err)
			}
			if bytes.Contains(m.Record, []byte("ana.ruiz")) {
				t.Fatalf("withheld rejection carries the address: %s", m.Record)
			}
		}
	}
	_, st := rt.recordsUntilState(t, 1)
	rt.stop(t)
	if rejection.Body != nil || !strings.Contains(rejection.Reason, "spool_dir/"+event.WithheldDir) {
		t.Fatalf("rejection %+v: want body null and the reason naming where the body is", rejection)
	}
	// A restart from the state releases what it covers; the kept body stays.
	rt2 := startTapWith(t, testConfig(t, dir), st, sel, nil)
	waitReady(t, rt2.base)
	rt2.stop(t)
	got, err := os.ReadFile(filepath.Join(dir, event.WithheldDir, rejection.RejectionID))
	if err != nil || string(got) != raw {
		t.Fatalf("kept body %q, %v; want the raw body", got, err)
	}
}
