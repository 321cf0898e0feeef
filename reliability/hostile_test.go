package reliability_test

import (
	"bufio"
	"bytes"
	"context"
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
	n, err := procStatusKiB(pid, "VmHWM:")
	if err != nil {
		t.Skipf("no /proc: %v", err)
	}
	return n
}

// procStatusKiB reads one field in KiB (VmRSS:, VmHWM:) of /proc/<pid>/status.
func procStatusKiB(pid int, field string) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == field {
			return strconv.ParseInt(f[1], 10, 64)
		}
	}
	return 0, fmt.Errorf("no %s in /proc/%d/status", field, pid)
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

// attacker is one connection that announces a large body, sends 4 KiB of
// it, then a piece every interval until the server answers, closes, or ctx
// ends.
type attacker struct {
	status int // the answer, 0 if none came
}

func (a *attacker) run(ctx context.Context, addr, path string, announced, piece int, every time.Duration) {
	conn, err := net.DialTimeout("tcp", addr, 10*time.Second)
	if err != nil {
		return
	}
	defer conn.Close()
	answered := make(chan struct{})
	go func() {
		defer close(answered)
		if resp, err := http.ReadResponse(bufio.NewReader(conn), nil); err == nil {
			a.status = resp.StatusCode
			_ = resp.Body.Close()
		}
	}()
	if _, err := fmt.Fprintf(conn, "POST %s HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s", path, announced, bytes.Repeat([]byte("x"), 4<<10)); err != nil {
		<-answered
		return
	}
	data := bytes.Repeat([]byte("y"), piece)
	tick := time.NewTicker(every)
	defer tick.Stop()
	for {
		select {
		case <-answered:
			return
		case <-ctx.Done():
			_ = conn.Close()
			<-answered
			return
		case <-tick.C:
			if _, err := conn.Write(data); err != nil {
				<-answered
				return
			}
		}
	}
}

// TestHostileHTTP_AnnouncedSize is the attack of issue 8 on the real tap
// with default limits: connections to a wrong token trickling 10 KiB/s and
// slow senders with the right one sending 640 KiB/s (too slow to finish 8
// MiB inside the 10 s read timeout), all announcing 8 MiB, while
// well-behaved senders post signed events. Every event must get 200, and
// the tap's peak RSS must stay under 200 MB (it grew by 8 MiB per
// connection before the receiver judged the headers first).
func TestHostileHTTP_AnnouncedSize(t *testing.T) {
	const announced = 8 << 20 // the default max_body_bytes
	bins := buildBinaries(t)
	tap := startSoloTap(t, bins, t.TempDir(), map[string]any{"log_level": "warn"})
	n := pick(100, 300)
	attack := pick(3*time.Second, 15*time.Second) // the full run outlasts the 10 s read timeout
	good := startLoad(tap.url(), 4, 100)
	t.Cleanup(func() { good.cancel(); <-good.done })

	ctx, cancel := context.WithTimeout(context.Background(), attack)
	defer cancel()
	var wg sync.WaitGroup
	wrong := make([]attacker, n)
	slow := make([]attacker, n)
	for i := range n {
		wg.Go(func() {
			wrong[i].run(ctx, tap.addr, "/webhook/wrong-token-0123456789abcdef0123", announced, 1<<10, 100*time.Millisecond)
		})
		wg.Go(func() { slow[i].run(ctx, tap.addr, "/webhook/"+testToken, announced, 64<<10, 100*time.Millisecond) })
	}
	var peakRSS int64
	pid := tap.cmd.Process.Pid
	for ctx.Err() == nil {
		if rss, err := procStatusKiB(pid, "VmRSS:"); err == nil {
			peakRSS = max(peakRSS, rss)
		}
		select {
		case <-ctx.Done():
		case <-time.After(20 * time.Millisecond): // sampling interval
		}
	}
	wg.Wait()

	if !tap.alive() {
		t.Fatalf("tap died (exit %d)", tap.exitCode())
	}
	hwm := vmHWM(t, pid)
	res, acked := good.stop(t)
	tap.terminate(t)

	answers := func(as []attacker) map[int]int {
		m := map[int]int{}
		for _, a := range as {
			m[a.status]++
		}
		return m
	}
	logs, err := os.ReadFile(tap.stderr)
	if err != nil {
		t.Fatal(err)
	}
	unknownLines := strings.Count(string(logs), "unknown token")
	figure(t, "connections", fmt.Sprintf("%d wrong token + %d slow right token, %s", n, n, attack))
	figure(t, "wrong_token_answers", answers(wrong))
	figure(t, "slow_sender_answers", answers(slow)) // 0: no answer before the attack ended
	figure(t, "unknown_token_log_lines", unknownLines)
	figure(t, "peak_rss_sampled_mib", peakRSS/1024)
	figure(t, "peak_rss_mib", hwm/1024)
	figure(t, "good_requests", res.Requests)
	figure(t, "good_status", res.Status)
	figure(t, "good_p99_ms", res.Latency.P99)

	if res.Requests == 0 || res.Non2xx != 0 {
		t.Errorf("well-behaved senders: %d requests, %d answers other than 2xx: %v", res.Requests, res.Non2xx, res.Status)
	}
	if hwm*1024 > 200e6 {
		t.Errorf("peak RSS %d MiB; want under 200 MB", hwm/1024)
	}
	if got := answers(wrong)[404]; got != n {
		t.Errorf("%d of %d connections to a wrong token were answered 404", got, n)
	}
	if limit := int(attack/time.Second) + 2; unknownLines > limit {
		t.Errorf("%d unknown-token log lines in %s; want at most one a second", unknownLines, attack)
	}
	out := readSinger(t, tap.stdout)
	for _, id := range acked {
		if out.data[id] != 1 {
			t.Errorf("acknowledged %s emitted %d times, want 1", id, out.data[id])
		}
	}
}
