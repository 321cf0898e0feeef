package tap

import (
	"fmt"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cio-singer/tap-customerio-webhook/internal/poll"
	"github.com/cio-singer/tap-customerio-webhook/tap/tokenfile"
)

// TestRunReloadsTokenFile: a running server accepts a token added to the
// token file and refuses it once removed, without a restart; config
// tokens keep working throughout.
func TestRunReloadsTokenFile(t *testing.T) {
	t.Parallel()
	cfg := testConfig(t, filepath.Join(t.TempDir(), "spool"))
	rt := startTap(t, cfg, Bookmark{}, nil)
	waitReady(t, rt.base)

	path := tokenfile.Path(cfg.SpoolDir)
	var f tokenfile.File
	token, id, err := f.Add("reload test", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if err := tokenfile.Write(path, f); err != nil {
		t.Fatal(err)
	}
	url := rt.base + "/webhook/" + token
	waitStatus(t, url, http.StatusOK)
	f.Remove(id)
	if err := tokenfile.Write(path, f); err != nil {
		t.Fatal(err)
	}
	waitStatus(t, url, http.StatusNotFound)
	if code := post(t, rt.url, sentEvent("cfg")); code != http.StatusOK {
		t.Fatalf("configured token: %d", code)
	}
	rt.stop(t)
}

// waitStatus posts a valid event to url until it answers want.
func waitStatus(t *testing.T, url string, want int) {
	t.Helper()
	last := 0
	poll.Until(t, fmt.Sprintf("POST %s to answer %d", strings.SplitN(url, "/webhook/", 2)[0], want), func() bool {
		resp, err := http.Post(url, "application/json", strings.NewReader(sentEvent("x")))
		if err == nil {
			resp.Body.Close()
			last = resp.StatusCode
		}
		return last == want
	})
}
