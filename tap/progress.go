package tap

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"time"
)

// progressFileName is where the emitting process publishes how far it got,
// for `serve`'s /metrics and for `status` (backlog). It is informational:
// never fsynced, never used to decide what to emit (--state does that).
const progressFileName = "emitted.json"

// Progress is what the emitting process published of how far it got.
type Progress struct {
	SpoolID string `json:"spool_id"`
	Offset  uint64 `json:"spool_offset"`
	// Loaded is the offset of the --state the run started from: what the
	// target had committed when the run began, the most the tap can know
	// of what is loaded. With scheduled loads it follows the target's
	// state one run behind.
	Loaded  uint64    `json:"loaded_offset"`
	Updated time.Time `json:"updated"`
}

func writeProgress(dir string, p Progress) error {
	raw, err := json.Marshal(p)
	if err != nil {
		return err
	}
	path := filepath.Join(dir, progressFileName)
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, raw, 0o640); err != nil {
		return fmt.Errorf("writing progress: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("writing progress: %w", err)
	}
	return nil
}

// ReadProgress returns the progress published in dir for the spool with
// id spoolID; ok is false when there is none (or it is another spool's).
func ReadProgress(dir, spoolID string) (Progress, bool) {
	raw, err := os.ReadFile(filepath.Join(dir, progressFileName))
	if err != nil {
		return Progress{}, false
	}
	var p Progress
	if json.Unmarshal(raw, &p) != nil || p.SpoolID != spoolID {
		return Progress{}, false
	}
	return p, true
}
