//go:build linux

package tests

import "syscall"

// dieWithTest makes the kernel kill a server if the test binary dies before
// it could stop it.
func dieWithTest(attr *syscall.SysProcAttr) { attr.Pdeathsig = syscall.SIGKILL }
