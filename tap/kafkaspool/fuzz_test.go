package kafkaspool

import (
	"bytes"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// FuzzRecordHeaders feeds foreign records (any producer can write to the
// topic) to the loader's decoding: it must not panic, must keep the body
// and token as they are, and must always give a UTC receive time.
func FuzzRecordHeaders(f *testing.F) {
	f.Add([]byte("2026-11-29T18:25:36.123456789Z"), []byte("tok"), []byte(`{"event_id":"x"}`))
	f.Add([]byte("not a time"), []byte{}, []byte{})
	f.Add([]byte("2026-11-29T19:25:36+01:00"), []byte("\xff"), []byte(nil))
	f.Fuzz(func(t *testing.T, receivedAt, token, value []byte) {
		kafkaTime := time.UnixMilli(1_700_000_000_000)
		r := recordOf(&kgo.Record{
			Partition: 2, Offset: 7, Value: value, Timestamp: kafkaTime,
			Headers: []kgo.RecordHeader{{Key: HeaderReceivedAt, Value: receivedAt}, {Key: HeaderTokenID, Value: token}},
		})
		if r.Partition != 2 || r.Offset != 7 || r.Body == nil || !bytes.Equal(r.Body, value) || r.TokenID != string(token) {
			t.Fatalf("decoded %+v", r)
		}
		if r.ReceivedAt.Location() != time.UTC {
			t.Fatalf("receive time %v not UTC", r.ReceivedAt)
		}
		if parsed, err := time.Parse(time.RFC3339Nano, string(receivedAt)); err == nil && !parsed.Equal(r.ReceivedAt) {
			t.Fatalf("header %q decoded as %v", receivedAt, r.ReceivedAt)
		} else if err != nil && !r.ReceivedAt.Equal(kafkaTime) {
			t.Fatalf("bad header %q did not fall back to the record timestamp: %v", receivedAt, r.ReceivedAt)
		}
	})
}
