// Package jsonlex is the one place that knows JSON's lexical rules as this
// project applies them: where a string or value ends, how a string decodes
// (escapes, UTF-8, UTF-16 surrogates), the number grammar and the range of
// numbers every warehouse holds, and how text that PostgreSQL refuses (NUL,
// lone surrogates, invalid UTF-8) is made loadable. The tap, the Singer
// reader, the target core and both loaders use it, so they agree on what a
// JSON document means; fasthttp's bytesconv is the model: small functions
// over []byte (or string), no allocation unless the result is new text.
//
// # Two kinds of scanning
//
// The scanners that take validated JSON ([SkipSpace], [StringEnd],
// [ValueEnd], [EachMember], [Clean]) check bounds but not the grammar: on
// malformed input they never panic, and may return values that are not
// valid JSON. The parsers ([ParseString], [ScanNumber], [ParseNumber])
// check the grammar exactly as encoding/json does; the fuzz targets in this
// package compare them with it.
//
// # Number bounds
//
// Every number is read by its shape (sign, digits, point, exponent), never
// through float64 or big arithmetic proportional to the exponent. One set
// of bounds applies everywhere:
//
//   - [MaxIntDigits] (131072) and [MaxScale] (16383) are PostgreSQL's
//     numeric range: its binary form has a 16-bit weight in base-10000
//     digits and a 14-bit display scale. jsonb stores its numbers as
//     numeric. A number beyond either fits no numeric column and no jsonb
//     value; the target core sets such a number aside in _sdc_errors (or
//     quotes it as text inside JSON), and both loaders refuse it, so the
//     two warehouses treat it alike. [Number.Fits] is that test.
//   - [MaxExponent] (2^20) bounds the exponent as written. A literal with a
//     larger one does not fit: only one with over a million digits could
//     bring its value back into range, and no parser should work on that.
//     Its exponent is clamped to one past the bound, which keeps every
//     computation on exponents within int and still tells "too large"
//     from "too small".
//   - [MaxPortableLen] and [MaxPortableExponent] (400) and float64's range
//     are the tap's stricter bound ([Portable]): a body holding a number
//     beyond them goes to the rejected stream. Other Singer targets read
//     numbers as float64 (Go's and Python's JSON decoders), and a literal
//     such as 1e-9999999 makes gojsonschema's big.Rat work for seconds.
//     Every portable number fits.
package jsonlex
