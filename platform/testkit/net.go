package testkit

import (
	"net"
	"testing"
)

// FreeAddr is a loopback address no one listened on when it was asked,
// for a server a test starts with a fixed address.
func FreeAddr(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}
