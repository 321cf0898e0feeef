package pgload_test

import (
	"bytes"
	"fmt"
	"strings"
	"testing"
)

// concurrentInput is one replica's input: records of stream data whose
// SCHEMA grows a column every 10 records (names of its own), and, from
// record 100 on (when widen), values of n beyond 64 bits.
func concurrentInput(replica string, n int, widen bool) []byte {
	var b bytes.Buffer
	props := []string{`"event_id":{"type":"string"}`, `"n":{"type":["null","integer"]}`, `"t":{"type":["null","string"],"format":"date-time"}`}
	for i := range n {
		if i%10 == 0 {
			props = append(props, fmt.Sprintf(`"%s_col_%d":{"type":["null","string"]}`, replica, i/10))
			fmt.Fprintf(&b, `{"type":"SCHEMA","stream":"data","key_properties":["event_id"],"schema":{"properties":{%s}}}`+"\n", strings.Join(props, ","))
		}
		v := fmt.Sprint(i)
		if widen && i >= 100 {
			v = fmt.Sprintf("1180591620717411303%03d", i)
		}
		fmt.Fprintf(&b, `{"type":"RECORD","stream":"data","record":{"event_id":"%s-%d","n":%s,"t":"2026-01-02T03:04:05Z","%s_col_%d":"%s-v%d"}}`+"\n",
			replica, i, v, replica, i/10, replica, i)
		fmt.Fprintf(&b, `{"type":"STATE","value":{"%s":%d}}`+"\n", replica, i)
	}
	return b.Bytes()
}

// TestIntegrationConcurrentTargets runs two target-postgres processes on
// the same table at once, each adding its own columns, one widening n from
// bigint to numeric while the other still loads 64-bit values: both finish
// with exit 0 and every row and value is there.
func TestIntegrationConcurrentTargets(t *testing.T) {
	t.Parallel()
	pg.Require(t)
	bin := buildTarget(t)
	dsn := pg.NewDatabase(t)
	config := writeConfig(t, dsn, `,"batch_size_rows":5,"max_batch_age":"10ms"`)
	const n = 200
	a := startTarget(t, bin, config, bytes.NewReader(concurrentInput("a", n, false)))
	b := startTarget(t, bin, config, bytes.NewReader(concurrentInput("b", n, true)))
	for name, r := range map[string]*targetRun{"a": a, "b": b} {
		if code := r.wait(t); code != 0 {
			t.Fatalf("replica %s: exit %d\n%s", name, code, r.stderr.String())
		}
		if got := states(t, r.stdout.String()); len(got) == 0 || got[len(got)-1] != fmt.Sprintf(`{"%s":%d}`, name, n-1) {
			t.Fatalf("replica %s: states end %v", name, got[max(0, len(got)-1):])
		}
	}
	got := queryStrings(t, dsn, `SELECT count(*)::text || ' ' || count(DISTINCT n)::text || ' ' || pg_typeof(min(n))::text FROM cio.data`)
	if want := fmt.Sprintf("%d %d numeric", 2*n, 2*n-100); got[0] != want {
		t.Fatalf("rows, distinct n, type of n: %s, want %s", got[0], want)
	}
	for _, replica := range []string{"a", "b"} {
		for i := 0; i < n; i += 37 {
			q := fmt.Sprintf(`SELECT n::text || ' ' || %s_col_%d FROM cio.data WHERE event_id = '%s-%d'`, replica, i/10, replica, i)
			v := fmt.Sprint(i)
			if replica == "b" && i >= 100 {
				v = fmt.Sprintf("1180591620717411303%03d", i)
			}
			if got := queryStrings(t, dsn, q); len(got) != 1 || got[0] != fmt.Sprintf("%s %s-v%d", v, replica, i) {
				t.Fatalf("%s: %v", q, got)
			}
		}
	}
}
