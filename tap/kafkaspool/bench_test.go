package kafkaspool

import (
	"bytes"
	"context"
	"testing"
)

// BenchmarkAppend measures acknowledged Appends per second from concurrent
// senders against the 3-broker kfake cluster (or TAP_KAFKA_TEST_BROKERS),
// 1 KiB bodies to a 3-partition topic with replication factor 3.
func BenchmarkAppend(b *testing.B) {
	tc := startCluster(b)
	cfg := tc.topic(b, 3, 3, 2)
	p, err := NewProducer(cfg)
	if err != nil {
		b.Fatal(err)
	}
	defer p.Close()
	body := bytes.Repeat([]byte("x"), 1024)
	b.SetBytes(int64(len(body)))
	b.SetParallelism(16)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := p.Append(context.Background(), body, "tok"); err != nil {
				b.Error(err)
				return
			}
		}
	})
}
