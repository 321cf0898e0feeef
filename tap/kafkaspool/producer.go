package kafkaspool

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// Record header keys. The value of HeaderReceivedAt is RFC 3339 with
// nanoseconds in UTC; HeaderTokenID is the short, non-secret token id.
const (
	HeaderReceivedAt = "received_at"
	HeaderTokenID    = "token_id"
)

// ErrProduceTimeout is wrapped by Append's error when the cluster did not
// acknowledge within ProduceTimeout. It also matches context.DeadlineExceeded.
var ErrProduceTimeout = fmt.Errorf("no acknowledgement within the produce timeout: %w", context.DeadlineExceeded)

// Producer appends webhook bodies to the topic. It implements the
// receiver's Appender and is safe for concurrent use.
type Producer struct {
	client  *kgo.Client
	topic   string
	timeout time.Duration
	now     func() time.Time

	acked    atomic.Uint64
	failed   atomic.Uint64
	timeouts atomic.Uint64
	latency  LatencyHistogram
}

// NewProducer connects lazily: it fails only on bad settings, and the first
// Append (or Ready) finds out whether the cluster is reachable.
func NewProducer(cfg Config) (*Producer, error) {
	cfg = cfg.withDefaults()
	opts, err := cfg.clientOpts()
	if err != nil {
		return nil, err
	}
	opts = append(opts,
		kgo.DefaultProduceTopic(cfg.Topic),
		// acks=all with the idempotent producer (kgo's default, kept
		// explicit): an acknowledged record is on min.insync.replicas brokers
		// and retries do not duplicate it.
		kgo.RequiredAcks(kgo.AllISRAcks()),
		// A webhook waits for its acknowledgement; lingering would only add
		// latency. Concurrent Appends still share requests.
		kgo.ProducerLinger(0),
		// Let kgo fail records it can safely fail once the caller has given
		// up (kgo allows no less than 1s); Append's own deadline bounds the rest.
		kgo.RecordDeliveryTimeout(max(cfg.ProduceTimeout, time.Second)),
		// A retriable produce error (NOT_ENOUGH_REPLICAS, a leader move)
		// makes kgo refresh metadata before it retries, no sooner than this
		// after the last refresh: kgo's 5s default would answer 503 for
		// seconds after a blip that clears in milliseconds.
		kgo.MetadataMinAge(250*time.Millisecond),
	)
	client, err := kgo.NewClient(opts...)
	if err != nil {
		return nil, fmt.Errorf("kafka producer: %w", err)
	}
	return &Producer{client: client, topic: cfg.Topic, timeout: cfg.ProduceTimeout, now: time.Now}, nil
}

// Append produces body as one record and returns once the cluster has
// acknowledged it with acks=all, or with an error after a produce error or
// ProduceTimeout, whichever comes first (the receiver answers 503 then).
// The returned offset is the record's offset within its partition: offsets
// of different partitions are unrelated.
//
// Append copies body (fasthttp reuses it). A record whose Append timed out
// may still be written later by kgo's retries; the sender retries too, so
// such a webhook can be loaded twice, never lost, and the upsert on event
// id makes the repeat harmless.
func (p *Producer) Append(ctx context.Context, body []byte, tokenID string) (uint64, error) {
	start := p.now()
	ctx, cancel := context.WithTimeout(ctx, p.timeout)
	defer cancel()
	value := make([]byte, len(body))
	copy(value, body)
	rec := &kgo.Record{
		Topic: p.topic,
		Value: value,
		Headers: []kgo.RecordHeader{
			{Key: HeaderReceivedAt, Value: []byte(start.UTC().Format(time.RFC3339Nano))},
			{Key: HeaderTokenID, Value: []byte(tokenID)},
		},
	}
	done := make(chan error, 1)
	p.client.Produce(ctx, rec, func(_ *kgo.Record, err error) { done <- err })
	var err error
	select {
	case err = <-done:
	case <-ctx.Done():
		// The idempotent producer does not fail a record already sent;
		// the caller must not wait for it.
		err = ctx.Err()
	}
	if err != nil {
		p.failed.Add(1)
		if errors.Is(err, context.DeadlineExceeded) {
			p.timeouts.Add(1)
			return 0, fmt.Errorf("kafka produce to %s: %w", p.topic, ErrProduceTimeout)
		}
		return 0, fmt.Errorf("kafka produce to %s: %w", p.topic, err)
	}
	p.latency.observe(p.now().Sub(start))
	p.acked.Add(1)
	return uint64(rec.Offset), nil
}

// Ready reports whether a broker answers, for /readyz. It waits at most
// ProduceTimeout.
func (p *Producer) Ready() error {
	ctx, cancel := context.WithTimeout(context.Background(), p.timeout)
	defer cancel()
	if err := p.client.Ping(ctx); err != nil {
		return fmt.Errorf("kafka cluster unreachable: %w", err)
	}
	return nil
}

// ProduceStats are counters for /metrics.
type ProduceStats struct {
	Acked    uint64 // Appends the cluster acknowledged
	Failed   uint64 // Appends that returned an error (Timeouts included)
	Timeouts uint64 // Appends that gave up after ProduceTimeout (or the caller's deadline)
}

// Stats returns the counters since NewProducer.
func (p *Producer) Stats() ProduceStats {
	return ProduceStats{Acked: p.acked.Load(), Failed: p.failed.Load(), Timeouts: p.timeouts.Load()}
}

// Latency is the histogram of acknowledged Appends, from call to acknowledgement.
func (p *Producer) Latency() *LatencyHistogram { return &p.latency }

// Close waits for nothing: records not yet acknowledged are failed (their
// Appends have returned errors or are returning them).
func (p *Producer) Close() { p.client.Close() }
