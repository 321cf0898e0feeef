package reliability_test

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cio-singer/tap-customerio-webhook/tap/auth"
)

// rawExchange writes req on a new connection and reads one response
// status. It reads while it writes: a server refusing a large body answers
// before reading it and closes, and the rest of the write then fails.
func rawExchange(addr string, req []byte) (int, error) {
	conn, err := net.DialTimeout("tcp", addr, 10*time.Second)
	if err != nil {
		return 0, err
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(30 * time.Second))
	written := make(chan error, 1)
	go func() {
		_, err := conn.Write(req)
		written <- err
	}()
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		_ = conn.Close()
		return 0, errors.Join(err, <-written)
	}
	_ = resp.Body.Close()
	return resp.StatusCode, nil
}

func signatureHeaders(body []byte) string {
	ts := strconv.FormatInt(time.Now().Unix(), 10)
	return auth.HeaderTimestamp + ": " + ts + "\r\n" + auth.HeaderSignature + ": " + auth.Sign([]byte(testSigningKey), []byte(ts), body) + "\r\n"
}

// chunked encodes body as a chunked HTTP/1.1 request.
func chunkedRequest(path string, body []byte, chunk int) []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "POST %s HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n%s\r\n", path, signatureHeaders(body))
	for len(body) > 0 {
		n := min(chunk, len(body))
		fmt.Fprintf(&b, "%x\r\n%s\r\n", n, body[:n])
		body = body[n:]
	}
	b.WriteString("0\r\n\r\n")
	return b.Bytes()
}

// vmHWM returns the peak resident set size of pid in KiB.
func vmHWM(t *testing.T, pid int) int64 {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Skipf("no /proc: %v", err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "VmHWM:" {
			n, _ := strconv.ParseInt(f[1], 10, 64)
			return n
		}
	}
	return 0
}

// TestHostileHTTP throws hostile clients at the real tap while
// well-behaved senders keep sending: slow headers and bodies, oversized
// headers, thousands of idle connections, chunked bodies, wrong content
// types, invalid UTF-8, deep and enormous JSON, thousands of random bodies.
// The tap must not crash, keep its memory bounded, answer with the status
// codes of DESIGN §2, keep answering 200 to the good senders, and emit
// every body it acknowledged exactly once.
func TestHostileHTTP(t *testing.T) {
	const maxBody = 1 << 20
	bins := buildBinaries(t)
	tap := startSoloTap(t, bins, t.TempDir(), map[string]any{"max_body_bytes": maxBody, "log_level": "error"})
	path := "/webhook/" + testToken
	good := startLoad(tap.url(), 4, 100)
	t.Cleanup(func() { good.cancel(); <-good.done })

	var mu sync.Mutex
	hostile200 := 0 // hostile requests answered 200: each must become one record
	expect := func(name string, want, got int, err error) {
		t.Helper()
		if err != nil {
			t.Errorf("%s: %v", name, err)
			return
		}
		if got != want {
			t.Errorf("%s: status %d, want %d", name, got, want)
		}
		if got == 200 {
			mu.Lock()
			hostile200++
			mu.Unlock()
		}
	}

	// Connections that hold server resources: idle ones and slow ones.
	idleN := pick(1000, 5000)
	slowN := pick(100, 500)
	var held []net.Conn
	t.Cleanup(func() {
		for _, c := range held {
			_ = c.Close()
		}
	})
	for i := range idleN + 2*slowN {
		c, err := net.DialTimeout("tcp", tap.addr, 10*time.Second)
		if err != nil {
			t.Fatalf("connection %d: %v", i, err)
		}
		switch {
		case i < idleN: // idle: never sends a byte
		case i < idleN+slowN: // slow headers: a request line and part of a header
			_, _ = fmt.Fprintf(c, "POST %s HTTP/1.1\r\nHost: t\r\nX-Slow: ", path)
		default: // slow body: headers, then a third of the body
			body := eventBody(fmt.Sprint("slow-", i), 3000)
			_, _ = fmt.Fprintf(c, "POST %s HTTP/1.1\r\nHost: t\r\nContent-Length: %d\r\n%s\r\n%s", path, len(body), signatureHeaders(body), body[:1000])
		}
		held = append(held, c)
	}

	// Status codes of DESIGN §2.
	body := eventBody("plain", 10)
	code, err := rawExchange(tap.addr, fmt.Appendf(nil, "POST /webhook/wrong-token-0123456789abcdef0123 HTTP/1.1\r\nHost: t\r\nContent-Length: %d\r\n\r\n%s", len(body), body))
	expect("unknown token", 404, code, err)
	code, err = rawExchange(tap.addr, fmt.Appendf(nil, "GET %s HTTP/1.1\r\nHost: t\r\n\r\n", path))
	expect("GET", 405, code, err)
	code, err = rawExchange(tap.addr, fmt.Appendf(nil, "POST %s HTTP/1.1\r\nHost: t\r\nContent-Length: %d\r\n\r\n%s", path, len(body), body))
	expect("unsigned", 401, code, err)
	code, err = rawExchange(tap.addr, fmt.Appendf(nil, "POST %s HTTP/1.1\r\nHost: t\r\nX-Big: %s\r\nContent-Length: 2\r\n\r\n{}", path, strings.Repeat("h", 64<<10)))
	expect("oversized headers", 431, code, err)
	big := make([]byte, maxBody+1)
	code, err = rawExchange(tap.addr, fmt.Appendf(nil, "POST %s HTTP/1.1\r\nHost: t\r\nContent-Length: %d\r\n%s\r\n%s", path, len(big), signatureHeaders(big), big))
	expect("body over max_body_bytes", 413, code, err)
	code, err = rawExchange(tap.addr, chunkedRequest(path, bytes.Repeat([]byte("a"), maxBody+1), 64<<10))
	expect("chunked body over max_body_bytes", 413, code, err)
	code, err = rawExchange(tap.addr, chunkedRequest(path, eventBody("chunked", 5000), 100))
	expect("chunked body", 200, code, err)

	client := &http.Client{Timeout: 30 * time.Second}
	for _, ct := range []string{"text/plain", "multipart/form-data; boundary=x", "application/x-www-form-urlencoded", "", "application/json; charset=latin1"} {
		code, _, err := signedPost(client, tap.url(), ct, eventBody("ct-"+ct, 10))
		expect("content type "+ct, 200, code, err)
	}
	bodies := map[string][]byte{
		"invalid UTF-8":   []byte("{\"event_id\":\"utf8\",\"data\":\"\xff\xfe\xc3\x28\"}"),
		"deep JSON":       append(append([]byte(`{"event_id":"deep","a":`), bytes.Repeat([]byte("["), 200_000)...), append(bytes.Repeat([]byte("]"), 200_000), '}')...),
		"enormous JSON":   eventBody("enormous", maxBody-200),
		"many members":    fmt.Appendf(nil, `{"event_id":"wide"%s}`, strings.Repeat(`,"k":1`, 100_000)),
		"empty body":      nil,
		"NUL bytes":       []byte("{\"event_id\":\"nul\u0000\"}\x00\x00"),
		"JSON not object": []byte(`["event_id"]`),
	}
	for name, b := range bodies {
		code, _, err := signedPost(client, tap.url(), "application/json", b)
		expect(name, 200, code, err)
	}

	// Random bodies from a few concurrent senders.
	randomN := pick(2000, 10_000)
	var wg sync.WaitGroup
	const senders = 4
	for s := range senders {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(s), 9))
			c := &http.Client{Timeout: 30 * time.Second}
			for range randomN / senders {
				b := make([]byte, rng.IntN(4096))
				for i := range b {
					b[i] = byte(rng.Uint32())
				}
				code, _, err := signedPost(c, tap.url(), "application/octet-stream", b)
				expect("random body", 200, code, err)
			}
		})
	}
	wg.Wait()

	// Slow clients are cut by the server's read timeout (full run only: it
	// is 10 s), answered 408 or closed without an answer.
	if full() {
		cut := 0
		for _, c := range held[idleN:] {
			_ = c.SetReadDeadline(time.Now().Add(time.Minute))
			if _, err := io.ReadAll(c); err == nil {
				cut++
			}
		}
		figure(t, "slow_connections_cut", cut)
		if cut != 2*slowN {
			t.Errorf("%d of %d slow connections were cut by the server", cut, 2*slowN)
		}
	}

	if !tap.alive() {
		t.Fatalf("tap died (exit %d)", tap.exitCode())
	}
	hwm := vmHWM(t, tap.cmd.Process.Pid)
	res, acked := good.stop(t)
	tap.terminate(t)

	figure(t, "held_connections", len(held))
	figure(t, "random_bodies", randomN)
	figure(t, "peak_rss_mib", hwm/1024)
	figure(t, "good_requests", res.Requests)
	figure(t, "good_status", res.Status)
	figure(t, "good_p99_ms", res.Latency.P99)
	if res.Non2xx != 0 {
		t.Errorf("well-behaved senders got %d answers other than 2xx: %v", res.Non2xx, res.Status)
	}
	if hwm > 1<<20 { // KiB: 1 GiB
		t.Errorf("peak RSS %d MiB: memory is not bounded", hwm/1024)
	}
	out := readSinger(t, tap.stdout)
	for _, id := range acked {
		if out.data[id] != 1 {
			t.Errorf("acknowledged %s emitted %d times, want 1", id, out.data[id])
		}
	}
	records := out.rejected
	for _, n := range out.data {
		records += n
	}
	figure(t, "records", records)
	figure(t, "rejected", out.rejected)
	if want := len(acked) + hostile200; records != want {
		t.Errorf("%d records emitted, want one per 200 answered: %d", records, want)
	}
}
