package receiver

import (
	"strings"
	"sync/atomic"
	"testing"

	"github.com/cio-singer/tap-customerio-webhook/tap/auth"
)

func TestBudget(t *testing.T) {
	t.Parallel()
	const mib = 1 << 20
	b := newBudget(64*mib, 8*mib)
	for i := range 6 {
		if !b.reserve(8*mib, 8*mib) {
			t.Fatalf("large body %d of 8 MiB refused with %d MiB held", i+1, b.used.Load()/mib)
		}
	}
	if b.fits(8*mib) || b.reserve(8*mib, 8*mib) {
		t.Fatal("a seventh 8 MiB body was admitted: large bodies may take only 48 of the 64 MiB")
	}
	if b.reserve(smallBody+1, smallBody+1) {
		t.Fatal("a body just over smallBody used the room kept for small ones")
	}
	for range 256 { // the 16 MiB kept for small bodies
		if !b.reserve(smallBody, smallBody) {
			t.Fatalf("small body refused with %d bytes held", b.used.Load())
		}
	}
	if b.fits(1) || b.reserve(1, 1) {
		t.Fatal("admitted a byte past the whole budget")
	}
	b.release(8 * mib)
	if b.reserve(8*mib, 8*mib) {
		t.Fatal("a large body was admitted while small ones hold their quarter: large ones may bring the total to 48 MiB only")
	}
	b.release(256 * smallBody)
	if !b.reserve(8*mib, 8*mib) {
		t.Fatal("released room was not reusable")
	}

	// With a budget of a single largest body, that body still fits.
	tight := newBudget(8*mib, 8*mib)
	if !tight.reserve(8*mib, 8*mib) {
		t.Fatal("a budget of MaxBodyBytes refused a body of MaxBodyBytes")
	}
}

func TestNew_InflightBudgetBelowMaxBody(t *testing.T) {
	t.Parallel()
	tokens := new(atomic.Pointer[auth.TokenSet])
	tokens.Store(mustTokens(t, testToken))
	base := Config{Tokens: tokens, Verifier: auth.NewVerifier(nil, 0, nil), Appender: &memAppender{}}

	cfg := base
	cfg.MaxBodyBytes, cfg.MaxInflightBytes = 2<<20, 1<<20
	_, err := New(cfg)
	if err == nil || !strings.Contains(err.Error(), "MaxInflightBytes") {
		t.Fatalf("New() with a budget below MaxBodyBytes = %v; want an error naming MaxInflightBytes", err)
	}

	cfg = base
	cfg.MaxBodyBytes = 100 << 20 // the default budget grows to hold one such body
	srv, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if srv.cfg.MaxInflightBytes != 100<<20 {
		t.Fatalf("default MaxInflightBytes = %d with MaxBodyBytes 100 MiB; want 100 MiB", srv.cfg.MaxInflightBytes)
	}
	if srv, _ := New(base); srv.cfg.MaxInflightBytes != DefaultMaxInflightBytes {
		t.Fatalf("default MaxInflightBytes = %d; want %d", srv.cfg.MaxInflightBytes, DefaultMaxInflightBytes)
	}
}
