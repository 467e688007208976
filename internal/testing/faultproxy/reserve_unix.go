//go:build (linux && !(mips || mipsle || mips64 || mips64le || sparc64)) || darwin

package faultproxy

import (
	"context"
	"fmt"
	"net"
	"syscall"
)

// An outage must refuse connections (nothing listens on the port) and yet
// keep the port: on a busy machine another process's listener, asking the
// kernel for any free port, can otherwise be given it, and the client's
// retries would reach that process instead (this happened: a 404 from a
// stranger). So the proxy's listeners set SO_REUSEPORT, and an outage holds
// the port with a socket that is bound but does not listen, with
// SO_REUSEPORT and without SO_REUSEADDR: a connection to the port is
// refused, and no socket without SO_REUSEPORT (every other listener) may
// bind it. The listener of the next Up is opened before that socket closes,
// so the port is never free.

var listenConfig = net.ListenConfig{Control: func(_, _ string, c syscall.RawConn) error {
	var serr error
	if err := c.Control(func(fd uintptr) {
		serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, soReusePort, 1)
	}); err != nil {
		return err
	}
	return serr
}}

func listen(addr string) (net.Listener, error) {
	return listenConfig.Listen(context.Background(), "tcp", addr)
}

// reserve binds a socket that does not listen to addr (127.0.0.1:port) and
// returns the function that closes it.
func reserve(addr string) (func(), error) {
	tcp, err := net.ResolveTCPAddr("tcp4", addr)
	if err != nil {
		return nil, fmt.Errorf("failed to resolve %s: %w", addr, err)
	}
	fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM, 0)
	if err != nil {
		return nil, fmt.Errorf("failed to open a socket: %w", err)
	}
	sa := &syscall.SockaddrInet4{Port: tcp.Port}
	copy(sa.Addr[:], tcp.IP.To4())
	if err := syscall.SetsockoptInt(fd, syscall.SOL_SOCKET, soReusePort, 1); err != nil {
		_ = syscall.Close(fd)
		return nil, fmt.Errorf("failed to set SO_REUSEPORT: %w", err)
	}
	if err := syscall.Bind(fd, sa); err != nil {
		_ = syscall.Close(fd)
		return nil, fmt.Errorf("failed to hold %s: %w", addr, err)
	}
	return func() { _ = syscall.Close(fd) }, nil
}
