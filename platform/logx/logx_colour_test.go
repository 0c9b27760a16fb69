package logx

import (
	"bytes"
	"io"
	"os"
	"testing"
)

// A console log written to a pipe (esrflow up 2>&1 | tee, a CI log) carries
// no terminal colour codes.
func TestConsoleLogToPipeHasNoColourCodes(t *testing.T) {
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	log, err := newTo(Config{Level: "info", Format: "console"}, w)
	if err != nil {
		t.Fatal(err)
	}
	log.Warn("file rejected", Rule("trailer-count"))
	_ = log.Sync()
	_ = w.Close()
	out, err := io.ReadAll(r)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(out, []byte("WARN")) || !bytes.Contains(out, []byte("file rejected")) {
		t.Fatalf("log line missing: %q", out)
	}
	if bytes.IndexByte(out, 0x1b) >= 0 {
		t.Fatalf("escape code written to a pipe: %q", out)
	}
}
