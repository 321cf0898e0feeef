package auth

import (
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"
)

// The test vector of spec/customerio.md §2.6.
const (
	vectorKey       = "example-signing-key-not-real"
	vectorTimestamp = "1727803361"
	vectorBody      = `{"event_id":"01J9C0D5RW8YB1E3G5J7L9N1QS","object_type":"customer","metric":"subscribed","timestamp":1727803360,"data":{"customer_id":"user-553"}}`
	vectorSignature = "0ceeeddc913c884ad6e8d327f2eea79c7da47db814cdc158ef3376c3f608b9b2"
)

func TestSign_Vector(t *testing.T) {
	t.Parallel()
	if got := Sign([]byte(vectorKey), []byte(vectorTimestamp), []byte(vectorBody)); got != vectorSignature {
		t.Fatalf("Sign() = %s; want %s", got, vectorSignature)
	}
}

func TestVerifier_Verify(t *testing.T) {
	t.Parallel()
	sentAt := time.Unix(1727803361, 0)
	clock := func(d time.Duration) func() time.Time { return func() time.Time { return sentAt.Add(d) } }
	flip := []byte(vectorSignature)
	flip[10] = 'f' // was 'd'
	tests := []struct {
		name      string
		keys      []string
		maxAge    time.Duration
		now       func() time.Time
		timestamp string
		signature string
		body      string
		want      error
	}{
		{"vector", []string{vectorKey}, 0, nil, vectorTimestamp, vectorSignature, vectorBody, nil},
		{"disabled passes anything", nil, 0, nil, "", "", "junk", nil},
		{"second key matches", []string{"old-key", vectorKey}, 0, nil, vectorTimestamp, vectorSignature, vectorBody, nil},
		{"upper-case hex", []string{vectorKey}, 0, nil, vectorTimestamp, strings.ToUpper(vectorSignature), vectorBody, nil},
		{"spaces around", []string{vectorKey}, 0, nil, " " + vectorTimestamp + " ", "  " + vectorSignature + "\t", vectorBody, nil},
		{"v0= prefix", []string{vectorKey}, 0, nil, vectorTimestamp, "v0=" + vectorSignature, vectorBody, nil},
		{"missing signature", []string{vectorKey}, 0, nil, vectorTimestamp, "", vectorBody, ErrMissing},
		{"blank signature", []string{vectorKey}, 0, nil, vectorTimestamp, "   ", vectorBody, ErrMissing},
		{"missing timestamp", []string{vectorKey}, 0, nil, "", vectorSignature, vectorBody, ErrMissing},
		{"short signature", []string{vectorKey}, 0, nil, vectorTimestamp, vectorSignature[:63], vectorBody, ErrMalformed},
		{"not hex", []string{vectorKey}, 0, nil, vectorTimestamp, "z" + vectorSignature[1:], vectorBody, ErrMalformed},
		{"timestamp not a number", []string{vectorKey}, 0, nil, "17278x3361", vectorSignature, vectorBody, ErrMalformed},
		{"negative timestamp", []string{vectorKey}, 0, nil, "-1", vectorSignature, vectorBody, ErrMalformed},
		{"wrong key", []string{"another-key"}, 0, nil, vectorTimestamp, vectorSignature, vectorBody, ErrMismatch},
		{"empty key never matches", []string{""}, 0, nil, vectorTimestamp, Sign(nil, []byte(vectorTimestamp), []byte(vectorBody)), vectorBody, ErrMismatch},
		{"flipped signature", []string{vectorKey}, 0, nil, vectorTimestamp, string(flip), vectorBody, ErrMismatch},
		{"body changed", []string{vectorKey}, 0, nil, vectorTimestamp, vectorSignature, vectorBody + " ", ErrMismatch},
		{"timestamp changed", []string{vectorKey}, 0, nil, "1727803362", vectorSignature, vectorBody, ErrMismatch},
		{"within max age", []string{vectorKey}, 5 * time.Minute, clock(5 * time.Minute), vectorTimestamp, vectorSignature, vectorBody, nil},
		{"within max age, clock behind", []string{vectorKey}, 5 * time.Minute, clock(-5 * time.Minute), vectorTimestamp, vectorSignature, vectorBody, nil},
		{"too old", []string{vectorKey}, 5 * time.Minute, clock(5*time.Minute + time.Second), vectorTimestamp, vectorSignature, vectorBody, ErrStale},
		{"from the future", []string{vectorKey}, 5 * time.Minute, clock(-6 * time.Minute), vectorTimestamp, vectorSignature, vectorBody, ErrStale},
		{"old but max age off", []string{vectorKey}, 0, clock(30 * 24 * time.Hour), vectorTimestamp, vectorSignature, vectorBody, nil},
		{"stale and wrong is a mismatch", []string{"another-key"}, time.Minute, clock(time.Hour), vectorTimestamp, vectorSignature, vectorBody, ErrMismatch},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := NewVerifier(tt.keys, tt.maxAge, tt.now)
			if got, want := v.Enabled(), len(tt.keys) > 0; got != want {
				t.Fatalf("Enabled() = %v; want %v", got, want)
			}
			err := v.Verify([]byte(tt.timestamp), []byte(tt.signature), []byte(tt.body))
			if !errors.Is(err, tt.want) || (err == nil) != (tt.want == nil) {
				t.Fatalf("Verify() = %v; want %v", err, tt.want)
			}
		})
	}
}

func TestVerifier_ErrorsDoNotLeakKeys(t *testing.T) {
	t.Parallel()
	for _, err := range []error{ErrMissing, ErrMalformed, ErrMismatch, ErrStale} {
		if strings.Contains(err.Error(), vectorKey) {
			t.Fatalf("%v contains the key", err)
		}
	}
}

func TestVerifier_Concurrent(t *testing.T) {
	t.Parallel()
	v := NewVerifier([]string{"k1", vectorKey}, 0, nil)
	done := make(chan error)
	for i := range 8 {
		go func() {
			ts := []byte(strconv.Itoa(1727803361 + i))
			body := []byte(vectorBody + strconv.Itoa(i))
			sig := []byte(Sign([]byte(vectorKey), ts, body))
			var err error
			for range 200 {
				if err = v.Verify(ts, sig, body); err != nil {
					break
				}
			}
			done <- err
		}()
	}
	for range 8 {
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}
}

func FuzzVerify(f *testing.F) {
	f.Add([]byte(vectorKey), []byte(vectorTimestamp), []byte(vectorBody), []byte(vectorSignature), uint16(0))
	f.Add([]byte("k"), []byte("0"), []byte{}, []byte("v0="), uint16(3))
	f.Add([]byte(""), []byte(" 12 "), []byte("\x00\xff"), []byte(strings.Repeat("A", 64)), uint16(70))
	f.Fuzz(func(t *testing.T, key, timestamp, body, junkSignature []byte, pos uint16) {
		v := NewVerifier([]string{string(key)}, 0, nil)
		// Arbitrary headers: any answer is fine, a panic is not.
		_ = v.Verify(timestamp, junkSignature, body)

		ts := []byte(strconv.FormatUint(uint64(len(body))*7919, 10))
		sig := []byte(Sign(key, ts, body))
		err := v.Verify(ts, sig, body)
		if len(key) == 0 {
			if !errors.Is(err, ErrMismatch) {
				t.Fatalf("empty key: Verify() = %v; want ErrMismatch", err)
			}
			return
		}
		if err != nil {
			t.Fatalf("own signature: Verify() = %v", err)
		}
		if len(body) > 0 {
			changed := append([]byte(nil), body...)
			changed[int(pos)%len(changed)] ^= 0x01
			if err := v.Verify(ts, sig, changed); !errors.Is(err, ErrMismatch) {
				t.Fatalf("one body byte changed: Verify() = %v; want ErrMismatch", err)
			}
		}
		changedSig := append([]byte(nil), sig...)
		i := int(pos) % len(changedSig)
		changedSig[i] = "01"[boolIndex(changedSig[i] == '0')] // a different hex digit
		if err := v.Verify(ts, changedSig, body); !errors.Is(err, ErrMismatch) {
			t.Fatalf("one signature digit changed: Verify() = %v; want ErrMismatch", err)
		}
	})
}

func boolIndex(b bool) int {
	if b {
		return 1
	}
	return 0
}

func BenchmarkVerify(b *testing.B) {
	body := []byte(strings.Repeat("x", 1024))
	ts := []byte(vectorTimestamp)
	sig := []byte(Sign([]byte(vectorKey), ts, body))
	v := NewVerifier([]string{vectorKey}, 0, nil)
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		if err := v.Verify(ts, sig, body); err != nil {
			b.Fatal(err)
		}
	}
}
