package receiver

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/cio-singer/tap-customerio-webhook/internal/lockedbuf"
	"github.com/cio-singer/tap-customerio-webhook/internal/poll"
)

// serveTCP serves cfg on a real loopback listener and returns its address.
func serveTCP(t *testing.T, cfg Config) (*Server, string) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return serve(t, cfg, ln), ln.Addr().String()
}

// announce opens a connection and sends an HTTP/1.1 request line, headers
// announcing contentLength body bytes ("chunked" when negative) and the
// first part of the body: what an attacker does before trickling the rest,
// or never.
func announce(t *testing.T, addr, method, path string, contentLength int, first []byte) net.Conn {
	t.Helper()
	return announceProto(t, addr, "HTTP/1.1", method, path, contentLength, "", first)
}

func announceProto(t *testing.T, addr, proto, method, path string, contentLength int, header string, first []byte) net.Conn {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	framing := fmt.Sprintf("Content-Length: %d", contentLength)
	if contentLength < 0 {
		framing = "Transfer-Encoding: chunked"
	}
	if _, err := fmt.Fprintf(conn, "%s %s %s\r\nHost: r\r\n%s%s\r\n\r\n%s", method, path, proto, header, framing, first); err != nil {
		t.Fatal(err)
	}
	return conn
}

// answer reads one response from conn. The client sends nothing more while
// it waits, so an answer proves the server did not wait for the body.
func answer(t *testing.T, conn net.Conn) *http.Response {
	t.Helper()
	_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatalf("no answer before the body was sent: %v", err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	_ = resp.Body.Close()
	return resp
}

// closedByServer reports whether the server closed conn (rather than wait
// for the rest of a body it did not mean to read).
func closedByServer(conn net.Conn) bool {
	_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	_, err := conn.Read(make([]byte, 1))
	return err != nil && !isTimeout(err)
}

func isTimeout(err error) bool {
	var ne net.Error
	return err != nil && errors.As(err, &ne) && ne.Timeout()
}

// chunk encodes b as one chunk of a chunked body.
func chunk(b []byte) []byte {
	return append(fmt.Appendf(nil, "%x\r\n", len(b)), append(b, "\r\n"...)...)
}

func TestServer_RefusesFromHeaders(t *testing.T) {
	t.Parallel()
	const eightMiB = 8 << 20
	app := &memAppender{}
	srv, addr := serveTCP(t, Config{Appender: app})
	few := bytes.Repeat([]byte("k"), 4<<10)
	webhook := "/webhook/" + testToken
	tests := []struct {
		name   string
		method string
		path   string
		length int
		want   int
	}{
		{"unknown token", "POST", "/webhook/" + newToken, eightMiB, 404},
		{"unknown token, chunked", "POST", "/webhook/" + newToken, -1, 404},
		{"unknown token over the limit", "POST", "/webhook/" + newToken, eightMiB + 1, 404},
		{"no token", "POST", "/webhook/", eightMiB, 404},
		{"other path", "POST", "/elsewhere", eightMiB, 404},
		{"GET", "GET", webhook, eightMiB, 405},
		{"PUT", "PUT", webhook, eightMiB, 405},
		{"over the limit", "POST", webhook, eightMiB + 1, 413},
		{"far over the limit", "POST", webhook, 1 << 40, 413},
	}
	// Each case three ways: HTTP/1.1 with no body byte sent (answered from
	// the headers alone), HTTP/1.1 with 4 KiB sent, and HTTP/1.0 with 4 KiB
	// sent (no Expect there: fasthttp reads one byte ahead).
	variants := []struct {
		name, proto string
		send        bool
	}{{"headers only", "HTTP/1.1", false}, {"4 KiB", "HTTP/1.1", true}, {"HTTP/1.0, 4 KiB", "HTTP/1.0", true}}
	for _, tt := range tests {
		for _, v := range variants {
			if v.proto == "HTTP/1.0" && tt.length < 0 {
				continue // chunked is HTTP/1.1
			}
			t.Run(tt.name+", "+v.name, func(t *testing.T) {
				var first []byte
				if v.send {
					first = few
					if tt.length < 0 {
						first = chunk(few)
					}
				}
				conn := announceProto(t, addr, v.proto, tt.method, tt.path, tt.length, "", first)
				resp := answer(t, conn)
				if resp.StatusCode != tt.want {
					t.Fatalf("status = %d; want %d", resp.StatusCode, tt.want)
				}
				if tt.want == 405 && resp.Header.Get("Allow") != "POST" {
					t.Errorf("405 with Allow %q; want POST", resp.Header.Get("Allow"))
				}
				if !closedByServer(conn) {
					t.Error("the server kept the connection open with the body unread")
				}
			})
		}
	}
	if got := srv.InflightBytes(); got != 0 {
		t.Errorf("InflightBytes() = %d after refusals; want 0", got)
	}
	// Five 404 cases three ways, but chunked not over HTTP/1.0: each counted once.
	if got, want := srv.Counts()[404], uint64(5*3-1); got != want {
		t.Errorf("Counts()[404] = %d; want %d", got, want)
	}

	// A client that asks first is told to go on, and then answered.
	conn := announceProto(t, addr, "HTTP/1.1", "POST", webhook, len(testBody), "Expect: 100-continue\r\n", nil)
	if resp := answer(t, conn); resp.StatusCode != 100 {
		t.Fatalf("Expect: 100-continue on a good webhook: status %d; want 100", resp.StatusCode)
	}
	if _, err := io.WriteString(conn, testBody); err != nil {
		t.Fatal(err)
	}
	if resp := answer(t, conn); resp.StatusCode != 200 {
		t.Fatalf("body after 100 Continue: status %d; want 200", resp.StatusCode)
	}
	conn = announce(t, addr, "POST", webhook, len(testBody), []byte(testBody))
	if resp := answer(t, conn); resp.StatusCode != 200 {
		t.Fatalf("good webhook: status %d; want 200", resp.StatusCode)
	}
	if bodies, _ := app.stored(); len(bodies) != 2 || string(bodies[0]) != testBody || string(bodies[1]) != testBody {
		t.Fatalf("stored %q; want only the two good webhooks", bodies)
	}
}

// TestServer_UnknownTokensCostNoBodyMemory is the attack of issue 8: many
// connections to a wrong token announcing 8 MiB and sending 4 KiB used to
// cost 8 MiB each.
func TestServer_UnknownTokensCostNoBodyMemory(t *testing.T) {
	_, addr := serveTCP(t, Config{Log: zerolog.Nop()})
	var before runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	const conns = 100
	held := make([]net.Conn, conns)
	for i := range held {
		held[i] = announce(t, addr, "POST", "/webhook/"+newToken, 8<<20, bytes.Repeat([]byte("k"), 4<<10))
	}
	for _, conn := range held {
		if resp := answer(t, conn); resp.StatusCode != 404 {
			t.Fatalf("status = %d; want 404", resp.StatusCode)
		}
	}
	var after runtime.MemStats
	runtime.ReadMemStats(&after)
	// TotalAlloc counts every allocation, freed or not: 100 bodies of 8 MiB
	// would be 800 MiB.
	if grown := after.TotalAlloc - before.TotalAlloc; grown > 32<<20 {
		t.Fatalf("%d connections announcing 8 MiB to an unknown token allocated %d MiB", conns, grown>>20)
	} else {
		t.Logf("%d refused connections allocated %d KiB", conns, grown>>10)
	}
}

func TestServer_InflightBudget(t *testing.T) {
	t.Parallel()
	const maxBody = 1 << 20
	app := &memAppender{}
	// Bodies over 64 KiB may take 3 MiB of the 4; an event fits in the rest.
	srv, addr := serveTCP(t, Config{MaxBodyBytes: maxBody, MaxInflightBytes: 4 << 20, Appender: app})
	webhook := "/webhook/" + testToken
	first := bytes.Repeat([]byte("a"), 16<<10) // more than fasthttp reads ahead: the handler runs
	held := make([]net.Conn, 3)
	for i := range held {
		held[i] = announce(t, addr, "POST", webhook, maxBody, first)
	}
	poll.Until(t, "three reservations of 1 MiB", func() bool { return srv.InflightBytes() == 3*maxBody })

	t.Run("full for large bodies", func(t *testing.T) {
		conn := announce(t, addr, "POST", webhook, maxBody, nil) // answered before any body byte
		resp := answer(t, conn)
		if resp.StatusCode != 503 || resp.Header.Get("Retry-After") == "" {
			t.Fatalf("status %d, Retry-After %q; want 503 with Retry-After", resp.StatusCode, resp.Header.Get("Retry-After"))
		}
		if !closedByServer(conn) {
			t.Error("the server kept the connection open with the body unread")
		}
	})
	t.Run("chunked body outgrowing the room", func(t *testing.T) {
		conn := announce(t, addr, "POST", webhook, -1, nil)
		for range 5 { // 80 KiB: past the 64 KiB a small body may hold
			if _, err := conn.Write(chunk(first)); err != nil {
				t.Fatal(err)
			}
		}
		resp := answer(t, conn)
		if resp.StatusCode != 503 || resp.Header.Get("Retry-After") == "" {
			t.Fatalf("status %d, Retry-After %q; want 503 with Retry-After", resp.StatusCode, resp.Header.Get("Retry-After"))
		}
	})
	t.Run("an event still fits", func(t *testing.T) {
		conn := announce(t, addr, "POST", webhook, len(testBody), []byte(testBody))
		if resp := answer(t, conn); resp.StatusCode != 200 {
			t.Fatalf("status = %d; want 200", resp.StatusCode)
		}
	})
	t.Run("released when done", func(t *testing.T) {
		if _, err := held[0].Write(bytes.Repeat([]byte("b"), maxBody-len(first))); err != nil {
			t.Fatal(err)
		}
		if resp := answer(t, held[0]); resp.StatusCode != 200 {
			t.Fatalf("held request, completed: status %d; want 200", resp.StatusCode)
		}
		poll.Until(t, "the reservation to be released", func() bool { return srv.InflightBytes() == 2*maxBody })
		body := bytes.Repeat([]byte("c"), maxBody)
		conn := announce(t, addr, "POST", webhook, maxBody, body)
		if resp := answer(t, conn); resp.StatusCode != 200 {
			t.Fatalf("large body after the release: status %d; want 200", resp.StatusCode)
		}
	})
	for _, conn := range held[1:] {
		_ = conn.Close()
	}
	poll.Until(t, "every reservation to be released", func() bool { return srv.InflightBytes() == 0 })
	bodies, _ := app.stored()
	if len(bodies) != 3 {
		t.Fatalf("stored %d bodies; want the event and the two completed large ones", len(bodies))
	}
}

func TestServer_UnknownTokenLogIsThinned(t *testing.T) {
	t.Parallel()
	var logs lockedbuf.Buffer
	ts := startServer(t, Config{Log: zerolog.New(&logs)})
	const n = 50
	start := time.Now()
	var wg sync.WaitGroup
	for range n {
		wg.Go(func() {
			_, _ = ts.send(request{method: "POST", path: "/webhook/" + newToken, body: []byte(testBody)})
		})
	}
	wg.Wait()
	if got := ts.Counts()[404]; got != n {
		t.Fatalf("Counts()[404] = %d; want %d", got, n)
	}
	lines := strings.Count(logs.String(), "unknown token")
	// One line at once, then at most one a second.
	if most := 2 + int(time.Since(start)/time.Second); lines < 1 || lines > most {
		t.Fatalf("%d unknown-token lines for %d requests; want 1 to %d:\n%s", lines, n, most, logs.String())
	}
	if !strings.Contains(logs.String(), `"count":1`) {
		t.Fatalf("the first line does not count its request:\n%s", logs.String())
	}
}
