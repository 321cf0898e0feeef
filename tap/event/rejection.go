package event

import (
	"bytes"
	"encoding/json"
	"fmt"
	"time"
)

// rejection is a RECORD of stream rejected.
type rejection struct {
	RejectionID string `json:"rejection_id"`
	ReceivedAt  string `json:"received_at"`
	Reason      string `json:"reason"`
	Body        string `json:"body"`
}

// Rejection returns the record of stream rejected for a body that is not a
// valid event, with deselected fields removed. The body is kept as a string
// (bytes that are not UTF-8 become U+FFFD: a JSON string cannot hold them).
func Rejection(id string, receivedAt time.Time, reason string, body []byte, drop [][]string) (json.RawMessage, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	r := rejection{RejectionID: id, ReceivedAt: receivedAt.UTC().Format("2006-01-02T15:04:05.000000Z"), Reason: reason, Body: string(body)}
	if err := enc.Encode(r); err != nil {
		return nil, fmt.Errorf("encoding rejection: %w", err)
	}
	out := json.RawMessage(bytes.TrimRight(b.Bytes(), "\n"))
	for _, path := range drop {
		var err error
		if out, err = removePath(out, path); err != nil {
			return nil, fmt.Errorf("removing deselected field: %w", err)
		}
	}
	return out, nil
}
