package appapi

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/cio-singer/tap-customerio-webhook/schemas"
	"github.com/cio-singer/tap-customerio-webhook/tap/appapi/appapitest"
)

// TestDeliveriesSchemaDescribesTheFake keeps the fake's deliveries (shaped
// like the OpenAPI example) and schemas/deliveries.json in step: every
// field the fake sends has a column, of a type the schema allows.
func TestDeliveriesSchemaDescribesTheFake(t *testing.T) {
	raw, err := schemas.Load(schemas.Deliveries)
	if err != nil {
		t.Fatal(err)
	}
	var schema struct {
		Properties map[string]struct {
			Type []string `json:"type"`
		} `json:"properties"`
	}
	if err := json.Unmarshal(raw, &schema); err != nil {
		t.Fatal(err)
	}
	var d map[string]any
	if err := json.Unmarshal(appapitest.Deliveries(1, epoch, epoch.Add(time.Hour))[0], &d); err != nil {
		t.Fatal(err)
	}
	for field, v := range d {
		p, ok := schema.Properties[field]
		if !ok {
			t.Errorf("field %s has no property in deliveries.json", field)
			continue
		}
		want := map[string]bool{}
		for _, ty := range p.Type {
			want[ty] = true
		}
		var got string
		switch v.(type) {
		case nil:
			got = "null"
		case string:
			got = "string"
		case float64:
			got = "integer"
		case bool:
			got = "boolean"
		case map[string]any:
			got = "object"
		}
		if !want[got] {
			t.Errorf("field %s: a %s, schema allows %v", field, got, p.Type)
		}
	}
}
