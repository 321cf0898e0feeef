package singer_test

import (
	"encoding/json"
	"os"
	"time"

	"github.com/cio-singer/tap-customerio-webhook/internal/singer"
)

func ExampleWriter() {
	w := singer.NewWriter(os.Stdout)
	_ = w.WriteSchema("data", json.RawMessage(`{"type":"object","properties":{"event_id":{"type":"string"}}}`), []string{"event_id"})
	_ = w.WriteRecord("data", json.RawMessage(`{"event_id":"01J9A4QK7M2T5V8XWB3N6R0HDA"}`), time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC))
	_ = w.WriteState(json.RawMessage(`{"bookmarks":{"data":{"spool_offset":1}}}`)) // flushes
	// Output:
	// {"type":"SCHEMA","stream":"data","schema":{"type":"object","properties":{"event_id":{"type":"string"}}},"key_properties":["event_id"]}
	// {"type":"RECORD","stream":"data","record":{"event_id":"01J9A4QK7M2T5V8XWB3N6R0HDA"},"time_extracted":"2026-01-02T03:04:05.000000Z"}
	// {"type":"STATE","value":{"bookmarks":{"data":{"spool_offset":1}}}}
}
