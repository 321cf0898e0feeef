package loadgen

import (
	"bytes"
	"encoding/json"
	"regexp"
	"strconv"
	"testing"
	"time"

	"github.com/cio-singer/tap-customerio-webhook/tap/auth"
)

// unquoteLua decodes the string literals luaString writes: \" \\ and \ddd.
func unquoteLua(t *testing.T, lit string) []byte {
	t.Helper()
	if len(lit) < 2 || lit[0] != '"' || lit[len(lit)-1] != '"' {
		t.Fatalf("not a quoted literal: %.40q", lit)
	}
	var out []byte
	s := lit[1 : len(lit)-1]
	for i := 0; i < len(s); i++ {
		if s[i] != '\\' {
			out = append(out, s[i])
			continue
		}
		i++
		if s[i] == '"' || s[i] == '\\' {
			out = append(out, s[i])
			continue
		}
		n, err := strconv.Atoi(s[i : i+3])
		if err != nil {
			t.Fatalf("bad escape at %d: %v", i, err)
		}
		out = append(out, byte(n))
		i += 2
	}
	return out
}

func TestLuaString_RoundTrip(t *testing.T) {
	t.Parallel()
	in := []byte("plain \"quoted\" back\\slash \x00 \n \xff é")
	if got := unquoteLua(t, luaString(in)); !bytes.Equal(got, in) {
		t.Fatalf("round trip: got %q, want %q", got, in)
	}
}

// TestWriteWrkScript_SignedDistinctEvents reads the requests back out of the
// script: each body is a distinct event whose signature verifies.
func TestWriteWrkScript_SignedDistinctEvents(t *testing.T) {
	t.Parallel()
	now := time.Unix(1_790_000_000, 0)
	var buf bytes.Buffer
	err := WriteWrkScript(&buf, WrkConfig{Path: "/webhook/tok", Requests: 50, BodyBytes: 900, SigningKey: testKey, Now: now, Seed: 7})
	if err != nil {
		t.Fatal(err)
	}
	line := regexp.MustCompile(`(?m)^reqs\[\d+\] = \{headers = \{.*\["X-CIO-Timestamp"\]=("\d+"), \["X-CIO-Signature"\]=("[0-9a-f]+")\}, body = (".*")\}$`)
	matches := line.FindAllStringSubmatch(buf.String(), -1)
	if len(matches) != 50 {
		t.Fatalf("got %d request lines, want 50", len(matches))
	}
	v := auth.NewVerifier([]string{testKey}, 0, time.Now)
	ids := map[string]bool{}
	for _, m := range matches {
		ts, sig, body := unquoteLua(t, m[1]), unquoteLua(t, m[2]), unquoteLua(t, m[3])
		if err := v.Verify(ts, sig, body); err != nil {
			t.Fatalf("signature of %s: %v", body, err)
		}
		var ev struct {
			EventID string `json:"event_id"`
		}
		if err := json.Unmarshal(body, &ev); err != nil || ev.EventID == "" {
			t.Fatalf("body is not an event (%v): %s", err, body)
		}
		if ids[ev.EventID] {
			t.Fatalf("event_id %s repeats", ev.EventID)
		}
		ids[ev.EventID] = true
		if len(body) < 900 {
			t.Fatalf("body of %d bytes, want about 900", len(body))
		}
	}
	if !bytes.Contains(buf.Bytes(), []byte(`local path = "/webhook/tok"`)) {
		t.Fatal("script does not carry the path")
	}
}

func TestWriteWrkScript_RefusesBadConfig(t *testing.T) {
	t.Parallel()
	for _, cfg := range []WrkConfig{{Path: "/webhook/x"}, {Path: "webhook/x", Requests: 1}} {
		if err := WriteWrkScript(&bytes.Buffer{}, cfg); err == nil {
			t.Errorf("%+v: want an error", cfg)
		}
	}
}
