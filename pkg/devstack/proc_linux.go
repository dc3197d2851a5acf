package devstack

import "syscall"

// sysProcAttr puts moto in its own process group (Stop kills the group) and
// has the kernel kill it if this process dies without calling Stop.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}
