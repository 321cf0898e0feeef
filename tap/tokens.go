package tap

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"

	"github.com/cio-singer/tap-customerio-webhook/tap/auth"
	"github.com/cio-singer/tap-customerio-webhook/tap/spool"
)

// TokenFileName is the token file `token new|list|revoke` manage, in
// spool_dir. It holds only SHA-256 hashes of tokens, never the tokens.
const TokenFileName = "tokens.json"

// tokenRandomBytes is the entropy of a generated token: 32 bytes are 43
// URL-safe characters, above auth.MinTokenLength.
const tokenRandomBytes = 32

// fileToken is one entry of the token file.
type fileToken struct {
	ID      string    `json:"id"`     // the token id the logs and the spool show
	Hash    string    `json:"sha256"` // hex SHA-256 of the token
	Created time.Time `json:"created"`
	Label   string    `json:"label,omitempty"`
}

type tokenFile struct {
	Tokens []fileToken `json:"tokens"`
}

func tokenFilePath(spoolDir string) string { return filepath.Join(spoolDir, TokenFileName) }

// readTokenFile reads the token file; a missing file holds no tokens.
func readTokenFile(path string) (tokenFile, error) {
	raw, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return tokenFile{}, nil
	}
	if err != nil {
		return tokenFile{}, fmt.Errorf("reading token file: %w", err)
	}
	var tf tokenFile
	if err := json.Unmarshal(raw, &tf); err != nil {
		return tokenFile{}, fmt.Errorf("token file %s: not a token file: %w", path, err)
	}
	for i, t := range tf.Tokens {
		if b, err := hex.DecodeString(t.Hash); err != nil || len(b) != sha256.Size {
			return tokenFile{}, fmt.Errorf("token file %s: entry %d: sha256 is not 64 hex digits", path, i)
		}
	}
	return tf, nil
}

// writeTokenFile replaces the token file atomically (temporary file,
// fsync, rename), readable by its owner only.
func writeTokenFile(path string, tf tokenFile) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o750); err != nil {
		return fmt.Errorf("creating spool directory: %w", err)
	}
	raw, err := json.MarshalIndent(tf, "", "  ")
	if err != nil {
		return err
	}
	tmp := path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return fmt.Errorf("writing token file: %w", err)
	}
	_, err = f.Write(append(raw, '\n'))
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
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

// lockTokenFile serialises token commands on one spool_dir, so two
// `token new` at once both land in the file. The lock is held for a
// moment; a busy one is waited for up to a few seconds.
func lockTokenFile(path string) (unlock func(), err error) {
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
		time.Sleep(20 * time.Millisecond)
	}
}

// newToken returns a random URL-safe token.
func newToken() (string, error) {
	var raw [tokenRandomBytes]byte
	if _, err := rand.Read(raw[:]); err != nil {
		return "", fmt.Errorf("generating token: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(raw[:]), nil
}

// hashedEntry is the webhook_tokens form ("sha256:<hex>") of a token hash.
func hashedEntry(hexHash string) string { return "sha256:" + strings.ToLower(hexHash) }

// normalizeEntry returns the sha256:<hex> form of a webhook_tokens entry,
// so a token both configured and in the file counts once.
func normalizeEntry(entry string) string {
	if rest, ok := strings.CutPrefix(entry, "sha256:"); ok {
		return hashedEntry(rest)
	}
	sum := sha256.Sum256([]byte(entry))
	return hashedEntry(hex.EncodeToString(sum[:]))
}

// loadTokenSet is the union of the configured webhook_tokens and the token
// file. It returns a nil set (matching nothing) when there is no token.
func loadTokenSet(cfg Config) (*auth.TokenSet, error) {
	tf, err := readTokenFile(tokenFilePath(cfg.SpoolDir))
	if err != nil {
		return nil, err
	}
	entries := append([]string(nil), cfg.WebhookTokens...)
	seen := map[string]bool{}
	for _, e := range cfg.WebhookTokens {
		seen[normalizeEntry(e)] = true
	}
	for _, t := range tf.Tokens {
		if e := hashedEntry(t.Hash); !seen[e] {
			seen[e] = true
			entries = append(entries, e)
		}
	}
	if len(entries) == 0 {
		return nil, nil
	}
	return auth.ParseTokens(entries)
}

// checkTokens is the start-up rule for a process that runs the server:
// webhook_tokens may be empty when the token file holds a token, but some
// token must exist. Its error names the key (exit 2).
func checkTokens(cfg Config) (*auth.TokenSet, error) {
	set, err := loadTokenSet(cfg)
	if err != nil {
		return nil, &ConfigError{Key: "webhook_tokens", Err: err}
	}
	if len(set.IDs()) == 0 {
		return nil, &ConfigError{Key: "webhook_tokens", Err: fmt.Errorf("required: configure at least one token, or create one with `%s token new --config ...`", Name)}
	}
	return set, nil
}

// watchTokens polls the token file every interval and, when it changed
// (mtime, size or inode), stores the new union of tokens in ptr, so a
// running server accepts a new token and refuses a revoked one without a
// restart. A file that cannot be read keeps the tokens in use.
func watchTokens(ctx context.Context, cfg Config, ptr *atomic.Pointer[auth.TokenSet], interval time.Duration, log zerolog.Logger) {
	path := tokenFilePath(cfg.SpoolDir)
	last, _ := os.Stat(path)
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
		set, err := loadTokenSet(cfg)
		if err != nil {
			log.Error().Err(err).Msg("token file changed but cannot be used: keeping the tokens in use")
			continue
		}
		last = cur
		ptr.Store(set)
		if len(set.IDs()) == 0 {
			log.Warn().Msg("no webhook token left: every webhook gets 404")
		}
		log.Info().Strs("token_ids", set.IDs()).Msg("webhook tokens reloaded")
	}
}

func sameFileVersion(a, b fs.FileInfo) bool {
	if a == nil || b == nil {
		return a == nil && b == nil
	}
	return os.SameFile(a, b) && a.ModTime().Equal(b.ModTime()) && a.Size() == b.Size()
}

// webhookURL is the URL Customer.io posts to for token, under base (an
// http(s) URL) or, without one, on the listen address.
func webhookURL(base, listen, token string) string {
	if base == "" {
		base = "http://" + hostPort(listen)
	}
	return strings.TrimRight(base, "/") + "/webhook/" + token
}
