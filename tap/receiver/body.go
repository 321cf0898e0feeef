package receiver

import (
	"errors"
	"io"
	"sync"

	"github.com/valyala/fasthttp"
)

// Why a body could not be read. The handler turns them into status codes.
var (
	errOverBudget = errors.New("bodies in flight over the memory budget")
	errTooLarge   = errors.New("body over max_body_bytes")
	errTruncated  = errors.New("body ended before its Content-Length")
)

// bodyClasses are the capacities of the pooled body buffers, a factor of
// four apart so a buffer is never much larger than its body. Nearly every
// Customer.io event fits the first; larger bodies get a buffer of their own
// that the garbage collector takes back.
var bodyClasses = [...]int{4 << 10, 16 << 10, 64 << 10}

var bodyPools [len(bodyClasses)]sync.Pool

// bodyBuffer is a pooled buffer of capacity bodyClasses[class].
type bodyBuffer struct {
	b     []byte
	class int
}

func getBodyBuffer(class int) *bodyBuffer {
	if v := bodyPools[class].Get(); v != nil {
		return v.(*bodyBuffer) //nolint:forcetypeassert // only *bodyBuffer is put
	}
	return &bodyBuffer{b: make([]byte, 0, bodyClasses[class]), class: class}
}

// inflight is what one request holds while it is handled: the buffer its
// body is read into and its reservation of the budget. The zero value holds
// nothing; release gives everything back.
type inflight struct {
	pooled   *bodyBuffer // nil when the buffer is not pooled
	reserved int64
}

// reserveTo makes the request's reservation at least size bytes. It reports
// false, holding what it held before, when the budget has no room.
func (in *inflight) reserveTo(b *budget, size int) bool {
	n := int64(size) - in.reserved
	if n <= 0 {
		return true
	}
	if !b.reserve(n, int64(size)) {
		return false
	}
	in.reserved += n
	return true
}

// grow returns a larger buffer holding cur, for a body of at most limit
// bytes, after reserving all it can be filled with. Buffers double, so a
// body that arrives slowly holds memory for what it has sent, not for what
// it announced.
func (in *inflight) grow(b *budget, cur []byte, limit int) ([]byte, bool) {
	size := min(limit, max(2*cap(cur), bodyClasses[0]))
	class := len(bodyClasses)
	for c, classSize := range bodyClasses {
		if size <= classSize {
			class, size = c, min(limit, classSize)
			break
		}
	}
	if !in.reserveTo(b, size) {
		return cur, false
	}
	old := in.pooled
	var next []byte
	if class < len(bodyClasses) {
		in.pooled = getBodyBuffer(class)
		next = append(in.pooled.b[:0], cur...)
	} else {
		in.pooled = nil
		next = make([]byte, len(cur), size)
		copy(next, cur)
	}
	if old != nil {
		putBodyBuffer(old)
	}
	return next, true
}

func putBodyBuffer(p *bodyBuffer) {
	p.b = p.b[:0]
	bodyPools[p.class].Put(p)
}

// release returns the buffer to its pool and the reservation to the budget.
// The body read into it must not be used afterwards.
func (in *inflight) release(b *budget) {
	if in.pooled != nil {
		putBodyBuffer(in.pooled)
		in.pooled = nil
	}
	if in.reserved > 0 {
		b.release(in.reserved)
		in.reserved = 0
	}
}

// readBody returns the request body, read into a buffer held by in. It
// reserves memory from the budget before reading: the announced
// Content-Length at once, or, for a chunked body, each buffer before it is
// filled. It never reads more than max_body_bytes, plus one byte to see that
// a chunked body is longer.
func (s *Server) readBody(ctx *fasthttp.RequestCtx, in *inflight) ([]byte, error) {
	stream := ctx.RequestBodyStream()
	if stream == nil {
		// The body is already in memory: a request without a body, or
		// Handler called without the server.
		body := ctx.Request.Body()
		if len(body) > s.cfg.MaxBodyBytes {
			return nil, errTooLarge
		}
		if !in.reserveTo(s.budget, len(body)) {
			return nil, errOverBudget
		}
		return body, nil
	}
	limit := ctx.Request.Header.ContentLength()
	known := limit >= 0
	if !known {
		limit = s.cfg.MaxBodyBytes
	} else if !in.reserveTo(s.budget, limit) {
		return nil, errOverBudget
	}
	var body []byte
	for len(body) < limit {
		if len(body) == cap(body) {
			var ok bool
			if body, ok = in.grow(s.budget, body, limit); !ok {
				return nil, errOverBudget
			}
		}
		n, err := stream.Read(body[len(body):min(cap(body), limit)])
		body = body[:len(body)+n]
		if errors.Is(err, io.EOF) {
			if known && len(body) < limit {
				return nil, errTruncated
			}
			return body, nil
		}
		if err != nil {
			return nil, err
		}
	}
	if known {
		return body, nil
	}
	// A chunked body filled max_body_bytes: it is too large unless it ends here.
	var one [1]byte
	for {
		n, err := stream.Read(one[:])
		switch {
		case n > 0:
			return nil, errTooLarge
		case errors.Is(err, io.EOF):
			return body, nil
		case err != nil:
			return nil, err
		}
	}
}
