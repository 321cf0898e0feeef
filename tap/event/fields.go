package event

// Fields are the member names of a valid event, as a tape: in document
// order, each member of the top-level object, followed by the members of
// its value when that is an object, and so on down (members of objects
// within arrays are not listed). Names are as written, which is as
// decoded: the one pass takes no name with an escape.
type Fields struct {
	text []byte // the compact record the names lie in
	list []field
}

// field is one member on the tape.
type field struct {
	start, end int  // the name in text, quotes excluded
	skip       int  // the index after the members within its value
	object     bool // its value is an object
}

// Len returns the number of members listed.
func (f Fields) Len() int { return len(f.list) }

// Name returns the name of member i. It aliases the Classifier's memory:
// copy it to keep it.
func (f Fields) Name(i int) []byte { return f.text[f.list[i].start:f.list[i].end] }

// Object reports whether the value of member i is an object, whose members
// follow it, from i+1 up to Skip(i).
func (f Fields) Object(i int) bool { return f.list[i].object }

// Skip returns the index of the member after member i and those within
// its value: the next member of the same object, if any.
func (f Fields) Skip(i int) int { return f.list[i].skip }
