package target

import (
	"reflect"
	"strings"
	"testing"

	"github.com/cio-singer/tap-customerio-webhook/internal/singer"
)

// fillSchema has a column of every type, an object to flatten, and case
// twins, so that every path of the filler is taken.
const fillSchema = `{"properties":{"id":{"type":"integer"},"s":{"type":"string"},"n":{"type":"number"},"b":{"type":"boolean"},` +
	`"t":{"type":"string","format":"date-time"},"j":{"type":"object"},"a":{"type":"array"},"Twin":{"type":"string"},"twin":{"type":"string"},` +
	`"é":{"type":"string"},"o":{"type":"object","properties":{"p":{"type":"string"},"q":{"type":"integer"}}}}}`

// FuzzFill_LocatedMembers checks that filling a row from the members the
// singer.Reader located gives the row, _sdc_errors, widenings and error
// that scanning the record again gives, and that keys and strings without
// escapes, taken as they are, are what decoding them gives.
func FuzzFill_LocatedMembers(f *testing.F) {
	for _, rec := range []string{
		`{"id":1,"s":"plain","n":1.5,"b":true,"t":"2026-01-02T03:04:05Z","j":{"k":[1,"\u0000"]},"a":[1],"o":{"p":"x","q":2}}`,
		`{"i\u0064":2,"s":"tab\tand \u00e9 \ud83d","\u00e9":"x","Twin":"A","twin":"b","unknown":1}`,
		"{\"s\":\"a\xffb\",\"\xff\":1,\"é\":\"\\\"\"}",
		`{"id":1e30,"n":1e999999,"t":"not a time","o":3,"s":5}`,
		`{"id":1,"id":"x","id":2}`,
		`{}`,
	} {
		f.Add(rec)
	}
	l, err := newLayout("s", []byte(fillSchema), []string{"id"}, 1, true)
	if err != nil {
		f.Fatal(err)
	}
	types := make([]ColumnType, len(l.table.Columns))
	for i, c := range l.table.Columns {
		types[i] = c.Type
	}
	f.Fuzz(func(t *testing.T, rec string) {
		line := `{"type":"RECORD","stream":"s","record":` + rec + `}`
		if strings.ContainsAny(line, "\r\n") {
			return
		}
		m, err := singer.NewReader(strings.NewReader(line), 0).Next()
		if err != nil {
			return
		}
		fill := func(located bool) (row []any, unknown []string, widen map[int]ColumnType, err error) {
			fl := filler{l: l, types: types, unknown: func(p string) { unknown = append(unknown, p) }}
			row = make([]any, len(types))
			if located {
				err = fl.fill(m.Record, m.Members, row)
			} else {
				err = fl.fill(m.Record, nil, row)
			}
			return row, unknown, fl.widen, err
		}
		// The shortcuts taken for text without escapes decode as the
		// escape-aware path does.
		for _, mb := range m.Members {
			key, value := mb.Key(m.Record), mb.Value(m.Record)
			fd1, ok1, err1 := lookupField(l.fields, key, mb.KeyEscaped)
			fd2, ok2, err2 := lookupField(l.fields, key, true)
			if fd1 != fd2 || ok1 != ok2 || !sameError(err1, err2) {
				t.Fatalf("key %s: found %v %v %v, decoded %v %v %v", key, fd1, ok1, err1, fd2, ok2, err2)
			}
			if value[0] == '"' {
				s1, err1 := decodeString(value, mb.ValueEscaped)
				s2, err2 := decodeString(value, true)
				if s1 != s2 || !sameError(err1, err2) {
					t.Fatalf("string %s: %q %v, decoded %q %v", value, s1, err1, s2, err2)
				}
			}
		}
		row1, unknown1, widen1, err1 := fill(true)
		row2, unknown2, widen2, err2 := fill(false)
		if !reflect.DeepEqual(row1, row2) || !reflect.DeepEqual(unknown1, unknown2) || !reflect.DeepEqual(widen1, widen2) || !sameError(err1, err2) {
			t.Fatalf("record %s:\nlocated %v %q %v %v\nscanned %v %q %v %v", rec, row1, unknown1, widen1, err1, row2, unknown2, widen2, err2)
		}
	})
}

func sameError(a, b error) bool {
	if a == nil || b == nil {
		return a == b
	}
	return a.Error() == b.Error()
}
