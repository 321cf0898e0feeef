package tap

import "github.com/cio-singer/tap-customerio-webhook/tap/spool"

// spoolSyncHistogram returns the spool's fsync latency histogram.
func spoolSyncHistogram(sp *spool.Spool) (histogram, bool) { return histogram{}, false }
