package jsonlex

import (
	"bytes"
	"unicode/utf8"
)

// Clean returns the JSON text raw as every warehouse loads it: without
// insignificant whitespace, with \u0000 escapes, lone surrogate escapes and
// invalid UTF-8 replaced by U+FFFD (PostgreSQL jsonb refuses all three).
// fits reports whether every number fits (see [Number.Fits]); with
// quoteUnfit, numbers that do not become JSON strings of their literal, so
// the result always loads. It returns raw itself when nothing changes. raw
// must be valid JSON; on anything else Clean still returns without
// panicking.
func Clean(raw []byte, quoteUnfit bool) (out []byte, fits bool) {
	rewrite, fits := needsRewrite(raw)
	if !rewrite && (fits || !quoteUnfit) {
		return raw, fits
	}
	out = make([]byte, 0, len(raw))
	for i := 0; i < len(raw); i++ {
		c := raw[i]
		switch {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r':
			continue
		case c == '"':
			end := StringEnd(raw, i)
			if end < 0 {
				return append(out, raw[i:]...), fits
			}
			out = AppendLoadableString(out, raw[i:end])
			i = end - 1
		case c == '-' || isDigit(c):
			end, _ := ScanNumber(raw, i)
			end = max(end, i+1)
			lit := raw[i:end]
			if quoteUnfit && !Fits(lit) {
				out = append(out, '"')
				out = append(out, lit...)
				out = append(out, '"')
			} else {
				out = append(out, lit...)
			}
			i = end - 1
		default:
			out = append(out, c)
		}
	}
	return out, fits
}

// needsRewrite reports whether raw has insignificant whitespace, a \u
// escape (possibly NUL or a lone surrogate), or invalid UTF-8, and whether
// all its numbers fit. It is Clean's fast path: one scan that jumps over
// strings.
func needsRewrite(raw []byte) (rewrite, fits bool) {
	fits = true
	if bytes.Contains(raw, []byte(`\u`)) || !utf8.Valid(raw) {
		rewrite = true
	}
	for i := 0; i < len(raw); i++ {
		switch c := raw[i]; {
		case c == '"':
			end := StringEnd(raw, i)
			if end < 0 {
				return rewrite, fits
			}
			i = end - 1
		case c == ' ' || c == '\t' || c == '\n' || c == '\r':
			rewrite = true
		case c == '-' || isDigit(c):
			end, _ := ScanNumber(raw, i)
			end = max(end, i+1)
			if !Fits(raw[i:end]) {
				fits = false
			}
			i = end - 1
		}
	}
	return rewrite, fits
}
