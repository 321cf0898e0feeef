package tap

import (
	"encoding/json"
	"fmt"

	"github.com/cio-singer/tap-customerio-webhook/schemas"
	"github.com/cio-singer/tap-customerio-webhook/tap/kafkaspool"
)

// Bookmark is the tap's position: every spool record at or before Offset
// has been emitted. SpoolID ties the offset to one spool, so a state from a
// wiped or different spool_dir is not mistaken for progress in this one.
type Bookmark struct {
	SpoolOffset uint64 `json:"spool_offset"`
	SpoolID     string `json:"spool_id,omitempty"`
}

// state is the STATE value. Both webhook streams carry the same bookmark
// because some targets (pipelinewise) copy only bookmarks.<stream> of the
// stream they flushed; resuming from the lower of the two is always safe.
// The App API streams with a bookmark (deliveries: {"created": <Unix
// seconds>}) carry their own, as package appapi wrote it.
type state struct {
	Bookmarks map[string]json.RawMessage `json:"bookmarks"`
}

// spoolBookmarks is the webhook streams' part of STATE on the disk spool.
func spoolBookmarks(b Bookmark) map[string]json.RawMessage {
	raw, _ := json.Marshal(b)
	return map[string]json.RawMessage{schemas.Data: raw, schemas.Rejected: raw}
}

// encodeState returns the STATE value for the webhook streams' bookmarks
// and the App API streams' bookmarks.
func encodeState(webhook, appAPI map[string]json.RawMessage) json.RawMessage {
	bms := make(map[string]json.RawMessage, len(webhook)+len(appAPI))
	for stream, raw := range appAPI {
		bms[stream] = raw
	}
	for stream, raw := range webhook {
		bms[stream] = raw
	}
	raw, _ := json.Marshal(state{Bookmarks: bms}) // keys sorted: a stable line
	return raw
}

// ParseState reads the spool position from the --state value (the bare
// value a target printed). An empty or null state starts from the
// beginning of the spool.
func ParseState(raw []byte) (Bookmark, error) {
	st, err := decodeState(raw)
	if err != nil {
		return Bookmark{}, err
	}
	var out Bookmark
	found := false
	for _, stream := range []string{schemas.Data, schemas.Rejected} {
		rawBM, ok := st.Bookmarks[stream]
		if !ok {
			continue
		}
		var b Bookmark
		if err := json.Unmarshal(rawBM, &b); err != nil {
			return Bookmark{}, fmt.Errorf("decoding state: bookmark of %s: %w", stream, err)
		}
		if !found || b.SpoolOffset < out.SpoolOffset {
			out = b
		}
		found = true
	}
	return out, nil
}

// ParseKafkaPosition reads the Kafka loader's position from
// bookmarks.data of the --state value; the zero Position (every partition
// from its start) when there is none.
func ParseKafkaPosition(raw []byte) (kafkaspool.Position, error) {
	st, err := decodeState(raw)
	if err != nil {
		return kafkaspool.Position{}, err
	}
	var pos kafkaspool.Position
	if b, ok := st.Bookmarks[schemas.Data]; ok && string(b) != "null" {
		if err := json.Unmarshal(b, &pos); err != nil {
			return kafkaspool.Position{}, fmt.Errorf("decoding state: bookmark of %s: %w", schemas.Data, err)
		}
	}
	return pos, nil
}

// ParseAppAPIBookmarks returns the bookmarks of the App API streams in the
// --state value, by stream; nil when there are none (a state written
// before the App API streams, or without them).
func ParseAppAPIBookmarks(raw []byte) (map[string]json.RawMessage, error) {
	st, err := decodeState(raw)
	if err != nil {
		return nil, err
	}
	var out map[string]json.RawMessage
	for _, stream := range schemas.AppAPIStreams() {
		if b, ok := st.Bookmarks[stream]; ok && string(b) != "null" {
			if out == nil {
				out = map[string]json.RawMessage{}
			}
			out[stream] = b
		}
	}
	return out, nil
}

func decodeState(raw []byte) (state, error) {
	var st state
	if len(raw) == 0 || string(raw) == "null" {
		return st, nil
	}
	if err := json.Unmarshal(raw, &st); err != nil {
		return state{}, fmt.Errorf("decoding state: %w", err)
	}
	return st, nil
}
