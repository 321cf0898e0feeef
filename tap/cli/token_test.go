package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/cio-singer/tap-customerio-webhook/tap/tokenfile"
)

// writeConfig writes a tap config file with spool_dir in dir and extra
// keys, and returns its path.
func writeConfig(t *testing.T, dir string, extra map[string]any) string {
	t.Helper()
	cfg := map[string]any{"spool_dir": filepath.Join(dir, "spool"), "listen": "127.0.0.1:8080"}
	for k, v := range extra {
		cfg[k] = v
	}
	raw, _ := json.Marshal(cfg)
	path := filepath.Join(dir, "tap.json")
	if err := os.WriteFile(path, raw, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func runMain(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code = Main(context.Background(), args, &out, &errOut)
	return code, out.String(), errOut.String()
}

var urlToken = regexp.MustCompile(`/webhook/([A-Za-z0-9_-]+)\n`)

// newFileToken runs `token new` and returns the token and its id.
func newFileToken(t *testing.T, config string, args ...string) (token, id string) {
	t.Helper()
	code, out, errOut := runMain(t, append([]string{"token", "new", "--config", config}, args...)...)
	if code != 0 {
		t.Fatalf("token new: exit %d: %s", code, errOut)
	}
	m := urlToken.FindStringSubmatch(out)
	idm := regexp.MustCompile(`token id: +(\S+)`).FindStringSubmatch(out)
	if m == nil || idm == nil {
		t.Fatalf("token new printed no URL and id:\n%s", out)
	}
	return m[1], idm[1]
}

func TestTokenCommands(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	config := writeConfig(t, dir, nil)

	code, out, errOut := runMain(t, "token", "new", "--config", config, "--label", "customer.io prod", "--public-url", "https://hooks.example.com/")
	if code != 0 {
		t.Fatalf("token new: exit %d: %s", code, errOut)
	}
	m := regexp.MustCompile(`https://hooks\.example\.com/webhook/([A-Za-z0-9_-]+)\n`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("token new did not print the public URL:\n%s", out)
	}
	token := m[1]
	if len(token) < 43 {
		t.Fatalf("token has %d characters; want 43+ (32 random bytes)", len(token))
	}
	id := regexp.MustCompile(`token id: +(\S+)`).FindStringSubmatch(out)[1]

	path := filepath.Join(dir, "spool", tokenfile.Name)
	info, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if info.Mode().Perm() != 0o600 {
		t.Errorf("token file mode %v; want 0600", info.Mode().Perm())
	}
	raw, _ := os.ReadFile(path)
	if bytes.Contains(raw, []byte(token)) {
		t.Fatal("token file holds the token itself; want only its hash")
	}
	if !bytes.Contains(raw, []byte("customer.io prod")) || !bytes.Contains(raw, []byte(id)) {
		t.Fatalf("token file lacks id or label:\n%s", raw)
	}

	token2, id2 := newFileToken(t, config)
	if token2 == token || id2 == id {
		t.Fatal("two token new runs gave the same token")
	}
	if !strings.Contains(out, "webhook URL") {
		t.Fatalf("no webhook URL line:\n%s", out)
	}

	code, out, _ = runMain(t, "token", "list", "--config", config)
	if code != 0 || !strings.Contains(out, id) || !strings.Contains(out, id2) || !strings.Contains(out, "customer.io prod") {
		t.Fatalf("token list: exit %d:\n%s", code, out)
	}
	if strings.Contains(out, token) || strings.Contains(out, token2) {
		t.Fatal("token list shows a secret")
	}

	if code, out, _ = runMain(t, "token", "revoke", id, "--config", config); code != 0 || !strings.Contains(out, id) {
		t.Fatalf("token revoke: exit %d: %s", code, out)
	}
	if code, _, errOut = runMain(t, "token", "revoke", "--config", config, id); code != 1 || !strings.Contains(errOut, "no token") {
		t.Fatalf("revoking twice: exit %d %q; want 1 and no token", code, errOut)
	}
	_, out, _ = runMain(t, "token", "list", "--config", config)
	if strings.Contains(out, id) || !strings.Contains(out, id2) {
		t.Fatalf("after revoke, list:\n%s", out)
	}

	for _, args := range [][]string{
		{"token"}, {"token", "frob", "--config", config}, {"token", "revoke", "--config", config},
		{"token", "list"}, {"token", "new", "--config", config, "--public-url", "hooks.example.com"},
	} {
		if code, _, _ := runMain(t, args...); code != 2 {
			t.Errorf("%v: exit %d; want 2", args, code)
		}
	}
}

// TestTokenNewConcurrent: token commands run at once all land in the file.
func TestTokenNewConcurrent(t *testing.T) {
	t.Parallel()
	config := writeConfig(t, t.TempDir(), nil)
	const n = 4
	ids := make(chan string, n)
	for range n {
		go func() {
			var out, errOut bytes.Buffer
			if code := Main(context.Background(), []string{"token", "new", "--config", config}, &out, &errOut); code != 0 {
				t.Errorf("token new: %d %s", code, errOut.String())
			}
			m := regexp.MustCompile(`token id: +(\S+)`).FindStringSubmatch(out.String())
			if m == nil {
				ids <- ""
				return
			}
			ids <- m[1]
		}()
	}
	_, list, _ := runMainAfter(t, ids, n, "token", "list", "--config", config)
	for _, id := range list {
		if id == "" {
			t.Fatal("a token new printed no id")
		}
	}
}

// runMainAfter collects n ids from ids, then runs Main with args and
// checks its output lists every id.
func runMainAfter(t *testing.T, ids chan string, n int, args ...string) (int, []string, string) {
	t.Helper()
	var got []string
	for range n {
		got = append(got, <-ids)
	}
	code, out, _ := runMain(t, args...)
	for _, id := range got {
		if id != "" && !strings.Contains(out, id) {
			t.Errorf("token %s missing from list:\n%s", id, out)
		}
	}
	return code, got, out
}

func TestTokenNewPrintsListenURL(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	config := writeConfig(t, dir, map[string]any{"listen": "0.0.0.0:9999"})
	_, out, _ := runMain(t, "token", "new", "--config", config)
	if !strings.Contains(out, "http://127.0.0.1:9999/webhook/") {
		t.Fatalf("want the listen address in the URL:\n%s", out)
	}
}

// TestMainNeedsSomeToken: webhook_tokens may be empty when the token file
// holds a token; with neither, a server refuses to start (exit 2, the key
// named), while "listen": "" needs no token.
func TestMainNeedsSomeToken(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	config := writeConfig(t, dir, map[string]any{"listen": "127.0.0.1:0", "exit_after_idle": "10ms"})
	for _, args := range [][]string{{"--config", config}, {"serve", "--config", config}} {
		code, _, errOut := runMain(t, args...)
		if code != 2 || !strings.Contains(errOut, "webhook_tokens: required") {
			t.Fatalf("%v without any token: exit %d %q; want 2 naming webhook_tokens", args, code, errOut)
		}
	}
	if code, _, errOut := runMain(t, "serve", "--config", writeConfig(t, t.TempDir(), map[string]any{"listen": ""})); code != 2 || !strings.Contains(errOut, "listen:") {
		t.Fatalf(`serve with "listen": "": exit %d %q; want 2 naming listen`, code, errOut)
	}
	for _, cmd := range []string{"serve", "status"} {
		if code, _, errOut := runMain(t, cmd); code != 2 || !strings.Contains(errOut, "--config is required") {
			t.Fatalf("%s without --config: exit %d %q", cmd, code, errOut)
		}
	}
	emitOnly := writeConfig(t, t.TempDir(), map[string]any{"listen": ""})
	if code, _, errOut := runMain(t, "--config", emitOnly); code != 0 {
		t.Fatalf(`"listen": "" without tokens: exit %d: %s`, code, errOut)
	}
	newFileToken(t, config)
	if code, _, errOut := runMain(t, "--config", config); code != 0 {
		t.Fatalf("with a token in the file: exit %d: %s", code, errOut)
	}
}
