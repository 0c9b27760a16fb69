package avrox_test

import (
	"errors"
	"testing"

	"github.com/esrflow/esrflow/platform/avrox"
)

func TestHeaderRoundTrip(t *testing.T) {
	b := avrox.AppendHeader([]byte(nil), 70000)
	b = append(b, 0x02, 0x04)
	id, payload, err := avrox.SplitHeader(b)
	if err != nil || id != 70000 || len(payload) != 2 || payload[0] != 0x02 {
		t.Fatalf("SplitHeader = %d %x %v", id, payload, err)
	}
	if want := []byte{0, 0, 1, 0x11, 0x70}; string(b[:5]) != string(want) {
		t.Errorf("header bytes = %x, want %x", b[:5], want)
	}
}

func TestSplitHeaderRejectsUnframed(t *testing.T) {
	for _, b := range [][]byte{nil, {0, 0, 0, 1}, {1, 0, 0, 0, 1, 9}, []byte(`{"json":true}`)} {
		if _, _, err := avrox.SplitHeader(b); !errors.Is(err, avrox.ErrNotFramed) {
			t.Errorf("SplitHeader(%x) error = %v, want ErrNotFramed", b, err)
		}
	}
}
