package main

import "strings"

// strand's wire names the bench uses directly, as docs/protocol.md
// ("Names") documents them, so that the bench reads and writes them the way
// any client written from that page would, without strand's internal
// packages. Every name derives from the broker prefix ("strand" by default):
// streams and buckets use it upper-cased.
const (
	// defaultPrefix is the prefix of a broker.Config without one.
	defaultPrefix = "strand"
	// kvStreamPrefix starts the name of a KV bucket's stream ("KV_STRAND").
	kvStreamPrefix = "KV_"
	// workersSuffix ends the name of the live workers' bucket
	// ("STRAND_WORKERS").
	workersSuffix = "_WORKERS"
	// outcomeKey is the key of a task's outcome record in the bucket:
	// r.<queue>.<id>, on subject $KV.<BUCKET>.r.<queue>.<id>.
	outcomeKey = "r."
)

// recordsBucket is the KV bucket of a prefix's task records ("STRAND").
func recordsBucket(prefix string) string { return strings.ToUpper(prefix) }

// workersStream is the stream of a prefix's live workers' bucket
// ("KV_STRAND_WORKERS").
func workersStream(prefix string) string {
	return kvStreamPrefix + strings.ToUpper(prefix) + workersSuffix
}

// outcomeSubject is the stream subject of the outcome record of task id of
// queue, in a prefix's bucket: $KV.STRAND.r.<queue>.<id>.
func outcomeSubject(prefix, queue, id string) string {
	return "$KV." + recordsBucket(prefix) + "." + outcomeKey + queue + "." + id
}
