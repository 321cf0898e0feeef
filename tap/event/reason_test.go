package event

import (
	"strings"
	"testing"
)

// TestSchemaReasonIsStable: a body that breaks several rules of the schema
// gets the same reason every time (gojsonschema lists its errors in map
// order), so a replayed rejection reads the same in the warehouse.
func TestSchemaReasonIsStable(t *testing.T) {
	t.Parallel()
	schema := []byte(`{"type":"object","properties":{"event_id":{"type":"string"}},"additionalProperties":false}`)
	c, err := NewClassifier(schema, nil)
	if err != nil {
		t.Fatal(err)
	}
	body := []byte(`{"event_id":"x","a":1,"b":2,"c":3,"d":4,"e":5}`)
	first := c.Classify(body).Reason
	if strings.Count(first, ";") != 4 {
		t.Fatalf("reason %q; want five schema errors", first)
	}
	for range 50 {
		if got := c.Classify(body).Reason; got != first {
			t.Fatalf("reasons differ between runs:\n%s\n%s", first, got)
		}
	}
}
