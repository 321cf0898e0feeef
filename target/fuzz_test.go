package target

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/rs/zerolog"

	"github.com/cio-singer/tap-customerio-webhook/internal/lockedbuf"
	"github.com/cio-singer/tap-customerio-webhook/internal/singer"
)

// FuzzRun feeds arbitrary input to the core: it must never panic, every
// failure must be a LineError, and no state may be written when it fails.
func FuzzRun(f *testing.F) {
	f.Add(lines(dataSchema, `{"type":"RECORD","stream":"Data-Events","record":{"event_id":"e","n":1,"s":"\u0000","data":{"a":[1]}}}`, state(1)))
	f.Add(lines(`{"type":"SCHEMA","stream":"s","key_properties":["id"],"schema":{"properties":{"id":{"type":"integer"},"o":{"type":"object","properties":{"p":{"type":"string"}}}}}}`,
		`{"type":"RECORD","stream":"s","record":{"id":1e2,"o":{"p":"x","q":{}}}}`, `{"type":"STATE","value":{"x":[]}}`))
	f.Add(lines(`{"type":"SCHEMA","stream":"s","key_properties":["id"],"schema":{"properties":{"id":{"anyOf":[{"type":"string","format":"date-time"},{"type":"null"}]}}}}`,
		`{"type":"RECORD","stream":"s","record":{"id":"2026-01-01T00:00:00+01:00"}}`))
	f.Add("{\"type\":\"RECORD\",\"stream\":\"s\",\"record\":{}}\n")
	// hostile names and values: twins, the key's twin, _sdc_ and empty
	// names, numbers beyond bigint and numeric, surrogates, no key
	f.Add(lines(`{"type":"SCHEMA","stream":"s","key_properties":["id"],"schema":{"properties":{"id":{"type":"integer"},"ID":{},"Metric":{"type":"string"},"metric":{},"":{},"_sdc_sequence":{},`+
		`"o":{"type":"object","properties":{"n":{"type":"integer"},"N":{"type":"number"},"t":{"type":"string","format":"date-time"}}}}}}`,
		`{"type":"RECORD","stream":"s","record":{"id":1e30,"ID":"x","metric":[1],"Metric":"\ud83d","":"\u0000","_sdc_sequence":1,"o":{"n":1e400,"N":-1e-99999,"t":"x"}}}`,
		`{"type":"RECORD","stream":"s","record":{"id":null,"o":{"n":123456789012345678901234567890}}}`, state(2)))
	f.Fuzz(func(t *testing.T, input string) {
		if len(input) > 1<<16 {
			return
		}
		cfg := testConfig()
		cfg.FlatteningMaxLevel = 2
		cfg.BatchSizeRows = 3
		var out lockedbuf.Buffer
		err := run(context.Background(), cfg, newMemLoader(), strings.NewReader(input), &out, zerolog.Nop(), testOptions())
		if err != nil {
			var le *singer.LineError
			if !errors.As(err, &le) {
				t.Fatalf("failure %v is not a LineError", err)
			}
		}
	})
}
