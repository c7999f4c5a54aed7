package stripemocktest

import (
	"os/exec"
	"syscall"
)

// setDeathSignal has the kernel kill stripe-mock when the test binary dies
// without stopping it (a panic, a timeout kill).
func setDeathSignal(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
