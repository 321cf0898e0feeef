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
	r, err := OpenReader(ctx, cfg, from)
	if err != nil {
		pos := Position{Topic: cfg.withDefaults().Topic, Offsets: maps.Clone(from.Offsets)}
		if pos.Offsets == nil {
			pos.Offsets = map[int32]int64{}
		}
		return pos, err
	}
	defer r.Close()
	r.stopAt(r.opened)
	for !r.CaughtUp() {
		rec, err := r.Next(ctx)
		if err != nil {
			return r.Position(), err
		}
		if err := fn(rec); err != nil {
			pos := r.Position()
			pos.Offsets[rec.Partition] = rec.Offset // not accepted
			return pos, err
		}
	}
	return r.Position(), nil
}

// Reader reads the owned partitions of a topic from a Position, record by
// record, in offset order within each partition. It follows the partitions
// as they grow until StopAtEnd bounds it. It never commits offsets to the
// cluster: Position is the only record of how far it got. A Reader is used
// from one goroutine.
type Reader struct {
	cfg    Config
	adm    *kadm.Client
	client *kgo.Client
	info   TopicInfo
	opened map[int32]int64 // each owned partition's end offset when the Reader opened
	pos    Position        // next offset per owned partition, past every record returned
	buf    []*kgo.Record   // fetched, not yet returned
	// ends, once StopAtEnd has bounded the Reader, holds the partitions
	// still short of their bound, with it; nil while following.
	ends map[int32]int64
}

// OpenReader checks from against the topic and starts reading the owned
// partitions (cfg.Partitions, all when nil) at its next offsets, or at a
// partition's start where from has none. A next offset retention already
// deleted is an [*OffsetGoneError]; one past the end (a recreated topic)
// an error too. Partitions added to the topic later are not read.
func OpenReader(ctx context.Context, cfg Config, from Position) (*Reader, error) {
	cfg = cfg.withDefaults()
	if from.Topic != "" && from.Topic != cfg.Topic {
		return nil, fmt.Errorf("the state is for kafka topic %q, not kafka_topic %q; refusing to mix offsets of two topics", from.Topic, cfg.Topic)
	}
	adm, err := newAdmin(cfg)
	if err != nil {
		return nil, err
	}
	r := &Reader{cfg: cfg, adm: adm, pos: Position{Topic: cfg.Topic, Offsets: maps.Clone(from.Offsets)}, opened: map[int32]int64{}}
	if r.pos.Offsets == nil {
		r.pos.Offsets = map[int32]int64{}
	}
	if err := r.open(ctx, from); err != nil {
		r.Close()
		return nil, err
	}
	return r, nil
}

func (r *Reader) open(ctx context.Context, from Position) error {
	var err error
	if r.info, err = describeTopic(ctx, r.adm, r.cfg.Topic); err != nil {
		return err
	}
	owned, err := ownedPartitions(r.cfg, r.info)
	if err != nil {
		return err
	}
	ranges, err := partitionRanges(ctx, r.adm, r.info)
	if err != nil {
		return err
	}
	starts := map[int32]kgo.Offset{}
	for _, p := range owned {
		pr := ranges[p]
		next, ok := from.Offsets[p]
		if !ok {
			next = pr.Start
		}
		switch {
		case next < pr.Start:
			return &OffsetGoneError{Topic: r.cfg.Topic, Partition: p, Next: next, Start: pr.Start}
		case next > pr.End:
			return fmt.Errorf("kafka topic %q partition %d: the state's next offset %d is past the end %d; was the topic recreated?",
				r.cfg.Topic, p, next, pr.End)
		}
		r.pos.Offsets[p] = next
		r.opened[p] = pr.End
		starts[p] = kgo.NewOffset().At(next)
	}
	opts, err := r.cfg.clientOpts()
	if err != nil {
		return err
	}
	opts = append(opts,
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{r.cfg.Topic: starts}),
		// Never jump over deleted records: surface OFFSET_OUT_OF_RANGE.
		kgo.ConsumeResetOffset(kgo.NoResetOffset()),
		kgo.FetchMaxWait(500*time.Millisecond),
	)
	if r.client, err = kgo.NewClient(opts...); err != nil {
		return fmt.Errorf("kafka consumer: %w", err)
	}
	return nil
}

// Position returns the next offset of every owned partition: past every
// record returned so far, so always a safe STATE once those are emitted.
func (r *Reader) Position() Position {
	return Position{Topic: r.pos.Topic, Offsets: maps.Clone(r.pos.Offsets)}
}

// StopAtEnd bounds the Reader at the owned partitions' end offsets now:
// it returns no record at or past them, and CaughtUp reports true once it
// has returned every record before them. It is called once.
func (r *Reader) StopAtEnd(ctx context.Context) error {
	ranges, err := partitionRanges(ctx, r.adm, r.info)
	if err != nil {
		return err
	}
	ends := map[int32]int64{}
	for p := range r.opened {
		ends[p] = ranges[p].End
	}
	r.stopAt(ends)
	return nil
}

func (r *Reader) stopAt(ends map[int32]int64) {
	r.ends = map[int32]int64{}
	var done []int32
	for p, end := range ends {
		if r.pos.Offsets[p] < end {
			r.ends[p] = end
		} else {
			done = append(done, p)
		}
	}
	r.client.PauseFetchPartitions(map[string][]int32{r.cfg.Topic: done})
}

// CaughtUp reports whether StopAtEnd bounded the Reader and every record
// before the bound has been returned.
func (r *Reader) CaughtUp() bool { return r.ends != nil && len(r.ends) == 0 }

// TryNext returns the next record already fetched, without waiting; ok is
// false when none is.
func (r *Reader) TryNext() (rec Record, ok bool, err error) {
	for {
		for len(r.buf) > 0 {
			kr := r.buf[0]
			r.buf[0] = nil
			r.buf = r.buf[1:]
			if r.ends != nil {
				end, short := r.ends[kr.Partition]
				if !short || kr.Offset >= end {
					continue // past the bound: left for the next run
				}
				if kr.Offset+1 >= end {
					delete(r.ends, kr.Partition)
					r.client.PauseFetchPartitions(map[string][]int32{r.cfg.Topic: {kr.Partition}})
				}
			}
			r.pos.Offsets[kr.Partition] = kr.Offset + 1
			return recordOf(kr), true, nil
		}
		// What the client has buffered: PollFetches documents a nil
		// context as "return at once".
		took, err := r.take(r.client.PollFetches(nil))
		if err != nil || !took {
			return Record{}, false, err
		}
	}
}

// Next returns the next record, waiting for one until ctx ends. Once
// CaughtUp it only waits for ctx.
func (r *Reader) Next(ctx context.Context) (Record, error) {
	for {
		rec, ok, err := r.TryNext()
		if err != nil || ok {
			return rec, err
		}
		if r.CaughtUp() {
			<-ctx.Done()
			return Record{}, ctx.Err()
		}
		if _, err := r.take(r.client.PollFetches(ctx)); err != nil {
			return Record{}, err
		}
		if err := ctx.Err(); err != nil {
			return Record{}, err
		}
	}
}

// take queues the records of fetches and reports whether there were any;
// a fetch error is returned, except the one PollFetches injects when its
// context ends.
func (r *Reader) take(fetches kgo.Fetches) (bool, error) {
	for _, fe := range fetches.Errors() {
		switch {
		case fe.Partition < 0 && (errors.Is(fe.Err, context.Canceled) || errors.Is(fe.Err, context.DeadlineExceeded)):
		case errors.Is(fe.Err, kerr.OffsetOutOfRange):
			return false, r.gone(fe.Partition)
		default:
			return false, fmt.Errorf("kafka topic %q partition %d: fetching: %w", fe.Topic, fe.Partition, fe.Err)
		}
	}
	n := len(r.buf)
	fetches.EachRecord(func(kr *kgo.Record) { r.buf = append(r.buf, kr) })
	return len(r.buf) > n, nil
}

// gone is the error for a fetch of partition answered OFFSET_OUT_OF_RANGE:
// retention deleted the next offset after the Reader opened.
func (r *Reader) gone(partition int32) error {
	err := &OffsetGoneError{Topic: r.cfg.Topic, Partition: partition, Next: r.pos.Offsets[partition], Start: -1}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if ranges, rerr := partitionRanges(ctx, r.adm, r.info); rerr == nil && ranges[partition].Start > err.Next {
		err.Start = ranges[partition].Start
	}
	return err
}

// Close stops fetching and closes the connections.
func (r *Reader) Close() {
	if r.client != nil {
		r.client.Close()
	}
	r.adm.Close()
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
