package reliability_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"unicode/utf8"
)

// The pipeline fuzzer's body generator. Bodies start from real Customer.io
// payloads (../testdata/payloads) and get a few mutations each: hostile key
// names, escapes the warehouse cannot hold, numbers that do not fit their
// column, duplicate keys, fields that change shape between bodies,
// thousands of new fields, deep nesting, invalid JSON. Generation depends
// only on the seed, so a run can be replayed.

// A JSON document is built as an ordered tree so that key order, duplicate
// keys and escapes are under the generator's control: objects are *jobj
// (members in order, duplicates allowed), numbers jnum (the literal),
// strings Go strings, arrays []any, plus bool and nil.
type (
	jnum   string
	jobj   struct{ members []member }
	member struct {
		key string
		val any
	}
)

// Runes of a private-use plane stand for escapes that a Go string cannot
// hold; the encoder writes them as the escape itself.
const (
	escNUL  = '\U000F0000' // \u0000
	escHigh = '\U000F0001' // \ud83d, a high surrogate (alone unless escLow follows)
	escLow  = '\U000F0002' // \udc00, a low surrogate
	// escRaw starts a string that is written as it is, escapes included:
	// "recip\u0069ent" is the name recipient written with an escape.
	escRaw = '\U000F0003'
)

var escText = map[rune]string{escNUL: `\u0000`, escHigh: `\ud83d`, escLow: `\udc00`}

// encodeJSON writes v compactly.
func encodeJSON(b *bytes.Buffer, v any) {
	switch v := v.(type) {
	case nil:
		b.WriteString("null")
	case bool:
		b.WriteString(strconv.FormatBool(v))
	case jnum:
		b.WriteString(string(v))
	case string:
		encodeString(b, v)
	case []any:
		b.WriteByte('[')
		for i, e := range v {
			if i > 0 {
				b.WriteByte(',')
			}
			encodeJSON(b, e)
		}
		b.WriteByte(']')
	case *jobj:
		b.WriteByte('{')
		for i, m := range v.members {
			if i > 0 {
				b.WriteByte(',')
			}
			encodeString(b, m.key)
			b.WriteByte(':')
			encodeJSON(b, m.val)
		}
		b.WriteByte('}')
	default:
		panic(fmt.Sprintf("encodeJSON: %T", v))
	}
}

func encodeString(b *bytes.Buffer, s string) {
	b.WriteByte('"')
	if raw, ok := strings.CutPrefix(s, string(escRaw)); ok {
		b.WriteString(raw)
		b.WriteByte('"')
		return
	}
	for _, r := range s {
		switch {
		case escText[r] != "":
			b.WriteString(escText[r])
		case r == '"' || r == '\\':
			b.WriteByte('\\')
			b.WriteRune(r)
		case r < 0x20:
			fmt.Fprintf(b, `\u%04x`, r)
		default:
			b.WriteRune(r)
		}
	}
	b.WriteByte('"')
}

// decodeOrdered parses JSON into the ordered tree (numbers keep their literal).
func decodeOrdered(data []byte) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	v, err := decodeValue(dec)
	if err != nil {
		return nil, err
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, fmt.Errorf("trailing data after the JSON value")
	}
	return v, nil
}

func decodeValue(dec *json.Decoder) (any, error) {
	tok, err := dec.Token()
	if err != nil {
		return nil, err
	}
	switch tok := tok.(type) {
	case json.Delim:
		if tok == '[' {
			arr := []any{}
			for dec.More() {
				e, err := decodeValue(dec)
				if err != nil {
					return nil, err
				}
				arr = append(arr, e)
			}
			_, err := dec.Token()
			return arr, err
		}
		obj := &jobj{}
		for dec.More() {
			k, err := dec.Token()
			if err != nil {
				return nil, err
			}
			v, err := decodeValue(dec)
			if err != nil {
				return nil, err
			}
			obj.members = append(obj.members, member{key: k.(string), val: v})
		}
		_, err := dec.Token()
		return obj, err
	case json.Number:
		return jnum(tok), nil
	default:
		return tok, nil // string, bool, nil
	}
}

// get returns the value of the last member named key, or nil.
func (o *jobj) get(key string) any {
	for i := len(o.members) - 1; i >= 0; i-- {
		if o.members[i].key == key {
			return o.members[i].val
		}
	}
	return nil
}

// set replaces the members named key by one with val, or appends it.
func (o *jobj) set(key string, val any) {
	out := o.members[:0]
	found := false
	for _, m := range o.members {
		switch {
		case m.key != key:
			out = append(out, m)
		case !found:
			out = append(out, member{key, val})
			found = true
		}
	}
	if !found {
		out = append(out, member{key, val})
	}
	o.members = out
}

// insert puts a member at position i (duplicates allowed).
func (o *jobj) insert(i int, key string, val any) {
	o.members = append(o.members[:i], append([]member{{key, val}}, o.members[i:]...)...)
}

func cloneJSON(v any) any {
	switch v := v.(type) {
	case *jobj:
		out := &jobj{members: make([]member, len(v.members))}
		for i, m := range v.members {
			out.members[i] = member{m.key, cloneJSON(m.val)}
		}
		return out
	case []any:
		out := make([]any, len(v))
		for i, e := range v {
			out[i] = cloneJSON(e)
		}
		return out
	default:
		return v
	}
}

// fuzzBody is one generated webhook body.
type fuzzBody struct {
	n    int
	raw  []byte
	tags []string // the mutations applied, for reports
	// mustBeData: only mutations a valid event survives were applied, so
	// the body must land on stream data, not on rejected.
	mustBeData bool
}

func (b fuzzBody) String() string {
	return fmt.Sprintf("body #%d (%d bytes; %s)", b.n, len(b.raw), strings.Join(b.tags, ", "))
}

// generator makes bodies from base payloads; deterministic for a seed.
type generator struct {
	rng   *rand.Rand
	seed  uint64
	bases []*jobj
	n     int
	// shapes counts the uses of each shape-changing field: its next value
	// takes the next shape.
	shapes map[string]int
	// wide counts the fields made by the "thousands of fields" mutation.
	wide int
	// muts are the mutations drawn from, weight their total weight.
	muts   []mutation
	weight int
	// secrets counts the values placed in deselected fields (deselecting).
	secrets int
	drop    bool
}

// widePool bounds the distinct names wide bodies use over a run: more than
// PostgreSQL's 1600 and SQLite's 2000 columns, so the limit is reached,
// but a long run's schema stays bounded.
const widePool = 6000

func loadBasePayloads() ([]*jobj, error) {
	paths, err := filepath.Glob(filepath.Join("..", "testdata", "payloads", "*.json"))
	if err != nil || len(paths) == 0 {
		return nil, fmt.Errorf("no base payloads in ../testdata/payloads (%v)", err)
	}
	var bases []*jobj
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			return nil, err
		}
		v, err := decodeOrdered(b)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", p, err)
		}
		bases = append(bases, v.(*jobj))
	}
	return bases, nil
}

func newGenerator(seed uint64, bases []*jobj) *generator {
	return &generator{rng: rand.New(rand.NewPCG(seed, 0x9e3779b97f4a7c15)), seed: seed, bases: bases, shapes: map[string]int{},
		muts: mutations, weight: mutationWeight}
}

// mutation changes a document. safe: a valid event stays a valid event.
type mutation struct {
	name   string
	weight int
	safe   bool
	apply  func(g *generator, doc *jobj) string // returns a detail for the tag, or ""
}

var mutations = []mutation{
	{"hostile-key", 20, true, (*generator).hostileKey},
	{"hostile-value", 15, true, (*generator).hostileValue},
	{"int-field", 14, false, (*generator).intField},
	{"duplicate-key", 10, false, (*generator).duplicateKey},
	{"shape-shift", 10, true, (*generator).shapeShift},
	{"hostile-id", 4, true, (*generator).hostileID},
	{"deep", 3, true, (*generator).deep},
	{"big-string", 2, true, (*generator).bigString},
	{"nullify", 3, true, (*generator).nullify},
	{"remove", 3, true, (*generator).removeField},
	{"type-swap", 4, false, (*generator).typeSwap},
	{"wide", 1, true, (*generator).wideFields},
}

var mutationWeight = totalWeight(mutations)

func totalWeight(ms []mutation) int {
	w := 0
	for _, m := range ms {
		w += m.weight
	}
	return w
}

// next returns the next body: a base payload with a fresh event_id and,
// mostly, one to four mutations; one in twenty is made invalid JSON.
func (g *generator) next() fuzzBody {
	g.n++
	doc := cloneJSON(choose(g, g.bases)).(*jobj)
	doc.set("event_id", g.id())
	if g.drop {
		g.plantSecrets(doc)
	}
	body := fuzzBody{n: g.n, mustBeData: true}
	if g.rng.IntN(100) >= 15 {
		for range 1 + g.rng.IntN(4) {
			m := g.pickMutation()
			tag := m.name
			if d := m.apply(g, doc); d != "" {
				tag += " " + d
			}
			body.tags = append(body.tags, tag)
			body.mustBeData = body.mustBeData && m.safe
		}
	}
	var b bytes.Buffer
	encodeJSON(&b, doc)
	body.raw = b.Bytes()
	if g.rng.IntN(100) < 5 {
		var tag string
		body.raw, tag = g.invalid(body.raw)
		body.tags = append(body.tags, "invalid "+tag)
		body.mustBeData = false
	}
	return body
}

func (g *generator) id() string { return fmt.Sprintf("pf%04x-%d", g.seed&0xffff, g.n) }

func (g *generator) pickMutation() mutation {
	w := g.rng.IntN(g.weight)
	for _, m := range g.muts {
		if w < m.weight {
			return m
		}
		w -= m.weight
	}
	panic("unreachable")
}

func choose[T any](g *generator, list []T) T { return list[g.rng.IntN(len(list))] }

// container returns an object of doc to put a field into: the top level,
// data, or an object inside data.
func (g *generator) container(doc *jobj) *jobj {
	data, ok := doc.get("data").(*jobj)
	if !ok || g.rng.IntN(3) == 0 {
		return doc
	}
	if g.rng.IntN(4) == 0 {
		for _, m := range data.members {
			if sub, ok := m.val.(*jobj); ok {
				return sub
			}
		}
	}
	return data
}

// parentOf returns the object that holds the last name of path, creating
// the objects on the way (replacing what is not an object).
func parentOf(doc *jobj, path []string) *jobj {
	o := doc
	for _, k := range path[:len(path)-1] {
		sub, ok := o.get(k).(*jobj)
		if !ok {
			sub = &jobj{}
			o.set(k, sub)
		}
		o = sub
	}
	return o
}

// dataObject returns doc's data object, creating it when absent or not an object.
func dataObject(doc *jobj) *jobj {
	data, ok := doc.get("data").(*jobj)
	if !ok {
		data = &jobj{}
		doc.set("data", data)
	}
	return data
}

func quoteTag(s string) string {
	if utf8.RuneCountInString(s) > 24 {
		s = string([]rune(s)[:24]) + "…"
	}
	return strconv.QuoteToASCII(s)
}

// longPrefix makes names that differ only after PostgreSQL's 63 bytes.
var longPrefix = strings.Repeat("a_field_name_that_goes_on_", 3)

// hostileNames are names a warehouse cannot take as they are: too long,
// non-ASCII, case twins of each other and of real fields, SQL keywords,
// metadata and system column names, quotes, empty, escapes.
var hostileNames = []string{
	"", " ", "\t", "\n", "a b", `"`, `'`, "`", `a"b`, `a'b`, `a\b`, "a.b", "a-b", "a/b", "%s", "?", "$1",
	"x;drop table data;--", "a\nb", "123", "1e5",
	"select", "from", "where", "order", "group", "user", "table", "primary", "default", "null", "true",
	"column", "limit", "oid", "ctid", "xmin", "xmax", "cmin", "cmax", "tableoid", "rowid", "_rowid_", "ROWID", "OID",
	"_sdc_sequence", "_sdc_extracted_at", "_sdc_received_at", "_sdc_batched_at", "_sdc_table_version",
	"_sdc_deleted_at", "_sdc_errors", "_sdc_rejected_records", "_SDC_SEQUENCE", "_sdc_columns", "_sdc_",
	"Event_ID", "EVENT_ID", "event_ID", "Metric", "METRIC", "Timestamp", "DATA", "Data",
	"data__action_id", "data__customer_id", "data__", "__", "_", "event_id ", " event_id",
	"Metric ", "metric_", "Metric_",
	"ключ", "日本語のキー", "🔑", "clé", "CLÉ", "Straße", "STRASSE", "İd", "ıd", "ǅ", "Ǆ", "ǆ", "\u212a", "k", "K",
	strings.Repeat("x", 63), strings.Repeat("x", 64), strings.Repeat("X", 64), strings.Repeat("x", 65),
	strings.Repeat("y", 300), strings.Repeat("z", 5000), longPrefix + "_alpha", longPrefix + "_beta",
	strings.Repeat("é", 32), strings.Repeat("é", 31) + "e", strings.Repeat("日", 22),
	strings.TrimSpace(strings.Repeat("слово ", 20)), strings.TrimSpace(strings.Repeat("Слово ", 20)),
	"a" + string(escNUL) + "b", string(escNUL), "key" + string(escHigh), string(escLow) + "key",
	string(escHigh) + string(escLow), "a" + string(escNUL), "a" + "\uFFFD", "a" + "\uFFFDb",
}

// hostileStrings are values that are hard to store as sent.
var hostileStrings = []string{
	"", " ", "null", "NULL", `\N`, "Sale " + string(escHigh) + " ends", string(escLow) + "x",
	"a" + string(escNUL) + "b", string(escNUL), string(escHigh) + string(escLow),
	string(escLow) + string(escHigh), string(escHigh) + string(escHigh) + "x", "\x01\x02\x1f",
	"tab\tnew\nline\r", `quote " and \ backslash`, "💥 emoji", "مرحبا", "\u202eRTL", "\uFEFFbom",
	"\uFFFD", "\uFFFF", "  ", "1e30", "0", "-0", "true", `{"a":1}`, `[1,2]`, "2024-01-01T00:00:00Z",
	"not-a-date", strings.Repeat("long ", 2000), "Twilio Error 30006: " + string(escNUL) + " unreachable",
}

// hostileNumbers are literals for integer fields: beyond 64 bits,
// negative, fractional, exponents.
var hostileNumbers = []string{
	"9223372036854775807", "9223372036854775808", "-9223372036854775808", "-9223372036854775809",
	"18446744073709551616", "123456789012345678901234567890", "-123456789012345678901234567890",
	"1e30", "1E+30", "-1e30", "1.5", "-0.5", "0.1", "1e-7", "1.0", "-0", "0e0", "2e2", "1E2",
	"12345678901234567890.123456789", "1e308", "-1e308", "5e-324", "1.7976931348623157e308",
	"1e400", "4.9e-400", "0.000000000000000000000000000001", strings.Repeat("9", 100),
	strings.Repeat("9", 399), "-" + strings.Repeat("1", 39) + "." + strings.Repeat("1", 39), "0", "-1", "42",
}

// beyondTapBounds are hostileNumbers that send any body to rejected (the
// tap refuses numbers beyond float64's range: README, "number bounds").
var beyondTapBounds = map[string]bool{"1e400": true, "4.9e-400": true, strings.Repeat("9", 399): true}

// intFields are fields Customer.io sends as integers (or whose columns
// become integers), and delivery_id, a string a sender might make a number.
var intFields = [][]string{
	{"timestamp"}, {"data", "action_id"}, {"data", "delivery_id"}, {"data", "campaign_id"},
	{"data", "newsletter_id"}, {"data", "parent_action_id"}, {"data", "link_id"}, {"data", "content_id"},
	{"data", "identifiers", "id"}, {"data", "variables", "customer", "created_at"},
}

func (g *generator) hostileName(o *jobj) string {
	if len(o.members) > 0 && g.rng.IntN(5) == 0 { // a case twin of a field it holds
		k := choose(g, o.members).key
		if k, ok := strings.CutPrefix(k, string(escRaw)); ok {
			return "Twin_of_" + k // a name written with escapes: upper-casing could break them
		}
		if u := strings.ToUpper(k); u != k {
			return u
		}
		return strings.ToLower(k) + "_"
	}
	return choose(g, hostileNames)
}

func (g *generator) scalar() any {
	switch g.rng.IntN(6) {
	case 0:
		n := choose(g, hostileNumbers)
		if beyondTapBounds[n] {
			n = "-12345678901234567890.5" // a valid event must stay valid
		}
		return jnum(n)
	case 1:
		return g.rng.IntN(2) == 0
	case 2:
		return jnum(strconv.Itoa(g.rng.IntN(100000) - 500))
	case 3:
		return choose(g, hostileStrings)
	default:
		return fmt.Sprintf("v%d-%d", g.n, g.rng.IntN(1000))
	}
}

func (g *generator) hostileKey(doc *jobj) string {
	o := g.container(doc)
	name := g.hostileName(o)
	if name == "event_id" {
		name = "Event_ID"
	}
	o.set(name, g.scalar())
	return quoteTag(name)
}

func (g *generator) hostileValue(doc *jobj) string {
	o := g.container(doc)
	v := choose(g, hostileStrings)
	var strs []string
	for _, m := range o.members {
		if _, ok := m.val.(string); ok && m.key != "event_id" {
			strs = append(strs, m.key)
		}
	}
	key := fmt.Sprintf("note_%d", g.rng.IntN(20))
	if len(strs) > 0 && g.rng.IntN(3) > 0 {
		key = choose(g, strs)
	}
	o.set(key, v)
	return key + "=" + quoteTag(v)
}

func (g *generator) intField(doc *jobj) string {
	path := choose(g, intFields)
	o := parentOf(doc, path)
	n := choose(g, hostileNumbers)
	o.set(path[len(path)-1], jnum(n))
	return strings.Join(path, ".") + "=" + quoteTag(n)
}

func (g *generator) duplicateKey(doc *jobj) string {
	o := g.container(doc)
	if g.rng.IntN(4) == 0 {
		o = doc
	}
	if len(o.members) == 0 {
		return ""
	}
	i := g.rng.IntN(len(o.members))
	key := o.members[i].key
	var v any
	switch {
	case key == "event_id" && g.rng.IntN(3) > 0:
		v = g.id() + "-dup"
	case g.rng.IntN(2) == 0: // same type
		v = sameType(g, o.members[i].val)
	default:
		v = g.scalar()
	}
	if g.rng.IntN(2) == 0 {
		i++
	}
	o.insert(i, key, v)
	return quoteTag(key)
}

func sameType(g *generator, v any) any {
	switch v.(type) {
	case string:
		return fmt.Sprintf("twin-%d", g.n)
	case jnum:
		return jnum(strconv.Itoa(g.rng.IntN(1000)))
	case bool:
		return g.rng.IntN(2) == 0
	case *jobj:
		return &jobj{members: []member{{"twin", jnum(strconv.Itoa(g.n))}}}
	case []any:
		return []any{"twin"}
	default:
		return nil
	}
}

// shapes are the successive shapes of a shape-changing field.
var shapes = []func(g *generator) any{
	func(g *generator) any { return fmt.Sprintf("s%d", g.n) },
	func(g *generator) any {
		return &jobj{members: []member{{"x", fmt.Sprintf("o%d", g.n)}, {"n", jnum(strconv.Itoa(g.n))}}}
	},
	func(g *generator) any { return jnum(strconv.Itoa(g.n)) },
	func(g *generator) any { return []any{jnum("1"), fmt.Sprintf("a%d", g.n)} },
	func(g *generator) any { return g.n%2 == 0 },
	func(g *generator) any { return jnum("1" + strings.Repeat("0", 25) + strconv.Itoa(g.n)) },
	func(g *generator) any { return nil },
	func(g *generator) any {
		return &jobj{members: []member{{"y", &jobj{members: []member{{"z", fmt.Sprintf("z%d", g.n)}}}}}}
	},
	func(g *generator) any { return &jobj{} },
	func(g *generator) any { return jnum(fmt.Sprintf("%d.25", g.n)) },
	func(g *generator) any { return "" },
}

func (g *generator) shapeShift(doc *jobj) string {
	names := []string{"shape_a", "shape_b", "data.shape_c", "data.identifiers.shape_d"}
	name := choose(g, names)
	path := strings.Split(name, ".")
	o := parentOf(doc, path)
	i := g.shapes[name]
	g.shapes[name]++
	o.set(path[len(path)-1], shapes[i%len(shapes)](g))
	return fmt.Sprintf("%s#%d", name, i%len(shapes))
}

func (g *generator) hostileID(doc *jobj) string {
	id := g.id()
	variants := []string{
		id + string(escNUL), id + string(escHigh), string(escLow) + id, id + strings.Repeat("x", 3000),
		id + strings.Repeat("é", 5000), id + " ", id + "\n", "🔑" + id, id + `"'\`, strings.ToUpper(id),
	}
	v := choose(g, variants)
	doc.set("event_id", v)
	return quoteTag(v)
}

func (g *generator) deep(doc *jobj) string {
	depth := 10 + g.rng.IntN(300)
	if g.rng.IntN(10) == 0 {
		depth = 1000 + g.rng.IntN(4000)
	}
	var v any = fmt.Sprintf("deep-%d", g.n)
	for i := range depth {
		if i%3 == 2 {
			v = []any{v}
		} else {
			v = &jobj{members: []member{{"d", v}}}
		}
	}
	g.container(doc).set("deep", v)
	return strconv.Itoa(depth)
}

func (g *generator) bigString(doc *jobj) string {
	n := 100<<10 + g.rng.IntN(2<<20)
	s := fmt.Sprintf("big-%d ", g.n) + strings.Repeat("Customer.io ", n/12)
	g.container(doc).set("big", s)
	return strconv.Itoa(len(s))
}

func (g *generator) nullify(doc *jobj) string {
	o := g.container(doc)
	if len(o.members) == 0 {
		return ""
	}
	m := &o.members[g.rng.IntN(len(o.members))]
	if m.key == "event_id" {
		return ""
	}
	m.val = nil
	return quoteTag(m.key)
}

func (g *generator) removeField(doc *jobj) string {
	o := g.container(doc)
	if len(o.members) == 0 {
		return ""
	}
	i := g.rng.IntN(len(o.members))
	key := o.members[i].key
	if key == "event_id" {
		return ""
	}
	o.members = append(o.members[:i], o.members[i+1:]...)
	return quoteTag(key)
}

func (g *generator) typeSwap(doc *jobj) string {
	swaps := []struct {
		path []string
		val  any
	}{
		{[]string{"metric"}, jnum("5")},
		{[]string{"object_type"}, &jobj{members: []member{{"a", jnum("1")}}}},
		{[]string{"data"}, "not an object"},
		{[]string{"data"}, []any{jnum("1"), jnum("2")}},
		{[]string{"timestamp"}, true},
		{[]string{"timestamp"}, "1727798421"},
		{[]string{"data", "identifiers"}, "x"},
		{[]string{"data", "recipient"}, jnum("12")},
		{[]string{"data", "customer_id"}, &jobj{}},
	}
	s := choose(g, swaps)
	o := doc
	if len(s.path) == 2 {
		o = dataObject(doc)
	}
	o.set(s.path[len(s.path)-1], s.val)
	return strings.Join(s.path, ".")
}

func (g *generator) wideFields(doc *jobj) string {
	o := g.container(doc)
	n := 1000 + g.rng.IntN(1500)
	for range n {
		i := g.wide % widePool
		g.wide++
		if i%2 == 0 {
			o.set(fmt.Sprintf("wide_%d", i), jnum(strconv.Itoa(i)))
		} else {
			o.set(fmt.Sprintf("wide_%d", i), fmt.Sprintf("w%d", i))
		}
	}
	return strconv.Itoa(n)
}

// invalid turns raw into a body that is not a valid event.
func (g *generator) invalid(raw []byte) ([]byte, string) {
	id := g.id()
	switch g.rng.IntN(15) {
	case 0:
		return raw[:g.rng.IntN(len(raw))], "truncated"
	case 1:
		return append(raw[:len(raw)-1:len(raw)-1], []byte(",}")...), "trailing comma"
	case 2:
		return append(raw, " trailing"...), "trailing text"
	case 3:
		return append(append([]byte{}, raw...), raw...), "two objects"
	case 4:
		return bytes.Replace(raw, []byte(`"`), []byte(`'`), 2), "single quote"
	case 5:
		return fmt.Appendf(nil, "{\"event_id\":%q,\"s\":\"bad \xff\xfe utf8\"}", id), "invalid UTF-8"
	case 6:
		return fmt.Appendf(nil, `{"event_id":%q,"n":NaN}`, id), "NaN"
	case 7:
		return nil, "empty"
	case 8:
		return append(append([]byte("["), raw...), ']'), "array"
	case 9:
		return []byte("null"), "null"
	case 10:
		return fmt.Appendf(nil, `{"event_id":%s,"metric":"sent"}`, id[len(id)-1:]), "numeric event_id"
	case 11:
		return fmt.Appendf(nil, `{"event_id":"   ","x":%q}`, id), "blank event_id"
	case 12:
		return fmt.Appendf(nil, "{\"event_id\":\"%s\x00\",\"raw\":\"nul\x00byte\"}", id), "raw NUL"
	case 13:
		return append([]byte("\xef\xbb\xbf"), raw...), "BOM"
	default:
		return fmt.Appendf(nil, `{"x":%q}`, id), "no event_id"
	}
}
