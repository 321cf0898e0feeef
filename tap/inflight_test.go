package tap

import (
	"fmt"
	"net"
	"strings"
	"testing"

	"github.com/cio-singer/tap-customerio-webhook/internal/poll"
)

// TestRunInflightBudget: max_inflight_bytes reaches the receiver. A sender
// that announced a body filling the budget and is still sending it holds
// the budget (shown on /metrics); meanwhile another webhook gets 503 with
// Retry-After, and once the slow one completes, webhooks get 200 again.
func TestRunInflightBudget(t *testing.T) {
	t.Parallel()
	cfg := testConfig(t, t.TempDir())
	cfg.MaxBodyBytes, cfg.MaxInflightBytes = 32<<10, 32<<10
	rt := startTap(t, cfg, Bookmark{}, nil)
	waitReady(t, rt.base)

	body := sentEvent("slow") + strings.Repeat(" ", 32<<10-len(sentEvent("slow")))
	conn, err := net.Dial("tcp", strings.TrimPrefix(rt.base, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprintf(conn, "POST /webhook/%s HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s",
		testToken, len(body), body[:10<<10]) // past the 8 KiB fasthttp reads before the handler runs
	poll.Until(t, "inflight_body_bytes 32768 while the slow body is read", func() bool {
		m, _ := scrape(t, rt.base)
		return m["inflight_body_bytes"] == 32<<10
	})
	if code := post(t, rt.url, sentEvent("over")); code != 503 {
		t.Fatalf("webhook while the budget is held: %d, want 503", code)
	}
	if _, err := conn.Write([]byte(body[10<<10:])); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 64)
	n, _ := conn.Read(buf)
	if !strings.HasPrefix(string(buf[:n]), "HTTP/1.1 200") {
		t.Fatalf("slow webhook answered %q, want 200", buf[:n])
	}
	if code := post(t, rt.url, sentEvent("after")); code != 200 {
		t.Fatalf("webhook after the budget was freed: %d, want 200", code)
	}
	ids, _ := rt.recordsUntilState(t, 2)
	if strings.Join(ids, ",") != "slow,after" {
		t.Fatalf("emitted %v, want slow,after", ids)
	}
	rt.stop(t)
}
