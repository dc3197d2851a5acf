//go:build unix && !linux

package devstack

import "syscall"

// sysProcAttr puts moto in its own process group so Stop can kill the group.
// Only Linux can also tie its life to ours.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true}
}
