package cli

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"maps"
	"net/http"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/cio-singer/tap-customerio-webhook/tap"
	"github.com/cio-singer/tap-customerio-webhook/tap/kafkaspool"
	"github.com/cio-singer/tap-customerio-webhook/tap/metrics"
	"github.com/cio-singer/tap-customerio-webhook/tap/tokenfile"
)

// mainStatus prints, for a person, what /metrics exposes: from the spool
// directory (works with the tap stopped) and, when the server answers,
// the snapshot of figures its /metrics is written from.
func mainStatus(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet(tap.Name+" status", flag.ContinueOnError)
	fs.SetOutput(stderr)
	configPath := fs.String("config", "", "config file (JSON)")
	metricsURL := fs.String("metrics-url", "", "URL of the server's /metrics (default: from listen)")
	pos, err := parseInterspersed(fs, args)
	if err != nil {
		return flagsExit(err)
	}
	if len(pos) > 0 {
		fmt.Fprintf(stderr, "%s status: unexpected argument %q\n", tap.Name, pos[0])
		return exitUsage
	}
	cfg, ok := loadForCommand("status", *configPath, stderr)
	if !ok {
		return exitUsage
	}
	now := time.Now()
	w := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	var problems string
	if cfg.Spool == tap.SpoolKafka {
		problems = printKafkaStatus(ctx, w, cfg)
	} else {
		problems = printSpoolStatus(w, cfg, now)
	}
	if *metricsURL == "" && cfg.Listen != "" {
		*metricsURL = "http://" + hostPort(cfg.Listen) + "/metrics"
	}
	if *metricsURL != "" {
		printServerStatus(ctx, w, *metricsURL)
	}
	if err := w.Flush(); err != nil {
		return exitFailed
	}
	if problems != "" {
		fmt.Fprintln(stdout, problems)
		return exitFailed
	}
	return exitOK
}

// printSpoolStatus prints the spool directory's facts; it returns a
// problem that makes status exit 1 (the spool cannot be read).
func printSpoolStatus(w io.Writer, cfg tap.Config, now time.Time) string {
	dir := cfg.SpoolDir
	abs, _ := filepath.Abs(dir)
	fmt.Fprintf(w, "spool_dir\t%s\n", abs)
	info, err := tap.InspectSpool(dir)
	if err != nil {
		return fmt.Sprintf("spool: %v", err)
	}
	defer info.Close()
	fmt.Fprintf(w, "spool id\t%s\n", info.ID)
	fmt.Fprintf(w, "spool segments\t%d (%s)\n", info.Stats.Segments, humanBytes(info.Stats.Bytes))
	fmt.Fprintf(w, "spool records\t%d (offsets %d..%d)\n", info.Held(), info.Stats.FirstOffset, info.Stats.LastOffset)
	if p, ok := tap.ReadProgress(dir, info.ID); ok {
		backlog := uint64(0)
		if info.Stats.LastOffset > p.Offset {
			backlog = info.Stats.LastOffset - p.Offset
		}
		fmt.Fprintf(w, "emitted through\toffset %d (%s ago)\n", p.Offset, now.Sub(p.Updated).Round(time.Second))
		fmt.Fprintf(w, "backlog\t%d records not emitted yet\n", backlog)
		if at := info.OldestAfter(p.Offset); backlog > 0 && !at.IsZero() {
			fmt.Fprintf(w, "oldest unemitted\treceived %s ago\n", now.Sub(at).Round(time.Second))
		}
	} else {
		fmt.Fprintf(w, "emitted through\tnothing emitted from this spool yet\n")
	}
	tf, err := tokenfile.Read(tokenfile.Path(dir))
	if err != nil {
		fmt.Fprintf(w, "token file\t%v\n", err)
	} else {
		fmt.Fprintf(w, "webhook tokens\t%d in webhook_tokens, %d in %s\n", len(cfg.WebhookTokens), len(tf.Tokens), tokenfile.Name)
	}
	return ""
}

// printKafkaStatus prints the topic's offsets per partition (what a loader
// with an empty state would read, and where its end is); it returns a
// problem when the cluster cannot say.
func printKafkaStatus(ctx context.Context, w io.Writer, cfg tap.Config) string {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	topic := cfg.Kafka.Topic
	if topic == "" {
		topic = kafkaspool.DefaultTopic
	}
	fmt.Fprintf(w, "spool\tkafka topic %s\n", topic)
	ranges, err := kafkaspool.Offsets(ctx, cfg.Kafka)
	if err != nil {
		return fmt.Sprintf("kafka: %v", err)
	}
	parts := slices.Sorted(maps.Keys(ranges))
	var held int64
	for _, p := range parts {
		r := ranges[p]
		held += r.End - r.Start
		fmt.Fprintf(w, "partition %d\tend offset %d (%d records held, from offset %d)\n", p, r.End, r.End-r.Start, r.Start)
	}
	fmt.Fprintf(w, "kafka records\t%d held in %d partitions\n", held, len(parts))
	return ""
}

// printServerStatus prints, in words, the snapshot of figures the server
// exposes on /metrics: the same families, asked for as JSON.
func printServerStatus(ctx context.Context, w io.Writer, url string) {
	snap, problem := fetchSnapshot(ctx, url)
	if problem != "" {
		fmt.Fprintf(w, "server\t%s\n", problem)
		return
	}
	fmt.Fprintf(w, "server\tup (%s)\n", url)
	for _, warn := range statusWarnings(snap) {
		fmt.Fprintf(w, "WARNING\t%s\n", warn)
	}
	for _, l := range statusLines(snap.Families()) {
		fmt.Fprintf(w, "  %s\t%s\t%s\n", l.name, l.values, l.help)
	}
}

// fetchSnapshot asks the server at url for its figures as JSON; problem
// says in words why there are none.
func fetchSnapshot(ctx context.Context, url string) (snap metrics.Snapshot, problem string) {
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return snap, err.Error()
	}
	req.Header.Set("Accept", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return snap, "not answering at " + url
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil || resp.StatusCode != http.StatusOK {
		return snap, fmt.Sprintf("%s answered %s", url, resp.Status)
	}
	if err := json.Unmarshal(body, &snap); err != nil {
		return snap, fmt.Sprintf("%s answered no JSON snapshot of its figures (a tap older than this status?)", url)
	}
	return snap, ""
}

// statusLine is one metric of the server in status: its name without the
// prefix, its samples and its HELP text.
type statusLine struct{ name, values, help string }

// statusLines lists the samples of families by metric name, sorted; a
// histogram shows as its _sum and _count, and a family without samples
// not at all.
func statusLines(families []metrics.Family) []statusLine {
	var out []statusLine
	for _, f := range families {
		if h := f.Histogram; h != nil {
			out = append(out, statusLine{f.Name + "_sum", metrics.FormatValue(h.Sum), f.Help},
				statusLine{f.Name + "_count", metrics.FormatValue(float64(h.Count)), f.Help})
			continue
		}
		if len(f.Samples) == 0 {
			continue
		}
		parts := make([]string, 0, len(f.Samples))
		for _, s := range f.Samples {
			v := metrics.FormatValue(s.Value)
			if s.Labels != "" {
				v = s.Labels + ": " + v
			}
			parts = append(parts, v)
		}
		out = append(out, statusLine{f.Name, strings.Join(parts, ", "), f.Help})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].name < out[j].name })
	return out
}

func humanBytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}
