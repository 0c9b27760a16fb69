package obs

import (
	"net/http"
	"testing"
)

// Every server Listen makes closes idle keep-alive connections, and waits
// a bounded time for request headers: neither can pin a connection open.
func TestListenBoundsIdleAndSlowConnections(t *testing.T) {
	s, err := Listen("127.0.0.1:0", http.NotFoundHandler())
	if err != nil {
		t.Fatal(err)
	}
	defer s.ln.Close()
	if s.srv.IdleTimeout != IdleTimeout || IdleTimeout <= 0 {
		t.Errorf("IdleTimeout = %v, want %v", s.srv.IdleTimeout, IdleTimeout)
	}
	if s.srv.ReadHeaderTimeout <= 0 {
		t.Error("no ReadHeaderTimeout")
	}
}
