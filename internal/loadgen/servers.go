package loadgen

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"
	"github.com/valyala/fasthttp"

	"github.com/cio-singer/tap-customerio-webhook/tap/auth"
	"github.com/cio-singer/tap-customerio-webhook/tap/receiver"
)

// NewNoopServer returns a fasthttp server that reads each request body and
// answers 200: the fastest a webhook receiver on fasthttp could be, to
// compare ours with. Its limits match the receiver's defaults.
func NewNoopServer() *fasthttp.Server {
	return &fasthttp.Server{
		Handler: func(ctx *fasthttp.RequestCtx) {
			// fasthttp has read the whole body before calling us, as it
			// does for the receiver.
			ctx.SetStatusCode(fasthttp.StatusOK)
		},
		ReadTimeout:                  receiver.DefaultReadTimeout,
		WriteTimeout:                 receiver.DefaultWriteTimeout,
		IdleTimeout:                  receiver.DefaultIdleTimeout,
		ReadBufferSize:               receiver.DefaultMaxHeaderBytes,
		MaxRequestBodySize:           receiver.DefaultMaxBodyBytes,
		Concurrency:                  receiver.DefaultConcurrency,
		NoDefaultServerHeader:        true,
		NoDefaultContentType:         true,
		DisablePreParseMultipartForm: true,
	}
}

// MemAppender is a trivial in-memory spool for benchmarking the receiver
// without a disk: it counts bodies and bytes and keeps nothing.
type MemAppender struct {
	n, bytes atomic.Uint64
}

// Append counts body and returns its sequence number.
func (m *MemAppender) Append(_ context.Context, body []byte, _ string) (uint64, error) {
	m.bytes.Add(uint64(len(body)))
	return m.n.Add(1), nil
}

// NewMemReceiver returns our real receiver, checking token and (when
// signingKey is set) signatures, wired to a [MemAppender].
func NewMemReceiver(token, signingKey string, log zerolog.Logger) (*receiver.Server, error) {
	set, err := auth.ParseTokens([]string{token})
	if err != nil {
		return nil, fmt.Errorf("parsing token: %w", err)
	}
	var tokens atomic.Pointer[auth.TokenSet]
	tokens.Store(set)
	var keys []string
	if signingKey != "" {
		keys = []string{signingKey}
	}
	srv, err := receiver.New(receiver.Config{
		Tokens:   &tokens,
		Verifier: auth.NewVerifier(keys, 5*time.Minute, nil),
		Appender: &MemAppender{},
		Log:      log,
	})
	if err != nil {
		return nil, fmt.Errorf("creating receiver: %w", err)
	}
	return srv, nil
}

// ServeUntil serves on ln until ctx ends, then shuts down gracefully.
func ServeUntil(ctx context.Context, ln net.Listener, serve func(net.Listener) error, shutdown func(context.Context) error) error {
	errc := make(chan error, 1)
	go func() { errc <- serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	err := shutdown(sctx)
	_ = ln.Close() // in case serve had not yet registered it for shutdown to close
	return errors.Join(err, <-errc)
}
