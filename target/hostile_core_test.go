package target

import (
	"fmt"
	"strings"
	"testing"

	"github.com/cio-singer/tap-customerio-webhook/target/targettest"
)

// TestRun_HostileRecords runs the hostile records of the end-to-end tests
// through the core and a loader that refuses values of the wrong Go type:
// no failure, and the final state goes out.
func TestRun_HostileRecords(t *testing.T) {
	for _, level := range []int{0, 1, 2} {
		t.Run(fmt.Sprintf("level=%d", level), func(t *testing.T) {
			l := newMemLoader()
			l.maxColumns = MaxColumnsPostgres
			cfg := testConfig()
			cfg.FlatteningMaxLevel = level
			cfg.BatchSizeRows = 7
			out, err := runInput(t, cfg, l, string(targettest.Input(targettest.Cases())))
			if err != nil {
				t.Fatal(err)
			}
			if !strings.HasSuffix(out, targettest.FinalState+"\n") {
				t.Fatalf("stdout ends %q", out[max(0, len(out)-80):])
			}
		})
	}
}
