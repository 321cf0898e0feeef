package tap

import (
	"context"
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

	"github.com/cio-singer/tap-customerio-webhook/tap/kafkaspool"
)

// mainStatus prints, for a person, what /metrics exposes: from the spool
// directory (works with the tap stopped) and, when the server answers,
// from its /metrics.
func mainStatus(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet(Name+" status", flag.ContinueOnError)
	fs.SetOutput(stderr)
	configPath := fs.String("config", "", "config file (JSON)")
	metricsURL := fs.String("metrics-url", "", "URL of the server's /metrics (default: from listen)")
	pos, err := parseInterspersed(fs, args)
	if err != nil {
		return exitUsage
	}
	if len(pos) > 0 {
		fmt.Fprintf(stderr, "%s status: unexpected argument %q\n", Name, pos[0])
		return exitUsage
	}
	cfg, ok := loadForCommand("status", *configPath, stderr)
	if !ok {
		return exitUsage
	}
	now := time.Now()
	w := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	var problems string
	if cfg.Spool == SpoolKafka {
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
func printSpoolStatus(w io.Writer, cfg Config, now time.Time) string {
	dir := cfg.SpoolDir
	abs, _ := filepath.Abs(dir)
	fmt.Fprintf(w, "spool_dir\t%s\n", abs)
	info, err := inspectSpool(dir)
	if err != nil {
		return fmt.Sprintf("spool: %v", err)
	}
	defer info.sp.Close()
	fmt.Fprintf(w, "spool id\t%s\n", info.id)
	fmt.Fprintf(w, "spool segments\t%d (%s)\n", info.stats.Segments, humanBytes(info.stats.Bytes))
	fmt.Fprintf(w, "spool records\t%d (offsets %d..%d)\n", heldRecords(info.stats), info.stats.FirstOffset, info.stats.LastOffset)
	if p, ok := readProgress(dir, info.id); ok {
		backlog := uint64(0)
		if info.stats.LastOffset > p.Offset {
			backlog = info.stats.LastOffset - p.Offset
		}
		fmt.Fprintf(w, "emitted through\toffset %d (%s ago)\n", p.Offset, now.Sub(p.Updated).Round(time.Second))
		fmt.Fprintf(w, "backlog\t%d records not emitted yet\n", backlog)
		if at := info.oldestAfter(p.Offset); backlog > 0 && !at.IsZero() {
			fmt.Fprintf(w, "oldest unemitted\treceived %s ago\n", now.Sub(at).Round(time.Second))
		}
	} else {
		fmt.Fprintf(w, "emitted through\tnothing emitted from this spool yet\n")
	}
	tf, err := readTokenFile(tokenFilePath(dir))
	if err != nil {
		fmt.Fprintf(w, "token file\t%v\n", err)
	} else {
		fmt.Fprintf(w, "webhook tokens\t%d in webhook_tokens, %d in %s\n", len(cfg.WebhookTokens), len(tf.Tokens), TokenFileName)
	}
	return ""
}

// printKafkaStatus prints the topic's offsets per partition (what a loader
// with an empty state would read, and where its end is); it returns a
// problem when the cluster cannot say.
func printKafkaStatus(ctx context.Context, w io.Writer, cfg Config) string {
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

// printServerStatus prints the server's /metrics in words.
func printServerStatus(ctx context.Context, w io.Writer, url string) {
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		fmt.Fprintf(w, "server\t%v\n", err)
		return
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		fmt.Fprintf(w, "server\tnot answering at %s\n", url)
		return
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil || resp.StatusCode != http.StatusOK {
		fmt.Fprintf(w, "server\t%s answered %s\n", url, resp.Status)
		return
	}
	fmt.Fprintf(w, "server\tup (%s)\n", url)
	samples, help := parseExposition(string(body))
	for _, warn := range statusWarnings(samples) {
		fmt.Fprintf(w, "WARNING\t%s\n", warn)
	}
	byName := map[string][]parsedMetric{}
	var names []string
	for _, s := range samples {
		if strings.HasSuffix(s.name, "_bucket") {
			continue
		}
		if _, ok := byName[s.name]; !ok {
			names = append(names, s.name)
		}
		byName[s.name] = append(byName[s.name], s)
	}
	sort.Strings(names)
	for _, name := range names {
		var parts []string
		for _, s := range byName[name] {
			v := formatValue(s.value)
			if s.labels != "" {
				v = s.labels + ": " + v
			}
			parts = append(parts, v)
		}
		h := help[name]
		if h == "" {
			h = help[strings.TrimSuffix(strings.TrimSuffix(name, "_sum"), "_count")]
		}
		fmt.Fprintf(w, "  %s\t%s\t%s\n", strings.TrimPrefix(name, metricPrefix), strings.Join(parts, ", "), h)
	}
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
