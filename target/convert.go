package target

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math/big"
	"strconv"

	"github.com/cio-singer/tap-customerio-webhook/internal/singer"
)

// fillRow decodes the JSON object rec into row, one value per column of l,
// converted to the column types actually in the table (types). Properties
// the schema lacks are passed to unknown (with their dotted path) and
// dropped. Metadata columns are left to the caller.
func fillRow(l *layout, types []ColumnType, rec []byte, row []any, unknown func(path string)) error {
	return fillObject(l.fields, types, rec, row, "", unknown)
}

func fillObject(fields map[string]*field, types []ColumnType, obj []byte, row []any, prefix string, unknown func(string)) error {
	return singer.EachMember(obj, func(rawKey, value []byte) error {
		key, err := memberName(rawKey)
		if err != nil {
			return err
		}
		f, ok := fields[key]
		if !ok {
			unknown(prefix + key)
			return nil
		}
		if f.col < 0 { // a flattened object
			switch value[0] {
			case 'n':
				return nil // every child column stays NULL
			case '{':
				return fillObject(f.children, types, value, row, prefix+key+".", unknown)
			default:
				return fmt.Errorf("field %q: %s where an object was declared", prefix+key, kindOf(value))
			}
		}
		v, err := convertValue(value, types[f.col])
		if err != nil {
			return fmt.Errorf("field %q: %w", prefix+key, err)
		}
		row[f.col] = v
		return nil
	})
}

// memberName decodes a raw object key; the common case needs no unescaping.
func memberName(raw []byte) (string, error) {
	for _, c := range raw[1 : len(raw)-1] {
		if c == '\\' || c >= 0x80 {
			var s string
			err := json.Unmarshal(raw, &s)
			return s, err
		}
	}
	return string(raw[1 : len(raw)-1]), nil
}

// convertValue turns one JSON value into the Go value loaders expect for
// column type t (see ColumnType). null is nil for every type.
func convertValue(raw []byte, t ColumnType) (any, error) {
	if len(raw) == 0 {
		return nil, errMalformed
	}
	if raw[0] == 'n' {
		return nil, nil
	}
	switch t {
	case TypeText:
		if raw[0] == '"' {
			return decodeString(raw)
		}
		// A column widened to text takes numbers, booleans and JSON as
		// their JSON text.
		return string(compactJSON(raw)), nil
	case TypeBigint:
		if !isNumber(raw) {
			return nil, fmt.Errorf("%s where an integer was expected", kindOf(raw))
		}
		return parseBigint(raw)
	case TypeNumeric:
		if !isNumber(raw) {
			return nil, fmt.Errorf("%s where a number was expected", kindOf(raw))
		}
		return json.Number(raw), nil
	case TypeBoolean:
		switch string(raw) {
		case "true":
			return true, nil
		case "false":
			return false, nil
		}
		return nil, fmt.Errorf("%s where a boolean was expected", kindOf(raw))
	case TypeTimestamp:
		if raw[0] != '"' {
			return nil, fmt.Errorf("%s where a date-time string was expected", kindOf(raw))
		}
		s, err := decodeString(raw)
		if err != nil {
			return nil, err
		}
		return singer.ParseTime(s)
	case TypeJSON:
		return json.RawMessage(compactJSON(raw)), nil
	default:
		return nil, fmt.Errorf("column type %d unknown", t)
	}
}

func isNumber(raw []byte) bool {
	return raw[0] == '-' || (raw[0] >= '0' && raw[0] <= '9')
}

// parseBigint keeps integers exact: no float64 round trip. An integral
// value written as 1.0 or 1e3 is accepted; a fraction or anything outside
// int64 is not.
func parseBigint(raw []byte) (any, error) {
	if n, err := strconv.ParseInt(string(raw), 10, 64); err == nil {
		return n, nil
	}
	// Bound the exponent before big.Rat expands it: 1e999999999 would
	// otherwise allocate a billion digits.
	if e := bytes.IndexAny(raw, "eE"); e >= 0 {
		exp, err := strconv.Atoi(string(raw[e+1:]))
		if err != nil || exp > 40 || exp < -40 || len(raw) > 400 {
			return nil, fmt.Errorf("number %.40s is not a 64-bit integer", raw)
		}
	}
	if len(raw) > 400 {
		return nil, fmt.Errorf("number %.40s... is not a 64-bit integer", raw)
	}
	r, ok := new(big.Rat).SetString(string(raw))
	if !ok || !r.IsInt() || !r.Num().IsInt64() {
		return nil, fmt.Errorf("number %s is not a 64-bit integer", raw)
	}
	return r.Num().Int64(), nil
}

func kindOf(raw []byte) string {
	switch raw[0] {
	case '"':
		return "a string"
	case '{':
		return "an object"
	case '[':
		return "an array"
	case 't', 'f':
		return "a boolean"
	case 'n':
		return "null"
	default:
		return "a number"
	}
}
