package auth

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strings"
	"sync"
	"testing"
)

const (
	tokenA = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa" // 40 characters
	tokenB = "Bq7-x_9.Z~bbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"
)

func hashed(token string) string {
	sum := sha256.Sum256([]byte(token))
	return "sha256:" + hex.EncodeToString(sum[:])
}

func TestParseTokens_Errors(t *testing.T) {
	t.Parallel()
	short := strings.Repeat("s", MinTokenLength-1)
	slashy := strings.Repeat("p", MinTokenLength) + "/x"
	tests := []struct {
		name    string
		entries []string
		wantIn  string // substring the error must contain
		secret  string // must not appear in the error
	}{
		{"none", nil, "webhook_tokens: at least one", ""},
		{"too short", []string{tokenA, short}, "webhook_tokens[1]: token has 31 characters", short},
		{"slash", []string{slashy}, "webhook_tokens[0]: character 32", slashy},
		{"space", []string{tokenA + " "}, "webhook_tokens[0]: character 40", tokenA},
		{"hash too short", []string{"sha256:abcd"}, "webhook_tokens[0]: sha256: form needs 64 hex digits", "abcd"},
		{"hash not hex", []string{"sha256:" + strings.Repeat("zz", 32)}, "not a hex digit", "zzzz"},
		{"duplicate plain and hashed", []string{tokenA, hashed(tokenA)}, "webhook_tokens[1]: same token as webhook_tokens[0]", tokenA},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			set, err := ParseTokens(tt.entries)
			if err == nil {
				t.Fatalf("ParseTokens() = %v, nil; want an error", set)
			}
			if !strings.Contains(err.Error(), tt.wantIn) {
				t.Fatalf("error %q does not contain %q", err, tt.wantIn)
			}
			if tt.secret != "" && strings.Contains(err.Error(), tt.secret) {
				t.Fatalf("error %q leaks the configured token", err)
			}
		})
	}
}

func TestParseTokens_ReportsEveryBadEntry(t *testing.T) {
	t.Parallel()
	_, err := ParseTokens([]string{"short", tokenA, "sha256:00"})
	if err == nil {
		t.Fatal("want an error")
	}
	for _, want := range []string{"webhook_tokens[0]", "webhook_tokens[2]"} {
		if !strings.Contains(err.Error(), want) {
			t.Fatalf("error %q does not name %s", err, want)
		}
	}
	if strings.Contains(err.Error(), "webhook_tokens[1]") {
		t.Fatalf("error %q blames the good entry", err)
	}
}

func TestTokenSet_Match(t *testing.T) {
	t.Parallel()
	set, err := ParseTokens([]string{tokenA, hashed(tokenB)})
	if err != nil {
		t.Fatal(err)
	}
	ids := set.IDs()
	if len(ids) != 2 || ids[0] == ids[1] || len(ids[0]) != 12 {
		t.Fatalf("IDs() = %q; want two distinct 12-character ids", ids)
	}
	tests := []struct {
		name   string
		token  string
		wantOK bool
		wantID string
	}{
		{"plain entry", tokenA, true, ids[0]},
		{"hashed entry", tokenB, true, ids[1]},
		{"unknown", strings.Repeat("c", 40), false, ""},
		{"prefix of a token", tokenA[:39], false, ""},
		{"token plus a byte", tokenA + "a", false, ""},
		{"empty", "", false, ""},
		{"the hash itself", hashed(tokenB), false, ""},
		{"last byte changed", tokenA[:39] + "b", false, ""},
		{"prefix padded with zero bytes", tokenA[:39] + "\x00", false, ""},
		{"longer than remembered tokens", strings.Repeat("d", maxSeenToken+1), false, ""},
	}
	// The second pass matches against the tokens the first one remembered.
	for pass := range 2 {
		for _, tt := range tests {
			t.Run(fmt.Sprintf("%s/pass %d", tt.name, pass), func(t *testing.T) {
				id, ok := set.Match([]byte(tt.token))
				if ok != tt.wantOK || id != tt.wantID {
					t.Fatalf("Match() = %q, %v; want %q, %v", id, ok, tt.wantID, tt.wantOK)
				}
			})
		}
	}
}

func TestTokenSet_MatchLongToken(t *testing.T) {
	t.Parallel()
	long := strings.Repeat("L", maxSeenToken+10)
	set, err := ParseTokens([]string{long})
	if err != nil {
		t.Fatal(err)
	}
	for range 2 { // never remembered: hashed both times
		if _, ok := set.Match([]byte(long)); !ok {
			t.Fatal("long token not matched")
		}
		if _, ok := set.Match([]byte(long[:maxSeenToken])); ok {
			t.Fatal("prefix of a long token matched")
		}
	}
}

func TestTokenSet_IDSameForPlainAndHashed(t *testing.T) {
	t.Parallel()
	plain, err := ParseTokens([]string{tokenB})
	if err != nil {
		t.Fatal(err)
	}
	hashedSet, err := ParseTokens([]string{"sha256:" + strings.ToUpper(hashed(tokenB)[7:])})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := hashedSet.IDs()[0], plain.IDs()[0]; got != want {
		t.Fatalf("hashed id %q, plain id %q; want equal", got, want)
	}
	sum := sha256.Sum256([]byte(tokenB))
	idSum := sha256.Sum256([]byte("tap-customerio-webhook token id:" + hex.EncodeToString(sum[:])))
	if got, want := plain.IDs()[0], hex.EncodeToString(idSum[:])[:12]; got != want {
		t.Fatalf("id = %q; want %q", got, want)
	}
}

func TestTokenSet_IDsIsACopy(t *testing.T) {
	t.Parallel()
	set, err := ParseTokens([]string{tokenA})
	if err != nil {
		t.Fatal(err)
	}
	set.IDs()[0] = "changed"
	if id, _ := set.Match([]byte(tokenA)); id == "changed" {
		t.Fatal("IDs() exposes internal state")
	}
}

func TestTokenSet_ConcurrentMatch(t *testing.T) {
	t.Parallel()
	set, err := ParseTokens([]string{tokenA, tokenB})
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 200 {
				if _, ok := set.Match([]byte(tokenB)); !ok {
					t.Error("tokenB not matched")
					return
				}
			}
		})
	}
	wg.Wait()
}

func BenchmarkMatch(b *testing.B) {
	set, err := ParseTokens([]string{tokenA, tokenB})
	if err != nil {
		b.Fatal(err)
	}
	token := []byte(tokenB)
	b.ReportAllocs()
	for b.Loop() {
		set.Match(token)
	}
}

func TestTokenSet_NilMatchesNothing(t *testing.T) {
	t.Parallel()
	var set *TokenSet
	if id, ok := set.Match([]byte(tokenA)); ok || id != "" {
		t.Fatalf("nil set matched: %q", id)
	}
	if ids := set.IDs(); ids != nil {
		t.Fatalf("nil set IDs() = %q", ids)
	}
}

// TestTokenFormat: the sha256: form is one per token: a plain token and
// its hash in either case give the same entry and the same id.
func TestTokenFormat(t *testing.T) {
	t.Parallel()
	entry := CanonicalEntry(tokenA)
	if entry != hashed(tokenA) || CanonicalEntry(strings.ToUpper(entry[len(HashedPrefix):])) == entry {
		t.Fatalf("CanonicalEntry(plain) = %q; want %q", entry, hashed(tokenA))
	}
	if got := CanonicalEntry(HashedPrefix + strings.ToUpper(HashToken(tokenA))); got != entry {
		t.Fatalf("upper-case hash: %q; want %q", got, entry)
	}
	if !ValidHash(HashToken(tokenA)) || ValidHash("abcd") || ValidHash(strings.Repeat("zz", 32)) {
		t.Fatal("ValidHash accepts what ParseTokens refuses, or the reverse")
	}
	plain, err := ParseTokens([]string{tokenA})
	if err != nil {
		t.Fatal(err)
	}
	fromHash, err := ParseTokens([]string{HashedEntry(HashToken(tokenA))})
	if err != nil || plain.IDs()[0] != fromHash.IDs()[0] {
		t.Fatalf("ids %v and %v (%v); want the same", plain.IDs(), fromHash.IDs(), err)
	}
}
