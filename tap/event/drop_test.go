package event

import (
	"encoding/json"
	"testing"
)

func TestRemoveFields(t *testing.T) {
	t.Parallel()
	paths := [][]string{{"recipient"}, {"customer_identifiers", "email"}}
	got, err := RemoveFields(json.RawMessage(`{"id":"d1","recipient":"a@example.com","customer_identifiers":{"id":"7","email":"a@example.com"},"created":5}`), paths)
	if err != nil {
		t.Fatal(err)
	}
	if want := `{"id":"d1","customer_identifiers":{"id":"7"},"created":5}`; string(got) != want {
		t.Fatalf("got %s, want %s", got, want)
	}
	if _, err := RemoveFields(json.RawMessage(`{"id":"d1","customer_identifiers":"a@example.com"}`), paths); err == nil {
		t.Error("a field inside a string was reported removed")
	}
	if _, err := RemoveFields(json.RawMessage(`["a@example.com"]`), paths); err == nil {
		t.Error("a record that is not an object was accepted")
	}
}
