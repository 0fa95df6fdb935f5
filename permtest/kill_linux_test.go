package permtest

import (
	"os/exec"
	"syscall"
)

// dieWithTest has the kernel kill the server if the test binary dies
// without its cleanups (a test that times out panics past them).
func dieWithTest(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
