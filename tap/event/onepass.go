package event

import (
	"bytes"
	"math/bits"
	"slices"
	"strings"

	"github.com/cio-singer/tap-customerio-webhook/internal/jsonlex"
)

// Classify's fast path. Almost every body is a clean, valid event: one
// JSON object, valid UTF-8, no string that Sanitize would rewrite, no
// repeated member name, ordinary numbers, matching the schema. For such a
// body one pass over the bytes checks all of that against the compiled
// fastSchema and writes the compact record, with no decoded document and
// no allocation beyond the record and the event_id. Whatever it is not
// sure of (an escaped member name, a schema outside fastSchema's subset,
// any reason to reject) goes to classifyDecoded, whose verdicts and
// reasons stand; FuzzOnePass checks that both give the same Result.

// span is where a member name lies in the body, quotes excluded, with a
// digest that tells most different names apart without comparing them.
type span struct {
	start, end int
	digest     uint64
}

// digestOf packs the length and the first and last bytes of name.
func digestOf(name []byte) uint64 {
	if len(name) == 0 {
		return 0
	}
	return uint64(len(name))<<16 | uint64(name[0])<<8 | uint64(name[len(name)-1])
}

// onePass is the state of one pass over a body.
type onePass struct {
	b              []byte
	i              int
	out            []byte  // the compact record
	copied         int     // b[:copied] is in out, less its whitespace
	names          []span  // names of the members of the open objects, innermost last
	sorted         []span  // scratch: the names of a large object, sorted
	fields         []field // the tape of Result.Fields
	arrays         int     // arrays open: members within are not on the tape
	idStart, idEnd int     // the top-level event_id value, quotes included; idEnd 0: none

	drop   [][]string // the deselected fields, when the pass removes them
	cuts   []cut      // what removing them takes out of out, in order
	within uint64     // bits of drop: fields within the object value() reads next
}

// cut is a part of the compact record that a deselected field takes
// away: out[from:to].
type cut struct{ from, to int }

// passDrop is how many deselected fields the one pass removes as it goes
// (one bit each in a mask); with more, removePath removes them after it.
const passDrop = 64

// classifyOnePass returns the Result of a clean valid event, or false when
// classifyDecoded must decide. body is valid UTF-8.
func (c *Classifier) classifyOnePass(body []byte) (Result, bool) {
	if c.fast == nil {
		return Result{}, false
	}
	p := &c.pass // its slices are kept from body to body
	*p = onePass{b: body, out: make([]byte, 0, len(body)), names: p.names[:0], sorted: p.sorted[:0], fields: p.fields[:0], cuts: p.cuts[:0]}
	var dropping uint64 // a bit for each deselected field
	if len(c.drop) <= passDrop {
		p.drop = c.drop
		for j, path := range c.drop {
			if len(path) > 0 {
				dropping |= 1 << j
			}
		}
	}
	ok := p.document(c.fast, dropping)
	out := p.out
	p.b, p.out = nil, nil // neither body nor record is kept past the Result
	if !ok || p.idEnd == 0 || body[p.idStart] != '"' {
		return Result{}, false // event_id missing, null or not a string
	}
	raw := body[p.idStart:p.idEnd]
	var id string
	if bytes.IndexByte(raw, '\\') < 0 {
		id = string(raw[1 : len(raw)-1])
	} else if id, _, ok = jsonlex.ParseString(raw, 0); !ok {
		return Result{}, false
	}
	if strings.TrimSpace(id) == "" {
		return Result{}, false
	}
	record := p.record(out)
	if p.drop == nil {
		var err error
		if record, err = c.removeDeselected(out); err != nil {
			return Result{}, false
		}
	}
	return Result{Record: record, EventID: id, Fields: Fields{text: out, list: p.fields}}, true
}

// record is out without the deselected fields the pass cut.
func (p *onePass) record(out []byte) []byte {
	if len(p.cuts) == 0 {
		return out
	}
	n := len(out)
	for _, c := range p.cuts {
		n -= c.to - c.from
	}
	rec, last := make([]byte, 0, n), 0
	for _, c := range p.cuts {
		rec, last = append(rec, out[last:c.from]...), c.to
	}
	return append(rec, out[last:]...)
}

// document reads the body: one object between optional whitespace.
// dropping has a bit for each field of p.drop to remove.
func (p *onePass) document(schema *fastSchema, dropping uint64) bool {
	p.space()
	p.within = dropping
	if p.i >= len(p.b) || p.b[p.i] != '{' || !p.value(schema, 0) {
		return false
	}
	p.space()
	if p.i != len(p.b) {
		return false
	}
	p.out = append(p.out, p.b[p.copied:]...)
	return true
}

// flush copies b[copied:to] to out: at to, len(out) is where b[to] lies in
// the record.
func (p *onePass) flush(to int) {
	p.out = append(p.out, p.b[p.copied:to]...)
	p.copied = to
}

// space skips whitespace, leaving it out of the record.
func (p *onePass) space() {
	j := jsonlex.SkipSpace(p.b, p.i)
	if j == p.i {
		return
	}
	p.out = append(p.out, p.b[p.copied:p.i]...)
	p.i, p.copied = j, j
}

// allows reports whether a value of type t may stand where n applies (nil:
// anything).
func (n *fastSchema) allows(t typeSet) bool {
	return n == nil || n.types == 0 || n.types&t != 0
}

// member returns the schema of the member called name in an object that n
// describes (nil: anything), or false when n forbids the member.
func (n *fastSchema) member(name []byte) (*fastSchema, bool) {
	if n == nil {
		return nil, true
	}
	if s, ok := n.props[string(name)]; ok {
		return s, true
	}
	return n.additional, !n.noExtra
}

// value reads the value at p.i, which n must allow; depth is that of the
// enclosing object or array, as in fastDecode.
func (p *onePass) value(n *fastSchema, depth int) bool {
	if p.i >= len(p.b) {
		return false
	}
	switch c := p.b[p.i]; {
	case c == '{':
		return n.allows(tObject) && p.object(n, depth+1)
	case c == '[':
		return n.allows(tArray) && p.array(n, depth+1)
	case c == '"':
		_, ok := p.str()
		return ok && n.allows(tString)
	case c == 't':
		return n.allows(tBoolean) && p.literal("true")
	case c == 'f':
		return n.allows(tBoolean) && p.literal("false")
	case c == 'n':
		return n.allows(tNull) && p.literal("null")
	case c == '-' || c >= '0' && c <= '9':
		return p.number(n)
	}
	return false
}

func (p *onePass) literal(word string) bool {
	if len(p.b)-p.i < len(word) || string(p.b[p.i:p.i+len(word)]) != word {
		return false
	}
	p.i += len(word)
	return true
}

// str reads the string at p.i. It refuses one that Sanitize would rewrite:
// a \u0000 or lone surrogate escape (the body is valid UTF-8).
func (p *onePass) str() (escaped, ok bool) {
	end, escaped, ok := jsonlex.ScanString(p.b, p.i)
	if !ok || escaped && unloadableEscape(p.b[p.i:end]) {
		return escaped, false
	}
	p.i = end
	return escaped, true
}

// unloadableEscape reports whether the valid JSON string s holds a \u0000
// or lone surrogate escape.
func unloadableEscape(s []byte) bool {
	for k := bytes.IndexByte(s, '\\'); k >= 0; {
		n := 2
		if s[k+1] == 'u' {
			var unloadable bool
			n, _, unloadable, _ = jsonlex.UEscape(s[k:])
			if unloadable {
				return true
			}
		}
		next := bytes.IndexByte(s[k+n:], '\\')
		if next < 0 {
			return false
		}
		k += n + next
	}
	return false
}

// number reads the number at p.i. It refuses one beyond jsonlex.Portable,
// which classifyDecoded rejects.
func (p *onePass) number(n *fastSchema) bool {
	end, ok := jsonlex.ScanNumber(p.b, p.i)
	if !ok {
		return false
	}
	lit := p.b[p.i:end]
	p.i = end
	if !jsonlex.Portable(lit) {
		return false
	}
	if n != nil && n.types != 0 && n.types&tNumber == 0 { // not every number will do
		return n.types&tInteger != 0 && (plainInteger(lit) || numberType(lit) == tInteger)
	}
	return true
}

// plainInteger reports whether the number literal lit has neither a
// fraction nor an exponent.
func plainInteger(lit []byte) bool {
	for _, c := range lit {
		if c == '.' || c == 'e' || c == 'E' {
			return false
		}
	}
	return true
}

// object reads the object at p.i, removing as removePath would the
// deselected fields that p.within has a bit for (set by the member or
// document whose value it is).
func (p *onePass) object(n *fastSchema, depth int) bool {
	dropping := p.within
	p.within = 0
	if depth > maxDepth {
		return false
	}
	if p.open('}') {
		return true
	}
	first := len(p.names)
	kept := false // a member stays before the current one
	for {
		if p.i >= len(p.b) || p.b[p.i] != '"' {
			return false
		}
		start := p.i
		if escaped, ok := p.str(); !ok || escaped {
			return false // a name with an escape: compared decoded, by classifyDecoded
		}
		name := p.b[start+1 : p.i-1]
		within, cutFrom := uint64(0), -1 // cutFrom: where a deselected member starts in out
		if dropping != 0 {
			var deselected bool
			if deselected, within = p.deselected(name, depth, dropping); deselected {
				p.flush(start) // before space() copies the name
				cutFrom = len(p.out)
			}
		}
		p.names = append(p.names, span{start + 1, p.i - 1, digestOf(name)})
		taped := p.tape(start + 1)
		p.space()
		if p.i >= len(p.b) || p.b[p.i] != ':' {
			return false
		}
		p.i++
		p.space()
		child, ok := n.member(name)
		if !ok {
			return false
		}
		isID := depth == 1 && string(name) == "event_id"
		valueStart := p.i
		if within != 0 {
			// Fields within: an object or null, or removePath would
			// refuse the body (classifyDecoded words why).
			if p.i >= len(p.b) || p.b[p.i] != '{' && p.b[p.i] != 'n' {
				return false
			}
			p.within = within
		}
		if !p.value(child, depth) {
			return false
		}
		p.within = 0 // left set by a null
		if isID {
			p.idStart, p.idEnd = valueStart, p.i
		}
		if taped >= 0 {
			p.fields[taped].object = p.b[valueStart] == '{'
			p.fields[taped].skip = len(p.fields)
		}
		cutTo := 0
		if cutFrom >= 0 {
			p.flush(p.i)
			cutTo = len(p.out)
		}
		more, ok := p.next('}')
		if cutFrom >= 0 {
			from, to := memberCut(cutFrom-1, cutFrom, cutTo, cutTo, kept, more)
			p.cuts = append(p.cuts, cut{from, to})
		} else {
			kept = true
		}
		if !more {
			distinct := p.distinct(p.names[first:])
			p.names = p.names[:first]
			return ok && distinct
		}
	}
}

// deselected says whether the member called name, in an object at depth
// that dropping (bits of p.drop) applies to, is a deselected field, or
// else which deselected fields lie within its value.
func (p *onePass) deselected(name []byte, depth int, dropping uint64) (deselected bool, within uint64) {
	for k := dropping; k != 0; k &= k - 1 {
		j := bits.TrailingZeros64(k)
		if path := p.drop[j]; path[depth-1] == string(name) {
			if len(path) == depth {
				return true, 0
			}
			within |= 1 << j
		}
	}
	return false, within
}

func (p *onePass) array(n *fastSchema, depth int) bool {
	if depth > maxDepth {
		return false
	}
	var items *fastSchema
	if n != nil {
		items = n.items
	}
	if p.open(']') {
		return true
	}
	p.arrays++
	for {
		if !p.value(items, depth) {
			return false
		}
		if more, ok := p.next(']'); !more {
			p.arrays--
			return ok
		}
	}
}

// tape lists the member name at b[start:p.i-1] in Result.Fields, unless it
// is within an array, and returns its index there or -1. No whitespace was
// skipped since the last space(), so the name lies in out at the same
// distance from the end as in b from copied.
func (p *onePass) tape(start int) int {
	if p.arrays > 0 {
		return -1
	}
	at := len(p.out) + start - p.copied
	p.fields = append(p.fields, field{start: at, end: at + p.i - 1 - start})
	return len(p.fields) - 1
}

// open consumes the '{' or '[' at p.i and reports whether closer follows
// at once (consumed too).
func (p *onePass) open(closer byte) (empty bool) {
	p.i++
	p.space()
	if p.i < len(p.b) && p.b[p.i] == closer {
		p.i++
		return true
	}
	return false
}

// next consumes what follows a member or element: a comma (more follow)
// or closer (done).
func (p *onePass) next(closer byte) (more, ok bool) {
	p.space()
	if p.i >= len(p.b) {
		return false, false
	}
	switch p.b[p.i] {
	case ',':
		p.i++
		p.space()
		return true, true
	case closer:
		p.i++
		return false, true
	}
	return false, false
}

// smallObject is the number of members up to which distinct compares every
// pair of names; a larger object sorts them.
const smallObject = 16

// distinct reports whether the names of one object (none escaped) differ.
func (p *onePass) distinct(names []span) bool {
	if len(names) <= smallObject {
		for i := 1; i < len(names); i++ {
			for _, o := range names[:i] {
				if o.digest == names[i].digest && bytes.Equal(p.b[names[i].start:names[i].end], p.b[o.start:o.end]) {
					return false
				}
			}
		}
		return true
	}
	p.sorted = append(p.sorted[:0], names...)
	slices.SortFunc(p.sorted, func(x, y span) int {
		return bytes.Compare(p.b[x.start:x.end], p.b[y.start:y.end])
	})
	for i := 1; i < len(p.sorted); i++ {
		if bytes.Equal(p.b[p.sorted[i-1].start:p.sorted[i-1].end], p.b[p.sorted[i].start:p.sorted[i].end]) {
			return false
		}
	}
	return true
}
