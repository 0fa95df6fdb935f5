//go:build !linux

package supervise

import "syscall"

// sysProcAttr is nil where the kernel cannot signal a child when its
// parent dies: there, a supervisor that is killed leaves its children.
func sysProcAttr() *syscall.SysProcAttr { return nil }
