package kafkaspool

import (
	"encoding/json"
	"testing"
)

func TestRejectionIDAndStateShape(t *testing.T) {
	if got := RejectionID("customerio-webhooks", 3, 5345); got != "customerio-webhooks:3:5345" {
		t.Errorf("RejectionID = %q", got)
	}
	var pos Position
	state := `{"kafka_topic": "customerio-webhooks", "kafka_offsets": {"0": 5345, "1": 5596}}`
	if err := json.Unmarshal([]byte(state), &pos); err != nil {
		t.Fatal(err)
	}
	if pos.Topic != "customerio-webhooks" || pos.Offsets[0] != 5345 || pos.Offsets[1] != 5596 || len(pos.Offsets) != 2 {
		t.Errorf("parsed %+v", pos)
	}
	js, err := json.Marshal(pos)
	if err != nil {
		t.Fatal(err)
	}
	if want := `{"kafka_topic":"customerio-webhooks","kafka_offsets":{"0":5345,"1":5596}}`; string(js) != want {
		t.Errorf("marshalled %s, want %s", js, want)
	}
}
