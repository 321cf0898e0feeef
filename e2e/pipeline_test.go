package e2e

import (
	"encoding/json"
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cio-singer/tap-customerio-webhook/internal/poll"
)

// psql runs a query through the psql client (an independent reader: no
// code of ours) and returns its unaligned output lines.
func psql(t *testing.T, dsn, query string) []string {
	t.Helper()
	lines, err := tryPsql(dsn, query)
	if err != nil {
		t.Fatal(err)
	}
	return lines
}

// tryPsql is psql for polls: an error (the table not created yet by the
// target's first load) means "not yet", not a failure.
func tryPsql(dsn, query string) ([]string, error) {
	path, err := pg.Tool("psql")
	if err != nil {
		return nil, err
	}
	out, err := exec.Command(path, dsn, "-X", "-At", "-F", "\t", "-c", query).CombinedOutput()
	if err != nil {
		return nil, fmt.Errorf("psql %q: %w\n%s", query, err, out)
	}
	s := strings.TrimRight(string(out), "\n")
	if s == "" {
		return nil, nil
	}
	return strings.Split(s, "\n"), nil
}

// TestPipelinePostgres: the real tap binary, real HTTP POSTs of every
// sample payload, piped into the real target-postgres binary; rows checked
// in PostgreSQL; then duplicate deliveries and a restart from the last
// state add no rows.
func TestPipelinePostgres(t *testing.T) {
	t.Parallel()
	dsn := pg.NewDatabase(t)
	dir := t.TempDir()
	cfg := map[string]any{"dsn": dsn, "default_target_schema": "customerio", "max_batch_age": "200ms"}
	p := startPipeline(t, dir, "target-postgres", cfg, "")
	_, bodies := payloads(t)
	for i, b := range bodies {
		if code := do(t, "POST", p.tap.url(), b); code != 200 {
			t.Fatalf("payload %d: %d", i, code)
		}
	}
	do(t, "POST", p.tap.url(), []byte(`{"no_event_id": true}`))
	poll.Until(t, "rows in PostgreSQL", func() bool {
		rows, err := tryPsql(dsn, "select count(*) from customerio.data")
		return err == nil && len(rows) == 1 && rows[0] == "8"
	})
	for _, b := range bodies {
		var sent map[string]json.RawMessage
		json.Unmarshal(b, &sent)
		var id string
		json.Unmarshal(sent["event_id"], &id)
		row := psql(t, dsn, "select data::text, coalesce(metric, event_type), timestamp::text, _sdc_extracted_at is not null from customerio.data where event_id = '"+id+"'")
		if len(row) != 1 {
			t.Fatalf("event %s: %d rows", id, len(row))
		}
		cols := strings.Split(row[0], "\t")
		if !sameJSON(t, []byte(cols[0]), sent["data"]) {
			t.Errorf("event %s: data column\n%s\nwant\n%s", id, cols[0], sent["data"])
		}
		var metric string
		if json.Unmarshal(sent["metric"], &metric) != nil {
			json.Unmarshal(sent["event_type"], &metric)
		}
		if cols[1] != metric || cols[2] != strings.TrimSpace(string(sent["timestamp"])) || cols[3] != "t" {
			t.Errorf("event %s: metric/timestamp/extracted = %v", id, cols[1:])
		}
	}
	poll.Until(t, "the rejected body", func() bool {
		rows, err := tryPsql(dsn, "select 1 from customerio.rejected where reason = 'event_id is missing'")
		return err == nil && len(rows) == 1
	})
	state := p.stop(t)
	if !strings.Contains(state, `"spool_offset":9`) {
		t.Fatalf("last state %s does not cover the 9 records", state)
	}

	// Restart from that state: Customer.io redelivers everything (a retry
	// storm) plus one new event. Still one row per event_id.
	p2 := startPipeline(t, dir, "target-postgres", cfg, state)
	for _, b := range bodies {
		do(t, "POST", p2.tap.url(), b)
	}
	do(t, "POST", p2.tap.url(), []byte(`{"event_id":"new-1","object_type":"email","metric":"opened","data":{"recipient":"a\tb\nc \"q\" \\ é"}}`))
	p2.stop(t)
	if got := psql(t, dsn, "select count(*), count(distinct event_id) from customerio.data")[0]; got != "9\t9" {
		t.Fatalf("rows, distinct ids = %s; want 9, 9", got)
	}
	if got := psql(t, dsn, "select data->>'recipient' = E'a\\tb\\nc \"q\" \\\\ é' from customerio.data where event_id = 'new-1'"); len(got) != 1 || got[0] != "t" {
		t.Fatalf("string not stored exactly as sent: %v", got)
	}
}

// TestPipelineSQLite: the zero-setup pipeline of make run.
func TestPipelineSQLite(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	db := filepath.Join(dir, "customerio.db")
	p := startPipeline(t, dir, "target-sqlite", map[string]any{"database": db, "max_batch_age": "200ms"}, "")
	_, bodies := payloads(t)
	for _, b := range bodies {
		if code := do(t, "POST", p.tap.url(), b); code != 200 {
			t.Fatalf("POST: %d", code)
		}
	}
	state := p.stop(t)
	if !strings.Contains(state, `"spool_offset":8`) {
		t.Fatalf("last state %s", state)
	}
	sqlite, err := exec.LookPath("sqlite3")
	if err != nil {
		t.Skip("sqlite3 CLI not installed: rows checked through target/sqliteload's own tests")
	}
	out, err := exec.Command(sqlite, db, "select count(distinct event_id), count(*) from data").CombinedOutput()
	if err != nil || strings.TrimSpace(string(out)) != "8|8" {
		t.Fatalf("sqlite rows: %s %v", out, err)
	}
}
