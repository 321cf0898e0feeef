package loadgen

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/cio-singer/tap-customerio-webhook/tap/auth"
)

// TestWriteWrkScript_UniqueIDs runs a --unique-ids script in wrk against a
// server that checks every signature: each request is valid, and no
// event_id repeats across requests or threads.
func TestWriteWrkScript_UniqueIDs(t *testing.T) {
	wrk, err := exec.LookPath("wrk")
	if err != nil {
		t.Skip("wrk is not installed (Debian package wrk); it runs only in the benchmarks")
	}
	for name, key := range map[string]string{"short key": testKey, "key longer than a SHA-256 block": strings.Repeat("k", 100)} {
		t.Run(name, func(t *testing.T) {
			var (
				mu    sync.Mutex
				ids   = map[string]bool{}
				n     int
				bad   []string
				verif = auth.NewVerifier([]string{key}, 0, nil)
			)
			url := serve(t, func(ctx *fasthttp.RequestCtx) {
				body := ctx.PostBody()
				h := &ctx.Request.Header
				var ev struct {
					EventID string `json:"event_id"`
				}
				mu.Lock()
				defer mu.Unlock()
				n++
				if err := verif.Verify(h.Peek(auth.HeaderTimestamp), h.Peek(auth.HeaderSignature), body); err != nil {
					bad = append(bad, err.Error())
				} else if err := json.Unmarshal(body, &ev); err != nil || len(ev.EventID) != eventIDLen {
					bad = append(bad, "not an event: "+string(body))
				} else if ids[ev.EventID] {
					bad = append(bad, "event_id repeats: "+ev.EventID)
				}
				ids[ev.EventID] = true
			})
			var script bytes.Buffer
			cfg := WrkConfig{Path: "/webhook/some-token", Requests: 3, BodyBytes: 1024, SigningKey: key, UniqueIDs: true,
				Now: time.Now(), Seed: 1}
			if err := WriteWrkScript(&script, cfg); err != nil {
				t.Fatal(err)
			}
			path := t.TempDir() + "/req.lua"
			if err := os.WriteFile(path, script.Bytes(), 0o600); err != nil {
				t.Fatal(err)
			}
			out, err := exec.Command(wrk, "-t2", "-c4", "-d1s", "-s", path, url).CombinedOutput()
			if err != nil {
				t.Fatalf("wrk: %v\n%s", err, out)
			}
			var sum struct {
				Requests int `json:"requests"`
				Non2xx   int `json:"non_2xx"`
			}
			line := out[bytes.LastIndex(out, []byte("\n{"))+1:]
			if err := json.Unmarshal(line, &sum); err != nil {
				t.Fatalf("wrk summary %q: %v\n%s", line, err, out)
			}
			mu.Lock()
			defer mu.Unlock()
			if len(bad) > 0 {
				t.Fatalf("%d of %d requests bad, first: %.300s", len(bad), n, bad[0])
			}
			// wrk calls request() once before the run to check the script, and
			// may stop with requests written but unanswered.
			if sum.Requests == 0 || sum.Non2xx != 0 || n < sum.Requests || len(ids) != n {
				t.Fatalf("wrk answered %d (non-2xx %d); server saw %d requests, %d distinct ids", sum.Requests, sum.Non2xx, n, len(ids))
			}
			threads := map[byte]bool{}
			for id := range ids {
				threads[id[eventIDLen-10]] = true
			}
			if !threads['0'] || !threads['1'] || len(threads) != 2 {
				t.Fatalf("ids carry thread digits %v; want 0 and 1", threads)
			}
		})
	}
}
