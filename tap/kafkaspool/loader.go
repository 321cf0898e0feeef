package kafkaspool

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

// Record is one spooled webhook as the loader reads it back.
type Record struct {
	Partition  int32
	Offset     int64     // within Partition
	Body       []byte    // the raw body; the callee may keep it
	ReceivedAt time.Time // UTC, from HeaderReceivedAt, else the record's Kafka timestamp
	TokenID    string    // from HeaderTokenID; "" when absent
}

// Position is the loader's part of STATE: the next offset to read per
// partition. Its JSON is {"kafka_topic": "...", "kafka_offsets": {"0": 5345}}.
type Position struct {
	Topic   string          `json:"kafka_topic"`
	Offsets map[int32]int64 `json:"kafka_offsets"`
}

// RejectionID names a record in the rejected stream: <topic>:<partition>:<offset>.
func RejectionID(topic string, partition int32, offset int64) string {
	return topic + ":" + strconv.FormatInt(int64(partition), 10) + ":" + strconv.FormatInt(offset, 10)
}

// OffsetGoneError says that the next offset to read was already deleted
// (retention or DeleteRecords): the records between Next and Start are lost
// to this loader, and it refuses to skip them silently.
type OffsetGoneError struct {
	Topic     string
	Partition int32
	Next      int64 // the offset the position asked for
	Start     int64 // the partition's first offset still held when it is past Next, else -1
}

func (e *OffsetGoneError) Error() string {
	what := "is out of the partition's range (deleted by retention, or the log was truncated)"
	if e.Start >= 0 {
		what = fmt.Sprintf("was already deleted by retention (the partition now starts at offset %d)", e.Start)
	}
	return fmt.Sprintf("kafka topic %q partition %d: the next offset %d %s; "+
		"refusing to skip records: restore them or move the state past them on purpose",
		e.Topic, e.Partition, e.Next, what)
}

// PartitionRange is the offsets a partition holds: [Start, End).
type PartitionRange struct {
	Start, End int64
}

// Offsets lists the start and end offset of every partition of the topic,
// for `status` and for Load.
func Offsets(ctx context.Context, cfg Config) (map[int32]PartitionRange, error) {
	cfg = cfg.withDefaults()
	adm, err := newAdmin(cfg)
	if err != nil {
		return nil, err
	}
	defer adm.Close()
	info, err := describeTopic(ctx, adm, cfg.Topic)
	if err != nil {
		return nil, err
	}
	return partitionRanges(ctx, adm, info)
}

func partitionRanges(ctx context.Context, adm *kadm.Client, info TopicInfo) (map[int32]PartitionRange, error) {
	starts, err := adm.ListStartOffsets(ctx, info.Topic)
	if err == nil {
		err = starts.Error()
	}
	if err != nil {
		return nil, fmt.Errorf("kafka topic %q: listing start offsets: %w", info.Topic, err)
	}
	ends, err := adm.ListEndOffsets(ctx, info.Topic)
	if err == nil {
		err = ends.Error()
	}
	if err != nil {
		return nil, fmt.Errorf("kafka topic %q: listing end offsets: %w", info.Topic, err)
	}
	out := make(map[int32]PartitionRange, len(info.Partitions))
	for _, p := range info.Partitions {
		s, okS := starts.Lookup(info.Topic, p)
		e, okE := ends.Lookup(info.Topic, p)
		if !okS || !okE {
			return nil, fmt.Errorf("kafka topic %q partition %d: no offsets listed", info.Topic, p)
		}
		out[p] = PartitionRange{Start: s.Offset, End: e.Offset}
	}
	return out, nil
}

// Load calls fn for every record of the owned partitions (cfg.Partitions,
// all when nil) from the next offsets in from (the partition's start where
// from has none) up to the end offsets it observed when it started, in
// offset order within each partition, and returns once caught up. It never
// commits offsets to the cluster.
//
// The returned Position is from with the owned partitions advanced past
// every record fn accepted, also when Load fails (fn's error, ctx, or an
// [*OffsetGoneError]): it is always a safe STATE to write. Records are read
// up to the end offsets, so a topic must be written by non-transactional
// producers, as [Producer] does.
func Load(ctx context.Context, cfg Config, from Position, fn func(Record) error) (Position, error) {
	cfg = cfg.withDefaults()
	pos := Position{Topic: cfg.Topic, Offsets: maps.Clone(from.Offsets)}
	if pos.Offsets == nil {
		pos.Offsets = map[int32]int64{}
	}
	if from.Topic != "" && from.Topic != cfg.Topic {
		return pos, fmt.Errorf("the state is for kafka topic %q, not kafka_topic %q; refusing to mix offsets of two topics", from.Topic, cfg.Topic)
	}
	adm, err := newAdmin(cfg)
	if err != nil {
		return pos, err
	}
	defer adm.Close()
	info, err := describeTopic(ctx, adm, cfg.Topic)
	if err != nil {
		return pos, err
	}
	owned, err := ownedPartitions(cfg, info)
	if err != nil {
		return pos, err
	}
	ranges, err := partitionRanges(ctx, adm, info)
	if err != nil {
		return pos, err
	}
	ends := map[int32]int64{}
	starts := map[int32]kgo.Offset{}
	for _, p := range owned {
		r := ranges[p]
		next, ok := from.Offsets[p]
		if !ok {
			next = r.Start
		}
		switch {
		case next < r.Start:
			return pos, &OffsetGoneError{Topic: cfg.Topic, Partition: p, Next: next, Start: r.Start}
		case next > r.End:
			return pos, fmt.Errorf("kafka topic %q partition %d: the state's next offset %d is past the end %d; was the topic recreated?",
				cfg.Topic, p, next, r.End)
		case next < r.End:
			ends[p] = r.End
			starts[p] = kgo.NewOffset().At(next)
		}
		pos.Offsets[p] = next
	}
	if len(starts) == 0 {
		return pos, nil
	}
	err = consume(ctx, cfg, starts, ends, &pos, fn)
	var gone *OffsetGoneError
	if errors.As(err, &gone) {
		if r, rerr := partitionRanges(ctx, adm, info); rerr == nil && r[gone.Partition].Start > gone.Next {
			gone.Start = r[gone.Partition].Start
		}
	}
	return pos, err
}

// ownedPartitions checks cfg.Partitions against the topic.
func ownedPartitions(cfg Config, info TopicInfo) ([]int32, error) {
	if cfg.Partitions == nil {
		return info.Partitions, nil
	}
	for _, p := range cfg.Partitions {
		if !slices.Contains(info.Partitions, p) {
			return nil, fmt.Errorf("kafka_partitions: topic %q has no partition %d (it has %d partitions)",
				cfg.Topic, p, len(info.Partitions))
		}
	}
	owned := slices.Clone(cfg.Partitions)
	slices.Sort(owned)
	return owned, nil
}

// consume reads starts up to ends, advancing pos after each accepted record.
func consume(ctx context.Context, cfg Config, starts map[int32]kgo.Offset, ends map[int32]int64, pos *Position, fn func(Record) error) error {
	opts, err := cfg.clientOpts()
	if err != nil {
		return err
	}
	opts = append(opts,
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{cfg.Topic: starts}),
		// Never jump over deleted records: surface OFFSET_OUT_OF_RANGE.
		kgo.ConsumeResetOffset(kgo.NoResetOffset()),
		kgo.FetchMaxWait(500*time.Millisecond),
	)
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		return fmt.Errorf("kafka consumer: %w", err)
	}
	defer cl.Close()
	for len(ends) > 0 {
		fetches := cl.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			return err
		}
		for _, fe := range fetches.Errors() {
			if errors.Is(fe.Err, kerr.OffsetOutOfRange) {
				return &OffsetGoneError{Topic: cfg.Topic, Partition: fe.Partition, Next: pos.Offsets[fe.Partition], Start: -1}
			}
			return fmt.Errorf("kafka topic %q partition %d: fetching: %w", fe.Topic, fe.Partition, fe.Err)
		}
		var ferr error
		fetches.EachPartition(func(fp kgo.FetchTopicPartition) {
			end, ok := ends[fp.Partition]
			for _, r := range fp.Records {
				if ferr != nil || !ok || r.Offset >= end {
					return
				}
				if ferr = fn(recordOf(r)); ferr != nil {
					return
				}
				pos.Offsets[fp.Partition] = r.Offset + 1
				if r.Offset+1 >= end {
					delete(ends, fp.Partition)
					cl.PauseFetchPartitions(map[string][]int32{cfg.Topic: {fp.Partition}})
					return
				}
			}
		})
		if ferr != nil {
			return ferr
		}
	}
	return nil
}

func recordOf(r *kgo.Record) Record {
	out := Record{Partition: r.Partition, Offset: r.Offset, Body: r.Value, ReceivedAt: r.Timestamp.UTC()}
	if out.Body == nil {
		out.Body = []byte{}
	}
	for _, h := range r.Headers {
		switch h.Key {
		case HeaderReceivedAt:
			if t, err := time.Parse(time.RFC3339Nano, string(h.Value)); err == nil {
				out.ReceivedAt = t.UTC()
			}
		case HeaderTokenID:
			out.TokenID = string(h.Value)
		}
	}
	return out
}
