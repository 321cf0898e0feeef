package reliability_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
)

// The pipeline fuzzer's deselection configuration (targets *-drop): the
// tap runs with a catalog, made from its own --discover, that deselects
// dropPaths, as a data engineer keeps e-mail addresses on the machine.
// The generator puts values marked secretMark into those fields in every
// form a body can hold them (first, last, repeated, escaped names, values
// that are objects, arrays, JSON text, parents that are strings, arrays or
// null), and near-misses (fields that only look deselected) whose values
// must arrive. Besides what the oracle requires of every body (each value
// of a record that is not deselected arrives), it requires:
//   - no marked value anywhere: in no table or column of the warehouse, in
//     no line the tap wrote, in no log line; and no value of a body's
//     deselected fields in that body's row (see expectation.forbidden);
//   - no deselected field in a SCHEMA the tap wrote, no column for one;
//   - a rejected body from which the deselected fields cannot be removed
//     (not JSON, or a value on their path is neither an object nor null:
//     see removable) is withheld: body null, its raw bytes in
//     spool_dir/withheld/<rejection_id>; any other rejected body arrives
//     without its deselected fields, not withheld.

// dropPaths are the fields the deselection configuration deselects: one at
// the top level, one in data, one in data.identifiers.
var dropPaths = [][]string{{"data", "recipient"}, {"data", "identifiers", "email"}, {"object_type_type"}}

// secretMark starts every value the generator puts in a deselected field.
const secretMark = "SECRET-PII-"

// writeDropCatalog writes the catalog the tap discovers with dropPaths
// deselected (metadata selected: false on their breadcrumbs).
func writeDropCatalog(t *testing.T, tapBin, tapCfg, dir string) string {
	t.Helper()
	out, err := exec.Command(tapBin, "--config", tapCfg, "--discover").Output()
	if err != nil {
		t.Fatalf("tap --discover: %v", err)
	}
	var cat map[string]any
	if err := json.Unmarshal(out, &cat); err != nil {
		t.Fatalf("tap --discover: %v", err)
	}
	want := map[string]bool{}
	for _, p := range dropPaths {
		want["properties/"+strings.Join(p, "/properties/")] = true
	}
	streams, _ := cat["streams"].([]any)
	for _, s := range streams {
		st, _ := s.(map[string]any)
		if st["stream"] != "data" {
			continue
		}
		mds, _ := st["metadata"].([]any)
		for _, m := range mds {
			md, _ := m.(map[string]any)
			var crumb []string
			for _, c := range md["breadcrumb"].([]any) {
				crumb = append(crumb, c.(string))
			}
			if key := strings.Join(crumb, "/"); want[key] {
				md["metadata"].(map[string]any)["selected"] = false
				delete(want, key)
			}
		}
	}
	if len(want) > 0 {
		t.Fatalf("tap --discover has no metadata for %v", want)
	}
	return writeJSON(t, filepath.Join(dir, "catalog.json"), cat)
}

// deselecting makes g generate for the deselection configuration: base
// payloads carry secrets in their deselected fields, and dropMutations
// join the others.
func (g *generator) deselecting() *generator {
	g.drop = true
	g.muts = append(append([]mutation{}, mutations...), dropMutations...)
	g.weight = totalWeight(g.muts)
	return g
}

var dropMutations = []mutation{
	{"secret", 24, true, (*generator).secretField},
	{"near-miss", 10, true, (*generator).nearMiss},
	{"secret-shape", 10, false, (*generator).secretShape},
}

func (g *generator) secret() string {
	g.secrets++
	return fmt.Sprintf("%s%d-%d", secretMark, g.n, g.secrets)
}

// plantSecrets replaces the values of the deselected fields of a base
// payload by secrets.
func (g *generator) plantSecrets(doc *jobj) {
	for _, path := range dropPaths {
		o := doc
		for _, k := range path[:len(path)-1] {
			if o, _ = o.get(k).(*jobj); o == nil {
				break
			}
		}
		if o != nil && o.get(path[len(path)-1]) != nil {
			o.set(path[len(path)-1], g.secret())
		}
	}
}

// escapedName writes name (ASCII) with one or all of its bytes as \u
// escapes: the same name to a JSON reader.
func (g *generator) escapedName(name string) string {
	var b strings.Builder
	b.WriteRune(escRaw)
	all, at := g.rng.IntN(4) == 0, g.rng.IntN(len(name))
	format := `\u%04x`
	if g.rng.IntN(2) == 0 {
		format = `\u%04X`
	}
	for i := 0; i < len(name); i++ {
		if all || i == at {
			fmt.Fprintf(&b, format, name[i])
		} else {
			b.WriteByte(name[i])
		}
	}
	return b.String()
}

// place puts a member into o first, last or in between (beside any of the
// same name), and says where.
func (g *generator) place(o *jobj, key string, val any) string {
	switch g.rng.IntN(3) {
	case 0:
		o.insert(0, key, val)
		return "first"
	case 1:
		o.members = append(o.members, member{key, val})
		return "last"
	}
	o.insert(g.rng.IntN(len(o.members)+1), key, val)
	return "inside"
}

// secretField puts a secret string (or null) into a deselected field: a
// valid event stays valid.
func (g *generator) secretField(doc *jobj) string {
	path := choose(g, dropPaths)
	o := parentOf(doc, path)
	name := path[len(path)-1]
	var val any = g.secret()
	how := "plain"
	switch g.rng.IntN(7) {
	case 2:
		name, how = g.escapedName(name), "escaped-name"
	case 3:
		for range 1 + g.rng.IntN(2) {
			k := name
			if g.rng.IntN(2) == 0 {
				k = g.escapedName(name)
			}
			g.place(o, k, g.secret())
		}
		how = "repeated"
	case 4:
		val, how = nil, "null"
	case 5:
		val, how = fmt.Sprintf(`{"%s":%q,"list":[%q]}`, name, g.secret(), g.secret()), "json-text"
	case 6:
		val, how = string(escRaw)+g.secret()+`\u00e9\n\"\/\ud83d\ude00`, "escaped-value"
	}
	return fmt.Sprintf("%s %s %s", strings.Join(path, "."), how, g.place(o, name, val))
}

// nearMisses are fields that look like deselected ones but are not: names
// at another level, case twins, names with a dot, a NUL, a lone surrogate
// or a dotless ı, a deselected name inside an array. Each must arrive.
var nearMisses = [][]string{
	{"recipient"}, {"email"}, {"identifiers", "email"}, {"data.recipient"}, {"data.identifiers", "email"},
	{"Object_Type_Type"}, {"object_type_type "}, {"data", "Recipient"}, {"data", "RECIPIENT"}, {"data", "recipient "},
	{"data", "recipient" + string(escNUL)}, {"data", string(escRaw) + `recip\u0131ent`}, {"data", "email"},
	{"data", "identifiers.email"}, {"data", "identifiers", "recipient"}, {"data", "identifiers", "Email"},
	{"data", "identifiers", "email" + string(escHigh)}, {"data", "headers", "recipient"},
	{"data", "variables", "identifiers", "email"}, {"data", "variables", "data", "recipient"}, {"data", "recipient_list", "[]"},
}

// nearMiss puts a value that must arrive into a near-miss field.
func (g *generator) nearMiss(doc *jobj) string {
	path := choose(g, nearMisses)
	keep := fmt.Sprintf("keep-%d-%d", g.n, g.rng.IntN(1000))
	if path[len(path)-1] == "[]" { // a deselected name in objects of an array
		path = path[:len(path)-1]
		g.place(parentOf(doc, path), path[len(path)-1], []any{
			&jobj{members: []member{{"recipient", keep}}},
			&jobj{members: []member{{"identifiers", &jobj{members: []member{{"email", keep + "-e"}}}}}},
		})
		return strings.Join(path, ".") + "[]"
	}
	g.place(parentOf(doc, path), path[len(path)-1], keep)
	return quoteTag(strings.Join(path, "."))
}

// secretShape puts secrets in other shapes: objects and arrays in
// deselected fields (removable; valid or not, as the catalog's schema no
// longer declares them), data or identifiers as a string, an array or a
// number (the body must be withheld), data twice.
func (g *generator) secretShape(doc *jobj) string {
	recipientIn := func() *jobj { return &jobj{members: []member{{"recipient", g.secret()}}} }
	switch g.rng.IntN(9) {
	case 0:
		path := choose(g, dropPaths)
		var val any = &jobj{members: []member{{"v", g.secret()}, {path[len(path)-1], g.secret()}}}
		if g.rng.IntN(2) == 0 {
			val = []any{g.secret(), &jobj{members: []member{{"email", g.secret()}}}, nil}
		}
		return strings.Join(path, ".") + " container " + g.place(parentOf(doc, path), path[len(path)-1], val)
	case 1:
		var b bytes.Buffer
		encodeJSON(&b, recipientIn())
		doc.set("data", b.String())
		return "data as JSON text"
	case 2:
		doc.set("data", []any{recipientIn()})
		return "data as array"
	case 3:
		dataObject(doc).set("identifiers", g.secret())
		return "identifiers as string"
	case 4:
		dataObject(doc).set("identifiers", []any{&jobj{members: []member{{"email", g.secret()}}}})
		return "identifiers as array"
	case 5:
		doc.set("data", jnum("5"))
		return "data as number"
	case 6: // an earlier data, collapsed away by the last
		at := len(doc.members)
		for i, m := range doc.members {
			if m.key == "data" {
				at = i
			}
		}
		doc.insert(at, "data", g.secret())
		return "data string then data"
	case 7: // the last data is not an object: the secrets in the one before stay in the body
		doc.members = append(doc.members, member{"data", "not an object"})
		return "data then data string"
	}
	if g.rng.IntN(2) == 0 {
		doc.set("data", nil)
		return "data null"
	}
	dataObject(doc).set("identifiers", nil)
	return "identifiers null"
}

// removable reports whether removePath can take every deselected field
// out of doc: each value on a field's path (doc included) is an object or
// null, or the path ends before.
func removable(doc any, paths [][]string) bool {
	for _, path := range paths {
		v := doc
		for _, name := range path {
			if v == nil {
				break
			}
			o, ok := v.(map[string]any)
			if !ok {
				return false
			}
			if v, ok = o[name]; !ok {
				break
			}
		}
	}
	return true
}

// removeDeselected removes the deselected fields from doc (removable) and
// returns their values.
func removeDeselected(doc any, paths [][]string) []any {
	var removed []any
	for _, path := range paths {
		o, _ := doc.(map[string]any)
		for _, name := range path[:len(path)-1] {
			o, _ = o[name].(map[string]any)
		}
		if v, ok := o[path[len(path)-1]]; ok {
			removed = append(removed, v)
			delete(o, path[len(path)-1])
		}
	}
	return removed
}

// eachString calls fn with every string in v, member names included.
func eachString(v any, fn func(string)) {
	switch v := v.(type) {
	case map[string]any:
		for k, e := range v {
			fn(k)
			eachString(e, fn)
		}
	case []any:
		for _, e := range v {
			eachString(e, fn)
		}
	case string:
		fn(v)
	}
}

// forbiddenLeaves are the strings of at least 6 characters that only the
// removed values hold, not doc (what is kept): none may be in the row.
func forbiddenLeaves(removed []any, doc any) []leaf {
	kept := map[leaf]bool{}
	addLeaves(kept, doc, false)
	seen := map[leaf]bool{}
	var out []leaf
	eachString(removed, func(s string) {
		l := stringLeaf(cleanString(s))
		if len(s) >= 6 && !kept[l] && !seen[l] {
			seen[l] = true
			out = append(out, l)
		}
	})
	return out
}

// scanSecrets records where v, a row of table (or a line), holds a marked
// value, in names or values; strings holding JSON are read too.
func (w *warehouse) scanSecrets(where string, v any) {
	eachString(v, func(s string) {
		if strings.Contains(s, secretMark) {
			w.leaks = append(w.leaks, fmt.Sprintf("%s: %.200q", where, s))
		}
	})
}

// withheldRow is a row of rejected whose body was withheld.
type withheldRow struct {
	id, sha, reason string
	bytes           int
}

// deselectedColumns returns the columns the deselected fields would get
// as plain names (README, Target behaviour) with flattening: data's
// fields are columns only at level 1.
func deselectedColumns(flattening int) []string {
	var out []string
	for _, p := range dropPaths {
		if len(p) <= flattening+1 {
			out = append(out, strings.ToLower(strings.Join(p, "__")))
		}
	}
	return out
}

var plainName = regexp.MustCompile(`^[A-Za-z0-9_]+$`)

// checkDropLine checks one line the tap wrote: no marked value, and, in a
// SCHEMA of stream data, no deselected field. It notes the plain column
// names SCHEMA lines declare (to tell a case twin's column from a
// deselected field's).
func (r *fuzzRun) checkDropLine(n int, line []byte) []string {
	var bad []string
	if bytes.Contains(line, []byte(secretMark)) {
		i := bytes.Index(line, []byte(secretMark))
		bad = append(bad, fmt.Sprintf("line %d holds a deselected value: …%.120q", n, line[max(0, i-80):]))
	}
	var m struct {
		Type, Stream string
		Schema       map[string]any
	}
	if json.Unmarshal(line, &m) != nil || m.Type != "SCHEMA" || m.Stream != "data" {
		return bad
	}
	for _, path := range dropPaths {
		node := m.Schema
		for i, name := range path {
			props, _ := node["properties"].(map[string]any)
			sub, ok := props[name]
			if !ok {
				break
			}
			if i == len(path)-1 {
				bad = append(bad, fmt.Sprintf("SCHEMA line %d declares the deselected field %s", n, strings.Join(path, ".")))
			}
			node, _ = sub.(map[string]any)
		}
	}
	if r.declared == nil {
		r.declared = map[string]bool{}
	}
	props, _ := m.Schema["properties"].(map[string]any)
	for k, v := range props {
		if !plainName.MatchString(k) {
			continue
		}
		r.declared[strings.ToLower(k)] = true
		sub, _ := v.(map[string]any)
		inner, _ := sub["properties"].(map[string]any)
		for k2 := range inner {
			if plainName.MatchString(k2) {
				r.declared[strings.ToLower(k+"__"+k2)] = true
			}
		}
	}
	return bad
}

// checkDeselection checks what the deselection configuration requires of
// the warehouse as a whole, after the bodies were judged and the tap's
// output checked: no marked value in any table, no column for a deselected
// field, each withheld body's raw bytes kept, no marked value in the logs.
func (r *fuzzRun) checkDeselection(w *warehouse) {
	t := r.t
	t.Helper()
	var bad []string
	bad = append(bad, w.leaks...)
	for _, c := range deselectedColumns(r.p.tgt.flattening) {
		if w.dataColumns[c] && !r.declared[c] {
			bad = append(bad, fmt.Sprintf("table data has column %s, of a deselected field", c))
		}
	}
	dir := filepath.Join(r.p.dir, "spool", "withheld")
	for _, row := range w.withheldRows {
		raw, err := os.ReadFile(filepath.Join(dir, strings.ReplaceAll(row.id, "/", "_")))
		sum := sha256.Sum256(raw)
		switch {
		case err != nil:
			bad = append(bad, fmt.Sprintf("rejection %s: body withheld, but its raw body is not kept: %v", row.id, err))
		case hex.EncodeToString(sum[:]) != row.sha || len(raw) != row.bytes:
			bad = append(bad, fmt.Sprintf("rejection %s: the kept body has %d bytes, SHA-256 %x; the row says %d, %s", row.id, len(raw), sum, row.bytes, row.sha))
		case !strings.Contains(row.reason, "withheld"):
			bad = append(bad, fmt.Sprintf("rejection %s: body withheld, but the reason does not say so: %.200q", row.id, row.reason))
		}
	}
	if logs, err := os.ReadFile(r.p.logs.Name()); err != nil {
		t.Fatal(err)
	} else if i := bytes.Index(logs, []byte(secretMark)); i >= 0 {
		bad = append(bad, fmt.Sprintf("a log line holds a deselected value: …%.200q", logs[max(0, i-150):]))
	}
	figure(t, "withheld_rows", len(w.withheldRows))
	figure(t, "deselection_violations", len(bad))
	sort.Strings(bad)
	for i, b := range bad {
		if i == 10 {
			t.Errorf("… and %d more deselection violations", len(bad)-10)
			break
		}
		t.Errorf("FINDING target-%s, deselected fields: %s", r.p.tgt.name, b)
	}
}
