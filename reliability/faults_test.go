package reliability_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"github.com/valyala/fasthttp"
	"github.com/valyala/fasthttp/fasthttputil"

	"github.com/cio-singer/tap-customerio-webhook/tap/auth"
	"github.com/cio-singer/tap-customerio-webhook/tap/receiver"
	"github.com/cio-singer/tap-customerio-webhook/tap/spool"
	"github.com/cio-singer/tap-customerio-webhook/tap/spool/spooltest"
)

const memDir = "/spool"

// memReceiver is the real receiver handler over the real spool on a
// fault-injecting in-memory file system, served on an in-memory listener.
type memReceiver struct {
	fs     *spooltest.MemFS
	sp     *spool.Spool
	client *fasthttp.Client
	url    string
}

func newMemReceiver(t *testing.T, fsys *spooltest.MemFS, opts spool.Options) *memReceiver {
	t.Helper()
	opts.Dir, opts.FS, opts.Log = memDir, fsys, zerolog.New(zerolog.NewTestWriter(t)).Level(zerolog.WarnLevel)
	sp, err := spool.Open(opts)
	if err != nil {
		t.Fatal(err)
	}
	tokens, err := auth.ParseTokens([]string{testToken})
	if err != nil {
		t.Fatal(err)
	}
	var tp atomic.Pointer[auth.TokenSet]
	tp.Store(tokens)
	srv, err := receiver.New(receiver.Config{
		Tokens: &tp, Verifier: auth.NewVerifier(nil, 0, time.Now), Appender: sp,
		Log: zerolog.New(zerolog.NewTestWriter(t)).Level(zerolog.Disabled),
	})
	if err != nil {
		t.Fatal(err)
	}
	ln := fasthttputil.NewInmemoryListener()
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
		<-served
		_ = sp.Close()
	})
	return &memReceiver{
		fs: fsys, sp: sp, url: "http://spool.test/webhook/" + testToken,
		client: &fasthttp.Client{Dial: func(string) (net.Conn, error) { return ln.Dial() }, MaxConnsPerHost: 64},
	}
}

// post sends one event and returns the status and the Retry-After header.
func (m *memReceiver) post(t *testing.T, id string, pad int) (int, string) {
	t.Helper()
	req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
	defer fasthttp.ReleaseRequest(req)
	defer fasthttp.ReleaseResponse(resp)
	req.Header.SetMethod(fasthttp.MethodPost)
	req.SetRequestURI(m.url)
	req.SetBodyString(fmt.Sprintf(`{"event_id":%q,"object_type":"email","metric":"sent","timestamp":1700000000,"data":{"pad":%q}}`, id, strings.Repeat("x", pad)))
	if err := m.client.DoTimeout(req, resp, 30*time.Second); err != nil {
		t.Errorf("POST %s: %v", id, err)
		return 0, ""
	}
	return resp.StatusCode(), string(resp.Header.Peek("Retry-After"))
}

// spooledIDs reopens the spool found on fsys (after a power cut) and
// returns the event_id of every record, failing on corruption.
func spooledIDs(t *testing.T, fsys *spooltest.MemFS, opts spool.Options) []string {
	t.Helper()
	opts.Dir, opts.FS = memDir, fsys
	sp, err := spool.Open(opts)
	if err != nil {
		t.Fatalf("reopening the spool after the power cut: %v", err)
	}
	defer sp.Close()
	return readIDs(t, sp, 0)
}

func readIDs(t *testing.T, sp *spool.Spool, after uint64) []string {
	t.Helper()
	r, err := sp.NewReader(after)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	var ids []string
	for {
		rec, ok, err := r.TryNext()
		if err != nil {
			t.Fatalf("reading the spool: %v", err)
		}
		if !ok {
			return ids
		}
		body := string(rec.Body)
		i := strings.Index(body, `"event_id":"`)
		if i < 0 {
			t.Fatalf("spooled record %d is not one of ours", rec.Offset)
		}
		body = body[i+len(`"event_id":"`):]
		ids = append(ids, body[:strings.IndexByte(body, '"')])
	}
}

// checkStatus accepts only the statuses of DESIGN §2 for an authenticated
// webhook: 200, or 503 with Retry-After.
func checkStatus(t *testing.T, code int, retryAfter string) {
	t.Helper()
	switch {
	case code == 200:
	case code == 503 && retryAfter != "":
	default:
		t.Errorf("status %d (Retry-After %q): want 200, or 503 with Retry-After", code, retryAfter)
	}
}

// TestLostWrites drives the real receiver handler over a spool whose disk
// fails: random failed and short writes, failed fsyncs, then a power cut
// that drops everything not fsynced. Every webhook answered 200 must be in
// the spool after the reboot, exactly once.
func TestLostWrites(t *testing.T) {
	seeds := pick(4, 40)
	var acks, refused, syncs int
	for seed := range seeds {
		t.Run(fmt.Sprint("seed=", seed), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(uint64(seed), 42))
			fsys := spooltest.New()
			opts := spool.Options{SegmentBytes: 4 << 10}
			m := newMemReceiver(t, fsys, opts)
			faultRng := rand.New(rand.NewPCG(uint64(seed), 7)) // called under the FS lock
			fsys.SetFault(func(op, name string) error {
				if faultRng.IntN(100) < 5 {
					return spooltest.ErrInjected
				}
				return nil
			})

			const senders, each = 16, 30
			var mu sync.Mutex
			var acked []string
			cutAt := 1 + rng.IntN(senders*each/3)
			cut := make(chan []string, 1)
			var wg sync.WaitGroup
			for s := range senders {
				wg.Go(func() {
					for i := range each {
						id := fmt.Sprintf("s%d-%d-%d", seed, s, i)
						code, ra := m.post(t, id, padFor(s, i))
						checkStatus(t, code, ra)
						mu.Lock()
						if code == 200 {
							acked = append(acked, id)
							if len(acked) == cutAt {
								cut <- append([]string(nil), acked...)
							}
						} else {
							refused++
						}
						mu.Unlock()
					}
				})
			}
			var before []string
			var after *spooltest.MemFS
			select {
			case before = <-cut:
				after = fsys.Crash(rng) // every id in before was answered 200 before this instant
			case <-time.After(2 * time.Minute):
				t.Fatal("senders never reached the power cut")
			}
			wg.Wait()
			mu.Lock()
			acks += len(acked)
			mu.Unlock()
			syncs += fsys.Syncs()

			got := spooledIDs(t, after, opts)
			count := map[string]int{}
			for _, id := range got {
				count[id]++
			}
			for _, id := range before {
				if count[id] != 1 {
					t.Errorf("acknowledged %s found %d times after the power cut, want 1", id, count[id])
				}
			}
			// The spool still holds every acknowledged id of the running process, once.
			live := map[string]int{}
			for _, id := range readIDs(t, m.sp, 0) {
				live[id]++
			}
			for _, id := range acked {
				if live[id] != 1 {
					t.Errorf("acknowledged %s found %d times in the live spool, want 1", id, live[id])
				}
			}
		})
	}
	figure(t, "acknowledged", acks)
	figure(t, "refused_503", refused)
	figure(t, "fsyncs", syncs)
}

// padFor varies body sizes so batches straddle segment ends.
func padFor(a, b int) int { return (a*131 + b*31) % 2000 }

// TestFailedFsyncAnswers503 checks each disk fault on the append path
// answers 503 with Retry-After through the real handler, never 200, and
// that the spool recovers by itself once the disk does. A failed segment
// creation may still be answered 200 when the spool rotates into a segment
// it preallocated earlier: then the record must be durable.
func TestFailedFsyncAnswers503(t *testing.T) {
	for _, tc := range []struct {
		name, op string
		may200   bool // the fault is not on the append path of every request
	}{
		{"fsync fails", "sync", false},
		{"short write", "write", false},
		{"directory fsync fails on rotation", "syncdir", false},
		{"segment creation fails on rotation", "create", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fsys := spooltest.New()
			opts := spool.Options{SegmentBytes: 256} // every batch rotates
			m := newMemReceiver(t, fsys, opts)
			if code, _ := m.post(t, "before", 300); code != 200 {
				t.Fatalf("healthy disk answered %d", code)
			}
			fsys.SetFault(func(op, _ string) error {
				if op == tc.op {
					return spooltest.ErrInjected
				}
				return nil
			})
			want := []string{"before"}
			refused := 0
			for i := range 3 {
				id := fmt.Sprint("during-", i)
				code, ra := m.post(t, id, 300)
				switch {
				case code == 503 && ra != "":
					refused++
				case code == 200 && tc.may200:
					want = append(want, id)
				default:
					t.Fatalf("failing %s answered %d (Retry-After %q), want 503 with Retry-After", tc.op, code, ra)
				}
			}
			if refused == 0 {
				t.Fatalf("failing %s never answered 503", tc.op)
			}
			fsys.SetFault(nil)
			if code, _ := m.post(t, "after", 300); code != 200 {
				t.Fatalf("after the disk recovered: %d, want 200 without a restart", code)
			}
			want = append(want, "after")
			got := strings.Join(spooledIDs(t, fsys.Crash(rand.New(rand.NewPCG(1, 1))), opts), ",")
			if got != strings.Join(want, ",") {
				t.Fatalf("after a power cut the spool holds %q, want %q", got, strings.Join(want, ","))
			}
		})
	}
}

// TestDiskFull fills the spool up to spool_max_bytes and a disk up to its
// capacity: new webhooks get 503 with Retry-After, the acknowledged ones
// stay, and acknowledgements resume by themselves once space is freed.
func TestDiskFull(t *testing.T) {
	t.Run("spool_max_bytes", func(t *testing.T) {
		fsys := spooltest.New()
		opts := spool.Options{SegmentBytes: 8 << 10, MaxBytes: 64 << 10}
		m := newMemReceiver(t, fsys, opts)
		acked := fillUntil503(t, m, "a")
		// Free space as a restarted tap does with the target's state: release
		// every record acknowledged so far (the current segment stays).
		if err := m.sp.ReleaseThrough(m.sp.Durable()); err != nil {
			t.Fatal(err)
		}
		code, _ := m.post(t, "resumed", 500)
		if code != 200 {
			t.Fatalf("after releasing segments: %d, want 200", code)
		}
		ids := readIDs(t, m.sp, 0)
		if len(ids) == 0 || ids[len(ids)-1] != "resumed" {
			t.Fatalf("spool ends with %v, want resumed", ids[max(0, len(ids)-1):])
		}
		figure(t, "acknowledged_before_full", len(acked))
	})
	t.Run("ENOSPC", func(t *testing.T) {
		fsys := spooltest.New()
		fsys.SetCapacity(48 << 10)
		opts := spool.Options{SegmentBytes: 16 << 10}
		m := newMemReceiver(t, fsys, opts)
		acked := fillUntil503(t, m, "e")
		fsys.SetCapacity(0) // space freed
		if code, _ := m.post(t, "resumed", 500); code != 200 {
			t.Fatalf("after space was freed: %d, want 200 without a restart", code)
		}
		acked = append(acked, "resumed")
		got := spooledIDs(t, fsys.Crash(rand.New(rand.NewPCG(2, 2))), opts)
		if strings.Join(got, ",") != strings.Join(acked, ",") {
			t.Fatalf("after a power cut the spool holds %d ids, want exactly the %d acknowledged, in order", len(got), len(acked))
		}
		figure(t, "acknowledged_before_full", len(acked)-1)
	})
}

// fillUntil503 posts until the spool refuses, and checks the refusal keeps
// going while nothing is freed.
func fillUntil503(t *testing.T, m *memReceiver, prefix string) []string {
	t.Helper()
	var acked []string
	for i := 0; ; i++ {
		if i > 10_000 {
			t.Fatal("the spool never filled up")
		}
		id := fmt.Sprintf("%s%d", prefix, i)
		code, ra := m.post(t, id, 500)
		checkStatus(t, code, ra)
		if code == 503 {
			break
		}
		acked = append(acked, id)
	}
	for i := range 3 {
		if code, ra := m.post(t, fmt.Sprint("full-", i), 500); code != 503 || ra == "" {
			t.Fatalf("full spool answered %d (Retry-After %q), want 503 with Retry-After", code, ra)
		}
	}
	if got := readIDs(t, m.sp, 0); strings.Join(got, ",") != strings.Join(acked, ",") {
		t.Fatalf("full spool holds %d ids, want the %d acknowledged", len(got), len(acked))
	}
	if len(acked) == 0 {
		t.Fatal("nothing acknowledged before the spool was full")
	}
	return acked
}
