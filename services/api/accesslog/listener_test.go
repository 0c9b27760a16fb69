package accesslog

import (
	"bufio"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

// The answers net/http writes itself are reported with their status; a
// handler's responses (whatever their status or headers) never are.
func TestWrapListenerSeesServerAnswers(t *testing.T) {
	var mu sync.Mutex
	var seen []int
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// A handler answering as much like net/http as it can.
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Header().Set("Connection", "close")
		w.WriteHeader(http.StatusBadRequest)
		_, _ = w.Write([]byte("400 Bad Request"))
	}))
	srv.Listener = WrapListener(srv.Listener, func(status int) {
		mu.Lock()
		seen = append(seen, status)
		mu.Unlock()
	})
	srv.Start()
	defer srv.Close()
	exchange := func(req string) int {
		c, err := net.Dial("tcp", srv.Listener.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		_ = c.SetDeadline(time.Now().Add(10 * time.Second))
		go func() { _, _ = c.Write([]byte(req)) }()
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	codes := []int{
		exchange("GET / HTTP/1.1\r\nHost: x\r\n\r\n"), // the handler's 400
		exchange("GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + strings.Repeat("a", 2<<20) + "\r\n\r\n"),
		exchange("BROKEN\r\n\r\n"),
		exchange("GET / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\n"),
	}
	srv.Close()
	mu.Lock()
	defer mu.Unlock()
	if got := fmt.Sprint(codes); got != "[400 431 400 501]" {
		t.Fatalf("answers = %s", got)
	}
	if got := fmt.Sprint(seen); got != "[431 400 501]" {
		t.Errorf("reported = %s, want [431 400 501] (the handler's own 400 is not the server's)", got)
	}
}
