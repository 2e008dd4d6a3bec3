//go:build unix

package main

import (
	"os/exec"
	"syscall"
)

// detach puts the command in a process group of its own, out of reach of
// the terminal's Ctrl-C, which goes to the whole foreground group.
func detach(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
}
