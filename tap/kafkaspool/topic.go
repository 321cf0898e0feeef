package kafkaspool

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/rs/zerolog"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

// The topic settings a 200 rests on: with acks=all, an acknowledged record
// is on at least min.insync.replicas brokers, so losing one broker loses
// nothing acknowledged and still leaves a quorum to write to.
const (
	SafeReplicationFactor = 3
	SafeMinInsyncReplicas = 2
)

// TopicInfo is what CheckTopic found.
type TopicInfo struct {
	Topic             string
	Partitions        []int32 // ascending
	ReplicationFactor int     // the smallest over the partitions
	MinInsyncReplicas int     // the topic's effective min.insync.replicas
	RaftMajority      bool    // no min.insync.replicas reported: a majority of ReplicationFactor (Redpanda)
}

// effectiveMinInsync returns how many replicas an acks=all write waits for.
// Apache Kafka always reports min.insync.replicas (its default 1 too), so a
// cluster that reports none replicates by Raft, as Redpanda does: there an
// acks=all write waits for a majority of the replicas, 2 of 3.
func effectiveMinInsync(configs []kadm.Config, replicationFactor int) (n int, majority bool, err error) {
	for _, c := range configs {
		if c.Key == "min.insync.replicas" {
			if n, err = strconv.Atoi(c.MaybeValue()); err != nil {
				return 0, false, fmt.Errorf("min.insync.replicas %q is not a number", c.MaybeValue())
			}
			return n, false, nil
		}
	}
	return replicationFactor/2 + 1, true, nil
}

// CheckTopic verifies that the topic exists with replication factor >= 3
// and min.insync.replicas >= 2. A topic that falls short is an error naming
// both settings, or, with AllowUnsafeTopic, a warning on log and a nil
// error. A missing topic is always an error: nothing could be produced.
func CheckTopic(ctx context.Context, cfg Config, log zerolog.Logger) (TopicInfo, error) {
	cfg = cfg.withDefaults()
	adm, err := newAdmin(cfg)
	if err != nil {
		return TopicInfo{}, err
	}
	defer adm.Close()
	info, err := describeTopic(ctx, adm, cfg.Topic)
	if err != nil {
		return info, err
	}
	configs, err := adm.DescribeTopicConfigs(ctx, cfg.Topic)
	if err != nil {
		return info, fmt.Errorf("kafka topic %q: describing its configs: %w", cfg.Topic, err)
	}
	rc, err := configs.On(cfg.Topic, nil)
	if err == nil {
		err = rc.Err
	}
	if err != nil {
		return info, fmt.Errorf("kafka topic %q: describing its configs: %w", cfg.Topic, err)
	}
	if info.MinInsyncReplicas, info.RaftMajority, err = effectiveMinInsync(rc.Configs, info.ReplicationFactor); err != nil {
		return info, fmt.Errorf("kafka topic %q: %w", cfg.Topic, err)
	}
	if info.RaftMajority {
		log.Info().Str("topic", cfg.Topic).Int("replication_factor", info.ReplicationFactor).
			Int("majority", info.MinInsyncReplicas).
			Msg("the cluster reports no min.insync.replicas (Redpanda): an acks=all write waits for a majority of the replicas")
	}
	problems := info.problems()
	if len(problems) == 0 {
		return info, nil
	}
	msg := fmt.Sprintf("kafka topic %q is unsafe: %s (it has replication factor %d and min.insync.replicas %d; want >= %d and >= %d)",
		cfg.Topic, strings.Join(problems, "; "), info.ReplicationFactor, info.MinInsyncReplicas,
		SafeReplicationFactor, SafeMinInsyncReplicas)
	if !cfg.AllowUnsafeTopic {
		return info, errors.New(msg + "; fix the topic or set kafka_allow_unsafe_topic for development")
	}
	log.Warn().Str("topic", cfg.Topic).Int("replication_factor", info.ReplicationFactor).
		Int("min_insync_replicas", info.MinInsyncReplicas).
		Msg(msg + "; running anyway because kafka_allow_unsafe_topic is true: a 200 may be lost with one broker")
	return info, nil
}

// problems lists what keeps an acknowledged record from surviving a broker.
func (t TopicInfo) problems() []string {
	var out []string
	if t.ReplicationFactor < SafeReplicationFactor {
		out = append(out, fmt.Sprintf("replication factor %d is below %d", t.ReplicationFactor, SafeReplicationFactor))
	}
	switch {
	case t.MinInsyncReplicas >= SafeMinInsyncReplicas:
	case t.RaftMajority:
		out = append(out, fmt.Sprintf("a write waits for a majority of the replicas, %d, below %d", t.MinInsyncReplicas, SafeMinInsyncReplicas))
	default:
		out = append(out, fmt.Sprintf("min.insync.replicas %d is below %d", t.MinInsyncReplicas, SafeMinInsyncReplicas))
	}
	if t.MinInsyncReplicas > t.ReplicationFactor {
		out = append(out, fmt.Sprintf("min.insync.replicas %d exceeds the replication factor %d, so every produce fails",
			t.MinInsyncReplicas, t.ReplicationFactor))
	}
	return out
}

func newAdmin(cfg Config) (*kadm.Client, error) {
	opts, err := cfg.clientOpts()
	if err != nil {
		return nil, err
	}
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		return nil, fmt.Errorf("kafka client: %w", err)
	}
	return kadm.NewClient(cl), nil
}

// describeTopic returns the topic's partitions and smallest replica count.
func describeTopic(ctx context.Context, adm *kadm.Client, topic string) (TopicInfo, error) {
	info := TopicInfo{Topic: topic}
	details, err := adm.ListTopics(ctx, topic)
	if err != nil {
		return info, fmt.Errorf("kafka topic %q: describing it: %w", topic, err)
	}
	td, ok := details[topic]
	if !ok || errors.Is(td.Err, kerr.UnknownTopicOrPartition) {
		return info, fmt.Errorf("kafka topic %q does not exist; create it with replication factor >= %d and min.insync.replicas >= %d",
			topic, SafeReplicationFactor, SafeMinInsyncReplicas)
	}
	if td.Err != nil {
		return info, fmt.Errorf("kafka topic %q: describing it: %w", topic, td.Err)
	}
	info.ReplicationFactor = -1
	for p, pd := range td.Partitions {
		info.Partitions = append(info.Partitions, p)
		if n := len(pd.Replicas); info.ReplicationFactor < 0 || n < info.ReplicationFactor {
			info.ReplicationFactor = n
		}
	}
	if info.ReplicationFactor < 0 {
		info.ReplicationFactor = 0
	}
	slices.Sort(info.Partitions)
	return info, nil
}
