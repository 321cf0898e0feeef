package tap

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/cio-singer/tap-customerio-webhook/tap/event"
)

// keepWithheld durably copies a body the emitter withheld from stream
// rejected (it held deselected fields that could not be removed) to
// spool_dir/withheld/<rejection_id>, before the rejection is emitted. The
// spool releases its segments once a target has loaded past them; this copy
// stays until someone has looked at it and deletes it. A replay writes the
// same file again.
func keepWithheld(spoolDir, rejectionID string, body []byte) error {
	dir := filepath.Join(spoolDir, event.WithheldDir)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("keeping withheld body: %w", err)
	}
	name := filepath.Join(dir, strings.ReplaceAll(rejectionID, string(filepath.Separator), "_"))
	tmp, err := os.CreateTemp(dir, ".tmp-*")
	if err != nil {
		return fmt.Errorf("keeping withheld body: %w", err)
	}
	_, err = tmp.Write(body)
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), name)
	}
	if err != nil {
		_ = os.Remove(tmp.Name())
		return fmt.Errorf("keeping withheld body: %w", err)
	}
	return syncDir(dir)
}

// syncDir makes a rename in dir durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	return err
}
