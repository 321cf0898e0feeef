// Package auth authenticates Customer.io webhooks without any HTTP
// dependency: a [TokenSet] matches the secret token in the webhook path, and
// a [Verifier] checks the X-CIO-Signature HMAC over the raw body.
//
// Both are safe for concurrent use and compare secrets in constant time.
// Nothing here ever puts a token or key in an error message, so errors can
// be logged as they are.
//
//	tokens, err := auth.ParseTokens(cfg.WebhookTokens)
//	id, ok := tokens.Match(pathToken)          // id is safe to log
//	v := auth.NewVerifier(cfg.SigningKeys, 5*time.Minute, time.Now)
//	err = v.Verify(tsHeader, sigHeader, body) // nil, ErrMissing, ErrMalformed, ErrMismatch or ErrStale
package auth

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
)

// MinTokenLength is the shortest plain token accepted: 32 characters from
// a random generator carry far more entropy than anyone can guess over HTTP.
const MinTokenLength = 32

// HashedPrefix marks a configured token given as the hex SHA-256 of the
// real token, so the config file need not hold the secret itself.
const HashedPrefix = "sha256:"

// idContext separates token ids from any other use of the token hash.
const idContext = "tap-customerio-webhook token id:"

// TokenSet holds the configured webhook path tokens (config key
// webhook_tokens). Its entries are fixed by [ParseTokens] and it is safe
// for concurrent use; to rotate tokens, parse a new set and swap it in.
type TokenSet struct {
	hashes [][sha256.Size]byte
	ids    []string
	// seen holds, per entry, the token that last matched it, padded to a
	// fixed length (see padToken), so that the next request with it is
	// matched by a constant-time compare instead of a SHA-256 (every
	// webhook of a sender carries the same token).
	seen []atomic.Pointer[paddedToken]
}

// maxSeenToken is the longest token Match remembers; longer ones (which
// Customer.io never sends) are hashed on every request.
const maxSeenToken = 95

// paddedToken is a token of up to maxSeenToken bytes, zero-padded, with
// its length in the last byte, so that comparing two of them takes the
// same time whatever their lengths and contents.
type paddedToken [maxSeenToken + 1]byte

func padToken(token []byte) (p paddedToken, ok bool) {
	if len(token) > maxSeenToken {
		return p, false
	}
	copy(p[:], token)
	p[maxSeenToken] = byte(len(token))
	return p, true
}

// ParseTokens builds a TokenSet from config entries. Each entry is either a
// plain token of at least [MinTokenLength] characters that can stand in a
// URL path segment, or "sha256:" followed by the 64 hex digits of the
// SHA-256 of such a token. Errors name the entry by index, never by value.
func ParseTokens(entries []string) (*TokenSet, error) {
	if len(entries) == 0 {
		return nil, errors.New("webhook_tokens: at least one token is required")
	}
	t := &TokenSet{}
	var errs []error
	seen := make(map[[sha256.Size]byte]int, len(entries))
	for i, entry := range entries {
		hash, err := parseToken(entry)
		if err != nil {
			errs = append(errs, fmt.Errorf("webhook_tokens[%d]: %w", i, err))
			continue
		}
		if j, dup := seen[hash]; dup {
			errs = append(errs, fmt.Errorf("webhook_tokens[%d]: same token as webhook_tokens[%d]", i, j))
			continue
		}
		seen[hash] = i
		t.hashes = append(t.hashes, hash)
		t.ids = append(t.ids, tokenID(hash))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	t.seen = make([]atomic.Pointer[paddedToken], len(t.hashes))
	return t, nil
}

// parseToken returns the SHA-256 of the token an entry describes. Its
// errors describe the problem without quoting the entry.
func parseToken(entry string) ([sha256.Size]byte, error) {
	var hash [sha256.Size]byte
	if rest, ok := strings.CutPrefix(entry, HashedPrefix); ok {
		return decodeHash(rest)
	}
	if n := len(entry); n < MinTokenLength {
		return hash, fmt.Errorf("token has %d characters, need at least %d (or %s<hex>)", n, MinTokenLength, HashedPrefix)
	}
	for i := 0; i < len(entry); i++ {
		if !pathSafe(entry[i]) {
			return hash, fmt.Errorf("character %d cannot stand in a URL path segment (use letters, digits and -._~)", i)
		}
	}
	return sha256.Sum256([]byte(entry)), nil
}

// decodeHash decodes the hex SHA-256 of a token; its errors never quote it.
func decodeHash(hexHash string) ([sha256.Size]byte, error) {
	var hash [sha256.Size]byte
	if len(hexHash) != hex.EncodedLen(sha256.Size) {
		return hash, fmt.Errorf("%s form needs %d hex digits, got %d characters",
			HashedPrefix, hex.EncodedLen(sha256.Size), len(hexHash))
	}
	if _, err := hex.Decode(hash[:], []byte(hexHash)); err != nil {
		return hash, errors.New(HashedPrefix + " form holds a character that is not a hex digit")
	}
	return hash, nil
}

// ValidHash reports whether hexHash is the hex SHA-256 of a token, as the
// part after [HashedPrefix] must be.
func ValidHash(hexHash string) bool {
	_, err := decodeHash(hexHash)
	return err == nil
}

// HashToken returns the hex SHA-256 of a plain token: what is kept
// instead of it.
func HashToken(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:])
}

// HashedEntry returns the entry "sha256:<hex>" for a token's hex SHA-256,
// in lower case, so that one token has one entry.
func HashedEntry(hexHash string) string { return HashedPrefix + strings.ToLower(hexHash) }

// CanonicalEntry returns the hashed entry of a webhook_tokens entry, plain
// or hashed, so that a token configured both ways counts once.
func CanonicalEntry(entry string) string {
	if rest, ok := strings.CutPrefix(entry, HashedPrefix); ok {
		return HashedEntry(rest)
	}
	return HashedEntry(HashToken(entry))
}

// pathSafe reports whether c can appear in a path segment unescaped and
// survive fasthttp's path normalisation unchanged.
func pathSafe(c byte) bool {
	switch {
	case c <= ' ' || c >= 0x7f:
		return false
	case c == '/', c == '?', c == '#', c == '%', c == '\\':
		return false
	}
	return true
}

// tokenID derives a short, non-secret name for a token from its hash, so
// logs and the spool can tell tokens apart during a rotation. Plain and
// hashed configuration of the same token give the same id.
func tokenID(hash [sha256.Size]byte) string {
	sum := sha256.Sum256([]byte(idContext + hex.EncodeToString(hash[:])))
	return hex.EncodeToString(sum[:6])
}

// Match reports whether token is one of the set and, if so, the id of its
// entry. It compares token, padded to a fixed length, with the token each
// entry last matched, then (when none is equal) its hash with every
// entry's hash; each compare is constant-time and none stops at the first
// match, so the time taken says nothing about which token, or how much of
// one, was right. Only whether token was right (which the status code
// says anyway) and whether an entry has matched before can show in it.
func (t *TokenSet) Match(token []byte) (id string, ok bool) {
	if t == nil { // no set configured matches nothing
		return "", false
	}
	padded, short := padToken(token)
	matched := -1
	if short {
		for i := range t.seen {
			if seen := t.seen[i].Load(); seen != nil {
				eq := subtle.ConstantTimeCompare(padded[:], seen[:])
				matched = subtle.ConstantTimeSelect(eq, i, matched)
			}
		}
		if matched >= 0 {
			return t.ids[matched], true
		}
	}
	hash := sha256.Sum256(token)
	for i := range t.hashes {
		eq := subtle.ConstantTimeCompare(hash[:], t.hashes[i][:])
		matched = subtle.ConstantTimeSelect(eq, i, matched)
	}
	if matched < 0 {
		return "", false
	}
	if short {
		remembered := padded // a copy, so that padded stays on the stack
		t.seen[matched].Store(&remembered)
	}
	return t.ids[matched], true
}

// IDs returns the id of every entry, in configuration order.
func (t *TokenSet) IDs() []string {
	if t == nil {
		return nil
	}
	return append([]string(nil), t.ids...)
}
