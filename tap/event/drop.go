package event

import (
	"encoding/json"
	"fmt"
	"strings"
)

// RemoveFields returns the JSON object obj without the deselected fields
// at paths (lists of property names), every other member kept as it was.
// It is how records of streams other than data (the App API streams) lose
// their deselected fields. An error means a field could not be removed
// safely (obj, or a value on the path, is neither an object nor null): the
// record must not leave.
func RemoveFields(obj json.RawMessage, paths [][]string) (json.RawMessage, error) {
	for _, path := range paths {
		var err error
		if obj, err = removePath(obj, path); err != nil {
			return nil, fmt.Errorf("deselected field %s cannot be removed: %w", strings.Join(path, "."), err)
		}
	}
	return obj, nil
}
