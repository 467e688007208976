//go:build !(linux || darwin)

package testutil

import (
	"net"
	"testing"
)

// RefusedAddr returns an address where nothing listens: here a port that
// was listened on and closed (see refused_unix.go for the better way).
func RefusedAddr(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	return addr
}
