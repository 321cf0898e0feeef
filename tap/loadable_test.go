package tap

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cio-singer/tap-customerio-webhook/internal/pgtest"
	"github.com/cio-singer/tap-customerio-webhook/tap/spool"
)

// hostileBodies are bodies a sender holding a token can POST that once
// stopped targets (issue 8): NUL, lone surrogates, duplicate keys, bytes
// that are not UTF-8, with and without a deselected field to withhold.
var hostileBodies = []string{
	`{"event_id":"nul-1","metric":"bounced","data":{"failure_message":"550 bad \u0000 byte"}}`,
	`{"event_id":"nul-2","\u0000":"\u0000","data":{"a\u0000b":["\u0000",{"\u0000":"\u0000"}]}}`,
	`{"event_id":"nul-3\u0000"}`,
	`{"event_id":"not-nul","data":{"subject":"C:\\u0000 is a path"}}`,
	`{"event_id":"sur-1","data":{"subject":"Sale \ud83d ends"}}`,
	`{"event_id":"sur-2","data":{"subject":"\ude00 low alone, \ud83d\ud83d\ude00 high then pair, \udbff"}}`,
	`{"event_id":"sur-3","data":{"\ud800":1,"\udbff":2,"ok \ud83d\ude00":3}}`,
	`{"event_id":"dup-1","metric":"sent","metric":7,"data":{"x":1},"data":"oops","data":{"recipient":"a@b.c","x":[1]}}`,
	`{"event_id":"dup-2","data":{"k":{"k":1,"k":"\u0000"},"k":{"k":{},"k":null}}}`,
	`{"event_id":"e-dup","event_id":"dup-3"}`,
	"{\"event_id\":\"utf8-1\",\"data\":{\"subject\":\"caf\xe9 \xff\xfe\"}}", // rejected: not UTF-8
	"{\"event_id\":\"utf8-2\",\"x\":\"\xed\xa0\xbd\"}",                      // an encoded surrogate
	`{"no_event_id":"\u0000","data":{"recipient":"a@b.c","s":"\ud83d"}}`,
	`{"event_id":"rej-1","timestamp":1.5,"data":{"recipient":"a@b.c","m":"\u0000"},"data":{"recipient":"d@e.f"}}`,
	`{"event_id":"rej-2","data":"a@b.c \u0000"}`,
	"raw NUL \x00 and bad \xff bytes, text \\u0000 \\ud83d",
	`["\u0000",{"data":{"recipient":"\ud83d"}}]`,
	`{"event_id":"trunc","data":{"recipient":"\u0000`,
	`{"event_id":"big","n":1e310,"s":"\u0000"}`,
	"",
}

// TestIntegrationEmittedLinesLoadInPostgres: every line the tap emits for
// the sample payloads and the hostile bodies, with every field selected
// and with data.recipient deselected, parses as PostgreSQL jsonb and every
// string in it, names too, is a PostgreSQL text: what pipelinewise's
// target-postgres and ours insert. PostgreSQL itself is the judge.
func TestIntegrationEmittedLinesLoadInPostgres(t *testing.T) {
	t.Parallel()
	psql, dsn := throwawayPostgres(t)
	bodies := hostileBodies
	paths, _ := filepath.Glob(filepath.Join("..", "testdata", "payloads", "*.json"))
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		bodies = append(bodies, string(b))
	}
	var lines []string
	for _, sel := range []string{"", "data/properties/data/properties/recipient"} {
		var out bytes.Buffer
		e := newTestEmitter(t, &out, nil)
		if sel != "" {
			e = newTestEmitter(t, &out, deselect(t, sel))
		}
		for i, b := range bodies {
			if err := e.emit(spool.Record{Offset: uint64(i + 1), ReceivedAt: receivedAt, Body: []byte(b)}); err != nil {
				t.Fatal(err)
			}
		}
		if err := e.writeState(); err != nil {
			t.Fatal(err)
		}
		lines = append(lines, strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n")...)
	}
	records := 0
	for _, l := range lines {
		if strings.HasPrefix(l, `{"type":"RECORD"`) {
			records++
		}
	}
	if records != 2*len(bodies) {
		t.Fatalf("%d RECORD lines for %d bodies twice", records, len(bodies))
	}
	// Two lines PostgreSQL must refuse, so that the test shows it can fail.
	controls := []string{`{"s":"\u0000"}`, `{"s":"Sale \ud83d ends"}`}
	var script strings.Builder
	script.WriteString(`CREATE TABLE lines (n int, line text);
CREATE FUNCTION refusal(line text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE doc jsonb; s text;
BEGIN
	doc := line::jsonb;
	FOR s IN SELECT v #>> '{}' FROM jsonb_path_query(doc, 'strict $.**') AS v WHERE jsonb_typeof(v) = 'string'
		UNION ALL SELECT k FROM jsonb_path_query(doc, 'strict $.**') AS v, jsonb_object_keys(v) AS k WHERE jsonb_typeof(v) = 'object'
	LOOP
		PERFORM s::text;
	END LOOP;
	RETURN NULL;
EXCEPTION WHEN others THEN
	RETURN SQLERRM;
END $$;
COPY lines FROM STDIN WITH (FORMAT csv, DELIMITER E'\x02', QUOTE E'\x01');
`)
	for i, l := range append(append([]string{}, controls...), lines...) {
		if strings.ContainsAny(l, "\x01\x02\n") {
			t.Fatalf("line %d holds a byte the COPY format uses: %q", i, l)
		}
		fmt.Fprintf(&script, "%d\x02%s\n", i, l)
	}
	script.WriteString("\\.\nSELECT n, refusal(line) FROM lines WHERE refusal(line) IS NOT NULL ORDER BY n;\n")
	file := filepath.Join(t.TempDir(), "lines.sql")
	if err := os.WriteFile(file, []byte(script.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(psql, dsn, "-X", "-q", "-At", "-v", "ON_ERROR_STOP=1", "-f", file)
	cmd.Env = append(os.Environ(), "PGCLIENTENCODING=UTF8")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("psql: %v\n%s", err, out)
	}
	refused := strings.Split(strings.TrimSpace(string(out)), "\n")
	if len(refused) != len(controls) || !strings.HasPrefix(refused[0], "0|unsupported Unicode escape sequence") || !strings.HasPrefix(refused[1], "1|") {
		t.Fatalf("PostgreSQL refused (line|error; lines 0 and 1 are controls that must fail):\n%s\nlines:\n%s", out, strings.Join(lines, "\n"))
	}
	t.Logf("%d lines (%d RECORD) loaded as jsonb; the controls were refused: %s", len(lines), records, strings.Join(refused, "; "))
}

// throwawayPostgres starts a private cluster for this test only (the
// package's other tests need none) and returns psql's path and the DSN of
// an empty database.
func throwawayPostgres(t *testing.T) (psql, dsn string) {
	t.Helper()
	srv, err := pgtest.Start()
	if errors.Is(err, pgtest.ErrNotInstalled) && os.Getenv("CI") != "true" {
		t.Skip(err)
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Stop)
	if psql, err = srv.Tool("psql"); err != nil {
		t.Fatal(err)
	}
	return psql, srv.NewDatabase(t)
}
