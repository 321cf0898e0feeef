//go:build !race

package receiver

import (
	"bytes"
	"strconv"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"github.com/valyala/fasthttp"

	"github.com/cio-singer/tap-customerio-webhook/tap/auth"
)

// TestHandler_AllocationBudget keeps the acknowledgement path lean: it
// makes no allocation today (the append context is shared, the HMAC state
// pooled); the budget leaves one for a future Go release.
func TestHandler_AllocationBudget(t *testing.T) {
	const budget = 1
	srv := startServer(t, Config{
		Verifier: auth.NewVerifier([]string{testKey}, time.Minute, nil),
		Appender: &countingAppender{},
		Log:      zerolog.Nop(),
	})
	srv.log = zerolog.Nop()
	body := bytes.Repeat([]byte("x"), 1024)
	ts := strconv.FormatInt(time.Now().Unix(), 10)
	var req fasthttp.Request
	req.Header.SetMethod("POST")
	req.SetRequestURI("/webhook/" + testToken)
	req.Header.Set(auth.HeaderTimestamp, ts)
	req.Header.Set(auth.HeaderSignature, auth.Sign([]byte(testKey), []byte(ts), body))
	req.SetBody(body)
	handler := srv.Handler()
	ctx := &fasthttp.RequestCtx{}
	allocs := testing.AllocsPerRun(200, func() {
		req.CopyTo(&ctx.Request)
		ctx.Response.Reset()
		handler(ctx)
	})
	if code := ctx.Response.StatusCode(); code != 200 {
		t.Fatalf("status = %d; want 200", code)
	}
	if allocs > budget {
		t.Fatalf("%.1f allocations per webhook; budget %d", allocs, budget)
	}
	t.Logf("%.1f allocations per webhook", allocs)
}
