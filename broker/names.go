package broker

import "strings"

// DefaultPrefix is the prefix of every subject and bucket name unless
// configured otherwise; several deployments share one NATS with different ones.
const DefaultPrefix = "strand"

// Names owns every subject, bucket, stream and consumer name strand uses.
// The layout is specified in docs/protocol.md.
type Names struct {
	prefix string
	bucket string
	kvPre  string
}

// NewNames returns the names under prefix ("" = DefaultPrefix).
func NewNames(prefix string) Names {
	if prefix == "" {
		prefix = DefaultPrefix
	}
	b := strings.ToUpper(prefix)
	return Names{prefix: prefix, bucket: b, kvPre: "$KV." + b + "."}
}

// Prefix is the first token of strand's own subjects.
func (n Names) Prefix() string { return n.prefix }

// Bucket is the KV bucket holding tasks, states and outcomes.
func (n Names) Bucket() string { return n.bucket }

// Stream is the bucket's stream.
func (n Names) Stream() string { return "KV_" + n.bucket }

// TaskKey is the key of a queued task: t.<queue>.<id>.
func (n Names) TaskKey(queue, id string) string { return "t." + queue + "." + id }

// StateKey is the key of a task's state record: s.<id>.
func (n Names) StateKey(id string) string { return "s." + id }

// ResultKey is the key of a task's outcome record: r.<id>.
func (n Names) ResultKey(id string) string { return "r." + id }

// KeySubject is the stream subject a key is written to.
func (n Names) KeySubject(key string) string { return n.kvPre + key }

// TaskSubject is the subject a producer publishes a task to.
func (n Names) TaskSubject(queue, id string) string { return n.kvPre + "t." + queue + "." + id }

// QueueFilter is the filter of a queue's consumer.
func (n Names) QueueFilter(queue string) string { return n.kvPre + "t." + queue + ".>" }

// Consumer is the durable consumer name of a queue.
func (n Names) Consumer(queue string) string { return n.prefix + "-" + queue }

// EventPrefix is what the bucket's RePublish puts before a key.
func (n Names) EventPrefix() string { return n.prefix + ".evt." }

// Event is the subject a write of a state or outcome key is republished to.
func (n Names) Event(key string) string { return n.prefix + ".evt." + key }

// ResultEvents matches the republished writes of every outcome.
func (n Names) ResultEvents() string { return n.prefix + ".evt.r.>" }

// Cancel is the core NATS subject that tells workers to stop task id now.
func (n Names) Cancel(id string) string { return n.prefix + ".ctl.cancel." + id }

// CancelAll matches every Cancel subject.
func (n Names) CancelAll() string { return n.prefix + ".ctl.cancel.*" }

// WorkersBucket is the KV bucket of worker heartbeat records, one key per
// worker id.
func (n Names) WorkersBucket() string { return n.bucket + "_WORKERS" }

// WorkerSubject is the stream subject of worker id's heartbeat record.
func (n Names) WorkerSubject(id string) string { return "$KV." + n.bucket + "_WORKERS." + id }

// ParseTaskSubject splits a task subject into its queue and id.
func (n Names) ParseTaskSubject(subject string) (queue, id string, ok bool) {
	rest, found := strings.CutPrefix(subject, n.kvPre+"t.")
	if !found {
		return "", "", false
	}
	queue, id, ok = strings.Cut(rest, ".")
	if !ok || queue == "" || id == "" || strings.Contains(id, ".") {
		return "", "", false
	}
	return queue, id, true
}

// IDFromEvent returns the key of a republished write (strand.evt.<key>).
func (n Names) KeyFromEvent(subject string) (string, bool) {
	return strings.CutPrefix(subject, n.prefix+".evt.")
}
