package receiver

import (
	"bytes"
	"context"
	"errors"
	"net"

	"github.com/valyala/fasthttp"

	"github.com/cio-singer/tap-customerio-webhook/tap/auth"
)

const (
	webhookPrefix = "/webhook/"
	headerAllow   = "Allow"
	headerRetry   = "Retry-After"
	// contentTypeMetrics is the Prometheus text exposition format 0.0.4.
	contentTypeMetrics = "text/plain; version=0.0.4; charset=utf-8"
)

// route dispatches one request by path. Anything unknown is 404.
func (s *Server) route(ctx *fasthttp.RequestCtx) {
	path := ctx.Path()
	if token, ok := bytes.CutPrefix(path, []byte(webhookPrefix)); ok {
		s.webhook(ctx, token)
		return
	}
	switch string(path) {
	case "/healthz":
		s.probe(ctx, nil)
	case "/readyz":
		s.probe(ctx, s.ready)
	case "/metrics":
		s.metrics(ctx)
	default:
		ctx.SetStatusCode(fasthttp.StatusNotFound)
	}
}

// webhook answers POST /webhook/{token}. The order of the checks is part
// of the contract: token before method (no probing tokens with GET), and
// nothing is appended unless token, method, size and signature pass.
func (s *Server) webhook(ctx *fasthttp.RequestCtx, token []byte) {
	tokenID, ok := s.cfg.Tokens.Load().Match(token)
	if !ok {
		s.log.Warn().IPAddr("remote_ip", ctx.RemoteIP()).Msg("rejected webhook: unknown token")
		ctx.SetStatusCode(fasthttp.StatusNotFound)
		return
	}
	if !ctx.IsPost() {
		ctx.Response.Header.Set(headerAllow, fasthttp.MethodPost)
		ctx.SetStatusCode(fasthttp.StatusMethodNotAllowed)
		return
	}
	body := ctx.PostBody() // valid only until the handler returns
	if len(body) > s.cfg.MaxBodyBytes {
		// fasthttp enforces the limit before we run; this covers Handler()
		// used without the server.
		s.tooLarge(ctx, len(body))
		return
	}
	if err := s.verify(ctx, body); err != nil {
		s.log.Warn().IPAddr("remote_ip", ctx.RemoteIP()).Str("token_id", tokenID).
			Str("reason", err.Error()).Msg("rejected webhook: bad signature")
		ctx.SetStatusCode(fasthttp.StatusUnauthorized)
		return
	}
	if s.draining.Load() {
		s.unavailable(ctx)
		return
	}
	s.store(ctx, body, tokenID)
}

// metrics answers GET /metrics with the Prometheus text format.
func (s *Server) metrics(ctx *fasthttp.RequestCtx) {
	if s.cfg.Metrics == nil {
		ctx.SetStatusCode(fasthttp.StatusNotFound)
		return
	}
	if !ctx.IsGet() && !ctx.IsHead() {
		ctx.Response.Header.Set(headerAllow, "GET, HEAD")
		ctx.SetStatusCode(fasthttp.StatusMethodNotAllowed)
		return
	}
	ctx.SetContentType(contentTypeMetrics)
	s.cfg.Metrics(ctx)
}

// verify checks the Customer.io signature headers over the raw body.
func (s *Server) verify(ctx *fasthttp.RequestCtx, body []byte) error {
	if !s.cfg.Verifier.Enabled() {
		return nil
	}
	h := &ctx.Request.Header
	return s.cfg.Verifier.Verify(h.Peek(auth.HeaderTimestamp), h.Peek(auth.HeaderSignature), body)
}

// store appends body and answers 200 only once Append has returned nil.
// The append context does not end at shutdown: an in-flight webhook is
// allowed to finish and get its 200.
func (s *Server) store(ctx *fasthttp.RequestCtx, body []byte, tokenID string) {
	actx, cancel := context.WithTimeout(context.Background(), s.cfg.AppendTimeout)
	offset, err := s.cfg.Appender.Append(actx, body, tokenID)
	cancel()
	if err != nil {
		s.log.Error().Err(err).IPAddr("remote_ip", ctx.RemoteIP()).Int("bytes", len(body)).
			Bool("timeout", errors.Is(err, context.DeadlineExceeded)).
			Msg("spooling webhook failed; answering 503, sender will retry")
		s.unavailable(ctx)
		return
	}
	s.log.Debug().Uint64("offset", offset).Int("bytes", len(body)).Str("token_id", tokenID).Msg("webhook spooled")
	ctx.SetStatusCode(fasthttp.StatusOK)
}

// probe answers /healthz and /readyz. check may be nil.
func (s *Server) probe(ctx *fasthttp.RequestCtx, check func() error) {
	if !ctx.IsGet() && !ctx.IsHead() {
		ctx.Response.Header.Set(headerAllow, "GET, HEAD")
		ctx.SetStatusCode(fasthttp.StatusMethodNotAllowed)
		return
	}
	if check != nil {
		if err := check(); err != nil {
			s.log.Debug().Err(err).Msg("not ready")
			ctx.SetStatusCode(fasthttp.StatusServiceUnavailable)
			return
		}
	}
	ctx.SetStatusCode(fasthttp.StatusOK)
}

var errDraining = errors.New("shutting down")

// ready is the /readyz check: not shutting down, and the configured
// readiness check (spool writable) passes.
func (s *Server) ready() error {
	if s.draining.Load() {
		return errDraining
	}
	if s.cfg.Ready != nil {
		return s.cfg.Ready()
	}
	return nil
}

// unavailable answers 503 with Retry-After. Customer.io retries a 503
// without the one-hour penalty it gives 4xx and 500.
func (s *Server) unavailable(ctx *fasthttp.RequestCtx) {
	ctx.Response.Header.Set(headerRetry, s.retryAfter)
	if s.draining.Load() {
		ctx.SetConnectionClose()
	}
	ctx.SetStatusCode(fasthttp.StatusServiceUnavailable)
}

func (s *Server) tooLarge(ctx *fasthttp.RequestCtx, size int) {
	s.log.Error().IPAddr("remote_ip", ctx.RemoteIP()).Int("bytes", size).Int("max_body_bytes", s.cfg.MaxBodyBytes).
		Msg("rejected webhook: body too large; Customer.io will retry it, raise max_body_bytes")
	ctx.SetStatusCode(fasthttp.StatusRequestEntityTooLarge)
}

// handleError answers requests fasthttp could not read. fasthttp's default
// answers 400 for an oversized body, and Customer.io waits an hour after a
// 400, so that case becomes 413. It is 413 whatever the path: fasthttp
// resets a request whose chunked body overflowed, so the token is gone by
// now, and answering the same for every token reveals nothing about them.
func (s *Server) handleError(ctx *fasthttp.RequestCtx, err error) {
	var small *fasthttp.ErrSmallBuffer
	var netErr *net.OpError
	switch {
	case errors.Is(err, fasthttp.ErrBodyTooLarge):
		s.tooLarge(ctx, ctx.Request.Header.ContentLength())
	case errors.As(err, &small):
		s.log.Warn().IPAddr("remote_ip", ctx.RemoteIP()).Int("max_header_bytes", s.cfg.MaxHeaderBytes).
			Msg("rejected request: headers too large")
		ctx.SetStatusCode(fasthttp.StatusRequestHeaderFieldsTooLarge)
	case errors.As(err, &netErr) && netErr.Timeout():
		ctx.SetStatusCode(fasthttp.StatusRequestTimeout)
	default:
		// Not HTTP at all (or a broken chunked body): nothing Customer.io sends.
		s.log.Warn().IPAddr("remote_ip", ctx.RemoteIP()).Str("reason", errorKind(err)).Msg("rejected request: unreadable")
		ctx.SetStatusCode(fasthttp.StatusBadRequest)
	}
	s.count(ctx.Response.StatusCode())
}

// errorKind names a read error without its text, which may quote request
// bytes (a token in the request line, for one).
func errorKind(err error) string {
	var broken fasthttp.ErrBrokenChunk
	if errors.As(err, &broken) {
		return "broken chunked body"
	}
	return "malformed request"
}
