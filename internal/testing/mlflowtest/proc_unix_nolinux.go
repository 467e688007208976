//go:build unix && !linux

package mlflowtest

import "syscall"

func setParentDeathSignal(*syscall.SysProcAttr) {}
