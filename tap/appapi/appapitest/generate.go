package appapitest

import (
	"encoding/json"
	"fmt"
	"time"
)

// Deliveries returns n deliveries shaped like the OpenAPI example of
// GET /v1/messages, created evenly from from to to (inclusive), with ids
// d000000, d000001, ... in created order. Each has a recipient e-mail
// address, so that tests can check none reaches a log.
func Deliveries(n int, from, to time.Time) []json.RawMessage {
	out := make([]json.RawMessage, n)
	span := to.Unix() - from.Unix()
	for i := range n {
		created := from.Unix()
		if n > 1 {
			created += span * int64(i) / int64(n-1)
		}
		d := map[string]any{
			"id":                   fmt.Sprintf("d%06d", i),
			"deduplicate_id":       fmt.Sprintf("d%06d:%d", i, created),
			"customer_id":          fmt.Sprintf("%d", 1000+i),
			"customer_identifiers": map[string]any{"id": fmt.Sprintf("%d", 1000+i), "email": fmt.Sprintf("person%d@example.com", i), "cio_id": fmt.Sprintf("%x", 786433+i)},
			"recipient":            fmt.Sprintf("person%d@example.com", i),
			"subject":              "Did you get that thing I sent you?",
			"metrics":              map[string]any{"sent": created + 1, "delivered": created + 2},
			"created":              created,
			"failure_message":      nil,
			"campaign_id":          23,
			"action_id":            215,
			"newsletter_id":        nil,
			"content_id":           nil,
			"broadcast_id":         nil,
			"type":                 "email",
			"forgotten":            false,
		}
		out[i], _ = json.Marshal(d)
	}
	return out
}
