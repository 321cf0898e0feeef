package auth

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"hash"
	"sync"
	"time"
)

// Header names Customer.io signs reporting webhooks with
// (spec: docs.customer.io "Securely verifying requests").
const (
	HeaderTimestamp = "X-CIO-Timestamp"
	HeaderSignature = "X-CIO-Signature"
)

// Errors returned by [Verifier.Verify]. Each means "answer 401"; they differ
// only so that logs can say why.
var (
	ErrMissing   = errors.New("auth: signature or timestamp header missing")
	ErrMalformed = errors.New("auth: signature or timestamp header malformed")
	ErrMismatch  = errors.New("auth: signature does not match any signing key")
	ErrStale     = errors.New("auth: signature timestamp outside the allowed age")
)

// signedVersion is the only version of Customer.io's signing scheme.
const signedVersion = "v0:"

// Verifier checks Customer.io's X-CIO-Signature: the hex HMAC-SHA256, keyed
// with a webhook signing key, of "v0:" + X-CIO-Timestamp + ":" + raw body.
// Any configured key may match, so a key can be rotated without downtime.
// A Verifier is safe for concurrent use.
type Verifier struct {
	keys   [][]byte
	macs   []sync.Pool // one pool of *macState per key: hmac.New allocates a lot
	maxAge time.Duration
	now    func() time.Time
}

// NewVerifier returns a Verifier for keys. With no keys it is disabled and
// passes every request. An empty key never matches anything: a blank entry
// in the config fails closed instead of turning checks off or accepting
// signatures anyone can compute. maxAge > 0 rejects requests whose
// timestamp is further than maxAge from now (nil now means time.Now).
func NewVerifier(keys []string, maxAge time.Duration, now func() time.Time) *Verifier {
	if now == nil {
		now = time.Now
	}
	v := &Verifier{maxAge: maxAge, now: now, macs: make([]sync.Pool, len(keys))}
	for i, k := range keys {
		key := []byte(k)
		v.keys = append(v.keys, key)
		v.macs[i].New = func() any { return &macState{mac: hmac.New(sha256.New, key)} }
	}
	return v
}

// Enabled reports whether signatures are checked at all.
func (v *Verifier) Enabled() bool { return len(v.keys) > 0 }

// Verify checks one request's timestamp and signature header values
// against its raw body. It returns nil when the Verifier is disabled or the
// signature matches a key (and, with a maximum age, the timestamp is
// recent), or one of [ErrMissing], [ErrMalformed], [ErrMismatch], [ErrStale].
// Upper-case hex, surrounding spaces and a "v0=" prefix are tolerated.
func (v *Verifier) Verify(timestamp, signature, body []byte) error {
	if !v.Enabled() {
		return nil
	}
	timestamp = bytes.TrimSpace(timestamp)
	signature = bytes.TrimSpace(signature)
	if len(timestamp) == 0 || len(signature) == 0 {
		return ErrMissing
	}
	if len(signature) > 3 && bytes.EqualFold(signature[:3], []byte("v0=")) {
		signature = signature[3:]
	}
	var want [sha256.Size]byte
	if len(signature) != hex.EncodedLen(sha256.Size) {
		return ErrMalformed
	}
	if _, err := hex.Decode(want[:], signature); err != nil {
		return ErrMalformed
	}
	sent, ok := parseUnixSeconds(timestamp)
	if !ok {
		return ErrMalformed
	}
	if !v.matchAny(timestamp, body, want[:]) {
		return ErrMismatch
	}
	// Checked after the MAC so that ErrStale always means "genuine but old",
	// which is what an operator reading the log needs to know.
	if v.maxAge > 0 {
		age := v.now().Sub(time.Unix(sent, 0))
		if age > v.maxAge || age < -v.maxAge {
			return ErrStale
		}
	}
	return nil
}

// matchAny reports whether want is the MAC of the signed string under any
// key. Which key matched is not secret, so it may stop at the first one.
func (v *Verifier) matchAny(timestamp, body, want []byte) bool {
	for i, key := range v.keys {
		if len(key) == 0 {
			continue
		}
		st := v.macs[i].Get().(*macState)
		st.mac.Reset()
		equal := hmac.Equal(st.sum(timestamp, body), want)
		v.macs[i].Put(st)
		if equal {
			return true
		}
	}
	return false
}

// macState is a keyed HMAC with scratch space, pooled so that verifying
// a webhook does not allocate: slices of a local array passed to the hash
// interface would escape to the heap on every call.
type macState struct {
	mac     hash.Hash
	scratch [len(signedVersion) + 1 + sha256.Size]byte
}

// sum returns the MAC of the signed string; valid until st is reused.
func (st *macState) sum(timestamp, body []byte) []byte {
	n := copy(st.scratch[:], signedVersion)
	st.scratch[n] = ':'
	st.mac.Write(st.scratch[:n])
	st.mac.Write(timestamp)
	st.mac.Write(st.scratch[n : n+1])
	st.mac.Write(body)
	return st.mac.Sum(st.scratch[:0])
}

// parseUnixSeconds parses a decimal, non-negative Unix time in seconds
// without allocating. It refuses more than 12 digits (year 33658), which
// also keeps the value far from overflow.
func parseUnixSeconds(b []byte) (int64, bool) {
	if len(b) == 0 || len(b) > 12 {
		return 0, false
	}
	var n int64
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int64(c-'0')
	}
	return n, true
}

// Sign returns the lower-case hex X-CIO-Signature Customer.io would send
// for body with the given X-CIO-Timestamp value. It is meant for tests and
// the load generator.
func Sign(key, timestamp, body []byte) string {
	st := &macState{mac: hmac.New(sha256.New, key)}
	return hex.EncodeToString(st.sum(timestamp, body))
}
