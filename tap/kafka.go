package tap

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"time"

	"github.com/cio-singer/tap-customerio-webhook/internal/singer"
	"github.com/cio-singer/tap-customerio-webhook/schemas"
	"github.com/cio-singer/tap-customerio-webhook/tap/kafkaspool"
	"github.com/cio-singer/tap-customerio-webhook/tap/spool"
)

// serveKafka is Serve with spool "kafka": a stateless receiver whose 200
// means the cluster acknowledged the record with acks=all. It refuses to
// start on a topic that cannot keep that promise (kafkaspool.CheckTopic).
func serveKafka(ctx context.Context, o Options) error {
	cfg := o.Config
	if o.Listener == nil && cfg.Listen == "" {
		return errors.New("serve needs listen")
	}
	checkCtx, cancel := context.WithTimeout(ctx, 30*time.Second)
	info, err := kafkaspool.CheckTopic(checkCtx, cfg.Kafka, o.Log)
	cancel()
	if err != nil {
		return fmt.Errorf("checking the kafka topic: %w", err)
	}
	producer, err := kafkaspool.NewProducer(cfg.Kafka)
	if err != nil {
		return err
	}
	// Closed after the receiver has answered every webhook it accepted.
	defer producer.Close()
	m := &metrics{now: time.Now, producer: producer}
	store := receiverStore{appender: producer, ready: producer.Ready,
		// The producer's own timeout answers first, counted as a timeout.
		appendTimeout: kafkaProduceTimeout(cfg) + 250*time.Millisecond}
	rr, err := startReceiver(ctx, cfg, store, o, m)
	if err != nil {
		return err
	}
	o.Log.Info().Str("topic", info.Topic).Int("partitions", len(info.Partitions)).
		Int("replication_factor", info.ReplicationFactor).Int("min_insync_replicas", info.MinInsyncReplicas).
		Msg("receiving into kafka")
	if err := rr.serveUntil(ctx, o.Log); err != nil {
		return err
	}
	st := producer.Stats()
	o.Log.Info().Uint64("acked", st.Acked).Uint64("failed", st.Failed).Msg("stopped")
	return nil
}

func kafkaProduceTimeout(cfg Config) time.Duration {
	if cfg.Kafka.ProduceTimeout > 0 {
		return cfg.Kafka.ProduceTimeout
	}
	return kafkaspool.DefaultProduceTimeout
}

// writeProducerMetrics exposes the produce counters and latency.
func writeProducerMetrics(w io.Writer, p *kafkaspool.Producer) {
	st := p.Stats()
	writeFamily(w, "kafka_produce_total", "counter", "Webhooks produced to Kafka, by result: acked (acks=all), failed (answered 503; timeouts included).",
		sample{`result="acked"`, float64(st.Acked)}, sample{`result="failed"`, float64(st.Failed)})
	writeFamily(w, "kafka_produce_timeouts_total", "counter", "Produces not acknowledged within kafka_produce_timeout (answered 503).",
		sample{value: float64(st.Timeouts)})
	cum, count, sum := p.Latency().Snapshot()
	h := histogram{counts: cum, count: count, sum: sum.Seconds()}
	for _, b := range kafkaspool.LatencyBuckets {
		h.bounds = append(h.bounds, b.Seconds())
	}
	writeHistogram(w, "kafka_produce_duration_seconds", "Time from a webhook's produce to the cluster's acknowledgement (acknowledged produces only).", h)
}

// loadKafka is the Singer run with spool "kafka" and "listen": "": it
// emits the owned partitions from the offsets in --state up to the end
// offsets seen at its start, exactly as the disk drain emits, and exits
// after a final STATE. STATE (bookmarks.data, a kafkaspool.Position) is the
// only position: nothing is committed to the cluster.
func loadKafka(ctx context.Context, o Options) error {
	cfg := o.Config
	if o.Listener != nil || cfg.Listen != "" {
		return errors.New(`spool "kafka": one process cannot receive and load; run serve, and a Singer run with "listen": ""`)
	}
	topic := cfg.Kafka.Topic
	if topic == "" {
		topic = kafkaspool.DefaultTopic
	}
	// live is the position STATE reports: o.KafkaPosition advanced past
	// each record before the emitter writes it (the emitter writes STATE
	// only after the messages of the records it covers).
	live := kafkaspool.Position{Topic: topic, Offsets: maps.Clone(o.KafkaPosition.Offsets)}
	if live.Offsets == nil {
		live.Offsets = map[int32]int64{}
	}
	em, err := newEmitter(singer.NewWriter(o.Stdout), o.Selection, "", 0, cfg.StateInterval, o.Log.With().Str("component", "emitter").Logger())
	if err != nil {
		return err
	}
	var cur kafkaspool.Record
	em.rejectionID = func(uint64) string { return kafkaspool.RejectionID(topic, cur.Partition, cur.Offset) }
	em.webhookBookmark = func() map[string]json.RawMessage {
		raw, _ := json.Marshal(live)
		return map[string]json.RawMessage{schemas.Data: raw}
	}
	em.keepWithheld = func(id string, body []byte) error { return keepWithheld(cfg.SpoolDir, id, body) }
	o.Log.Info().Str("topic", topic).Interface("offsets", live.Offsets).Msg("emitting from kafka")
	var seq uint64 // the emitter counts records; Kafka offsets are per partition
	pos, err := kafkaspool.Load(ctx, cfg.Kafka, o.KafkaPosition, func(r kafkaspool.Record) error {
		cur = r
		live.Offsets[r.Partition] = r.Offset + 1
		seq++
		return em.emit(spool.Record{Offset: seq, Body: r.Body, ReceivedAt: r.ReceivedAt})
	})
	stopped := err != nil && ctx.Err() != nil && errors.Is(err, ctx.Err())
	if err != nil && !stopped {
		// The STATEs written so far cover only what was emitted; no final
		// one, and the run fails (an OffsetGoneError names the partition).
		return fmt.Errorf("loading from kafka: %w", err)
	}
	live = pos
	em.wroteState = false // always a final STATE, with every owned partition
	if err := em.writeState(); err != nil {
		return err
	}
	o.Log.Info().Interface("offsets", pos.Offsets).Uint64("data", em.dataCount.Load()).
		Uint64("rejected", em.rejectedCount.Load()).Msg("caught up: stopped")
	return nil
}
