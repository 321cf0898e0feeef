package reliability_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"unicode/utf16"
	"unicode/utf8"
)

// The pipeline fuzzer's oracle: what "every value of an acknowledged body
// is findable in the warehouse" means, exactly.
//
// A body's values are the leaves of its JSON document as the tap documents
// it cleans them: decoded with duplicate keys collapsing to the last, NUL
// and lone surrogate escapes becoming U+FFFD. Each leaf is a string, a
// number (compared by value: 1e2 = 100 = 100.0) or a boolean; null and
// empty containers carry nothing to find. Keys are not compared: targets
// rename columns by their own rule.
//
// A body is found when
//   - it is a JSON object whose cleaned event_id is a row of data, and
//     every leaf is among the leaves of that row taken as a whole (every
//     column, JSON columns and _sdc_errors included), together with the
//     records of _sdc_rejected_records that carry that event_id; or
//   - a row of rejected holds it: its body equals the body sent, compared
//     after normalising both (see normBody), or both parse to the same
//     document after the tap's cleaning (see canonicalDoc).
//
// The leaves of a row: strings, numbers and booleans anywhere in it; a
// string that parses as a JSON object or array adds its leaves too (JSON
// kept as text), a string that parses as a number counts as that number
// too (numbers kept as text), and in SQLite an integer in a boolean column
// counts as that boolean.
//
// With deselected fields (see pipefuzz_drop_test.go) a body's values are
// those left once the deselected fields are removed, and a rejected body
// from which they cannot be removed must be withheld instead.

// leaf is one value in comparable form: "s" + string, "n" + canonical
// number, "b" + true/false; hashed so long strings cost 16 bytes.
type leaf [16]byte

func leafOf(kind byte, s string) leaf {
	h := sha256.New()
	h.Write([]byte{kind})
	io.WriteString(h, s)
	var l leaf
	copy(l[:], h.Sum(nil))
	return l
}

func stringLeaf(s string) leaf { return leafOf('s', s) }
func boolLeaf(b bool) leaf     { return leafOf('b', strconv.FormatBool(b)) }

// numberLeaf returns the leaf of a decimal literal, or false when s is not one.
func numberLeaf(s string) (leaf, bool) {
	c, ok := canonicalNumber(s)
	if !ok {
		return leaf{}, false
	}
	return leafOf('n', c), true
}

// canonicalNumber writes a decimal literal as sign, significant digits and
// exponent, so that two literals of the same value are equal strings.
func canonicalNumber(s string) (string, bool) {
	neg := false
	if s != "" && (s[0] == '-' || s[0] == '+') {
		neg = s[0] == '-'
		s = s[1:]
	}
	mant, expPart, hasExp := strings.Cut(strings.ToLower(s), "e")
	intPart, frac, _ := strings.Cut(mant, ".")
	if intPart == "" && frac == "" || !isDigits(intPart) || !isDigits(frac) {
		return "", false
	}
	exp := 0
	if hasExp {
		e, err := strconv.Atoi(strings.TrimPrefix(expPart, "+"))
		if err != nil {
			return "", false
		}
		exp = e
	}
	digits := strings.TrimLeft(intPart+frac, "0")
	exp -= len(frac)
	trimmed := strings.TrimRight(digits, "0")
	exp += len(digits) - len(trimmed)
	if trimmed == "" {
		return "0", true
	}
	sign := ""
	if neg {
		sign = "-"
	}
	return fmt.Sprintf("%s%se%d", sign, trimmed, exp), true
}

func isDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// cleanString applies the tap's documented cleaning to a decoded string:
// Go's decoder already turned lone surrogate escapes into U+FFFD; NUL
// becomes U+FFFD as well.
func cleanString(s string) string { return strings.ReplaceAll(s, "\x00", "\uFFFD") }

// expectation is what an acknowledged body must leave in the warehouse.
type expectation struct {
	n      int
	isDoc  bool   // a JSON object: it may land on data
	id     string // its cleaned event_id, when a non-empty string
	leaves []leaf
	body   leaf // the normalised body, to find it on rejected
	doc    leaf // its cleaned document, when it parses (see canonicalDoc)
	hasDoc bool
	// mustBeData: see fuzzBody.
	mustBeData bool
	desc       string

	// sha is the hex SHA-256 of the body sent, which a withheld rejection
	// carries. withhold: fields are deselected and cannot be removed from
	// it, so if rejected it must be withheld. rawMatch: its rejected body
	// may be the body as sent (nothing was removed from it). forbidden:
	// the values only its deselected fields held (forbiddenLeaves).
	sha       string
	withhold  bool
	rawMatch  bool
	forbidden []leaf
}

// expect computes the expectation of a body when the tap removes the
// fields at drop.
func expect(b fuzzBody, drop [][]string) expectation {
	sum := sha256.Sum256(b.raw)
	e := expectation{n: b.n, body: stringLeaf(normBody(string(b.raw))), mustBeData: b.mustBeData, desc: b.String(),
		sha: hex.EncodeToString(sum[:]), rawMatch: true}
	// A body that is not JSON is withheld unless blank (nothing to hide).
	e.withhold = len(drop) > 0 && len(bytes.TrimSpace(b.raw)) > 0
	// Bytes that are not UTF-8 in its strings make a body no event, but
	// JSON still: they decode, as the tap cleans them, to U+FFFD.
	doc, err := decodeDoc(b.raw)
	if err != nil {
		return e
	}
	e.withhold = len(drop) > 0 && !removable(doc, drop)
	if e.withhold {
		e.doc, e.hasDoc = canonicalDoc(doc), true // found on rejected as sent: not withheld
		return e
	}
	removed := removeDeselected(doc, drop)
	e.rawMatch = len(removed) == 0
	e.forbidden = forbiddenLeaves(removed, doc)
	e.doc, e.hasDoc = canonicalDoc(doc), true
	if !utf8.Valid(b.raw) {
		return e
	}
	obj, ok := doc.(map[string]any)
	if !ok {
		return e
	}
	e.isDoc = true
	if id, ok := obj["event_id"].(string); ok {
		e.id = cleanString(id)
	}
	set := map[leaf]bool{}
	addLeaves(set, obj, false)
	for l := range set {
		e.leaves = append(e.leaves, l)
	}
	return e
}

// canonicalDoc is the leaf of a decoded document after the tap's cleaning
// (NUL in names and strings becomes U+FFFD), encoded with sorted keys: a
// rejected body the tap cleaned and re-encoded still matches the body sent.
func canonicalDoc(doc any) leaf {
	var clean func(v any) any
	clean = func(v any) any {
		switch v := v.(type) {
		case map[string]any:
			out := make(map[string]any, len(v))
			for k, e := range v {
				out[cleanString(k)] = clean(e)
			}
			return out
		case []any:
			for i, e := range v {
				v[i] = clean(e)
			}
			return v
		case string:
			return cleanString(v)
		default:
			return v
		}
	}
	b, err := json.Marshal(clean(doc))
	if err != nil {
		return leaf{}
	}
	return leafOf('d', string(b))
}

// decodeDoc decodes one JSON value (numbers as json.Number), refusing
// trailing data.
func decodeDoc(raw []byte) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, err
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errors.New("trailing data")
	}
	return v, nil
}

// addLeaves adds the leaves of v to set. found: v comes from the warehouse,
// so strings holding JSON or numbers count as what they hold too.
func addLeaves(set map[leaf]bool, v any, found bool) {
	switch v := v.(type) {
	case map[string]any:
		for _, e := range v {
			addLeaves(set, e, found)
		}
	case []any:
		for _, e := range v {
			addLeaves(set, e, found)
		}
	case json.Number:
		if l, ok := numberLeaf(string(v)); ok {
			set[l] = true
		}
	case bool:
		set[boolLeaf(v)] = true
	case string:
		if !found {
			set[stringLeaf(cleanString(v))] = true
			return
		}
		set[stringLeaf(v)] = true
		if l, ok := numberLeaf(v); ok {
			set[l] = true
		}
		if t := strings.TrimSpace(v); strings.HasPrefix(t, "{") || strings.HasPrefix(t, "[") {
			if inner, err := decodeDoc([]byte(t)); err == nil {
				addLeaves(set, inner, true)
			}
		}
	}
}

// normBody normalises a body for comparison with a rejected row's body:
// invalid UTF-8, NUL, and the escapes \u0000, \ufffd and lone surrogates
// (which the tap may rewrite) all become U+FFFD, and runs of U+FFFD one.
func normBody(s string) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	s = strings.ReplaceAll(s, "\x00", "\uFFFD")
	var b strings.Builder
	for i := 0; i < len(s); {
		if r, n, ok := unicodeEscape(s[i:]); ok {
			if r == 0 || r == 0xfffd {
				b.WriteRune('\uFFFD')
				i += n
				continue
			}
			if utf16.IsSurrogate(r) {
				if r2, n2, ok2 := unicodeEscape(s[i+n:]); ok2 && r < 0xdc00 && r2 >= 0xdc00 && r2 <= 0xdfff {
					b.WriteString(s[i : i+n+n2]) // a valid pair stays as it is
					i += n + n2
					continue
				}
				b.WriteRune('\uFFFD')
				i += n
				continue
			}
		}
		b.WriteByte(s[i])
		i++
	}
	out := b.String()
	for strings.Contains(out, "\uFFFD\uFFFD") {
		out = strings.ReplaceAll(out, "\uFFFD\uFFFD", "\uFFFD")
	}
	return out
}

// unicodeEscape parses a \uXXXX escape at the start of s.
func unicodeEscape(s string) (rune, int, bool) {
	if len(s) < 6 || s[0] != '\\' || (s[1] != 'u' && s[1] != 'U') {
		return 0, 0, false
	}
	v, err := strconv.ParseUint(s[2:6], 16, 32)
	if err != nil {
		return 0, 0, false
	}
	return rune(v), 6, true
}

// warehouse is what a target loaded, reduced to what the oracle needs.
type warehouse struct {
	// rows: the leaves of each data row (with _sdc_errors), by event_id,
	// merged with the records of _sdc_rejected_records of that event_id.
	rows map[string]map[leaf]bool
	// rejectedBodies counts rejected rows by normalised body.
	rejectedBodies map[leaf]int
	// rejectedDocs counts rejected bodies that parse, by canonicalDoc.
	rejectedDocs                                         map[leaf]int
	dataRows, rejectedRows, errorRows, errorColumnValues int
	// withheld counts rejected rows without body by body_sha256.
	withheld     map[string]int
	withheldRows []withheldRow
	// leaks notes marked values (secretMark) found in any table, when
	// the reader scanned for them; dataColumns are the columns of data.
	leaks       []string
	dataColumns map[string]bool
}

func newWarehouse() *warehouse {
	return &warehouse{rows: map[string]map[leaf]bool{}, rejectedBodies: map[leaf]int{}, rejectedDocs: map[leaf]int{},
		withheld: map[string]int{}, dataColumns: map[string]bool{}}
}

// addRejected adds a row of rejected (or the record of one set aside):
// its body, or, when withheld, its digest.
func (w *warehouse) addRejected(row map[string]any) {
	if body, ok := row["body"].(string); ok {
		w.addRejectedBody(body)
		return
	}
	w.rejectedRows++
	r := withheldRow{}
	r.id, _ = row["rejection_id"].(string)
	r.sha, _ = row["body_sha256"].(string)
	r.reason, _ = row["reason"].(string)
	if n, ok := row["body_bytes"].(json.Number); ok {
		v, _ := n.Int64()
		r.bytes = int(v)
	}
	w.withheld[r.sha]++
	w.withheldRows = append(w.withheldRows, r)
}

// addDataRow adds a row of data (or a record set aside for stream data).
func (w *warehouse) addDataRow(id string, row any) {
	set := w.rows[id]
	if set == nil {
		set = map[leaf]bool{}
		w.rows[id] = set
	}
	addLeaves(set, row, true)
}

// addRejectedBody adds the body of a row of rejected.
func (w *warehouse) addRejectedBody(body string) {
	w.rejectedRows++
	w.rejectedBodies[stringLeaf(normBody(body))]++
	if doc, err := decodeDoc([]byte(body)); err == nil {
		w.rejectedDocs[canonicalDoc(doc)]++
	}
}

// verdict of one body.
type bodyVerdict int

const (
	foundData bodyVerdict = iota
	foundRejected
	foundWithheld
	missing            // in neither
	missingValues      // its row lacks values
	wrongStream        // mustBeData but only on rejected
	leakedValues       // its row holds a value of its deselected fields
	notWithheld        // rejected with its body, which should have been withheld
	needlesslyWithheld // withheld, though its deselected fields could be removed
	superseded         // its row was replaced by another body's with the same event_id
)

func (w *warehouse) judge(e expectation, missingLeaves *int) bodyVerdict {
	if e.isDoc && e.id != "" {
		if set, ok := w.rows[e.id]; ok {
			for _, l := range e.forbidden {
				if set[l] {
					return leakedValues
				}
			}
			lost := 0
			for _, l := range e.leaves {
				if !set[l] {
					lost++
				}
			}
			if lost == 0 {
				return foundData
			}
			if !w.onRejected(e) {
				*missingLeaves = lost
				return missingValues
			}
		}
	}
	withheld := w.withheld[e.sha] > 0
	switch {
	case e.mustBeData && (withheld || w.onRejected(e)):
		return wrongStream
	case e.withhold && withheld:
		return foundWithheld
	case e.withhold && w.onRejected(e):
		return notWithheld
	case e.withhold:
		return missing
	case w.onRejected(e):
		return foundRejected
	case withheld:
		return needlesslyWithheld
	}
	return missing
}

// missingLeaves names (at most 10 of) the values of raw that the row of id
// lacks, for a report.
func (w *warehouse) missingLeaves(raw []byte, id string) []string {
	doc, err := decodeDoc(raw)
	if err != nil {
		return nil
	}
	var out []string
	var walk func(path string, v any)
	walk = func(path string, v any) {
		switch v := v.(type) {
		case map[string]any:
			for k, e := range v {
				walk(path+"."+quoteTag(k), e)
			}
		case []any:
			for i, e := range v {
				walk(fmt.Sprintf("%s[%d]", path, i), e)
			}
		default:
			set := map[leaf]bool{}
			addLeaves(set, v, false)
			for l := range set {
				if !w.rows[id][l] && len(out) < 10 {
					out = append(out, fmt.Sprintf("%s = %.60v", path, v))
				}
			}
		}
	}
	walk("", doc)
	return out
}

func (w *warehouse) onRejected(e expectation) bool {
	return e.rawMatch && w.rejectedBodies[e.body] > 0 || e.hasDoc && w.rejectedDocs[e.doc] > 0
}

// checkSingerLine checks what the tap promises about a RECORD line, so that
// other people's targets can load it: valid UTF-8 JSON, no \u0000 escape,
// no lone surrogate escape, no duplicate key in any object.
func checkSingerLine(line []byte) error {
	if !utf8.Valid(line) {
		return errors.New("not valid UTF-8")
	}
	s := &lineScanner{b: line}
	s.space()
	if err := s.value(); err != nil {
		return err
	}
	s.space()
	if s.i != len(s.b) {
		return fmt.Errorf("trailing data at byte %d", s.i)
	}
	return nil
}

// lineScanner is a strict JSON scanner that reports what jsonb and Python
// targets choke on, which encoding/json silently repairs.
type lineScanner struct {
	b []byte
	i int
}

func (s *lineScanner) space() {
	for s.i < len(s.b) && (s.b[s.i] == ' ' || s.b[s.i] == '\t' || s.b[s.i] == '\n' || s.b[s.i] == '\r') {
		s.i++
	}
}

func (s *lineScanner) errf(format string, a ...any) error {
	return fmt.Errorf("byte %d: %s", s.i, fmt.Sprintf(format, a...))
}

func (s *lineScanner) value() error {
	if s.i >= len(s.b) {
		return s.errf("unexpected end")
	}
	switch c := s.b[s.i]; {
	case c == '{':
		s.i++
		keys := map[string]bool{}
		s.space()
		if s.i < len(s.b) && s.b[s.i] == '}' {
			s.i++
			return nil
		}
		for {
			s.space()
			k, err := s.str()
			if err != nil {
				return err
			}
			if keys[k] {
				return s.errf("duplicate key %s", quoteTag(k))
			}
			keys[k] = true
			s.space()
			if s.i >= len(s.b) || s.b[s.i] != ':' {
				return s.errf("expected ':'")
			}
			s.i++
			s.space()
			if err := s.value(); err != nil {
				return err
			}
			s.space()
			if s.i < len(s.b) && s.b[s.i] == ',' {
				s.i++
				continue
			}
			if s.i < len(s.b) && s.b[s.i] == '}' {
				s.i++
				return nil
			}
			return s.errf("expected ',' or '}'")
		}
	case c == '[':
		s.i++
		s.space()
		if s.i < len(s.b) && s.b[s.i] == ']' {
			s.i++
			return nil
		}
		for {
			s.space()
			if err := s.value(); err != nil {
				return err
			}
			s.space()
			if s.i < len(s.b) && s.b[s.i] == ',' {
				s.i++
				continue
			}
			if s.i < len(s.b) && s.b[s.i] == ']' {
				s.i++
				return nil
			}
			return s.errf("expected ',' or ']'")
		}
	case c == '"':
		_, err := s.str()
		return err
	default:
		start := s.i
		for s.i < len(s.b) && strings.IndexByte(",]} \t\r\n", s.b[s.i]) < 0 {
			s.i++
		}
		lit := string(s.b[start:s.i])
		if lit == "true" || lit == "false" || lit == "null" {
			return nil
		}
		if _, ok := canonicalNumber(lit); !ok || strings.HasPrefix(lit, "+") {
			return s.errf("bad literal %s", quoteTag(lit))
		}
		return nil
	}
}

var simpleEscapes = map[byte]byte{'"': '"', '\\': '\\', '/': '/', 'b': '\b', 'f': '\f', 'n': '\n', 'r': '\r', 't': '\t'}

// str reads a string, returning it decoded; \u0000 and lone surrogates
// are errors.
func (s *lineScanner) str() (string, error) {
	if s.i >= len(s.b) || s.b[s.i] != '"' {
		return "", s.errf("expected string")
	}
	s.i++
	var out strings.Builder
	for s.i < len(s.b) {
		c := s.b[s.i]
		switch {
		case c == '"':
			s.i++
			return out.String(), nil
		case c < 0x20:
			return "", s.errf("raw control character in string")
		case c == '\\':
			if s.i+1 >= len(s.b) {
				return "", s.errf("bad escape")
			}
			if e := s.b[s.i+1]; e != 'u' {
				d, ok := simpleEscapes[e]
				if !ok {
					return "", s.errf("bad escape")
				}
				out.WriteByte(d)
				s.i += 2
				continue
			}
			r, n, ok := unicodeEscape(string(s.b[s.i:min(len(s.b), s.i+6)]))
			if !ok {
				return "", s.errf("bad \\u escape")
			}
			switch {
			case r == 0:
				return "", s.errf(`\u0000 escape`)
			case r >= 0xd800 && r < 0xdc00:
				r2, n2, ok2 := unicodeEscape(string(s.b[s.i+n : min(len(s.b), s.i+n+6)]))
				if !ok2 || r2 < 0xdc00 || r2 > 0xdfff {
					return "", s.errf("lone high surrogate escape")
				}
				out.WriteRune(utf16.DecodeRune(r, r2))
				s.i += n + n2
			case r >= 0xdc00 && r <= 0xdfff:
				return "", s.errf("lone low surrogate escape")
			default:
				out.WriteRune(r)
				s.i += n
			}
		default:
			out.WriteByte(c)
			s.i++
		}
	}
	return "", s.errf("unterminated string")
}
