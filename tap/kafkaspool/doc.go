// Package kafkaspool keeps the tap's spool on a Kafka topic (DESIGN.md §5,
// "Past one machine") so that receivers are stateless and no single disk
// holds acknowledged webhooks.
//
// It has three parts, all speaking the Kafka protocol through franz-go:
//
//   - [Producer] is a receiver.Appender: Append returns nil only after the
//     cluster acknowledged the record with acks=all (idempotent producer).
//     The record value is the raw body; the receive time and token id are
//     headers ([HeaderReceivedAt], [HeaderTokenID]).
//   - [CheckTopic] refuses a topic that cannot keep that promise: missing,
//     replication factor below 3, or min.insync.replicas below 2.
//   - [Reader] reads the owned partitions from given next offsets, in
//     order per partition, following them as they grow (the one-process
//     mode) until [Reader.StopAtEnd] bounds it at the end offsets of that
//     moment; [Load] is a Reader bounded from its start (the loader). It
//     never commits offsets to the cluster: the caller's STATE ([Position])
//     is the only position. An offset already deleted by retention is an
//     [*OffsetGoneError], never a silent skip.
//
// Positions are Kafka offsets, which are per partition: the uint64 that
// Append returns is an offset within the partition the record went to, not
// a sequence over the topic.
package kafkaspool
