package tap

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/cio-singer/tap-customerio-webhook/internal/poll"
	"github.com/cio-singer/tap-customerio-webhook/tap/auth"
	"github.com/cio-singer/tap-customerio-webhook/tap/kafkaspool"
)

// envKafkaBrokers points these tests at a real cluster (comma-separated
// seed brokers, at least 3 brokers) instead of an in-process kfake
// cluster, as in package kafkaspool. Fault injection needs kfake.
const envKafkaBrokers = "TAP_KAFKA_TEST_BROKERS"

var kafkaTopicSeq atomic.Int64

// kafkaTestCluster is kfake with 3 brokers and its data on disk, or the
// cluster envKafkaBrokers names (fake is nil then).
type kafkaTestCluster struct {
	brokers []string
	fake    *kfake.Cluster
}

func startKafka(t *testing.T) *kafkaTestCluster {
	t.Helper()
	if env := os.Getenv(envKafkaBrokers); env != "" {
		return &kafkaTestCluster{brokers: strings.Split(env, ",")}
	}
	c, err := kfake.NewCluster(kfake.NumBrokers(3), kfake.DataDir(t.TempDir()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return &kafkaTestCluster{brokers: c.ListenAddrs(), fake: c}
}

// kafkaConfig creates a fresh safe topic (RF 3, min.insync.replicas 2)
// and returns a tap config receiving into it.
func (kc *kafkaTestCluster) kafkaConfig(t *testing.T, partitions int32) Config {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(kc.brokers...))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	name := fmt.Sprintf("tap-wire-%d-%d", time.Now().UnixNano(), kafkaTopicSeq.Add(1))
	isr := "2"
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	resp, err := kadm.NewClient(cl).CreateTopic(ctx, partitions, 3, map[string]*string{"min.insync.replicas": &isr}, name)
	if err == nil {
		err = resp.Err
	}
	if err != nil {
		t.Fatalf("creating topic: %v", err)
	}
	cfg := testConfig(t, t.TempDir())
	cfg.Spool = SpoolKafka
	cfg.Kafka = kafkaspool.Config{Brokers: kc.brokers, Topic: name, ProduceTimeout: 500 * time.Millisecond}
	return cfg
}

// loadTopic reads every record of cfg's topic.
func loadTopic(t *testing.T, cfg Config) []kafkaspool.Record {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var got []kafkaspool.Record
	if _, err := kafkaspool.Load(ctx, cfg.Kafka, kafkaspool.Position{}, func(r kafkaspool.Record) error {
		got = append(got, r)
		return nil
	}); err != nil {
		t.Fatalf("Load: %v", err)
	}
	return got
}

func tokenID(t *testing.T) string {
	t.Helper()
	set, err := auth.ParseTokens([]string{testToken})
	if err != nil {
		t.Fatal(err)
	}
	return set.IDs()[0]
}

// TestServeKafkaAcknowledgesWhatTheClusterHas: serve with spool "kafka"
// answers 200 only for a webhook that is in the topic, with its receive
// time and token id as headers; /readyz and /metrics follow the producer.
func TestServeKafkaAcknowledgesWhatTheClusterHas(t *testing.T) {
	t.Parallel()
	kc := startKafka(t)
	cfg := kc.kafkaConfig(t, 2)
	base := startServe(t, cfg)
	waitReady(t, base)
	before := time.Now().UTC()
	for _, id := range []string{"k1", "k2", "k3"} {
		if code := post(t, base+"/webhook/"+testToken, sentEvent(id)); code != http.StatusOK {
			t.Fatalf("webhook %s: %d, want 200", id, code)
		}
	}
	got := loadTopic(t, cfg)
	if len(got) != 3 {
		t.Fatalf("topic holds %d records, want 3", len(got))
	}
	seen := map[string]bool{}
	for _, r := range got {
		for _, id := range []string{"k1", "k2", "k3"} {
			if string(r.Body) == sentEvent(id) {
				seen[id] = true
			}
		}
		if r.TokenID != tokenID(t) || r.ReceivedAt.Before(before.Add(-time.Second)) || r.ReceivedAt.After(time.Now().Add(time.Second)) {
			t.Errorf("record headers: token id %q received at %v", r.TokenID, r.ReceivedAt)
		}
	}
	if len(seen) != 3 {
		t.Fatalf("bodies in the topic are not the bodies sent: %d of 3 found", len(seen))
	}
	_, metrics := scrape(t, base)
	for _, want := range []string{
		`tap_customerio_webhook_kafka_produce_total{result="acked"} 3`,
		`tap_customerio_webhook_kafka_produce_duration_seconds_count 3`,
	} {
		if !strings.Contains(metrics, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
	if strings.Contains(metrics, "spool_segments") {
		t.Error("/metrics reports a disk spool under spool kafka")
	}
}

// TestServeKafkaProduceErrorIs503: while the cluster answers
// NOT_ENOUGH_REPLICAS, webhooks get 503 with Retry-After, and 200 again
// once it stops.
func TestServeKafkaProduceErrorIs503(t *testing.T) {
	t.Parallel()
	kc := startKafka(t)
	if kc.fake == nil {
		t.Skipf("needs the in-process kfake cluster (unset %s)", envKafkaBrokers)
	}
	cfg := kc.kafkaConfig(t, 1)
	base := startServe(t, cfg)
	waitReady(t, base)
	fault := kc.fake.Fault(kfake.Fault{Keys: []kmsg.Key{kmsg.Produce}, Topic: cfg.Kafka.Topic, Err: kerr.NotEnoughReplicas, Count: -1})
	resp, err := http.Post(base+"/webhook/"+testToken, "application/json", strings.NewReader(sentEvent("f1")))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("webhook during NOT_ENOUGH_REPLICAS: %d, want 503", resp.StatusCode)
	}
	if s, err := strconv.Atoi(resp.Header.Get("Retry-After")); err != nil || s <= 0 {
		t.Errorf("Retry-After %q, want seconds", resp.Header.Get("Retry-After"))
	}
	if fault.Hits() == 0 {
		t.Error("the fault was never hit")
	}
	_, metrics := scrape(t, base)
	if !strings.Contains(metrics, `tap_customerio_webhook_kafka_produce_total{result="failed"} 1`) {
		t.Errorf("/metrics does not count the failed produce:\n%s", metrics)
	}
	fault.Remove()
	poll.Until(t, "a 200 once the fault was removed", func() bool {
		return post(t, base+"/webhook/"+testToken, sentEvent("f2")) == http.StatusOK
	})
}

// TestServeKafkaRefusesAMissingTopic: serve stops before it listens,
// naming the topic (kafkaspool tests the unsafe-topic refusals).
func TestServeKafkaRefusesAMissingTopic(t *testing.T) {
	t.Parallel()
	kc := startKafka(t)
	cfg := kc.kafkaConfig(t, 1)
	cfg.Kafka.Topic = "no-such-topic"
	cfg.Listen = "127.0.0.1:0"
	err := Serve(context.Background(), Options{Config: cfg, Listener: nil, Log: zerolog.New(zerolog.NewTestWriter(t))})
	if err == nil || !strings.Contains(err.Error(), `"no-such-topic" does not exist`) {
		t.Fatalf("Serve on a missing topic: %v", err)
	}
}

// TestServeKafkaReadyzFollowsTheCluster: /readyz answers 200 while a broker
// answers and 503 once the cluster is gone.
func TestServeKafkaReadyzFollowsTheCluster(t *testing.T) {
	t.Parallel()
	kc := startKafka(t)
	if kc.fake == nil {
		t.Skipf("needs the in-process kfake cluster (unset %s)", envKafkaBrokers)
	}
	base := startServe(t, kc.kafkaConfig(t, 1))
	waitReady(t, base)
	kc.fake.Close()
	poll.Until(t, "/readyz to answer 503 once the cluster stopped", func() bool {
		return readyz(t, base) == http.StatusServiceUnavailable
	})
}
