//go:build unix

package main

import "syscall"

// cpuTime is the CPU time this process has used so far (user + system):
// the bench's clients and the embedded server together.
func cpuTime() int64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return ru.Utime.Nano() + ru.Stime.Nano()
}
