package config

import (
	"encoding/json"
	"errors"

	"github.com/cio-singer/tap-customerio-webhook/internal/about"
)

// Setting is one row of a [Table]: a key of config C, how --about and the
// README document it, and how its value lands in C.
type Setting[C any] struct {
	About  about.Setting
	decode func(c *C, raw json.RawMessage) error
}

// Field returns the setting name, decoded by p into the field of C that
// field points to. Add its description with Doc and, where it has one, its
// default with Default.
func Field[C, V any](name string, p Parser[V], field func(c *C) *V) Setting[C] {
	return Setting[C]{
		About: about.Setting{Name: name, Type: p.Type},
		decode: func(c *C, raw json.RawMessage) error {
			v, err := p.Parse(raw)
			if err != nil {
				return err
			}
			*field(c) = v
			return nil
		},
	}
}

// Doc returns s with its description.
func (s Setting[C]) Doc(description string) Setting[C] {
	s.About.Description = description
	return s
}

// Default returns s with a default: the value, as the JSON config would
// hold it ("1s", 5432, true), that an unset key takes. It is decoded as a
// value from the file is, so the documented default is the one in effect.
func (s Setting[C]) Default(v any) Setting[C] {
	s.About.Default = v
	return s
}

// Secret marks s as a secret: --about says so (Meltano stores it as
// sensitive), and its decoder must never quote it in an error.
func (s Setting[C]) Secret() Setting[C] {
	s.About.Secret = true
	return s
}

// Required marks s as one the program cannot start without.
func (s Setting[C]) Required() Setting[C] {
	s.About.Required = true
	return s
}

// Table is the configuration of one program (or of the part of it a
// loader owns): its settings in the order --about shows them, and the
// rules between them.
type Table[C any] struct {
	Settings []Setting[C]
	// Check, when set, reports settings that contradict each other, each
	// naming the key to change. It runs only when every setting decoded;
	// v says which keys the file or the environment set.
	Check func(c *C, v Values) Errors
}

// About returns the documentation of the settings, for --about.
func (t Table[C]) About() []about.Setting {
	out := make([]about.Setting, len(t.Settings))
	for i, s := range t.Settings {
		out[i] = s.About
	}
	return out
}

// Decode sets every setting of c from v, or from its default when v leaves
// it unset, then runs Check, and returns every problem, in the order of the
// table. Keys of v that the table does not name are not its business (see
// Values.Unknown).
func (t Table[C]) Decode(c *C, v Values) Errors {
	var errs Errors
	for _, s := range t.Settings {
		raw, ok := v[s.About.Name]
		switch {
		case ok:
		case s.About.Required:
			errs = append(errs, &Error{Key: s.About.Name, Err: errRequired})
			continue
		case s.About.Default == nil:
			continue
		default:
			raw = mustJSON(s.About.Default)
		}
		if err := s.decode(c, raw); err != nil {
			errs = append(errs, &Error{Key: s.About.Name, Err: err})
		}
	}
	if len(errs) == 0 && t.Check != nil {
		errs = t.Check(c, v)
	}
	return errs
}

var errRequired = errors.New("required")

// Defaults returns the config that no settings give: every default
// decoded. A default its own decoder refuses is a bug in the table, found
// by any test that calls Defaults; it panics.
func (t Table[C]) Defaults() C {
	var c C
	for _, s := range t.Settings {
		if s.About.Default == nil {
			continue
		}
		if err := s.decode(&c, mustJSON(s.About.Default)); err != nil {
			panic("config: the default of " + s.About.Name + " does not decode: " + err.Error())
		}
	}
	return c
}
