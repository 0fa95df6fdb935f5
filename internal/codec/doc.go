// Package codec holds strand's wire records and their encodings: the task
// envelope (the message strand.t.<queue>.<id> of the tasks stream), the state
// record (s.<queue>.<id>) and the outcome record (r.<queue>.<id>, and the
// cancellation c.<queue>.<id>, which has its layout), versioned as
// docs/protocol.md specifies (Version).
//
// Records are msgpack maps by default; a producer that sends the envelope
// with Content-Type application/json gets JSON throughout: its envelope, its
// state and outcome records and its result. Readers tell the two apart with
// ParseContentType (for headers) or Sniff (for stored records). Arguments and
// results travel as Raw values, kept as encoded until a handler needs them.
//
// codec knows nothing of NATS: subjects, keys and headers belong to the
// broker, writer and reader packages.
//
// A round trip:
//
//	args := []codec.Raw{}
//	for _, a := range []any{2, 3} {
//		r, _ := codec.Msgpack.Marshal(a)
//		args = append(args, r)
//	}
//	b, err := codec.EncodeEnvelope(codec.Msgpack, &codec.Envelope{
//		V: codec.Version, ID: "0194f3c2-7a4e-7c1e-9b1a-3f2d5e6a7b8c", Func: "add", Args: args,
//	})
//	// ... b is what a producer publishes to strand.t.default.<id> ...
//	env, err := codec.DecodeEnvelope(codec.Msgpack, b)
//	first, _ := codec.ToAny(codec.Msgpack, env.Args[0]) // 2
//
// Every decoding error wraps strand.ErrMalformed.
package codec
