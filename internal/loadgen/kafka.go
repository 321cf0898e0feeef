package loadgen

import (
	"context"
	"errors"
	"fmt"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
)

// KafkaConfig describes a Kafka-protocol cluster for benchmarks and
// reliability tests: kfake (franz-go's in-process broker) with several
// brokers on loopback and its data on disk.
type KafkaConfig struct {
	Brokers int    // brokers; 3 when 0
	Dir     string // data directory, reloaded when it holds a cluster already
	// Ports are the brokers' ports on 127.0.0.1, one per broker; none picks
	// free ports. A restart passes the ports of the first start so clients'
	// seed brokers stay valid.
	Ports      []int
	Topic      string // created with replication factor 3 and min.insync.replicas 2 when missing; none: no topic
	Partitions int32  // the topic's partitions; 6 when 0
	SyncWrites bool   // fsync every produced batch, as Redpanda does before acknowledging
}

// StartKafka starts the cluster and creates the topic. Close the cluster
// to save its state into Dir.
func StartKafka(ctx context.Context, cfg KafkaConfig) (*kfake.Cluster, error) {
	if cfg.Dir == "" {
		return nil, errors.New("dir: required (the cluster keeps its data there)")
	}
	if cfg.Brokers == 0 {
		cfg.Brokers = 3
	}
	if len(cfg.Ports) != 0 && len(cfg.Ports) != cfg.Brokers {
		return nil, fmt.Errorf("ports: %d ports for %d brokers", len(cfg.Ports), cfg.Brokers)
	}
	opts := []kfake.Opt{kfake.NumBrokers(cfg.Brokers), kfake.DataDir(cfg.Dir)}
	if len(cfg.Ports) != 0 {
		opts = append(opts, kfake.Ports(cfg.Ports...))
	}
	if cfg.SyncWrites {
		opts = append(opts, kfake.SyncWrites())
	}
	c, err := kfake.NewCluster(opts...)
	if err != nil {
		return nil, fmt.Errorf("starting kfake: %w", err)
	}
	if cfg.Topic != "" {
		if err := CreateTopic(ctx, c.ListenAddrs(), cfg.Topic, cfg.Partitions); err != nil {
			c.Close()
			return nil, err
		}
	}
	return c, nil
}

// CreateTopic creates a topic the tap accepts (replication factor 3,
// min.insync.replicas 2) with partitions partitions (6 when 0). A topic
// that exists already is left as it is.
func CreateTopic(ctx context.Context, brokers []string, topic string, partitions int32) error {
	if partitions == 0 {
		partitions = 6
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...))
	if err != nil {
		return fmt.Errorf("kafka client: %w", err)
	}
	defer cl.Close()
	minISR := "2"
	resp, err := kadm.NewClient(cl).CreateTopic(ctx, partitions, 3, map[string]*string{"min.insync.replicas": &minISR}, topic)
	if err == nil {
		err = resp.Err
	}
	if err != nil && !errors.Is(err, kerr.TopicAlreadyExists) {
		return fmt.Errorf("creating topic %s: %w", topic, err)
	}
	return nil
}
