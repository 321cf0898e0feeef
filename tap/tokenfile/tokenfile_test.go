package tokenfile

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/cio-singer/tap-customerio-webhook/internal/lockedbuf"
	"github.com/cio-singer/tap-customerio-webhook/internal/poll"
	"github.com/cio-singer/tap-customerio-webhook/tap/auth"
)

const configured = "configured-token-0123456789abcdef0123456789"

// TestAddWriteReadRemove: a token added is kept as its hash only, readable
// by its owner only, and its id is the one the server logs.
func TestAddWriteReadRemove(t *testing.T) {
	t.Parallel()
	path := Path(t.TempDir())
	var f File
	token, id, err := f.Add("prod", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if err := Write(path, f); err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(raw), token) || !strings.Contains(string(raw), auth.HashToken(token)) {
		t.Fatalf("token file holds the token or lacks its hash:\n%s", raw)
	}
	if info, _ := os.Stat(path); info.Mode().Perm() != 0o600 {
		t.Errorf("mode %v; want 0600", info.Mode().Perm())
	}
	set, err := auth.ParseTokens([]string{token})
	if err != nil || set.IDs()[0] != id {
		t.Fatalf("id %s; the server names the token %v (%v)", id, set.IDs(), err)
	}
	back, err := Read(path)
	if err != nil || len(back.Tokens) != 1 || back.Tokens[0].Label != "prod" {
		t.Fatalf("read back %+v, %v", back, err)
	}
	if back.Remove("nope") || !back.Remove(id) || len(back.Tokens) != 0 {
		t.Fatalf("remove: %+v", back)
	}
}

// TestReadRefusesABadHash: an entry whose sha256 is not 64 hex digits
// makes the file unusable, naming the entry and never its value.
func TestReadRefusesABadHash(t *testing.T) {
	t.Parallel()
	path := Path(t.TempDir())
	if err := os.WriteFile(path, []byte(`{"tokens":[{"id":"x","sha256":"abcd"}]}`), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Read(path); err == nil || !strings.Contains(err.Error(), "entry 0: sha256 is not 64 hex digits") {
		t.Fatalf("Read: %v", err)
	}
	if f, err := Read(filepath.Join(t.TempDir(), Name)); err != nil || len(f.Tokens) != 0 {
		t.Fatalf("a missing file: %+v, %v; want no tokens", f, err)
	}
}

// TestUnionCountsATokenOnce: a token both configured (plain or hashed, in
// any case) and in the file is one token; no token at all is a nil set.
func TestUnionCountsATokenOnce(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	if set, err := Union(dir, nil); err != nil || set != nil {
		t.Fatalf("no tokens: %v, %v; want a nil set", set, err)
	}
	f := File{Tokens: []Token{{ID: "x", Hash: strings.ToUpper(auth.HashToken(configured))}}}
	if err := Write(Path(dir), f); err != nil {
		t.Fatal(err)
	}
	for _, entry := range []string{configured, auth.HashedEntry(auth.HashToken(configured))} {
		set, err := Union(dir, []string{entry})
		if err != nil || len(set.IDs()) != 1 {
			t.Fatalf("configured %q and in the file: %v, %v; want one token", entry, set.IDs(), err)
		}
	}
}

// TestWatchReloads: a running watcher swaps in the tokens of a changed
// file, and keeps the tokens in use when the file turns unreadable.
func TestWatchReloads(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	ptr := loadedTokens(t, dir)
	logs := &lockedbuf.Buffer{}
	watch(t, dir, ptr, 5*time.Millisecond, zerolog.New(logs))
	token := addToken(t, dir)
	// Whether the watcher started before the write or after it.
	poll.Until(t, "the watcher to accept the new token", func() bool {
		_, ok := ptr.Load().Match([]byte(token))
		return ok
	})
	if err := os.WriteFile(Path(dir), []byte("{oops"), 0o600); err != nil {
		t.Fatal(err)
	}
	poll.Until(t, "the watcher to find the token file unusable", func() bool {
		return strings.Contains(logs.String(), "keeping the tokens in use")
	})
	if _, ok := ptr.Load().Match([]byte(token)); !ok {
		t.Fatal("an unreadable token file replaced the tokens in use")
	}
}

// TestWatchTakesAChangeBeforeItStarted: a token added after the server
// loaded its tokens but before its watcher started is accepted at once,
// not only after the next change of the file.
func TestWatchTakesAChangeBeforeItStarted(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	ptr := loadedTokens(t, dir)
	token := addToken(t, dir)
	watch(t, dir, ptr, time.Hour, zerolog.Nop())
	poll.Until(t, "the watcher to accept the token written before it started", func() bool {
		_, ok := ptr.Load().Match([]byte(token))
		return ok
	})
}

// loadedTokens returns the tokens a server starting on dir loads.
func loadedTokens(t *testing.T, dir string) *atomic.Pointer[auth.TokenSet] {
	t.Helper()
	set, err := Union(dir, []string{configured})
	if err != nil {
		t.Fatal(err)
	}
	ptr := new(atomic.Pointer[auth.TokenSet])
	ptr.Store(set)
	return ptr
}

// watch runs Watch on dir until the test ends.
func watch(t *testing.T, dir string, ptr *atomic.Pointer[auth.TokenSet], interval time.Duration, log zerolog.Logger) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { Watch(ctx, dir, []string{configured}, ptr, interval, log); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
}

// addToken adds a new token to dir's token file and returns it.
func addToken(t *testing.T, dir string) string {
	t.Helper()
	f, err := Read(Path(dir))
	if err != nil {
		t.Fatal(err)
	}
	token, _, err := f.Add("", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if err := Write(Path(dir), f); err != nil {
		t.Fatal(err)
	}
	return token
}
