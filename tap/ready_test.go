package tap

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"
)

// startServe runs `serve` in-process on a loopback port and returns its
// base URL; the server stops when the test ends.
func startServe(t *testing.T, cfg Config) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() {
		served <- Serve(ctx, Options{Config: cfg, Listener: ln, Log: zerolog.New(zerolog.NewTestWriter(t)), TokenPoll: 20 * time.Millisecond})
	}()
	t.Cleanup(func() {
		cancel()
		if err := <-served; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	return "http://" + ln.Addr().String()
}

func readyz(t *testing.T, base string) int {
	t.Helper()
	resp, err := http.Get(base + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// TestReadyzFollowsSpoolWritability: in both modes that run a receiver,
// /readyz answers 503 while the spool refuses the webhooks it is sent
// (spool_max_bytes reached) and 200 again once a write succeeds, over real
// HTTP on a real spool directory.
func TestReadyzFollowsSpoolWritability(t *testing.T) {
	t.Parallel()
	const limit = 64 << 10
	big := sentEvent("big") + strings.Repeat(" ", 40<<10) // JSON allows trailing white space
	for _, mode := range []string{"run", "serve"} {
		t.Run(mode, func(t *testing.T) {
			cfg := testConfig(t, t.TempDir())
			// Far below what LoadConfig accepts (the active segment is never released), so
			// the spool fills within a few requests.
			cfg.SpoolMaxBytes = limit
			var base string
			if mode == "run" {
				base = startTap(t, cfg, Bookmark{}, nil).base
			} else {
				base = startServe(t, cfg)
			}
			webhook := base + "/webhook/" + testToken
			waitReady(t, base)

			if code := post(t, webhook, big); code != 200 {
				t.Fatalf("first large webhook: %d", code)
			}
			if code := readyz(t, base); code != 200 {
				t.Fatalf("/readyz with room left: %d", code)
			}
			if code := post(t, webhook, big); code != 503 {
				t.Fatalf("second large webhook past spool_max_bytes: %d, want 503", code)
			}
			if code := readyz(t, base); code != 503 {
				t.Fatalf("/readyz while the spool refuses what it is sent: %d, want 503", code)
			}
			if code := post(t, webhook, sentEvent("small")); code != 200 {
				t.Fatalf("small webhook that fits: %d", code)
			}
			if code := readyz(t, base); code != 200 {
				t.Fatalf("/readyz after a successful write: %d, want 200", code)
			}

			// Fill up with small ones: no record fits any more.
			for i := 0; ; i++ {
				code := post(t, webhook, sentEvent(fmt.Sprint("fill", i)))
				if code == 503 {
					break
				}
				if code != 200 || i > limit {
					t.Fatalf("filling the spool: %d after %d webhooks", code, i)
				}
			}
			if code := readyz(t, base); code != 503 {
				t.Fatalf("/readyz with the spool full: %d, want 503", code)
			}
			if resp, err := http.Get(base + "/healthz"); err != nil || resp.StatusCode != 200 {
				t.Fatalf("/healthz with the spool full: %v %v, want 200 (the process is up)", resp, err)
			}
		})
	}
}
