// Package metrics is the tap's figures as one typed [Snapshot], and the
// two ways it is read: the Prometheus text exposition of GET /metrics
// (scrapers, the shipped alert rules) and JSON (`status`, which so reads
// exactly what a scrape reads without parsing the text back). It knows
// nothing of the spool, the receiver or the emitter: package tap gathers
// the figures.
package metrics

import (
	"fmt"
	"io"
	"strconv"
	"time"
)

// Prefix starts every metric name (Prometheus: snake case, the program's
// name as namespace).
const Prefix = "tap_customerio_webhook_"

// Snapshot is every figure of one process at one moment. A part is nil
// when the process has no such component (no server under a load run, no
// emitter under serve, ...); /metrics then has none of its families.
type Snapshot struct {
	Server   *Server   `json:"server,omitempty"`
	Producer *Producer `json:"kafka_producer,omitempty"`
	Spool    *Spool    `json:"spool,omitempty"`
	Emitter  *Emitter  `json:"emitter,omitempty"`
	AppAPI   *AppAPI   `json:"app_api,omitempty"`
}

// Server is the HTTP server's and the webhook tokens' figures.
type Server struct {
	Requests          []CodeCount `json:"requests"` // by status code, ascending
	InflightBodyBytes int64       `json:"inflight_body_bytes"`
	TokenCount        int         `json:"webhook_tokens"` // tokens accepted now
	// Tokens are the accepted tokens and any other counted since start,
	// sorted by id.
	Tokens []Token `json:"tokens"`
	// Refusals are, for the same tokens and any other refused since, the
	// webhooks refused by code, sorted by token id.
	Refusals []Refusals `json:"refusals"`
}

// CodeCount is how many requests were answered with Code.
type CodeCount struct {
	Code  int    `json:"code"`
	Count uint64 `json:"count"`
}

// Token is one webhook token's figures.
type Token struct {
	ID           string `json:"id"`
	Accepted     uint64 `json:"accepted"`
	SpoolRefused uint64 `json:"spool_refused"` // the spool could not take it: 503
	// LastAccepted is when its last webhook was answered 200, and
	// LastAcceptedAge how long before the snapshot; nil when none since
	// the process started.
	LastAccepted    *time.Time `json:"last_accepted,omitempty"`
	LastAcceptedAge float64    `json:"last_accepted_age_seconds,omitempty"`
}

// RefusalCodes are the codes webhook_refusals_total counts per token;
// "other" is any code beyond them.
var RefusalCodes = []string{"401", "405", "413", "503", "other"}

// Refusals counts one token's refused webhooks by code (RefusalCodes).
type Refusals struct {
	TokenID string            `json:"token_id"`
	ByCode  map[string]uint64 `json:"by_code"`
}

// Producer is the Kafka producer's figures.
type Producer struct {
	Acked    uint64    `json:"acked"`
	Failed   uint64    `json:"failed"` // answered 503; timeouts included
	Timeouts uint64    `json:"timeouts"`
	Latency  Histogram `json:"latency_seconds"`
}

// Spool is the disk spool's figures and the backlog behind it.
type Spool struct {
	Segments      int        `json:"segments"`
	Bytes         int64      `json:"bytes"`
	Records       uint64     `json:"records"` // held, emitted ones kept for retention included
	DurableOffset uint64     `json:"durable_offset"`
	Fsync         *Histogram `json:"fsync_seconds,omitempty"` // nil where this process does not write the spool
	// Emitted is nil when the offset emitted is not known (no load run
	// published one yet).
	Emitted *Backlog `json:"emitted,omitempty"`
	// Loaded is nil where the tap cannot know what a target loaded.
	Loaded *Loaded `json:"loaded,omitempty"`
}

// Backlog is how far emitting got and what is left behind it.
type Backlog struct {
	Offset    uint64  `json:"offset"`
	Records   uint64  `json:"records"`            // durable records not emitted yet (an upper bound)
	OldestAge float64 `json:"oldest_age_seconds"` // of the oldest of them; 0 when none
}

// Loaded is what a target had committed when the last load run started.
type Loaded struct {
	Offset    uint64  `json:"offset"`
	OldestAge float64 `json:"unloaded_oldest_age_seconds"` // of the oldest record after it; 0 when none
}

// Emitter is what this process wrote as Singer messages.
type Emitter struct {
	Records        []StreamCount `json:"records"` // by stream: data, rejected, then the App API streams read
	RejectedBodies uint64        `json:"rejected_bodies"`
}

// StreamCount is a count for one stream.
type StreamCount struct {
	Stream string `json:"stream"`
	Count  uint64 `json:"count"`
}

// AppAPI is the App API reader's figures, in the order of its streams.
type AppAPI struct {
	Requests    []Request     `json:"requests"`
	Failures    []StreamCount `json:"stream_failures"`
	Skipped     []StreamCount `json:"records_skipped"`
	LastSuccess []StreamTime  `json:"last_success"` // streams read without failing at least once
}

// Request counts App API requests of a stream with one outcome.
type Request struct {
	Stream  string `json:"stream"`
	Outcome string `json:"outcome"`
	Count   uint64 `json:"count"`
}

// StreamTime is a time for one stream.
type StreamTime struct {
	Stream string    `json:"stream"`
	At     time.Time `json:"at"`
}

// Histogram is a cumulative Prometheus histogram.
type Histogram struct {
	Bounds []float64 `json:"bounds"` // upper bounds in seconds, ascending
	Counts []uint64  `json:"counts"` // cumulative count per bound
	Count  uint64    `json:"count"`
	Sum    float64   `json:"sum"`
}

// Family is one metric family as /metrics writes it: a histogram, or
// samples.
type Family struct {
	Name      string // without Prefix
	Type      string // counter, gauge or histogram
	Help      string
	Samples   []Sample
	Histogram *Histogram // set for type histogram only
}

// Sample is one line of a family.
type Sample struct {
	Labels string // `code="200"`, or "" for none
	Value  float64
}

// FormatValue writes a sample value as the exposition does.
func FormatValue(v float64) string { return strconv.FormatFloat(v, 'g', -1, 64) }

// WriteText writes the Prometheus text exposition (format 0.0.4) of s.
func (s Snapshot) WriteText(w io.Writer) {
	for _, f := range s.Families() {
		f.writeText(w)
	}
}

func (f Family) writeText(w io.Writer) {
	fmt.Fprintf(w, "# HELP %s%s %s\n# TYPE %s%s %s\n", Prefix, f.Name, f.Help, Prefix, f.Name, f.Type)
	if h := f.Histogram; h != nil {
		for i, b := range h.Bounds {
			fmt.Fprintf(w, "%s%s_bucket{le=%q} %d\n", Prefix, f.Name, FormatValue(b), h.Counts[i])
		}
		fmt.Fprintf(w, "%s%s_bucket{le=\"+Inf\"} %d\n", Prefix, f.Name, h.Count)
		fmt.Fprintf(w, "%s%s_sum %s\n%s%s_count %d\n", Prefix, f.Name, FormatValue(h.Sum), Prefix, f.Name, h.Count)
		return
	}
	for _, s := range f.Samples {
		if s.Labels != "" {
			fmt.Fprintf(w, "%s%s{%s} %s\n", Prefix, f.Name, s.Labels, FormatValue(s.Value))
		} else {
			fmt.Fprintf(w, "%s%s %s\n", Prefix, f.Name, FormatValue(s.Value))
		}
	}
}
