package reliability_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// Naming the records that stop a target, when the pipeline fuzzer's
// pipeline stopped on its own.

// triage runs each RECORD line of the current run alone (after its
// stream's last SCHEMA) through a fresh target, and reports the records
// that stop the target by themselves, writing each as a case file into
// PIPEFUZZ_DUMP. Used when the pipeline stopped on its own.
func (r *fuzzRun) triage() {
	t, p := r.t, r.p
	t.Helper()
	<-p.teeDone
	f, err := os.Open(p.tee.Name())
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.Seek(p.runStart, io.SeekStart); err != nil {
		t.Fatal(err)
	}
	type candidate struct{ schema, record []byte }
	var cands []candidate
	schemas := map[string][]byte{}
	rd := bufio.NewReaderSize(f, 1<<20)
	for {
		line, err := rd.ReadBytes('\n')
		if len(line) == 0 && err != nil {
			break
		}
		var m struct{ Type, Stream string }
		if json.Unmarshal(line, &m) != nil {
			continue
		}
		switch m.Type {
		case "SCHEMA":
			schemas[m.Stream] = line
		case "RECORD":
			cands = append(cands, candidate{schemas[m.Stream], line})
		}
	}
	if len(cands) > 400 {
		cands = cands[len(cands)-400:]
	}
	base := baseSchemaProperties(t)
	symptoms := map[string]int{}
	for i, c := range cands {
		msg := p.tryAlone(i, append(ownSchema(c.schema, c.record, base), c.record...))
		if msg == "" {
			continue
		}
		symptom := quotedName.ReplaceAllString(msg, `"…"`)
		symptoms[symptom]++
		if symptoms[symptom] > 1 {
			continue // one example per symptom
		}
		var m struct {
			Stream string
			Record map[string]any
		}
		_ = json.Unmarshal(c.record, &m)
		id, _ := m.Record["event_id"].(string)
		n := r.byID[id]
		desc := fmt.Sprintf("record of stream %s, event_id %s", m.Stream, quoteTag(id))
		for _, e := range r.expected {
			if e.n == n && n != 0 {
				desc = e.desc
			}
		}
		t.Errorf("FINDING target-%s stops on one record alone: %s\n    target: %.400s\n    record line: %.600s", p.tgt.name, desc, msg, c.record)
		raw, ok := r.raw[n]
		if b, isStr := m.Record["body"].(string); !ok && m.Stream == "rejected" && isStr {
			raw, ok = []byte(b), true // the rejected stream's copy of the body
		}
		if dir := os.Getenv("PIPEFUZZ_DUMP"); dir != "" && ok {
			path := filepath.Join(dir, fmt.Sprintf("finding-%s-%d-%d.txt", p.tgt.name, p.runs, i))
			_ = os.WriteFile(path, fmt.Appendf(nil, "target-%s: %.400s\n%s# %s\n%s", p.tgt.name, msg, caseSeparator, desc, raw), 0o644)
		}
	}
	if len(symptoms) == 0 {
		r.bisectSequence()
	}
	for s, n := range symptoms {
		t.Logf("symptom (%d records): %.300s", n, s)
	}
}

var quotedName = regexp.MustCompile(`"(?:[^"\\]|\\.)*"`)

// baseSchemaProperties returns the property names of schemas/data.json, top
// level and in data.
func baseSchemaProperties(t *testing.T) map[string]bool {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "schemas", "data.json"))
	if err != nil {
		t.Fatal(err)
	}
	var s struct {
		Properties map[string]struct {
			Properties map[string]any
		}
	}
	if err := json.Unmarshal(b, &s); err != nil {
		t.Fatal(err)
	}
	names := map[string]bool{}
	for k, v := range s.Properties {
		names[k] = true
		for k2 := range v.Properties {
			names[k+"."+k2] = true
		}
	}
	return names
}

// ownSchema cuts a SCHEMA line down to the properties of schemas/data.json
// and those record has (top level and in data), as the tap would have
// written it had it seen only that record.
func ownSchema(schemaLine, recordLine []byte, base map[string]bool) []byte {
	var msg map[string]any
	var rec struct{ Record map[string]any }
	if json.Unmarshal(schemaLine, &msg) != nil || json.Unmarshal(recordLine, &rec) != nil {
		return schemaLine
	}
	schema, _ := msg["schema"].(map[string]any)
	props, _ := schema["properties"].(map[string]any)
	for k, v := range props {
		if _, ok := rec.Record[k]; !ok && !base[k] {
			delete(props, k)
			continue
		}
		sub, _ := v.(map[string]any)
		subProps, _ := sub["properties"].(map[string]any)
		inner, _ := rec.Record[k].(map[string]any)
		for k2 := range subProps {
			if _, ok := inner[k2]; !ok && !base[k+"."+k2] {
				delete(subProps, k2)
			}
		}
	}
	out, err := json.Marshal(msg)
	if err != nil {
		return schemaLine
	}
	return append(out, '\n')
}

// bisectSequence finds the shortest prefix of all the tap wrote (over all
// runs) that stops a fresh target, and reports the record it ends with:
// the one that stops the target given those before it.
func (r *fuzzRun) bisectSequence() {
	t, p := r.t, r.p
	t.Helper()
	data, err := os.ReadFile(p.tee.Name())
	if err != nil {
		t.Fatal(err)
	}
	var lines [][]byte
	for _, l := range bytes.SplitAfter(data, []byte("\n")) {
		if json.Valid(bytes.TrimSpace(l)) { // lines cut by a kill are left out
			lines = append(lines, l)
		}
	}
	fails := func(k int) string { return p.tryAlone(k, bytes.Join(lines[:k], nil)) }
	msg := fails(len(lines))
	if msg == "" {
		t.Errorf("FINDING target-%s stopped, but neither one record nor all %d lines the tap wrote stop a fresh target", p.tgt.name, len(lines))
		return
	}
	lo, hi := 0, len(lines) // fails(lo) == "", fails(hi) != ""
	for hi-lo > 1 {
		mid := (lo + hi) / 2
		if m := fails(mid); m != "" {
			hi, msg = mid, m
		} else {
			lo = mid
		}
	}
	var m struct {
		Type   string
		Record map[string]any
	}
	_ = json.Unmarshal(lines[hi-1], &m)
	id, _ := m.Record["event_id"].(string)
	desc := fmt.Sprintf("%s line, event_id %s", m.Type, quoteTag(id))
	if m.Type == "SCHEMA" {
		desc = "the SCHEMA line that adds properties (see the target's error for which)"
	}
	if n := r.byID[id]; n != 0 {
		for _, e := range r.expected {
			if e.n == n {
				desc = e.desc
			}
		}
	}
	t.Errorf("FINDING target-%s stops on a record after %d lines (none stops it alone): %s\n    target: %.400s\n    line: %.600s",
		p.tgt.name, hi-1, desc, msg, lines[hi-1])
}

// tryAlone loads input (a SCHEMA and a RECORD line) with a fresh target
// (its own schema or database file) and returns the target's error when
// it exits non-zero, or "".
func (p *fuzzPipeline) tryAlone(i int, input []byte) string {
	t := p.t
	p.tries++
	i = p.tries
	cfg := map[string]any{"flattening_max_level": p.tgt.flattening, "log_level": "error"}
	bin := p.bins.targetPG
	if p.tgt.sqlite {
		bin = p.bins.targetSQLite
		cfg["database"] = filepath.Join(p.dir, fmt.Sprintf("triage-%d.db", i))
	} else {
		cfg["dsn"] = p.dsn
		cfg["default_target_schema"] = fmt.Sprintf("triage_%d", i)
	}
	path := writeJSON(t, filepath.Join(p.dir, "triage.json"), cfg)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "--config", path)
	cmd.Stdin = bytes.NewReader(input)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Run(); err == nil {
		return ""
	}
	lines := strings.Split(strings.TrimSpace(stderr.String()), "\n")
	last := lines[len(lines)-1]
	var m struct{ Error string }
	if json.Unmarshal([]byte(last), &m) == nil && m.Error != "" {
		return m.Error
	}
	return last
}
