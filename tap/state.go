package tap

import (
	"encoding/json"
	"fmt"

	"github.com/cio-singer/tap-customerio-webhook/schemas"
)

// Bookmark is the tap's position: every spool record at or before Offset
// has been emitted. SpoolID ties the offset to one spool, so a state from a
// wiped or different spool_dir is not mistaken for progress in this one.
type Bookmark struct {
	SpoolOffset uint64 `json:"spool_offset"`
	SpoolID     string `json:"spool_id,omitempty"`
}

// state is the STATE value. Both streams carry the same bookmark because
// some targets (pipelinewise) copy only bookmarks.<stream> of the stream
// they flushed; resuming from the lower of the two is always safe.
type state struct {
	Bookmarks map[string]Bookmark `json:"bookmarks"`
}

func encodeState(b Bookmark) json.RawMessage {
	raw, _ := json.Marshal(state{Bookmarks: map[string]Bookmark{schemas.Data: b, schemas.Rejected: b}})
	return raw
}

// ParseState reads the --state value (the bare value a target printed).
// An empty or null state starts from the beginning of the spool.
func ParseState(raw []byte) (Bookmark, error) {
	var st state
	if len(raw) == 0 || string(raw) == "null" {
		return Bookmark{}, nil
	}
	if err := json.Unmarshal(raw, &st); err != nil {
		return Bookmark{}, fmt.Errorf("decoding state: %w", err)
	}
	var out Bookmark
	found := false
	for _, stream := range []string{schemas.Data, schemas.Rejected} {
		b, ok := st.Bookmarks[stream]
		if !ok {
			continue
		}
		if !found || b.SpoolOffset < out.SpoolOffset {
			out = b
		}
		found = true
	}
	return out, nil
}
