package tap

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/rs/zerolog"

	"github.com/cio-singer/tap-customerio-webhook/internal/singer"
	"github.com/cio-singer/tap-customerio-webhook/schemas"
	"github.com/cio-singer/tap-customerio-webhook/tap/kafkaspool"
	"github.com/cio-singer/tap-customerio-webhook/tap/metrics"
	"github.com/cio-singer/tap-customerio-webhook/tap/spool"
)

// serveKafka is Serve with spool "kafka": a stateless receiver whose 200
// means the cluster acknowledged the record with acks=all.
func serveKafka(ctx context.Context, o Options) error {
	cfg := o.Config
	if o.Listener == nil && cfg.Listen == "" {
		return errors.New("serve needs listen")
	}
	producer, store, err := kafkaReceiverStore(ctx, cfg, o.Log)
	if err != nil {
		return err
	}
	// Closed after the receiver has answered every webhook it accepted.
	defer producer.Close()
	m := &figures{now: time.Now, producer: producer}
	rr, err := startReceiver(ctx, cfg, store, o, m)
	if err != nil {
		return err
	}
	if err := rr.serveUntil(ctx, o.Log); err != nil {
		return err
	}
	st := producer.Stats()
	o.Log.Info().Uint64("acked", st.Acked).Uint64("failed", st.Failed).Msg("stopped")
	return nil
}

// kafkaReceiverStore checks the topic and returns the producer a receiver
// appends to. It refuses a topic that cannot keep the promise of a 200
// (kafkaspool.CheckTopic).
func kafkaReceiverStore(ctx context.Context, cfg Config, log zerolog.Logger) (*kafkaspool.Producer, receiverStore, error) {
	checkCtx, cancel := context.WithTimeout(ctx, 30*time.Second)
	info, err := kafkaspool.CheckTopic(checkCtx, cfg.Kafka, log)
	cancel()
	if err != nil {
		return nil, receiverStore{}, fmt.Errorf("checking the kafka topic: %w", err)
	}
	producer, err := kafkaspool.NewProducer(cfg.Kafka)
	if err != nil {
		return nil, receiverStore{}, err
	}
	log.Info().Str("topic", info.Topic).Int("partitions", len(info.Partitions)).
		Int("replication_factor", info.ReplicationFactor).Int("min_insync_replicas", info.MinInsyncReplicas).
		Msg("receiving into kafka")
	return producer, receiverStore{appender: producer, ready: producer.Ready,
		// The producer's own timeout answers first, counted as a timeout.
		appendTimeout: kafkaProduceTimeout(cfg) + 250*time.Millisecond}, nil
}

func kafkaProduceTimeout(cfg Config) time.Duration {
	if cfg.Kafka.ProduceTimeout > 0 {
		return cfg.Kafka.ProduceTimeout
	}
	return kafkaspool.DefaultProduceTimeout
}

// producerFigures returns the produce counters and latency.
func producerFigures(p *kafkaspool.Producer) *metrics.Producer {
	st := p.Stats()
	cum, count, sum := p.Latency().Snapshot()
	h := metrics.Histogram{Counts: cum, Count: count, Sum: sum.Seconds()}
	for _, b := range kafkaspool.LatencyBuckets {
		h.Bounds = append(h.Bounds, b.Seconds())
	}
	return &metrics.Producer{Acked: st.Acked, Failed: st.Failed, Timeouts: st.Timeouts, Latency: h}
}

// kafkaDrainStall bounds how long the drain at shutdown waits for a record
// it knows is in the cluster before it gives up (brokers gone).
const kafkaDrainStall = 30 * time.Second

// runKafka is the Singer run with spool "kafka". With "listen": "" it is
// the loader: it emits the owned partitions from the offsets in --state up
// to the end offsets seen at its start, exactly as the disk drain emits,
// and exits after a final STATE. With a server it is the one-process mode:
// its receiver produces to the topic while it emits the owned partitions
// as they grow; on SIGTERM it answers 503, emits everything up to the end
// offsets once the server has stopped (every webhook it acknowledged in
// its partitions), writes a final STATE and returns nil. STATE
// (bookmarks.data, a kafkaspool.Position) is the only position: nothing is
// committed to the cluster. The App API streams (history.go) are emitted
// beside the webhooks, with their bookmarks in the same STATE.
func runKafka(ctx context.Context, o Options) error {
	cfg := o.Config
	receiving := cfg.Listen != "" || o.Listener != nil
	var producer *kafkaspool.Producer
	var store receiverStore
	if receiving {
		p, st, err := kafkaReceiverStore(ctx, cfg, o.Log)
		if err != nil {
			return err
		}
		// Closed after the receiver has answered every webhook it accepted.
		defer p.Close()
		producer, store = p, st
	}
	reader, err := kafkaspool.OpenReader(ctx, cfg.Kafka, o.KafkaPosition)
	if err != nil {
		return fmt.Errorf("loading from kafka: %w", err)
	}
	defer reader.Close()
	if !receiving {
		// Nothing this run waits for can arrive after its start.
		if err := reader.StopAtEnd(ctx); err != nil {
			return fmt.Errorf("loading from kafka: %w", err)
		}
	}
	src := &kafkaSource{r: reader}
	em, err := newEmitter(singer.NewWriter(o.Stdout), o.Selection, "", 0, cfg.StateInterval, time.Now, o.Log.With().Str("component", "emitter").Logger())
	if err != nil {
		return err
	}
	start := reader.Position()
	em.rejectionID = func(uint64) string { return kafkaspool.RejectionID(start.Topic, src.cur.Partition, src.cur.Offset) }
	// The reader's position is past every record it returned, and each is
	// emitted before the next is read: a STATE covers exactly what was written.
	em.webhookBookmark = func() map[string]json.RawMessage {
		raw, _ := json.Marshal(reader.Position())
		return map[string]json.RawMessage{schemas.Data: raw}
	}
	em.keepWithheld = func(id string, body []byte) error { return keepWithheld(cfg.SpoolDir, id, body) }
	m := &figures{now: time.Now, producer: producer, em: em}
	hist, err := startHistory(ctx, o, em, m)
	if err != nil {
		return err
	}
	rr, err := startReceiver(ctx, cfg, store, o, m)
	if err != nil {
		hist.stop()
		return err
	}
	o.Log.Info().Str("topic", start.Topic).Interface("offsets", start.Offsets).Bool("receiving", receiving).Msg("emitting from kafka")

	err = emitLoop(ctx, em, src, cfg.ExitAfterIdle, !receiving, rr.errs(), o.Log)
	rr.shutdown(o.Log)
	hist.stop()
	if err != nil {
		// The STATEs written so far cover only what was emitted; no final
		// one, and the run fails (an OffsetGoneError names the partition).
		return err
	}
	if err := em.drainHistory(); err != nil {
		return err
	}
	if receiving {
		if err := drainKafka(em, src); err != nil {
			return err
		}
	}
	if err := em.finalState(true); err != nil { // with every owned partition
		return err
	}
	o.Log.Info().Interface("offsets", reader.Position().Offsets).Uint64("data", em.dataCount.Load()).
		Uint64("rejected", em.rejectedCount.Load()).Msg("stopped")
	return nil
}

// drainKafka emits the owned partitions up to their end offsets once the
// server has stopped: every webhook it acknowledged there is before them.
func drainKafka(em *emitter, src *kafkaSource) error {
	ctx, cancel := context.WithTimeout(context.Background(), kafkaDrainStall)
	err := src.r.StopAtEnd(ctx)
	cancel()
	if err != nil {
		return fmt.Errorf("draining kafka: %w", err)
	}
	for !src.caughtUp() {
		ctx, cancel := context.WithTimeout(context.Background(), kafkaDrainStall)
		rec, err := src.Next(ctx)
		cancel()
		if errors.Is(err, context.DeadlineExceeded) {
			return fmt.Errorf("draining kafka: no record for %v short of the end offsets (partitions %v); the STATEs written cover what was emitted",
				kafkaDrainStall, src.r.Position().Offsets)
		}
		if err != nil {
			return fmt.Errorf("draining kafka: %w", err)
		}
		if err := em.emit(rec); err != nil {
			return err
		}
	}
	return nil
}

// kafkaSource is a kafkaspool.Reader as the emit loop's recordSource. The
// emitter counts records in the order read (Kafka's offsets are per
// partition); the record being emitted is kept for its rejection id.
type kafkaSource struct {
	r   *kafkaspool.Reader
	seq uint64
	cur kafkaspool.Record
}

func (s *kafkaSource) TryNext() (spool.Record, bool, error) {
	rec, ok, err := s.r.TryNext()
	if err != nil || !ok {
		return spool.Record{}, false, err
	}
	return s.took(rec), true, nil
}

func (s *kafkaSource) Next(ctx context.Context) (spool.Record, error) {
	rec, err := s.r.Next(ctx)
	if err != nil {
		return spool.Record{}, err
	}
	return s.took(rec), nil
}

func (s *kafkaSource) caughtUp() bool { return s.r.CaughtUp() }

func (s *kafkaSource) took(rec kafkaspool.Record) spool.Record {
	s.cur = rec
	s.seq++
	return spool.Record{Offset: s.seq, Body: rec.Body, ReceivedAt: rec.ReceivedAt}
}
