// Command bench measures target-postgres against its limit, psql, in one
// run on one PostgreSQL: it generates N Customer.io-shaped records (~1 KB,
// 10% of them repeating an earlier event_id) as a Singer file and as the
// same rows in COPY text format, then loads
//
//	(a) the Singer file with the real target-postgres binary, and
//	(b) the COPY file with psql: \copy into a temporary table, then
//	    INSERT ... SELECT DISTINCT ON (event_id) ... ON CONFLICT DO UPDATE,
//
// each into an empty table, checks both tables hold the same rows, and
// prints the wall times, their ratio and the target's peak RSS.
//
// It starts a private cluster with internal/pgtest (or uses
// $TARGET_POSTGRES_TEST_DSN). Run it through scripts/bench-target-postgres.sh.
package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/cio-singer/tap-customerio-webhook/internal/pgtest"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

type options struct {
	n          int
	dupEvery   int
	targetBin  string
	psql       string
	dir        string
	batchRows  int
	batchBytes int
}

func run() error {
	var o options
	flag.IntVar(&o.n, "n", 300000, "records to generate")
	flag.IntVar(&o.dupEvery, "dup-every", 10, "every Nth record repeats an earlier event_id (10 = 10%)")
	flag.StringVar(&o.targetBin, "target", "", "path of the target-postgres binary (required)")
	flag.StringVar(&o.psql, "psql", "psql", "psql binary")
	flag.StringVar(&o.dir, "dir", "", "work directory for the generated files (default: a temp dir, removed)")
	flag.IntVar(&o.batchRows, "batch-size-rows", 100000, "target-postgres batch_size_rows")
	flag.IntVar(&o.batchBytes, "batch-size-bytes", 0, "target-postgres batch_size_bytes (0: the target's default)")
	flag.Parse()
	if o.targetBin == "" {
		return errors.New("-target is required")
	}
	if o.dir == "" {
		dir, err := os.MkdirTemp("", "bench-target-postgres-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(dir)
		o.dir = dir
	}
	srv, err := pgtest.Start()
	if err != nil {
		return err
	}
	defer srv.Stop()

	singerPath, copyPath := filepath.Join(o.dir, "input.singer.jsonl"), filepath.Join(o.dir, "rows.copy")
	size, distinct, err := generate(o, singerPath, copyPath)
	if err != nil {
		return fmt.Errorf("generating input: %w", err)
	}
	fmt.Printf("input: %d records (%d distinct event_id), Singer file %.1f MB, ~%d bytes/record\n",
		o.n, distinct, float64(size)/1e6, size/int64(o.n))

	suffix := fmt.Sprintf("%d_%d", o.n, time.Now().UnixNano())
	targetDB, psqlDB := "bench_target_"+suffix, "bench_psql_"+suffix
	for _, db := range []string{targetDB, psqlDB} {
		if _, err := psql(o, srv.DSN(), "-c", "CREATE DATABASE "+db); err != nil {
			return err
		}
	}
	targetDSN, err := srv.DatabaseDSN(targetDB)
	if err != nil {
		return err
	}
	psqlDSN, err := srv.DatabaseDSN(psqlDB)
	if err != nil {
		return err
	}

	tWall, tRSS, err := runTarget(o, targetDSN, singerPath)
	if err != nil {
		return err
	}
	pWall, err := runPsql(o, psqlDSN, copyPath)
	if err != nil {
		return err
	}
	if err := sameRows(o, targetDSN, psqlDSN, distinct); err != nil {
		return err
	}
	fmt.Printf("target-postgres: %7.2f s  %8.0f records/s  peak RSS %.1f MB\n", tWall.Seconds(), float64(o.n)/tWall.Seconds(), float64(tRSS)/1024)
	fmt.Printf("psql \\copy+upsert: %7.2f s  %8.0f records/s\n", pWall.Seconds(), float64(o.n)/pWall.Seconds())
	fmt.Printf("ratio (psql time / target time): %.2fx   (goal >= 0.8x)\n", pWall.Seconds()/tWall.Seconds())
	return nil
}

// generate writes the Singer file and the COPY file for the same records
// and returns the Singer file's size and the number of distinct keys.
func generate(o options, singerPath, copyPath string) (int64, int, error) {
	sf, err := os.Create(singerPath)
	if err != nil {
		return 0, 0, err
	}
	defer sf.Close()
	cf, err := os.Create(copyPath)
	if err != nil {
		return 0, 0, err
	}
	defer cf.Close()
	sw, cw := bufio.NewWriterSize(sf, 1<<20), bufio.NewWriterSize(cf, 1<<20)

	const schema = `{"type":"SCHEMA","stream":"data","key_properties":["event_id"],"schema":{"type":"object","properties":{` +
		`"event_id":{"type":"string"},"object_type":{"type":["null","string"]},"metric":{"type":["null","string"]},` +
		`"timestamp":{"type":["null","integer"]},"data":{"type":["null","object"]}}}}`
	sw.WriteString(schema + "\n")
	rng := rand.New(rand.NewPCG(1, 2))
	metrics := []string{"sent", "delivered", "opened", "clicked", "converted", "bounced"}
	distinct := 0
	filler := strings.Repeat("Lorem ipsum dolor sit amet, consectetur adipiscing elit. ", 13)
	for i := 0; i < o.n; i++ {
		id := distinct
		if i%o.dupEvery == o.dupEvery-1 && distinct > 0 {
			id = rng.IntN(distinct) // a redelivery of an earlier event
		} else {
			distinct++
		}
		eventID := fmt.Sprintf("01J9B7C2ZP%016d", id)
		metric := metrics[rng.IntN(len(metrics))]
		ts := 1727798421 + int64(i)
		data := map[string]any{
			"newsletter_id": rng.IntN(1000), "content_id": rng.IntN(10), "customer_id": fmt.Sprintf("user-%d", rng.IntN(100000)),
			"delivery_id": fmt.Sprintf("ROk1BAABkW9vQ2xuR3BzT1Y3Zmg%08d=", i),
			"identifiers": map[string]any{"id": fmt.Sprintf("user-%d", i%100000), "email": fmt.Sprintf("person%d@example.net", i%100000), "cio_id": fmt.Sprintf("b71e%08x", i)},
			"recipient":   fmt.Sprintf("person%d@example.net", i%100000),
			"subject":     "Spring product update\t\"quoted\" ☃",
			"href":        "https://shop.example.com/new?utm_source=cio&i=" + fmt.Sprint(i),
			"body_text":   filler[:400+rng.IntN(300)] + "\nline two",
			"link_id":     rng.IntN(20), "machine": i%7 == 0,
		}
		dataJSON, err := json.Marshal(data)
		if err != nil {
			return 0, 0, err
		}
		record := fmt.Sprintf(`{"event_id":%q,"object_type":"email","metric":%q,"timestamp":%d,"data":%s}`, eventID, metric, ts, dataJSON)
		fmt.Fprintf(sw, `{"type":"RECORD","stream":"data","record":%s,"time_extracted":"2026-01-02T03:04:05Z"}`+"\n", record)
		if (i+1)%10000 == 0 || i == o.n-1 {
			fmt.Fprintf(sw, `{"type":"STATE","value":{"bookmarks":{"data":{"spool_offset":%d}}}}`+"\n", i)
		}
		fmt.Fprintf(cw, "%s\temail\t%s\t%d\t%s\t%d\n", eventID, metric, ts, copyText(dataJSON), i)
	}
	if err := sw.Flush(); err != nil {
		return 0, 0, err
	}
	if err := cw.Flush(); err != nil {
		return 0, 0, err
	}
	st, err := sf.Stat()
	if err != nil {
		return 0, 0, err
	}
	return st.Size(), distinct, nil
}

// copyText escapes a value for COPY's text format.
func copyText(b []byte) string {
	return strings.NewReplacer(`\`, `\\`, "\t", `\t`, "\n", `\n`, "\r", `\r`).Replace(string(b))
}

func runTarget(o options, dsn, input string) (time.Duration, int64, error) {
	settings := map[string]any{"dsn": dsn, "default_target_schema": "public",
		"add_metadata_columns": false, "batch_size_rows": o.batchRows, "log_level": "warn"}
	if o.batchBytes > 0 {
		settings["batch_size_bytes"] = o.batchBytes
	}
	cfg, err := json.Marshal(settings)
	if err != nil {
		return 0, 0, err
	}
	cfgPath := filepath.Join(o.dir, "target-config.json")
	if err := os.WriteFile(cfgPath, cfg, 0o600); err != nil {
		return 0, 0, err
	}
	in, err := os.Open(input)
	if err != nil {
		return 0, 0, err
	}
	defer in.Close()
	var stdout, stderr bytes.Buffer
	cmd := exec.Command(o.targetBin, "--config", cfgPath)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = in, &stdout, &stderr
	start := time.Now()
	err = cmd.Run()
	wall := time.Since(start)
	if err != nil {
		return 0, 0, fmt.Errorf("running target-postgres: %w\n%s", err, stderr.String())
	}
	lines := strings.Split(strings.TrimSpace(stdout.String()), "\n")
	if want := fmt.Sprintf(`{"bookmarks":{"data":{"spool_offset":%d}}}`, o.n-1); lines[len(lines)-1] != want {
		return 0, 0, fmt.Errorf("target's last state %q, want %q", lines[len(lines)-1], want)
	}
	rss := cmd.ProcessState.SysUsage().(*syscall.Rusage).Maxrss // KiB on Linux
	return wall, rss, nil
}

func runPsql(o options, dsn, copyPath string) (time.Duration, error) {
	const cols = `event_id, object_type, metric, "timestamp", data`
	ddl := `CREATE TABLE data (event_id text PRIMARY KEY, object_type text, metric text, "timestamp" bigint, data jsonb)`
	if _, err := psql(o, dsn, "-c", ddl); err != nil {
		return 0, err
	}
	script := strings.Join([]string{
		`BEGIN;`,
		`CREATE TEMP TABLE s (LIKE data INCLUDING DEFAULTS, seq bigint) ON COMMIT DROP;`,
		`\copy s (` + cols + `, seq) FROM '` + copyPath + `'`,
		`INSERT INTO data (` + cols + `) SELECT DISTINCT ON (event_id) ` + cols + ` FROM s ORDER BY event_id, seq DESC ` +
			`ON CONFLICT (event_id) DO UPDATE SET object_type = EXCLUDED.object_type, metric = EXCLUDED.metric, ` +
			`"timestamp" = EXCLUDED."timestamp", data = EXCLUDED.data;`,
		`COMMIT;`,
	}, "\n") + "\n"
	scriptPath := filepath.Join(o.dir, "load.sql")
	if err := os.WriteFile(scriptPath, []byte(script), 0o600); err != nil {
		return 0, err
	}
	start := time.Now()
	if _, err := psql(o, dsn, "-f", scriptPath); err != nil {
		return 0, err
	}
	return time.Since(start), nil
}

// sameRows checks both tables hold the same distinct rows, last write wins.
func sameRows(o options, targetDSN, psqlDSN string, distinct int) error {
	const q = `SELECT count(*) || ' ' || md5(string_agg(event_id || metric || "timestamp" || data::text, ',' ORDER BY event_id)) FROM data`
	a, err := psql(o, targetDSN, "-c", q)
	if err != nil {
		return err
	}
	b, err := psql(o, psqlDSN, "-c", q)
	if err != nil {
		return err
	}
	if a != b || !strings.HasPrefix(a, fmt.Sprint(distinct)+" ") {
		return fmt.Errorf("tables differ: target %q, psql %q (want %d rows)", a, b, distinct)
	}
	fmt.Printf("check: both tables hold %d rows with the same content (md5 %s)\n", distinct, strings.Fields(a)[1])
	return nil
}

func psql(o options, dsn string, args ...string) (string, error) {
	cmd := exec.Command(o.psql, append([]string{"-X", "-q", "-At", "-v", "ON_ERROR_STOP=1", "-d", dsn}, args...)...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("running psql %s: %w\n%s", strings.Join(args, " "), err, out)
	}
	return strings.TrimSpace(string(out)), nil
}
