// Package tokenfile is the token file in spool_dir: the webhook tokens
// that `token new` made, kept as SHA-256 hashes (never the tokens), which a
// running server reads together with the configured webhook_tokens and
// reloads when the file changes.
package tokenfile

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"

	"github.com/cio-singer/tap-customerio-webhook/tap/auth"
	"github.com/cio-singer/tap-customerio-webhook/tap/spool"
)

// Name is the token file's name in spool_dir. It holds only SHA-256 hashes
// of tokens, never the tokens.
const Name = "tokens.json"

// tokenRandomBytes is the entropy of a generated token: 32 bytes are 43
// URL-safe characters, above auth.MinTokenLength.
const tokenRandomBytes = 32

// Token is one entry of the token file.
type Token struct {
	ID      string    `json:"id"`     // the token id the logs and the spool show
	Hash    string    `json:"sha256"` // hex SHA-256 of the token
	Created time.Time `json:"created"`
	Label   string    `json:"label,omitempty"`
}

// File is the token file's content.
type File struct {
	Tokens []Token `json:"tokens"`
}

// Path is where the token file of spoolDir is.
func Path(spoolDir string) string { return filepath.Join(spoolDir, Name) }

// Read reads the token file; a missing file holds no tokens.
func Read(path string) (File, error) {
	raw, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return File{}, nil
	}
	if err != nil {
		return File{}, fmt.Errorf("reading token file: %w", err)
	}
	var f File
	if err := json.Unmarshal(raw, &f); err != nil {
		return File{}, fmt.Errorf("token file %s: not a token file: %w", path, err)
	}
	for i, t := range f.Tokens {
		if !auth.ValidHash(t.Hash) {
			return File{}, fmt.Errorf("token file %s: entry %d: sha256 is not 64 hex digits", path, i)
		}
	}
	return f, nil
}

// Write replaces the token file atomically (temporary file, fsync,
// rename), readable by its owner only.
func Write(path string, f File) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o750); err != nil {
		return fmt.Errorf("creating spool directory: %w", err)
	}
	raw, err := json.MarshalIndent(f, "", "  ")
	if err != nil {
		return err
	}
	tmp := path + ".tmp"
	out, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return fmt.Errorf("writing token file: %w", err)
	}
	_, err = out.Write(append(raw, '\n'))
	if err == nil {
		err = out.Sync()
	}
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		_ = os.Remove(tmp)
		return fmt.Errorf("writing token file: %w", err)
	}
	return nil
}

// Lock serialises changes to the token file at path, so two `token new`
// at once both land in the file. The lock is held for a moment; a busy
// one is waited for up to a few seconds.
func Lock(path string) (unlock func(), err error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o750); err != nil {
		return nil, fmt.Errorf("creating spool directory: %w", err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		lock, err := spool.OSFS{}.Lock(path + ".lock")
		if err == nil {
			return func() { _ = lock.Close() }, nil
		}
		if !errors.Is(err, spool.ErrLocked) || time.Now().After(deadline) {
			return nil, fmt.Errorf("locking token file: %w", err)
		}
		time.Sleep(20 * time.Millisecond) // the other holder keeps it for a moment
	}
}

// Add makes a new random token, adds its hash to f and returns the token
// (shown once, kept nowhere) and its id.
func (f *File) Add(label string, created time.Time) (token, id string, err error) {
	var raw [tokenRandomBytes]byte
	if _, err := rand.Read(raw[:]); err != nil {
		return "", "", fmt.Errorf("generating token: %w", err)
	}
	token = base64.RawURLEncoding.EncodeToString(raw[:])
	hash := auth.HashToken(token)
	set, err := auth.ParseTokens([]string{auth.HashedEntry(hash)})
	if err != nil {
		return "", "", err
	}
	id = set.IDs()[0]
	f.Tokens = append(f.Tokens, Token{ID: id, Hash: hash, Created: created.UTC().Truncate(time.Second), Label: label})
	return token, id, nil
}

// Remove drops the token with id from f and reports whether there was one.
func (f *File) Remove(id string) bool {
	kept := f.Tokens[:0:0]
	for _, t := range f.Tokens {
		if t.ID != id {
			kept = append(kept, t)
		}
	}
	removed := len(kept) < len(f.Tokens)
	f.Tokens = kept
	return removed
}

// Union is the set of the configured webhook_tokens and the tokens in the
// token file of spoolDir, each token once. It is nil (matching nothing)
// when there is no token.
func Union(spoolDir string, configured []string) (*auth.TokenSet, error) {
	f, err := Read(Path(spoolDir))
	if err != nil {
		return nil, err
	}
	entries := append([]string(nil), configured...)
	seen := map[string]bool{}
	for _, e := range configured {
		seen[auth.CanonicalEntry(e)] = true
	}
	for _, t := range f.Tokens {
		if e := auth.HashedEntry(t.Hash); !seen[e] {
			seen[e] = true
			entries = append(entries, e)
		}
	}
	if len(entries) == 0 {
		return nil, nil
	}
	return auth.ParseTokens(entries)
}

// Watch checks the token file of spoolDir every interval until ctx ends
// and, when it changed (mtime, size or inode), stores the new Union in
// ptr, so a running server accepts a new token and refuses a revoked one
// without a restart. A file that cannot be read keeps the tokens in use.
// A change made between loading ptr's tokens and Watch starting is taken
// at once.
func Watch(ctx context.Context, spoolDir string, configured []string, ptr *atomic.Pointer[auth.TokenSet], interval time.Duration, log zerolog.Logger) {
	path := Path(spoolDir)
	last, _ := os.Stat(path)
	if set, err := Union(spoolDir, configured); err == nil && !sameIDs(set, ptr.Load()) {
		store(ptr, set, log)
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		cur, err := os.Stat(path)
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			log.Warn().Err(err).Msg("checking token file")
			continue
		}
		if sameFileVersion(last, cur) {
			continue
		}
		set, err := Union(spoolDir, configured)
		if err != nil {
			log.Error().Err(err).Msg("token file changed but cannot be used: keeping the tokens in use")
			continue
		}
		last = cur
		store(ptr, set, log)
	}
}

func store(ptr *atomic.Pointer[auth.TokenSet], set *auth.TokenSet, log zerolog.Logger) {
	ptr.Store(set)
	if len(set.IDs()) == 0 {
		log.Warn().Msg("no webhook token left: every webhook gets 404")
	}
	log.Info().Strs("token_ids", set.IDs()).Msg("webhook tokens reloaded")
}

func sameIDs(a, b *auth.TokenSet) bool { return slices.Equal(a.IDs(), b.IDs()) }

func sameFileVersion(a, b fs.FileInfo) bool {
	if a == nil || b == nil {
		return a == nil && b == nil
	}
	return os.SameFile(a, b) && a.ModTime().Equal(b.ModTime()) && a.Size() == b.Size()
}
