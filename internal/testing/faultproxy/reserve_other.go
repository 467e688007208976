//go:build !((linux && !(mips || mipsle || mips64 || mips64le || sparc64)) || darwin)

package faultproxy

import (
	"errors"
	"net"
)

// Elsewhere an outage closes the listener and the port is free until Up
// (see reserve_unix.go for why that matters on a busy machine).

func listen(addr string) (net.Listener, error) { return net.Listen("tcp", addr) }

func reserve(string) (func(), error) { return nil, errors.New("holding a port is not supported here") }
