// Package singer reads and writes Singer messages: one JSON object per line,
// as the Singer specification defines them. The tap writes with Writer; the
// targets read with Reader.
//
// The Writer always writes upper-case types, never escapes HTML, and always
// writes SCHEMA's key_properties (as [] when there are none), because common
// targets reject a SCHEMA without it. The Reader accepts any type
// case-insensitively, reports malformed lines as *LineError carrying the
// 1-based line number, and reads lines of any length unless told otherwise.
package singer

// Message types as written by Writer and as Reader reports them (upper case).
const (
	TypeSchema          = "SCHEMA"
	TypeRecord          = "RECORD"
	TypeState           = "STATE"
	TypeActivateVersion = "ACTIVATE_VERSION"
)
