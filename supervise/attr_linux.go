package supervise

import "syscall"

// sysProcAttr makes the kernel send the child SIGTERM when the process
// that started it dies, however it dies (a SIGKILL too): a supervised
// process never outlives its supervisor as an orphan.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM}
}
