package receiver

import (
	"bytes"
	"context"
	"net"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"github.com/valyala/fasthttp"
	"github.com/valyala/fasthttp/fasthttputil"

	"github.com/cio-singer/tap-customerio-webhook/tap/auth"
)

// countingAppender is the cheapest possible spool: it measures the HTTP
// path alone.
type countingAppender struct{ n atomic.Uint64 }

func (c *countingAppender) Append(context.Context, []byte, string) (uint64, error) {
	return c.n.Add(1), nil
}

// BenchmarkHandler measures one signed 1 KiB webhook: "direct" calls the
// handler with a prepared request, "inmemory" goes through fasthttp's
// client and server over an in-memory listener with parallel clients.
func BenchmarkHandler(b *testing.B) {
	body := bytes.Repeat([]byte("x"), 1024)
	ts := strconv.FormatInt(time.Now().Unix(), 10)
	sig := auth.Sign([]byte(testKey), []byte(ts), body)
	cfg := Config{
		Verifier: auth.NewVerifier([]string{testKey}, 5*time.Minute, nil),
		Appender: &countingAppender{},
		Log:      zerolog.Nop(),
	}
	prepare := func(req *fasthttp.Request) {
		req.Header.SetMethod("POST")
		req.SetRequestURI("http://receiver/webhook/" + testToken)
		req.Header.Set(auth.HeaderTimestamp, ts)
		req.Header.Set(auth.HeaderSignature, sig)
		req.Header.SetContentType("application/json")
		req.SetBody(body)
	}

	b.Run("direct", func(b *testing.B) {
		srv := startServer(b, cfg)
		handler := srv.Handler()
		var req fasthttp.Request
		prepare(&req)
		b.SetBytes(int64(len(body)))
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			ctx := &fasthttp.RequestCtx{}
			for pb.Next() {
				req.CopyTo(&ctx.Request)
				ctx.Response.Reset()
				handler(ctx)
				if ctx.Response.StatusCode() != 200 {
					b.Errorf("status %d", ctx.Response.StatusCode())
					return
				}
			}
		})
	})

	// The same client path against a bare fasthttp handler answering 200:
	// what the transport costs without our checks.
	b.Run("inmemory-noop-baseline", func(b *testing.B) {
		ln := fasthttputil.NewInmemoryListener()
		noop := &fasthttp.Server{Handler: func(ctx *fasthttp.RequestCtx) { ctx.SetStatusCode(200) }}
		go noop.Serve(ln) //nolint:errcheck // ends when ln closes below
		defer func() { _ = noop.Shutdown(); _ = ln.Close() }()
		client := &fasthttp.Client{Dial: func(string) (net.Conn, error) { return ln.Dial() }}
		runClients(b, client, prepare, len(body))
	})

	b.Run("inmemory", func(b *testing.B) {
		srv := startServer(b, cfg)
		runClients(b, srv.client, prepare, len(body))
	})
}

// runClients sends prepared requests from parallel goroutines, each
// expecting 200.
func runClients(b *testing.B, client *fasthttp.Client, prepare func(*fasthttp.Request), size int) {
	b.SetBytes(int64(size))
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
		defer fasthttp.ReleaseRequest(req)
		defer fasthttp.ReleaseResponse(resp)
		prepare(req)
		for pb.Next() {
			if err := client.Do(req, resp); err != nil {
				b.Error(err)
				return
			}
			if resp.StatusCode() != 200 {
				b.Errorf("status %d", resp.StatusCode())
				return
			}
		}
	})
}
