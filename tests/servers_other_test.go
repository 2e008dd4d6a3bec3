//go:build !linux

package tests

import "syscall"

// dieWithTest has no equivalent outside Linux: a server outlives a test
// binary that dies before it could stop it.
func dieWithTest(*syscall.SysProcAttr) {}
