package schemas

import (
	"encoding/json"
	"testing"
)

// TestEveryPropertyNullable keeps the promise that a missing or null field
// never sends an event to the rejected stream.
func TestEveryPropertyNullable(t *testing.T) {
	t.Parallel()
	for _, name := range allStreams() {
		raw, err := Load(name)
		if err != nil {
			t.Fatal(err)
		}
		var doc map[string]any
		if err := json.Unmarshal(raw, &doc); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		checkNullable(t, name, doc["properties"].(map[string]any))
	}
}

func checkNullable(t *testing.T, path string, props map[string]any) {
	t.Helper()
	for key, p := range props {
		prop := p.(map[string]any)
		types, _ := prop["type"].([]any)
		nullable := false
		for _, ty := range types {
			nullable = nullable || ty == "null"
		}
		if !nullable {
			t.Errorf("%s.%s: type %v does not allow null", path, key, prop["type"])
		}
		if sub, ok := prop["properties"].(map[string]any); ok {
			checkNullable(t, path+"."+key, sub)
		}
	}
}

func allStreams() []string {
	return append([]string{Data, Rejected}, AppAPIStreams()...)
}

func TestKeyPropertiesAreDescribed(t *testing.T) {
	t.Parallel()
	for _, name := range allStreams() {
		raw, _ := Load(name)
		var doc struct {
			Properties map[string]any `json:"properties"`
		}
		if err := json.Unmarshal(raw, &doc); err != nil {
			t.Fatal(err)
		}
		for _, k := range KeyProperties(name) {
			if _, ok := doc.Properties[k]; !ok {
				t.Errorf("%s: key %q not in schema", name, k)
			}
		}
	}
	if _, err := Load("nope"); err == nil {
		t.Error("Load of an unknown stream succeeded")
	}
}
