package kafkaspool

import (
	"strings"
	"testing"

	"github.com/twmb/franz-go/pkg/kadm"
)

// TestEffectiveMinInsync: a reported min.insync.replicas is taken as it is
// (even when a majority would be more); a cluster reporting none (Redpanda,
// which replicates by Raft) waits for a majority of the replicas, so RF 3 is
// safe there and RF 1 is not.
func TestEffectiveMinInsync(t *testing.T) {
	t.Parallel()
	one, two, bad := "1", "2", "two"
	tests := []struct {
		name     string
		configs  []kadm.Config
		rf       int
		want     int
		majority bool
		problem  string
		err      bool
	}{
		{name: "kafka reports 2", configs: []kadm.Config{{Key: "retention.ms"}, {Key: "min.insync.replicas", Value: &two}}, rf: 3, want: 2},
		{name: "kafka default 1 is not a majority", configs: []kadm.Config{{Key: "min.insync.replicas", Value: &one}}, rf: 3, want: 1, problem: "min.insync.replicas 1 is below 2"},
		{name: "redpanda rf 3", configs: []kadm.Config{{Key: "retention.ms"}}, rf: 3, want: 2, majority: true},
		{name: "redpanda rf 5", rf: 5, want: 3, majority: true},
		{name: "redpanda rf 1", rf: 1, want: 1, majority: true, problem: "a write waits for a majority of the replicas, 1, below 2"},
		{name: "not a number", configs: []kadm.Config{{Key: "min.insync.replicas", Value: &bad}}, rf: 3, err: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			n, majority, err := effectiveMinInsync(tc.configs, tc.rf)
			if tc.err {
				if err == nil {
					t.Fatalf("no error for %v", tc.configs)
				}
				return
			}
			if err != nil || n != tc.want || majority != tc.majority {
				t.Fatalf("= %d, %v, %v; want %d, %v", n, majority, err, tc.want, tc.majority)
			}
			problems := strings.Join(TopicInfo{ReplicationFactor: max(tc.rf, SafeReplicationFactor), MinInsyncReplicas: n, RaftMajority: majority}.problems(), "; ")
			if (tc.problem == "") != (problems == "") || !strings.Contains(problems, tc.problem) {
				t.Fatalf("problems %q, want %q", problems, tc.problem)
			}
		})
	}
}
