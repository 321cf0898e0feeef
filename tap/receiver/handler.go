package receiver

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/cio-singer/tap-customerio-webhook/tap/auth"
)

const (
	webhookPrefix = "/webhook/"
	headerAllow   = "Allow"
	headerRetry   = "Retry-After"
	// contentTypeMetrics is the Prometheus text exposition format 0.0.4.
	contentTypeMetrics = "text/plain; version=0.0.4; charset=utf-8"
	contentTypeJSON    = "application/json"
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
		s.refuse(ctx, fasthttp.StatusNotFound)
	}
}

// refuseBody is the request config of a request whose body will not be
// read. fasthttp's streaming reader reads min(Content-Length,
// MaxRequestBodySize, 8 KiB) body bytes ahead of the handler, and 1 is the
// least it takes (0 means its default). Over HTTP/1.1 such a request is
// answered by expectContinue instead and reads nothing; a chunked body is
// never read ahead.
var refuseBody = fasthttp.RequestConfig{MaxRequestBodySize: 1}

// headerReceived runs once the request line and headers are in, before any
// body byte is read. It judges a webhook the way the handler will. A
// request whose body will not be read (a refused webhook, any other path)
// and that announces one is marked "Expect: 100-continue" (HTTP/1.1), so
// that fasthttp reads none of the body and asks expectContinue for the
// answer; over HTTP/1.0 it gets refuseBody. The handler judges again from
// the same headers and has the last word.
func (s *Server) headerReceived(h *fasthttp.RequestHeader) fasthttp.RequestConfig {
	if token, ok := bytes.CutPrefix(rawPath(h.RequestURI()), []byte(webhookPrefix)); ok {
		_, status := s.judge(h, token)
		if status == 0 && s.budget.fits(int64(firstReservation(h, s.cfg.MaxBodyBytes))) {
			return fasthttp.RequestConfig{MaxRequestBodySize: s.cfg.MaxBodyBytes}
		}
	}
	if n := h.ContentLength(); (n > 0 || n == -1) && h.IsHTTP11() {
		h.Set(fasthttp.HeaderExpect, "100-continue")
	}
	return refuseBody
}

// expectContinue is fasthttp's ExpectHandler: it answers a request
// carrying "Expect: 100-continue" (from the client, or set by
// headerReceived) before any body byte is read. It returns 100 to have the
// body sent and read, or the final status, which fasthttp sends with the
// headers set here and then closes the connection. In the rare race where
// room in the budget (or a rotated token) appeared since headerReceived,
// the client gets a 100 it did not ask for, which HTTP/1.1 clients must
// accept, and then its answer.
func (s *Server) expectContinue(ctx *fasthttp.RequestCtx) int {
	h := &ctx.Request.Header
	if token, ok := bytes.CutPrefix(ctx.Path(), []byte(webhookPrefix)); !ok {
		s.route(ctx) // no other route reads a body
	} else if tokenID, status := s.judge(h, token); status != 0 {
		s.refuseFromHeaders(ctx, status)
		s.refusals.add(tokenID, status)
	} else if s.budget.fits(int64(firstReservation(h, s.cfg.MaxBodyBytes))) {
		return fasthttp.StatusContinue
	} else {
		s.bodyRefused(ctx, errOverBudget)
		s.refusals.add(tokenID, ctx.Response.StatusCode())
	}
	code := ctx.Response.StatusCode()
	s.count(code) // the handler, which counts the others, does not run
	return code
}

// rawPath is the path of a request URI as sent, without query or
// fragment. It may differ from the parsed path (percent escapes, dot
// segments, absolute form); then headerReceived refuses to read ahead and
// the handler, which judges the parsed path, decides. A URI holding an
// ASCII control character anywhere, even in its query or fragment, is one
// fasthttp does not parse (its path becomes "/"), so rawPath returns nil for
// it rather than a path the handler will never see.
func rawPath(uri []byte) []byte {
	for _, c := range uri {
		if c < 0x20 || c == 0x7f {
			return nil
		}
	}
	if i := bytes.IndexAny(uri, "?#"); i >= 0 {
		return uri[:i]
	}
	return uri
}

// firstReservation is what a request reserves before reading its body:
// the announced length, or for a chunked body its first buffer.
func firstReservation(h *fasthttp.RequestHeader, maxBody int) int {
	if n := h.ContentLength(); n >= 0 {
		return n
	}
	return min(maxBody, bodyClasses[0])
}

// judge decides what the request line and headers alone can decide about
// a webhook, in the order of the contract: the token before the method (no
// probing tokens with GET), then the announced size, then shutdown. It
// returns the status to refuse with, or 0 to go on and read the body.
func (s *Server) judge(h *fasthttp.RequestHeader, token []byte) (tokenID string, status int) {
	tokenID, ok := s.cfg.Tokens.Load().Match(token)
	switch {
	case !ok:
		return "", fasthttp.StatusNotFound
	case !h.IsPost():
		return tokenID, fasthttp.StatusMethodNotAllowed
	case h.ContentLength() > s.cfg.MaxBodyBytes:
		return tokenID, fasthttp.StatusRequestEntityTooLarge
	case s.draining.Load():
		return tokenID, fasthttp.StatusServiceUnavailable
	}
	return tokenID, 0
}

// webhook answers POST /webhook/{token}. Nothing is appended unless token,
// method, size and signature pass, and the body is read only once token,
// method and announced size have passed and its memory is reserved.
func (s *Server) webhook(ctx *fasthttp.RequestCtx, token []byte) {
	tokenID, status := s.judge(&ctx.Request.Header, token)
	if status != 0 {
		s.refuseFromHeaders(ctx, status)
		s.refusals.add(tokenID, status)
		return
	}

	var in inflight
	defer in.release(s.budget)
	body, err := s.readBody(ctx, &in) // valid until in is released
	if err != nil {
		s.bodyRefused(ctx, err)
		s.refusals.add(tokenID, ctx.Response.StatusCode())
		return
	}
	if err := s.verify(ctx, body); err != nil {
		s.log.Warn().IPAddr("remote_ip", ctx.RemoteIP()).Str("token_id", tokenID).
			Str("reason", err.Error()).Msg("rejected webhook: bad signature")
		ctx.SetStatusCode(fasthttp.StatusUnauthorized)
		s.refusals.add(tokenID, fasthttp.StatusUnauthorized)
		return
	}
	s.store(ctx, body, tokenID)
}

// refuseFromHeaders answers a webhook refused on its request line and
// headers (a status from judge), without reading its body.
func (s *Server) refuseFromHeaders(ctx *fasthttp.RequestCtx, status int) {
	switch status {
	case fasthttp.StatusNotFound:
		// count: requests refused for this since the last such line.
		if n, ok := s.unknownTokens.event(time.Now()); ok {
			s.log.Warn().IPAddr("remote_ip", ctx.RemoteIP()).Int64("count", n).Msg("rejected webhook: unknown token")
		}
		s.refuse(ctx, status)
	case fasthttp.StatusMethodNotAllowed:
		ctx.Response.Header.Set(headerAllow, fasthttp.MethodPost)
		s.refuse(ctx, status)
	case fasthttp.StatusRequestEntityTooLarge:
		s.tooLarge(ctx, ctx.Request.Header.ContentLength())
	default:
		s.unavailable(ctx)
	}
}

// refuse answers status without reading the body. Whatever of it is still
// on the wire is not read either: the connection is closed instead.
func (s *Server) refuse(ctx *fasthttp.RequestCtx, status int) {
	if bodyUnread(ctx) {
		ctx.SetConnectionClose()
	}
	ctx.SetStatusCode(status)
}

// bodyUnread reports whether part of the request body may still be on the
// wire, so the connection cannot carry another request.
func bodyUnread(ctx *fasthttp.RequestCtx) bool {
	return ctx.RequestBodyStream() != nil && ctx.Request.Header.ContentLength() != 0
}

// bodyRefused answers a webhook whose body was not read in full: no room
// in the budget, too large, or unreadable.
func (s *Server) bodyRefused(ctx *fasthttp.RequestCtx, err error) {
	ctx.SetConnectionClose() // the body is read only in part
	switch {
	case errors.Is(err, errOverBudget):
		if n, ok := s.overBudget.event(time.Now()); ok { // count as above
			s.log.Warn().IPAddr("remote_ip", ctx.RemoteIP()).Int64("count", n).Int("max_inflight_bytes", s.cfg.MaxInflightBytes).
				Msg("refused webhook: bodies in flight over budget, answering 503")
		}
		s.unavailable(ctx)
	case errors.Is(err, errTooLarge):
		s.tooLarge(ctx, s.cfg.MaxBodyBytes+1)
	default:
		s.readFailed(ctx, err)
	}
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
	if s.cfg.MetricsJSON != nil && bytes.Contains(ctx.Request.Header.Peek("Accept"), []byte(contentTypeJSON)) {
		ctx.SetContentType(contentTypeJSON)
		s.cfg.MetricsJSON(ctx)
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
// The append context (shared with requests of the same few milliseconds,
// see appendDeadlines) does not end at shutdown: an in-flight webhook is
// allowed to finish and get its 200.
func (s *Server) store(ctx *fasthttp.RequestCtx, body []byte, tokenID string) {
	offset, err := s.cfg.Appender.Append(s.deadlines.context(time.Now()), body, tokenID)
	if err != nil {
		s.log.Error().Err(err).IPAddr("remote_ip", ctx.RemoteIP()).Int("bytes", len(body)).
			Bool("timeout", errors.Is(err, context.DeadlineExceeded)).
			Msg("spooling webhook failed; answering 503, sender will retry")
		s.unavailable(ctx)
		s.refusals.add(tokenID, fasthttp.StatusServiceUnavailable)
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
	if s.draining.Load() || bodyUnread(ctx) {
		ctx.SetConnectionClose()
	}
	ctx.SetStatusCode(fasthttp.StatusServiceUnavailable)
}

func (s *Server) tooLarge(ctx *fasthttp.RequestCtx, size int) {
	if bodyUnread(ctx) {
		ctx.SetConnectionClose()
	}
	s.log.Error().IPAddr("remote_ip", ctx.RemoteIP()).Int("bytes", size).Int("max_body_bytes", s.cfg.MaxBodyBytes).
		Msg("rejected webhook: body too large; Customer.io will retry it, raise max_body_bytes")
	ctx.SetStatusCode(fasthttp.StatusRequestEntityTooLarge)
}

// handleError answers requests fasthttp could not read: headers too
// large, a timeout, or not HTTP at all. Bodies are read by the handler, so
// an oversized body reaches it; fasthttp's default would answer 400 for one,
// and Customer.io waits an hour after a 400, so that case stays 413 here.
func (s *Server) handleError(ctx *fasthttp.RequestCtx, err error) {
	var small *fasthttp.ErrSmallBuffer
	switch {
	case errors.Is(err, fasthttp.ErrBodyTooLarge):
		s.tooLarge(ctx, ctx.Request.Header.ContentLength())
	case errors.As(err, &small):
		s.log.Warn().IPAddr("remote_ip", ctx.RemoteIP()).Int("max_header_bytes", s.cfg.MaxHeaderBytes).
			Msg("rejected request: headers too large")
		ctx.SetStatusCode(fasthttp.StatusRequestHeaderFieldsTooLarge)
	default:
		s.readFailed(ctx, err)
	}
	s.count(ctx.Response.StatusCode())
}

// readFailed answers a request that could not be read: 408 when the
// client was too slow, 400 otherwise (nothing Customer.io sends).
func (s *Server) readFailed(ctx *fasthttp.RequestCtx, err error) {
	var netErr net.Error
	if errors.As(err, &netErr) && netErr.Timeout() {
		ctx.SetStatusCode(fasthttp.StatusRequestTimeout)
		return
	}
	s.log.Warn().IPAddr("remote_ip", ctx.RemoteIP()).Str("reason", errorKind(err)).Msg("rejected request: unreadable")
	ctx.SetStatusCode(fasthttp.StatusBadRequest)
}

// errorKind names a read error without its text, which may quote request
// bytes (a token in the request line, for one).
func errorKind(err error) string {
	var broken fasthttp.ErrBrokenChunk
	switch {
	case errors.As(err, &broken):
		return "broken chunked body"
	case errors.Is(err, errTruncated), errors.Is(err, io.ErrUnexpectedEOF):
		return "truncated body"
	}
	return "malformed request"
}
