//go:build !unix

package mlflowtest

import (
	"errors"
	"os"
	"os/exec"
	"syscall"
)

const (
	terminateSignal = syscall.SIGKILL
	killSignal      = syscall.SIGKILL
)

func setProcessGroup(*exec.Cmd) {}

// signalGroup kills only the leader: process groups are a Unix notion.
func signalGroup(cmd *exec.Cmd, _ syscall.Signal) error {
	if err := cmd.Process.Kill(); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return err
	}
	return nil
}
