package feed

import (
	"encoding/base64"
	"testing"
)

func TestCursorRoundTrip(t *testing.T) {
	for _, seq := range []int64{0, 1, 41, 1 << 40} {
		got, err := ParseCursor(Cursor(seq))
		if err != nil || got != seq {
			t.Errorf("ParseCursor(Cursor(%d)) = %d, %v", seq, got, err)
		}
	}
	for _, bad := range []string{"", "!!", base64.RawURLEncoding.EncodeToString([]byte("1710123423250:ev-1")),
		base64.RawURLEncoding.EncodeToString([]byte("feed1:-3")), base64.RawURLEncoding.EncodeToString([]byte("feed1:x"))} {
		if _, err := ParseCursor(bad); err == nil {
			t.Errorf("ParseCursor(%q) accepted", bad)
		}
	}
}

func TestNotifierWakesOnlyItsTenant(t *testing.T) {
	n := NewNotifier()
	a, b := n.Changed("RXX"), n.Changed("RYY")
	if !n.Waiting("RXX") || n.Waiting("RZZ") {
		t.Fatal("Waiting does not reflect the channels handed out")
	}
	n.Notify("RXX")
	if n.Waiting("RXX") {
		t.Fatal("still waiting after Notify")
	}
	select {
	case <-a:
	default:
		t.Fatal("RXX waiter not woken")
	}
	select {
	case <-b:
		t.Fatal("RYY waiter woken by RXX")
	default:
	}
	if n.Changed("RXX") == a {
		t.Fatal("a closed channel handed out again")
	}
}
