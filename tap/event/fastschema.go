package event

import (
	"encoding/json"

	"github.com/cio-singer/tap-customerio-webhook/internal/jsonlex"
)

// fastSchema validates the subset of JSON Schema that permissive stream
// schemas like data.json use (type, properties, additionalProperties,
// items, plus annotations) several times faster than gojsonschema. It only
// ever says "valid" for documents gojsonschema also accepts: a document it
// rejects goes to gojsonschema, whose verdict and messages stand. Schemas
// using any other keyword are not compiled (see compileFast) and always go
// to gojsonschema.
type fastSchema struct {
	types      typeSet // 0: any type
	props      map[string]*fastSchema
	additional *fastSchema // nil: anything allowed
	noExtra    bool        // additionalProperties: false
	items      *fastSchema // nil: anything allowed
}

type typeSet uint8

const (
	tNull typeSet = 1 << iota
	tBoolean
	tInteger
	tNumber // includes integers, as in JSON Schema
	tString
	tObject
	tArray
)

var typeNames = map[string]typeSet{"null": tNull, "boolean": tBoolean, "integer": tInteger,
	"number": tNumber | tInteger, "string": tString, "object": tObject, "array": tArray}

// annotations never affect validity.
var annotations = map[string]bool{"$schema": true, "$id": true, "$comment": true, "title": true,
	"description": true, "default": true, "examples": true}

// compileFast compiles schema, or returns false when it uses a keyword
// outside the subset.
func compileFast(schema json.RawMessage) (*fastSchema, bool) {
	var doc any
	if err := json.Unmarshal(schema, &doc); err != nil {
		return nil, false
	}
	return compileNode(doc)
}

func compileNode(v any) (*fastSchema, bool) {
	m, ok := v.(map[string]any)
	if !ok {
		if b, isBool := v.(bool); isBool && b {
			return &fastSchema{}, true
		}
		return nil, false
	}
	n := &fastSchema{}
	for k, val := range m {
		switch {
		case annotations[k]:
		case k == "type":
			set, ok := compileTypes(val)
			if !ok {
				return nil, false
			}
			n.types = set
		case k == "properties":
			props, ok := val.(map[string]any)
			if !ok {
				return nil, false
			}
			n.props = make(map[string]*fastSchema, len(props))
			for name, p := range props {
				if n.props[name], ok = compileNode(p); !ok {
					return nil, false
				}
			}
		case k == "additionalProperties":
			if b, isBool := val.(bool); isBool {
				n.noExtra = !b
				continue
			}
			if n.additional, ok = compileNode(val); !ok {
				return nil, false
			}
		case k == "items":
			if n.items, ok = compileNode(val); !ok {
				return nil, false // includes the tuple form
			}
		default:
			return nil, false
		}
	}
	return n, true
}

func compileTypes(v any) (typeSet, bool) {
	var names []any
	switch t := v.(type) {
	case string:
		names = []any{t}
	case []any:
		names = t
	default:
		return 0, false
	}
	var set typeSet
	for _, name := range names {
		s, ok := name.(string)
		if !ok || typeNames[s] == 0 {
			return 0, false
		}
		set |= typeNames[s]
	}
	return set, set != 0
}

// valid reports whether doc (decoded with UseNumber) satisfies n.
func (n *fastSchema) valid(doc any) bool {
	if n.types != 0 && n.types&typeOf(doc) == 0 {
		return false
	}
	switch v := doc.(type) {
	case map[string]any:
		for k, child := range v {
			if p, ok := n.props[k]; ok {
				if !p.valid(child) {
					return false
				}
				continue
			}
			if n.noExtra || (n.additional != nil && !n.additional.valid(child)) {
				return false
			}
		}
	case []any:
		if n.items != nil {
			for _, child := range v {
				if !n.items.valid(child) {
					return false
				}
			}
		}
	}
	return true
}

func typeOf(v any) typeSet {
	switch x := v.(type) {
	case nil:
		return tNull
	case bool:
		return tBoolean
	case string:
		return tString
	case map[string]any:
		return tObject
	case []any:
		return tArray
	case json.Number:
		return numberType(x)
	}
	return 0
}

// numberType returns tInteger or tNumber for a number literal. 1, 1.0, 1e3
// and 100e-2 are integers to JSON Schema, as to gojsonschema; jsonlex works
// on the digits, where big.Rat (which gojsonschema uses) takes seconds on a
// literal like 1e9999999.
func numberType[T json.Number | []byte](lit T) typeSet {
	if n, ok := jsonlex.ParseNumber(lit); ok && n.Integral() {
		return tInteger
	}
	return tNumber
}

// hugeNumber reports whether doc holds a number literal beyond
// jsonlex.Portable's bounds: longer than jsonlex.MaxPortableLen, an
// exponent beyond ±jsonlex.MaxPortableExponent, or a magnitude a float64
// cannot hold. Customer.io sends ids and Unix times. A literal like
// 1e-9999999 costs gojsonschema's big.Rat seconds; 1e400 overflows the
// float64 most targets (Go's and Python's JSON decoders) read numbers into.
// Such a body goes to the rejected stream, kept as text.
func hugeNumber(doc any) bool {
	switch v := doc.(type) {
	case json.Number:
		return !jsonlex.Portable(v)
	case map[string]any:
		for _, c := range v {
			if hugeNumber(c) {
				return true
			}
		}
	case []any:
		for _, c := range v {
			if hugeNumber(c) {
				return true
			}
		}
	}
	return false
}
