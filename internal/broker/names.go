package broker

import "strings"

// DefaultPrefix is the prefix of every subject and bucket name unless
// configured otherwise; several deployments share one NATS with different ones.
const DefaultPrefix = "strand"

// Names owns every subject, bucket, stream and consumer name strand uses.
// The layout is specified in docs/protocol.md. Every name that belongs to
// a task carries its queue, so that NATS permissions can confine a producer
// or a worker to its queues.
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

// Bucket is the KV bucket holding states, outcomes and cancellations.
func (n Names) Bucket() string { return n.bucket }

// Stream is the bucket's stream.
func (n Names) Stream() string { return "KV_" + n.bucket }

// TasksStream is the work-queue stream of queued tasks, one subject per task.
func (n Names) TasksStream() string { return n.bucket + "_TASKS" }

// TaskSubject is the subject of a queued task: <prefix>.t.<queue>.<id>.
func (n Names) TaskSubject(queue, id string) string { return n.prefix + ".t." + queue + "." + id }

// TaskSubjects matches every TaskSubject.
func (n Names) TaskSubjects() string { return n.prefix + ".t.>" }

// QueueFilter is the filter of a queue's consumer.
func (n Names) QueueFilter(queue string) string { return n.prefix + ".t." + queue + ".>" }

// Consumer is the durable consumer name of a queue.
func (n Names) Consumer(queue string) string { return n.prefix + "-" + queue }

// Kinds of a task's records in the bucket: the first token of their keys.
const (
	KindState   = "s" // what a task is doing while it has no outcome
	KindOutcome = "r" // its outcome, written once by a worker
	KindCancel  = "c" // its cancellation, written once by a canceller
)

// Key is the key of a task's record of kind (KindState, …): <kind>.<queue>.<id>.
func (n Names) Key(kind, queue, id string) string { return kind + "." + queue + "." + id }

// StateKey is the key of a task's state record: s.<queue>.<id>.
func (n Names) StateKey(queue, id string) string { return n.Key(KindState, queue, id) }

// ResultKey is the key of a task's outcome record: r.<queue>.<id>.
func (n Names) ResultKey(queue, id string) string { return n.Key(KindOutcome, queue, id) }

// CancelKey is the key of a task's cancellation record: c.<queue>.<id>.
func (n Names) CancelKey(queue, id string) string { return n.Key(KindCancel, queue, id) }

// KeySubject is the stream subject a key is written to.
func (n Names) KeySubject(key string) string { return n.kvPre + key }

// EventPrefix is what the bucket's RePublish puts before a key.
func (n Names) EventPrefix() string { return n.prefix + ".evt." }

// Event is the subject a write of key is republished to.
func (n Names) Event(key string) string { return n.prefix + ".evt." + key }

// Events matches the republished writes of records of kind in queue ("*"
// for every queue).
func (n Names) Events(kind, queue string) string {
	return n.prefix + ".evt." + kind + "." + queue + ".*"
}

// ParseKey splits a record key (or a key's event, <prefix>.evt.<key>, or a
// key's stream subject) into its kind, queue and id.
func (n Names) ParseKey(s string) (kind, queue, id string, ok bool) {
	if rest, found := strings.CutPrefix(s, n.prefix+".evt."); found {
		s = rest
	} else if rest, found := strings.CutPrefix(s, n.kvPre); found {
		s = rest
	}
	kind, rest, ok := strings.Cut(s, ".")
	if !ok || kind == "" {
		return "", "", "", false
	}
	queue, id, ok = strings.Cut(rest, ".")
	if !ok || queue == "" || id == "" || strings.Contains(id, ".") {
		return "", "", "", false
	}
	return kind, queue, id, true
}

// WorkersBucket is the KV bucket of worker heartbeat records, one key per
// worker id.
func (n Names) WorkersBucket() string { return n.bucket + "_WORKERS" }

// WorkerSubject is the stream subject of worker id's heartbeat record.
func (n Names) WorkerSubject(id string) string { return "$KV." + n.bucket + "_WORKERS." + id }

// ParseTaskSubject splits a task subject into its queue and id; a task of
// a priority lane (LaneSubject) gives its queue without the lane.
func (n Names) ParseTaskSubject(subject string) (queue, id string, ok bool) {
	queue, _, id, ok = n.ParseLaneSubject(subject)
	return queue, id, ok
}

// ParseLaneSubject splits a task subject into its queue, priority lane
// ("" for normal) and id.
func (n Names) ParseLaneSubject(subject string) (queue, lane, id string, ok bool) {
	rest, found := strings.CutPrefix(subject, n.prefix+".t.")
	if !found {
		return "", "", "", false
	}
	queue, id, ok = strings.Cut(rest, ".")
	if !ok || queue == "" || id == "" || strings.Contains(id, ".") {
		return "", "", "", false
	}
	if q, l, found := strings.Cut(queue, laneSep); found {
		if q == "" || (l != LaneHigh && l != LaneLow && !isFairLane(l)) {
			return "", "", "", false
		}
		queue, lane = q, l
	}
	return queue, lane, id, true
}

// FairLanes is how many fair lanes a queue has: a task submitted fair
// waits in the lane its key hashes to, and workers take the lanes in turn,
// so that one key's backlog holds back only the keys that share its lane.
const FairLanes = 8

// FairLane is the fair lane of key: k0 … k7 by its FNV-1a hash.
func FairLane(key string) string {
	h := uint32(2166136261)
	for i := 0; i < len(key); i++ {
		h ^= uint32(key[i])
		h *= 16777619
	}
	return "k" + string(rune('0'+h%FairLanes))
}

// FairLaneNames are the fair lanes of a queue.
var FairLaneNames = func() []string {
	out := make([]string, FairLanes)
	for i := range out {
		out[i] = "k" + string(rune('0'+i))
	}
	return out
}()

func isFairLane(l string) bool {
	return len(l) == 2 && l[0] == 'k' && l[1] >= '0' && l[1] < '0'+FairLanes
}

// Priority lanes of a queue: a normal task is queued on TaskSubject, a
// high or low one on LaneSubject, each lane with its own consumer.
const (
	LaneHigh = "high"
	LaneLow  = "low"
	laneSep  = "~" // no queue name holds it
)

// Lanes are a queue's priority lanes, best first; "" is the normal lane.
var Lanes = []string{LaneHigh, "", LaneLow}

// laneQueue is the queue token of lane: queue itself for the normal lane,
// queue~high or queue~low for the others.
func laneQueue(queue, lane string) string {
	if lane == "" {
		return queue
	}
	return queue + laneSep + lane
}

// LaneSubject is the subject of a queued task of lane ("" = TaskSubject):
// <prefix>.t.<queue>~<lane>.<id>.
func (n Names) LaneSubject(queue, lane, id string) string {
	return n.TaskSubject(laneQueue(queue, lane), id)
}

// LaneFilter is the filter of a lane's consumer.
func (n Names) LaneFilter(queue, lane string) string { return n.QueueFilter(laneQueue(queue, lane)) }

// LaneConsumer is the durable consumer of a lane: <prefix>-<queue>~<lane>.
func (n Names) LaneConsumer(queue, lane string) string { return n.Consumer(laneQueue(queue, lane)) }

// IDSubjects matches the task subjects of id in every queue and lane: a
// lane's publish expects none of them to hold a task.
func (n Names) IDSubjects(id string) string { return n.prefix + ".t.*." + id }

// FlowBucket is the KV bucket of flow control records: pauses, uniqueness
// and debounce keys (docs/protocol.md, "Flow control").
func (n Names) FlowBucket() string { return n.bucket + "_FLOW" }

// FlowSubject is the stream subject of the flow control record key.
func (n Names) FlowSubject(key string) string { return "$KV." + n.bucket + "_FLOW." + key }

// PauseKey is the flow record that pauses queue: pause.<queue>.
func (n Names) PauseKey(queue string) string { return "pause." + queue }

// UniqueKey is the flow record of a uniqueness key in queue: u.<queue>.<key>.
func (n Names) UniqueKey(queue, key string) string { return "u." + queue + "." + key }

// DebounceKey is the flow record of a debounce key in queue: d.<queue>.<key>.
func (n Names) DebounceKey(queue, key string) string { return "d." + queue + "." + key }
