package event

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/cio-singer/tap-customerio-webhook/internal/jsonlex"
)

// WithheldDir is the folder of spool_dir where the tap keeps the raw bodies
// it withheld from stream rejected, one file per rejection_id.
const WithheldDir = "withheld"

// rejection is a RECORD of stream rejected.
type rejection struct {
	RejectionID string  `json:"rejection_id"`
	ReceivedAt  string  `json:"received_at"`
	Reason      string  `json:"reason"`
	Body        *string `json:"body"` // nil: withheld
	BodySHA256  string  `json:"body_sha256"`
	BodyBytes   int     `json:"body_bytes"`
}

// Rejection returns the record of stream rejected for a body that is not a
// valid event, with the fields deselected on stream rejected (drop)
// removed. The body goes out as a string that every target can load (see
// rejectedBody), without the fields deselected on stream data (dataDrop);
// when those cannot be removed it is withheld: body null, the reason says
// why, and only its SHA-256 and length leave the machine; withheld reports
// that, so the caller can keep the raw body where the reason says it is.
func Rejection(id string, receivedAt time.Time, reason string, body []byte, dataDrop, drop [][]string) (rec json.RawMessage, withheld bool, err error) {
	sum := sha256.Sum256(body)
	r := rejection{RejectionID: id, ReceivedAt: receivedAt.UTC().Format("2006-01-02T15:04:05.000000Z"), Reason: reason,
		BodySHA256: hex.EncodeToString(sum[:]), BodyBytes: len(body)}
	text, err := rejectedBody(body, dataDrop)
	if err != nil {
		r.Reason += "; body withheld: " + err.Error() + "; the raw body is kept in spool_dir/" + WithheldDir + " (file named by rejection_id)"
		withheld = true
	} else {
		r.Body = &text
	}
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(r); err != nil {
		return nil, false, fmt.Errorf("encoding rejection: %w", err)
	}
	out := json.RawMessage(bytes.TrimRight(b.Bytes(), "\n"))
	for _, path := range drop {
		if out, err = removePath(out, path); err != nil {
			return nil, false, fmt.Errorf("removing deselected field: %w", err)
		}
	}
	return out, withheld, nil
}

// rejectedBody returns body as the text of rejected.body. A JSON body is
// cleaned as a data record would be (Sanitize) and loses the fields in
// dataDrop; it is kept as sent when neither changes it. Any other body
// has NUL bytes and bytes that are not UTF-8 replaced by U+FFFD. The
// error says why the body must be withheld: fields are deselected and
// cannot be found in it.
func rejectedBody(body []byte, dataDrop [][]string) (string, error) {
	clean, changed, err := Sanitize(body)
	if err != nil {
		if len(dataDrop) > 0 && len(bytes.TrimSpace(body)) > 0 {
			return "", errors.New("it is not JSON, so the fields deselected in the catalog cannot be removed from it")
		}
		return loadableText(body), nil
	}
	for _, path := range dataDrop {
		out, err := removePath(clean, path)
		var shape errShape
		if errors.As(err, &shape) {
			return "", fmt.Errorf("%w, so the deselected field %s cannot be removed from it", err, strings.Join(path, "."))
		}
		if err != nil {
			return "", fmt.Errorf("removing the deselected field %s: %w", strings.Join(path, "."), err)
		}
		changed = changed || len(out) != len(clean)
		clean = out
	}
	if !changed {
		return string(body), nil // valid UTF-8 and no NUL, or Sanitize would have changed it
	}
	return string(clean), nil
}

// loadableText returns b as valid UTF-8 without NUL: PostgreSQL text
// cannot hold either.
func loadableText(b []byte) string {
	s := jsonlex.ReplaceNUL(string(b))
	if !utf8.ValidString(s) {
		s = strings.ToValidUTF8(s, replacement)
	}
	return s
}
