package broker

// SetIDFreeHook runs f between a submit's id checks and its publish (nil: none).
func SetIDFreeHook(f func(*Task)) { testHookIDFree = f }
