package accesslog

import (
	"bytes"
	"net"
	"strconv"
	"sync"
)

// serverErrorHeaders is what net/http puts after the status line of the
// answers it writes itself, straight to the connection, for a request it
// could not read (431 header too large, 400 malformed, 501 unsupported
// transfer encoding): no handler runs for those, so no middleware sees
// them. A handler's response can never carry this sequence right after its
// status line: net/http writes a handler's headers sorted, Connection
// before Content-Type, and adds Date.
const serverErrorHeaders = "\r\nContent-Type: text/plain; charset=utf-8\r\nConnection: close\r\n\r\n"

// WrapListener returns ln with every accepted connection watched for the
// answers net/http writes itself; each calls answered with its status code,
// so the access log holds those requests too.
func WrapListener(ln net.Listener, answered func(status int)) net.Listener {
	return &listener{Listener: ln, answered: answered}
}

type listener struct {
	net.Listener
	answered func(status int)
}

func (l *listener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &conn{Conn: c, answered: l.answered}, nil
}

type conn struct {
	net.Conn
	answered func(status int)
	once     sync.Once
}

func (c *conn) Write(b []byte) (int, error) {
	if status, ok := serverAnswer(b); ok {
		c.once.Do(func() { c.answered(status) }) // the connection closes after it
	}
	return c.Conn.Write(b)
}

// serverAnswer recognises an answer net/http wrote itself and returns its
// status. The check is a prefix test on the first bytes of each write: it
// costs a handler's response next to nothing.
func serverAnswer(b []byte) (int, bool) {
	const proto = "HTTP/1.1 "
	if len(b) < len(proto)+3 || !bytes.HasPrefix(b, []byte(proto)) {
		return 0, false
	}
	line, _, ok := bytes.Cut(b, []byte("\r\n"))
	if !ok || !bytes.HasPrefix(b[len(line):], []byte(serverErrorHeaders)) {
		return 0, false
	}
	status, err := strconv.Atoi(string(b[len(proto) : len(proto)+3]))
	if err != nil || status < 400 || status > 599 {
		return 0, false
	}
	return status, true
}
