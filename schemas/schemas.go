// Package schemas holds the JSON Schemas of the tap's streams as data,
// embedded so the binary is self-contained. data.json describes a
// Customer.io reporting webhook body; it is permissive on purpose (every
// field nullable, unknown fields, object types and metrics allowed) because a
// webhook that fails it lands on the rejected stream instead of the data
// table. A released property's type never changes: targets rename or fail on
// type changes.
package schemas

import (
	"embed"
	"encoding/json"
	"fmt"
)

//go:embed *.json
var files embed.FS

// Stream names, shared by the catalog, the emitter and the tests.
const (
	Data     = "data"
	Rejected = "rejected"

	// Streams read from Customer.io's App API (package tap/appapi).
	Deliveries            = "deliveries"
	Campaigns             = "campaigns"
	Broadcasts            = "broadcasts"
	Newsletters           = "newsletters"
	TransactionalMessages = "transactional_messages"
)

// AppAPIStreams returns the streams read from the App API, in the order a
// run reads them: the small name tables first, then deliveries.
func AppAPIStreams() []string {
	return []string{Campaigns, Broadcasts, Newsletters, TransactionalMessages, Deliveries}
}

// Load returns the JSON Schema of stream name (Data, Rejected or one of
// [AppAPIStreams]).
func Load(name string) (json.RawMessage, error) {
	raw, err := files.ReadFile(name + ".json")
	if err != nil {
		return nil, fmt.Errorf("loading schema of stream %q: %w", name, err)
	}
	return raw, nil
}

// KeyProperties returns the key of stream name.
func KeyProperties(name string) []string {
	switch name {
	case Data:
		return []string{"event_id"}
	case Rejected:
		return []string{"rejection_id"}
	}
	return []string{"id"} // every App API stream
}
