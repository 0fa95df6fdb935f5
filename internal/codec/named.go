package codec

// Named returns the Format of the codec named name: "msgpack", "json", or
// the Name of a codec added with Register.
func Named(name string) (Format, bool) {
	switch name {
	case Msgpack.Name():
		return Msgpack, true
	case JSON.Name():
		return JSON, true
	}
	codecs.RLock()
	defer codecs.RUnlock()
	for i, c := range codecs.list {
		if c.c.Name() == name {
			return Format(2 + i), true
		}
	}
	return 0, false
}
