package catalog

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite golden files in testdata/")

func TestDiscoverGolden(t *testing.T) {
	t.Parallel()
	c, err := Discover()
	if err != nil {
		t.Fatal(err)
	}
	var got bytes.Buffer
	if err := c.Write(&got); err != nil {
		t.Fatal(err)
	}
	golden := filepath.Join("testdata", "catalog.golden.json")
	if *update {
		if err := os.WriteFile(golden, got.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	if got.String() != string(want) {
		t.Fatalf("catalog differs from %s; run go test ./catalog -update and review the diff", golden)
	}
}

func TestDiscoverMetadata(t *testing.T) {
	t.Parallel()
	c, err := Discover()
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Streams) != 2 {
		t.Fatalf("got %d streams, want data and rejected", len(c.Streams))
	}
	for _, s := range c.Streams {
		md := indexMetadata(s.Metadata)
		root := md[""]
		if root["forced-replication-method"] != "INCREMENTAL" {
			t.Errorf("%s: forced-replication-method = %v", s.Stream, root["forced-replication-method"])
		}
		for _, m := range s.Metadata {
			if m.Metadata["selected"] != true {
				t.Errorf("%s %v: not selected in the discovered catalog", s.Stream, m.Breadcrumb)
			}
		}
		key := s.KeyProperties[0]
		if got := md["properties\x00"+key]["inclusion"]; got != "automatic" {
			t.Errorf("%s: key %s inclusion = %v, want automatic", s.Stream, key, got)
		}
	}
	data := indexMetadata(c.Streams[0].Metadata)
	if _, ok := data["properties\x00data\x00properties\x00recipient"]; !ok {
		t.Error("no breadcrumb for data.recipient: nested fields cannot be deselected")
	}
}

// setSelected returns a copy of the discovered catalog with breadcrumb
// crumb of stream set to selected=v.
func setSelected(t *testing.T, stream string, crumb []string, v bool) Catalog {
	t.Helper()
	c, err := Discover()
	if err != nil {
		t.Fatal(err)
	}
	var copyC Catalog
	raw, _ := json.Marshal(c)
	if err := json.Unmarshal(raw, &copyC); err != nil {
		t.Fatal(err)
	}
	for i, s := range copyC.Streams {
		if s.Stream != stream {
			continue
		}
		for j, m := range s.Metadata {
			if strings.Join(m.Breadcrumb, "/") == strings.Join(crumb, "/") {
				copyC.Streams[i].Metadata[j].Metadata["selected"] = v
			}
		}
	}
	return copyC
}

func TestSelect(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name        string
		catalog     Catalog
		wantStreams []string
		wantDrop    [][]string
		absentProp  string // a property that must be gone from the data schema
	}{
		{"everything by default", mustDiscover(t), []string{"data", "rejected"}, nil, ""},
		{"stream deselected", setSelected(t, "rejected", []string{}, false), []string{"data"}, nil, ""},
		{"nested field deselected", setSelected(t, "data", []string{"properties", "data", "properties", "recipient"}, false),
			[]string{"data", "rejected"}, [][]string{{"data", "recipient"}}, "recipient"},
		{"key cannot be deselected", setSelected(t, "data", []string{"properties", "event_id"}, false),
			[]string{"data", "rejected"}, nil, ""},
		{"no metadata selects all", Catalog{Streams: []Stream{{TapStreamID: "data", Stream: "data", Schema: json.RawMessage(`{"type":"object","properties":{"event_id":{"type":"string"}}}`)}}},
			[]string{"data"}, nil, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			sel, err := tc.catalog.Select()
			if err != nil {
				t.Fatal(err)
			}
			var names []string
			for _, n := range []string{"data", "rejected"} {
				if _, ok := sel[n]; ok {
					names = append(names, n)
				}
			}
			if !reflect.DeepEqual(names, tc.wantStreams) {
				t.Fatalf("streams = %v, want %v", names, tc.wantStreams)
			}
			if !reflect.DeepEqual(sel["data"].Drop, tc.wantDrop) {
				t.Errorf("drop = %v, want %v", sel["data"].Drop, tc.wantDrop)
			}
			if !reflect.DeepEqual(sel["data"].KeyProperties, []string{"event_id"}) {
				t.Errorf("keys = %v", sel["data"].KeyProperties)
			}
			if bytes.ContainsAny(sel["data"].Schema, "\n") {
				t.Error("schema is not on one line")
			}
			if tc.absentProp != "" && bytes.Contains(sel["data"].Schema, []byte(`"`+tc.absentProp+`"`)) {
				t.Errorf("schema still has %q", tc.absentProp)
			}
			if !bytes.Contains(sel["data"].Schema, []byte(`"event_id"`)) {
				t.Error("schema lost event_id")
			}
		})
	}
}

func mustDiscover(t *testing.T) Catalog {
	c, err := Discover()
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestParse(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	if err := mustDiscover(t).Write(&buf); err != nil {
		t.Fatal(err)
	}
	c, err := Parse(&buf)
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Streams) != 2 || c.Streams[0].Stream != "data" {
		t.Fatalf("round trip lost streams: %+v", c.Streams)
	}
	if _, err := Parse(strings.NewReader(`{"streams":[{"tap_stream_id":"data"}]}`)); err == nil {
		t.Error("a stream without schema was accepted")
	}
	if _, err := Parse(strings.NewReader(`not json`)); err == nil {
		t.Error("garbage was accepted")
	}
}

// TestDiscoverAppAPIStreams: with the App API, the five streams are there,
// keyed on id and selected by default, deliveries incremental on created
// and the name tables full; a field deselected in them is pruned.
func TestDiscoverAppAPIStreams(t *testing.T) {
	t.Parallel()
	c, err := DiscoverFor(true)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"data": "INCREMENTAL", "rejected": "INCREMENTAL", "deliveries": "INCREMENTAL",
		"campaigns": "FULL_TABLE", "broadcasts": "FULL_TABLE", "newsletters": "FULL_TABLE", "transactional_messages": "FULL_TABLE"}
	if len(c.Streams) != len(want) {
		t.Fatalf("got %d streams, want %d", len(c.Streams), len(want))
	}
	for _, s := range c.Streams {
		root := indexMetadata(s.Metadata)[""]
		if root["forced-replication-method"] != want[s.Stream] || root["selected"] != true {
			t.Errorf("%s: %v", s.Stream, root)
		}
		if s.Stream == "data" || s.Stream == "rejected" {
			continue
		}
		if !reflect.DeepEqual(s.KeyProperties, []string{"id"}) || !reflect.DeepEqual(root["table-key-properties"], []string{"id"}) {
			t.Errorf("%s: key %v / %v", s.Stream, s.KeyProperties, root["table-key-properties"])
		}
		rk, hasRK := root["replication-key"]
		if s.Stream == "deliveries" {
			if rk != "created" || !reflect.DeepEqual(root["valid-replication-keys"], []string{"created"}) {
				t.Errorf("deliveries: replication key %v, valid %v", rk, root["valid-replication-keys"])
			}
			if inc := indexMetadata(s.Metadata)["properties\x00created"]["inclusion"]; inc != "automatic" {
				t.Errorf("deliveries.created inclusion %v, want automatic", inc)
			}
		} else if hasRK {
			t.Errorf("%s: full table with replication key %v", s.Stream, rk)
		}
	}

	// Deselect deliveries.recipient and the whole campaigns stream; try to
	// deselect deliveries.created (automatic: stays).
	for i, s := range c.Streams {
		for j, m := range s.Metadata {
			crumb := strings.Join(m.Breadcrumb, ".")
			if (s.Stream == "deliveries" && (crumb == "properties.recipient" || crumb == "properties.created")) ||
				(s.Stream == "campaigns" && crumb == "") {
				c.Streams[i].Metadata[j].Metadata["selected"] = false
			}
		}
	}
	sel, err := c.Select()
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := sel["campaigns"]; ok {
		t.Error("deselected stream campaigns is selected")
	}
	d, ok := sel["deliveries"]
	if !ok {
		t.Fatal("deliveries not selected")
	}
	if !reflect.DeepEqual(d.Drop, [][]string{{"recipient"}}) {
		t.Errorf("deliveries drops %v, want recipient only", d.Drop)
	}
	if bytes.Contains(d.Schema, []byte(`"recipient"`)) || !bytes.Contains(d.Schema, []byte(`"created"`)) {
		t.Error("deliveries schema still has recipient, or lost created")
	}

	// Without the App API the default selection is the webhook streams.
	def, err := Default()
	if err != nil {
		t.Fatal(err)
	}
	if len(def) != 2 {
		t.Errorf("default selection has %d streams, want data and rejected", len(def))
	}
}
