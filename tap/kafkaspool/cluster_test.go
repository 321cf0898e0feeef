package kafkaspool

import (
	"context"
	"fmt"
	"net"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
)

// envBrokers points the tests at a real cluster (comma-separated seed
// brokers, at least 3 brokers for the replication-factor-3 topics) instead
// of an in-process kfake cluster. Tests that inject faults or restart the
// cluster need kfake and are skipped then.
const envBrokers = "TAP_KAFKA_TEST_BROKERS"

// testCluster is a real Kafka-protocol cluster for one test: kfake with 3
// brokers and its data on disk, or the cluster named by envBrokers.
type testCluster struct {
	brokers []string
	fake    *kfake.Cluster // nil on a real cluster
	dir     string         // kfake's data directory
}

var topicSeq atomic.Int64

func startCluster(t testing.TB, opts ...kfake.Opt) *testCluster {
	t.Helper()
	if env := os.Getenv(envBrokers); env != "" {
		return &testCluster{brokers: strings.Split(env, ",")}
	}
	tc := &testCluster{dir: t.TempDir()}
	tc.start(t, append(opts, kfake.NumBrokers(3))...)
	return tc
}

func (tc *testCluster) start(t testing.TB, opts ...kfake.Opt) {
	t.Helper()
	c, err := kfake.NewCluster(append(opts, kfake.DataDir(tc.dir))...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	tc.fake, tc.brokers = c, c.ListenAddrs()
}

// restart closes the kfake cluster and reopens it on the same data
// directory and ports: a whole-cluster restart.
func (tc *testCluster) restart(t testing.TB) {
	t.Helper()
	var ports []int
	for _, a := range tc.brokers {
		_, p, err := net.SplitHostPort(a)
		if err != nil {
			t.Fatal(err)
		}
		n, _ := strconv.Atoi(p)
		ports = append(ports, n)
	}
	tc.fake.Close()
	tc.start(t, kfake.Ports(ports...))
}

func (tc *testCluster) needFake(t testing.TB) *kfake.Cluster {
	t.Helper()
	if tc.fake == nil {
		t.Skipf("needs the in-process kfake cluster (unset %s)", envBrokers)
	}
	return tc.fake
}

func (tc *testCluster) admin(t testing.TB) *kadm.Client {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(tc.brokers...))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return kadm.NewClient(cl)
}

// topic creates a fresh topic and returns a Config for it.
func (tc *testCluster) topic(t testing.TB, partitions int32, rf int16, minISR int) Config {
	t.Helper()
	name := fmt.Sprintf("tap-test-%d-%d", time.Now().UnixNano(), topicSeq.Add(1))
	isr := strconv.Itoa(minISR)
	resp, err := tc.admin(t).CreateTopic(ctx(t), partitions, rf, map[string]*string{"min.insync.replicas": &isr}, name)
	if err == nil {
		err = resp.Err
	}
	if err != nil {
		t.Fatalf("creating topic: %v", err)
	}
	return Config{Brokers: tc.brokers, Topic: name, ProduceTimeout: 2 * time.Second}
}

func ctx(t testing.TB) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return c
}

func newProducer(t testing.TB, cfg Config) *Producer {
	t.Helper()
	p, err := NewProducer(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Close)
	return p
}

// loadAll runs Load and returns the records it emitted.
func loadAll(t testing.TB, cfg Config, from Position) ([]Record, Position) {
	t.Helper()
	var got []Record
	pos, err := Load(ctx(t), cfg, from, func(r Record) error {
		got = append(got, r)
		return nil
	})
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	return got, pos
}

func slicesSort(s []string) { slices.Sort(s) }
