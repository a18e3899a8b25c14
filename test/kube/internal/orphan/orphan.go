// Package orphan ties a test daemon's life to the process that started it.
package orphan

import (
	"syscall"

	"golang.org/x/sys/unix"
)

// DieWithParent asks Linux to SIGKILL this process when its parent exits, so a test run that is
// killed (and never runs its teardown) leaves no etcd or kube-apiserver behind.
func DieWithParent() {
	_ = unix.Prctl(unix.PR_SET_PDEATHSIG, uintptr(syscall.SIGKILL), 0, 0, 0)
}
