package tap

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/cio-singer/tap-customerio-webhook/tap/kafkaspool"
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
