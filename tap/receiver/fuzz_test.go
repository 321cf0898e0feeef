package receiver

import (
	"bytes"
	"context"
	"errors"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"github.com/valyala/fasthttp"

	"github.com/cio-singer/tap-customerio-webhook/tap/auth"
)

// lastAppender keeps only the last body, so long fuzz runs stay small.
type lastAppender struct {
	last  []byte
	calls uint64
}

func (l *lastAppender) Append(_ context.Context, body []byte, _ string) (uint64, error) {
	l.last = append(l.last[:0], body...)
	l.calls++
	return l.calls, nil
}

// tableCodes are the only answers DESIGN.md §2 allows the handler to give.
var tableCodes = map[int]bool{200: true, 401: true, 404: true, 405: true, 413: true, 503: true}

func newFuzzServer(f *testing.F, keys []string, app Appender) *Server {
	tokens := new(atomic.Pointer[auth.TokenSet])
	tokens.Store(mustTokens(f, testToken))
	srv, err := New(Config{
		MaxBodyBytes: 4096,
		Tokens:       tokens,
		Verifier:     auth.NewVerifier(keys, time.Hour, nil),
		Appender:     app,
		Log:          zerolog.Nop(),
	})
	if err != nil {
		f.Fatal(err)
	}
	return srv
}

func FuzzHandler(f *testing.F) {
	f.Add("POST", "/webhook/"+testToken, "Content-Type", "application/json", []byte(testBody), uint8(0))
	f.Add("POST", "/webhook/"+testToken, auth.HeaderSignature, "v0=00", []byte(testBody), uint8(1))
	f.Add("POST", "/webhook/"+testToken, "X-Other", "x", []byte(testBody), uint8(1|2))
	f.Add("GET", "/webhook/"+testToken+"/../../readyz", "", "", []byte{}, uint8(0))
	f.Add("DELETE", "/webhook/%2F..", "Transfer-Encoding", "chunked", []byte("\x00\xff"), uint8(4))
	f.Add("POST", "/healthz?x=/webhook/"+testToken, "Host", "", bytes.Repeat([]byte("a"), 5000), uint8(2))
	f.Add("POST", "/webhook/"+testToken, "Content-Length", "99999", []byte(testBody), uint8(0))
	f.Add("POST", "/webhook/"+testToken+"?a#b", "Expect", "100-continue", []byte(testBody), uint8(8))
	f.Add("POST", "/webhook/"+testToken, "", "", bytes.Repeat([]byte("b"), 4097), uint8(16))

	plain := &lastAppender{} // the fuzz function runs sequentially within a process
	servers := []*Server{
		newFuzzServer(f, nil, plain),
		newFuzzServer(f, []string{testKey}, plain),
		newFuzzServer(f, nil, &memAppender{err: errors.New("disk full")}),
	}
	f.Fuzz(func(t *testing.T, method, path, name, value string, body []byte, mode uint8) {
		srv := servers[int(mode&3)%len(servers)]
		ctx := &fasthttp.RequestCtx{}
		req := &ctx.Request
		req.Header.SetMethod(method)
		req.SetRequestURI(path)
		if name != "" {
			req.Header.Set(name, value)
		}
		if mode&4 != 0 { // a correctly signed request, whatever else it carries
			ts := strconv.FormatInt(time.Now().Unix(), 10)
			req.Header.Set(auth.HeaderTimestamp, ts)
			req.Header.Set(auth.HeaderSignature, auth.Sign([]byte(testKey), []byte(ts), body))
		}
		// Bits 8 and 16: the body arrives as a stream, as the server hands
		// it over, announced by its length or chunked.
		switch {
		case mode&16 != 0:
			req.SetBodyStream(bytes.NewReader(body), -1)
		case mode&8 != 0:
			req.SetBodyStream(bytes.NewReader(body), len(body))
		default:
			req.SetBody(body)
		}
		admitted := srv.headerReceived(&req.Header) != refuseBody
		// A request marked (or sent) with Expect: 100-continue is first
		// answered from its headers alone, as the server does.
		refusedEarly := 0
		if req.MayContinue() {
			ectx := &fasthttp.RequestCtx{}
			req.Header.CopyTo(&ectx.Request.Header)
			if code := srv.expectContinue(ectx); code != fasthttp.StatusContinue {
				if !tableCodes[code] {
					t.Fatalf("%q %q answered %d from the headers, which is not in the status table", method, path, code)
				}
				if code == 503 && len(ectx.Response.Header.Peek("Retry-After")) == 0 {
					t.Fatal("503 without Retry-After")
				}
				refusedEarly = code
			}
		}
		before := plain.calls

		srv.Handler()(ctx)

		code := ctx.Response.StatusCode()
		if !tableCodes[code] {
			t.Fatalf("%q %q answered %d, which is not in the status table", method, path, code)
		}
		if code == 503 && len(ctx.Response.Header.Peek("Retry-After")) == 0 {
			t.Fatal("503 without Retry-After")
		}
		// What the headers alone decide must agree; only a body whose
		// length they announce can be judged too large from them.
		announced := mode&(8|16) == 8
		if admitted && (code == 404 || code == 405 || code == 413 && announced) {
			t.Fatalf("the headers were judged acceptable, the handler answered %d", code)
		}
		if refusedEarly != 0 && code == 200 && bytes.HasPrefix(ctx.Path(), []byte(webhookPrefix)) {
			t.Fatalf("refused with %d from the headers, accepted by the handler", refusedEarly)
		}
		if n := srv.InflightBytes(); n != 0 {
			t.Fatalf("%d bytes still reserved after the handler returned", n)
		}
		if code == 200 && bytes.HasPrefix(ctx.Path(), []byte(webhookPrefix)) {
			if plain.calls == before || !bytes.Equal(plain.last, body) {
				t.Fatal("200 for a webhook without its body reaching the Appender")
			}
		}
	})
}

// TestRawPath_NeverAPathFasthttpDoesNotParse: headerReceived admits a body
// on rawPath's word, so whenever rawPath gives a path, fasthttp's parsed
// path must be that path. fasthttp gives "/" for a URI with an ASCII control
// character anywhere (FuzzHandler found it in a fragment).
func TestRawPath_NeverAPathFasthttpDoesNotParse(t *testing.T) {
	t.Parallel()
	for _, uri := range []string{
		"/webhook/tok", "/webhook/tok?a=1", "/webhook/tok#f", "/webhook/tok#a b",
		"/webhook/tok#\x10", "/webhook/tok?a=\x10", "/webhook/tok\x10", "/webhook/tok#\x7f",
		"/webhook/tok#\x00", "/webhook/tok?q#\t", "/webhook/tok#\xff", "/webhook/tok?%zz",
	} {
		ctx := &fasthttp.RequestCtx{}
		ctx.Request.SetRequestURI(uri)
		raw := rawPath(ctx.Request.Header.RequestURI())
		if raw != nil && string(raw) != string(ctx.Path()) {
			t.Errorf("%q: rawPath %q, fasthttp parses the path as %q", uri, raw, ctx.Path())
		}
	}
}
