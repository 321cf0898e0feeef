// Package receiver is the tap's HTTP server: it takes Customer.io
// reporting webhooks over fasthttp and hands their raw bodies to an
// [Appender]. It is the only package of the project that imports fasthttp.
//
// Guarantees:
//   - 200 is answered only after Append returned nil, so a webhook that
//     Customer.io was told we have is durable (the Appender fsyncs).
//   - No body parsing on this path: token, method, signature and size are
//     checked, then the raw bytes (any content type) are appended.
//   - Status codes follow DESIGN.md §2 "HTTP": 404 unknown token (checked
//     before the method, so a GET cannot probe tokens), 405 other methods,
//     401 bad signature, 413 too large (never 400: Customer.io waits an hour
//     after a 400), 503 with Retry-After when the Appender fails or the
//     server is shutting down.
//   - Token, method and announced size are judged from the request line and
//     headers before the body is read (fasthttp's HeaderReceived hook marks a
//     refused request "Expect: 100-continue", and its ExpectHandler answers
//     it; admitted bodies are streamed to the handler): a refused request
//     costs no body memory, and its connection is closed rather than drained.
//   - Bodies in flight share a memory budget (MaxInflightBytes). A request
//     reserves its announced length before reading, a chunked one each buffer
//     before filling it; past the budget the answer is 503 with Retry-After.
//     Outside the budget, fasthttp reads at most 8 KiB of an admitted body
//     ahead of the handler, per connection (and one byte of a refused one
//     over HTTP/1.0, which has no Expect).
//   - Tokens and bodies are never logged: only remote_ip, status, sizes,
//     token ids and offsets. Lines a client can trigger at will (unknown
//     tokens, a full budget) are written at most once a second, with a count.
//
// Usage:
//
//	var tokens atomic.Pointer[auth.TokenSet]
//	tokens.Store(set)
//	srv, err := receiver.New(receiver.Config{Tokens: &tokens, Verifier: v, Appender: log, Log: logger})
//	go srv.Serve(ln)
//	defer srv.Shutdown(ctx)
package receiver

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"
	"github.com/valyala/fasthttp"

	"github.com/cio-singer/tap-customerio-webhook/tap/auth"
)

// Appender stores a body durably. When Append returns nil the body survives
// a crash. It must not keep body after returning: fasthttp reuses that
// memory once the handler returns, so an implementation that hands the
// bytes to another goroutine copies them first. Append must give up when
// ctx ends. It is called concurrently.
type Appender interface {
	Append(ctx context.Context, body []byte, tokenID string) (uint64, error)
}

// Defaults for the zero fields of [Config].
const (
	DefaultMaxBodyBytes = 8 << 20
	// DefaultMaxInflightBytes is the default budget of bodies in flight
	// (raised to MaxBodyBytes when that is larger).
	DefaultMaxInflightBytes = 64 << 20
	DefaultAppendTimeout    = 3 * time.Second // Customer.io waits 4 s for an answer
	DefaultReadTimeout      = 10 * time.Second
	DefaultWriteTimeout     = 10 * time.Second
	DefaultIdleTimeout      = 90 * time.Second
	DefaultMaxHeaderBytes   = 8 << 10
	DefaultConcurrency      = 10_000
	DefaultRetryAfter       = 5 * time.Second
)

// Config configures a [Server]. Zero durations and sizes take the
// Default* values above.
type Config struct {
	// MaxBodyBytes is the largest body accepted; larger ones get 413.
	MaxBodyBytes int
	// MaxInflightBytes bounds the memory all bodies being read or stored
	// may hold together; past it requests get 503 with Retry-After. It must
	// be at least MaxBodyBytes. Bodies over 64 KiB may fill only three
	// quarters of it (but always one of MaxBodyBytes), so that normal events
	// still fit while large ones are in flight.
	MaxInflightBytes int
	// Tokens holds the webhook path tokens. It is read on every request,
	// so storing a new set rotates tokens without a restart.
	Tokens *atomic.Pointer[auth.TokenSet]
	// Verifier checks X-CIO-Signature; a disabled one (no keys) passes all.
	Verifier *auth.Verifier
	// Appender stores accepted bodies.
	Appender Appender
	// AppendTimeout bounds one Append, so the 503 goes out well inside
	// Customer.io's 4 s rather than the request timing out there. Requests
	// share deadline contexts, so an Append may be given up as much as 5 %
	// (at most 50 ms) earlier, never later.
	AppendTimeout time.Duration
	// Ready is an extra readiness check for /readyz (spool writable). May be nil.
	Ready func() error
	// Metrics, when set, writes the Prometheus text exposition answered on
	// GET /metrics (use [Server.Counts] for the request counters). It is
	// called concurrently. Without it /metrics is 404.
	Metrics func(w io.Writer)
	// MetricsJSON, when set, writes the same figures as JSON, answered on
	// GET /metrics to a request that accepts application/json (`status`
	// asks for it; Prometheus never does). It is called concurrently.
	MetricsJSON func(w io.Writer)
	// Log receives request and server logs; never tokens or bodies.
	Log zerolog.Logger

	// ReadTimeout bounds reading one request, headers and body.
	ReadTimeout time.Duration
	// WriteTimeout bounds writing one response.
	WriteTimeout time.Duration
	// IdleTimeout closes keep-alive connections idle for this long.
	IdleTimeout time.Duration
	// MaxHeaderBytes bounds the request line plus headers (fasthttp's
	// ReadBufferSize); larger ones get 431.
	MaxHeaderBytes int
	// Concurrency is the most connections served at once.
	Concurrency int
	// RetryAfter is sent with every 503.
	RetryAfter time.Duration
}

// withDefaults returns c with every zero limit set to its default.
func (c Config) withDefaults() Config {
	setDefault(&c.MaxBodyBytes, DefaultMaxBodyBytes)
	setDefault(&c.MaxInflightBytes, max(DefaultMaxInflightBytes, c.MaxBodyBytes))
	setDefault(&c.AppendTimeout, DefaultAppendTimeout)
	setDefault(&c.ReadTimeout, DefaultReadTimeout)
	setDefault(&c.WriteTimeout, DefaultWriteTimeout)
	setDefault(&c.IdleTimeout, DefaultIdleTimeout)
	setDefault(&c.MaxHeaderBytes, DefaultMaxHeaderBytes)
	setDefault(&c.Concurrency, DefaultConcurrency)
	setDefault(&c.RetryAfter, DefaultRetryAfter)
	return c
}

func setDefault[T int | time.Duration](v *T, def T) {
	if *v == 0 {
		*v = def
	}
}

func (c Config) validate() error {
	var errs []error
	if c.Tokens == nil || c.Tokens.Load() == nil {
		errs = append(errs, errors.New("receiver: Tokens must hold a token set"))
	}
	if c.Verifier == nil {
		errs = append(errs, errors.New("receiver: Verifier is required (one without keys checks nothing)"))
	}
	if c.Appender == nil {
		errs = append(errs, errors.New("receiver: Appender is required"))
	}
	for name, v := range map[string]int64{
		"MaxBodyBytes": int64(c.MaxBodyBytes), "MaxInflightBytes": int64(c.MaxInflightBytes), "AppendTimeout": int64(c.AppendTimeout),
		"ReadTimeout": int64(c.ReadTimeout), "WriteTimeout": int64(c.WriteTimeout),
		"IdleTimeout": int64(c.IdleTimeout), "MaxHeaderBytes": int64(c.MaxHeaderBytes),
		"Concurrency": int64(c.Concurrency), "RetryAfter": int64(c.RetryAfter),
	} {
		if v < 0 {
			errs = append(errs, fmt.Errorf("receiver: %s must not be negative", name))
		}
	}
	if c.MaxInflightBytes < c.MaxBodyBytes {
		errs = append(errs, fmt.Errorf("receiver: MaxInflightBytes (%d) must be at least MaxBodyBytes (%d), or no body of the largest size could ever be read",
			c.MaxInflightBytes, c.MaxBodyBytes))
	}
	return errors.Join(errs...)
}

// Server answers webhooks. Create it with [New]. Its methods are safe for
// concurrent use.
type Server struct {
	cfg        Config
	log        zerolog.Logger
	retryAfter string
	httpServer *fasthttp.Server
	draining   atomic.Bool
	budget     *budget
	deadlines  *appendDeadlines

	unknownTokens logEvery // the "unknown token" line, thinned out under a scan
	refusals      tokenRefusals
	overBudget    logEvery // the "over budget" line, thinned out under a flood

	mu        sync.Mutex
	listeners []net.Listener     // closed by Shutdown, even if fasthttp has not seen them yet
	counts    [600]atomic.Uint64 // requests answered, by status code
}

// New fills in defaults, validates cfg and returns a Server that is not
// yet listening.
func New(cfg Config) (*Server, error) {
	cfg = cfg.withDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	s := &Server{
		cfg:           cfg,
		log:           cfg.Log.With().Str("component", "receiver").Logger(),
		retryAfter:    strconv.Itoa(int((cfg.RetryAfter + time.Second - 1) / time.Second)),
		budget:        newBudget(int64(cfg.MaxInflightBytes), int64(cfg.MaxBodyBytes)),
		deadlines:     newAppendDeadlines(cfg.AppendTimeout),
		unknownTokens: logEvery{interval: time.Second},
		overBudget:    logEvery{interval: time.Second},
	}
	s.httpServer = &fasthttp.Server{
		Handler:      s.Handler(),
		ErrorHandler: s.handleError,
		// The handler reads bodies itself, within the budget, once the
		// headers have been judged; HeaderReceived keeps fasthttp from
		// reading ahead into a body that will be refused.
		StreamRequestBody:            true,
		HeaderReceived:               s.headerReceived,
		ExpectHandler:                s.expectContinue,
		Logger:                       fasthttpLogger{log: cfg.Log.With().Str("component", "fasthttp").Logger()},
		ReadTimeout:                  cfg.ReadTimeout,
		WriteTimeout:                 cfg.WriteTimeout,
		IdleTimeout:                  cfg.IdleTimeout,
		ReadBufferSize:               cfg.MaxHeaderBytes,
		MaxRequestBodySize:           cfg.MaxBodyBytes,
		Concurrency:                  cfg.Concurrency,
		NoDefaultServerHeader:        true,
		NoDefaultContentType:         true,
		DisablePreParseMultipartForm: true, // no body parsing: bytes go to the spool as received
		SecureErrorLogMessage:        true, // fasthttp must not log request contents either
		CloseOnShutdown:              true,
	}
	return s, nil
}

// Serve accepts connections on ln until Shutdown, then returns nil. After
// Shutdown it returns nil at once.
func (s *Server) Serve(ln net.Listener) error {
	s.mu.Lock()
	if s.draining.Load() {
		s.mu.Unlock()
		return nil
	}
	s.listeners = append(s.listeners, ln)
	s.mu.Unlock()
	s.log.Info().Str("listen", ln.Addr().String()).Msg("receiving webhooks")
	if err := s.httpServer.Serve(ln); err != nil {
		return fmt.Errorf("serving http: %w", err)
	}
	return nil
}

// Shutdown makes the server answer 503 with Retry-After to every new
// request, stops accepting connections, and waits until in-flight requests
// (and their Appends) have finished or ctx ends. Customer.io retries the
// 503s later, so nothing is lost.
func (s *Server) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	s.draining.Store(true)
	listeners := s.listeners
	s.listeners = nil
	s.mu.Unlock()
	s.log.Info().Msg("shutting down: answering 503 to new webhooks")
	err := s.httpServer.ShutdownWithContext(ctx)
	// A Serve that started just before Shutdown may not have handed its
	// listener to fasthttp yet, and fasthttp would then never close it.
	// Closing it again when fasthttp did is harmless.
	for _, ln := range listeners {
		_ = ln.Close()
	}
	if err != nil {
		return fmt.Errorf("shutting down http server: %w", err)
	}
	return nil
}

// Counts returns how many requests were answered, by status code. It is
// meant for metrics.
func (s *Server) Counts() map[int]uint64 {
	out := make(map[int]uint64)
	for code := range s.counts {
		if n := s.counts[code].Load(); n > 0 {
			out[code] = n
		}
	}
	return out
}

// InflightBytes is the memory reserved by bodies in flight now, out of
// Config.MaxInflightBytes. It is meant for metrics.
func (s *Server) InflightBytes() int64 {
	return s.budget.used.Load()
}

// Handler returns the request handler without a listener, for in-memory
// tests and benchmarks. Requests it answers are counted in [Server.Counts].
func (s *Server) Handler() fasthttp.RequestHandler {
	return func(ctx *fasthttp.RequestCtx) {
		s.route(ctx)
		s.count(ctx.Response.StatusCode())
	}
}

func (s *Server) count(code int) {
	if code >= 0 && code < len(s.counts) {
		s.counts[code].Add(1)
	}
}

// fasthttpLogger routes fasthttp's own messages (accept errors, overflow)
// into zerolog. SecureErrorLogMessage keeps request contents out of them.
type fasthttpLogger struct{ log zerolog.Logger }

func (l fasthttpLogger) Printf(format string, args ...any) {
	l.log.Warn().Msgf(format, args...)
}
