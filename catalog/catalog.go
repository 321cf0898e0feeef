// Package catalog builds the tap's Singer catalog (--discover) from the
// embedded schemas and resolves a catalog given back with --catalog into
// what the emitter needs: which streams to emit, with which schema, and
// which fields to remove from every record before it leaves the machine
// (for example data.recipient, an e-mail address).
package catalog

import (
	"encoding/json"
	"fmt"
	"io"
	"sort"

	"github.com/cio-singer/tap-customerio-webhook/schemas"
)

// Catalog is a Singer catalog. Unknown keys of catalogs written by other
// tools (Meltano adds some) are ignored on input.
type Catalog struct {
	Streams []Stream `json:"streams"`
}

// Stream is one catalog entry.
type Stream struct {
	TapStreamID   string          `json:"tap_stream_id"`
	Stream        string          `json:"stream"`
	Schema        json.RawMessage `json:"schema"`
	KeyProperties []string        `json:"key_properties"`
	Metadata      []Metadata      `json:"metadata"`
}

// Metadata is one breadcrumb's metadata.
type Metadata struct {
	Breadcrumb []string       `json:"breadcrumb"`
	Metadata   map[string]any `json:"metadata"`
}

// Discover returns the catalog of streams data and rejected, every stream
// and field selected by default and the key fields automatic.
func Discover() (Catalog, error) { return DiscoverFor(false) }

// DiscoverFor is Discover, plus the App API streams (deliveries,
// campaigns, ...) when appAPI is true: the tap reads them only when
// app_api_key is set.
func DiscoverFor(appAPI bool) (Catalog, error) {
	var c Catalog
	names := []string{schemas.Data, schemas.Rejected}
	if appAPI {
		names = append(names, schemas.AppAPIStreams()...)
	}
	for _, name := range names {
		raw, err := schemas.Load(name)
		if err != nil {
			return Catalog{}, err
		}
		keys := schemas.KeyProperties(name)
		md, err := discoverMetadata(raw, keys, replication(name))
		if err != nil {
			return Catalog{}, fmt.Errorf("stream %s: %w", name, err)
		}
		c.Streams = append(c.Streams, Stream{TapStreamID: name, Stream: name, Schema: raw, KeyProperties: keys, Metadata: md})
	}
	return c, nil
}

// replicationOf is how a stream is replicated, as its metadata says.
type replicationOf struct {
	method string // forced-replication-method
	key    string // replication-key; "" for none
}

// replication describes stream name: the webhook streams are incremental
// on the spool's offset (in the state, no field of the record);
// deliveries is incremental on created; the name tables are read whole.
func replication(name string) replicationOf {
	switch name {
	case schemas.Data, schemas.Rejected:
		return replicationOf{method: "INCREMENTAL"}
	case schemas.Deliveries:
		return replicationOf{method: "INCREMENTAL", key: "created"}
	}
	return replicationOf{method: "FULL_TABLE"}
}

func discoverMetadata(schema json.RawMessage, keys []string, rep replicationOf) ([]Metadata, error) {
	var root schemaNode
	if err := json.Unmarshal(schema, &root); err != nil {
		return nil, fmt.Errorf("decoding schema: %w", err)
	}
	stream := map[string]any{
		"table-key-properties":      keys,
		"forced-replication-method": rep.method,
		"valid-replication-keys":    []string{},
		"inclusion":                 "available",
		"selected-by-default":       true,
		"selected":                  true,
	}
	// Keys and the replication key are always kept (Singer: "automatic").
	isKey := map[string]bool{}
	for _, k := range keys {
		isKey[k] = true
	}
	if rep.key != "" {
		stream["valid-replication-keys"] = []string{rep.key}
		stream["replication-key"] = rep.key
		isKey[rep.key] = true
	}
	md := []Metadata{{Breadcrumb: []string{}, Metadata: stream}}
	var walk func(prefix []string, n schemaNode, top bool)
	walk = func(prefix []string, n schemaNode, top bool) {
		for _, name := range sortedKeys(n.Properties) {
			crumb := append(append([]string{}, prefix...), "properties", name)
			inclusion := "available"
			if top && isKey[name] {
				inclusion = "automatic"
			}
			md = append(md, Metadata{Breadcrumb: crumb, Metadata: map[string]any{
				"inclusion": inclusion, "selected-by-default": true, "selected": true,
			}})
			walk(crumb, n.Properties[name], false)
		}
	}
	walk(nil, root, true)
	return md, nil
}

// schemaNode is the part of a JSON Schema that selection needs.
type schemaNode struct {
	Properties map[string]schemaNode `json:"properties"`
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// Parse reads a catalog (--catalog or --properties).
func Parse(r io.Reader) (Catalog, error) {
	var c Catalog
	if err := json.NewDecoder(r).Decode(&c); err != nil {
		return Catalog{}, fmt.Errorf("decoding catalog: %w", err)
	}
	for i, s := range c.Streams {
		if s.Stream == "" {
			c.Streams[i].Stream = s.TapStreamID
		}
		if len(s.Schema) == 0 {
			return Catalog{}, fmt.Errorf("catalog stream %q: no schema", s.TapStreamID)
		}
	}
	return c, nil
}

// Write prints c as the --discover output.
func (c Catalog) Write(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	return enc.Encode(c)
}
