package webhook

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/zap"
)

// The specification's own example (standardwebhooks.com, "Verifying
// webhooks"): our signature must be the one it lists.
func TestSignMatchesSpecExample(t *testing.T) {
	got, err := Sign("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "msg_p5jXN8AQM9LWM0D4loKWxJek", time.Unix(1614265330, 0),
		[]byte(`{"test": 2432232314}`))
	if err != nil {
		t.Fatal(err)
	}
	if want := "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="; got != want {
		t.Errorf("Sign = %s, want %s", got, want)
	}
	if _, err := Sign("whsec_!!notbase64", "id", time.Now(), nil); err == nil {
		t.Error("a secret that is not base64 was accepted")
	}
}

func TestNewSecretIsWhsecBase64(t *testing.T) {
	a, b := NewSecret(), NewSecret()
	k, err := secretKey(a)
	if !strings.HasPrefix(a, SecretPrefix) || err != nil || len(k) != 32 || a == b {
		t.Errorf("NewSecret = %q, %q (%v)", a, b, err)
	}
}

// Backoff doubles from base, stops at max, and jitters within the upper
// half of each step.
func TestBackoffExponentialCappedJittered(t *testing.T) {
	base, max := 100*time.Millisecond, 1*time.Second
	for n, step := range map[int]time.Duration{1: 100 * time.Millisecond, 2: 200 * time.Millisecond, 3: 400 * time.Millisecond,
		4: 800 * time.Millisecond, 5: time.Second, 30: time.Second} {
		seen := map[time.Duration]bool{}
		for range 200 {
			d := Backoff(n, base, max)
			if d < step/2 || d > step {
				t.Fatalf("Backoff(%d) = %s, want within [%s, %s]", n, d, step/2, step)
			}
			seen[d] = true
		}
		if len(seen) < 2 {
			t.Errorf("Backoff(%d) has no jitter", n)
		}
	}
}

// Without AllowPrivate, URLs naming internal addresses are refused at
// creation, and a dial that lands on one is refused too (a public name can
// resolve to an internal address).
func TestPrivateAddressesRefused(t *testing.T) {
	d := NewDispatcher(Config{}, nil, nil, zap.NewNop())
	for _, u := range []string{"http://127.0.0.1:8080/x", "http://10.1.2.3/", "http://[::1]/", "http://169.254.169.254/latest",
		"http://localhost/", "http://192.168.0.1/", "http://100.64.0.1/",
		// special-purpose ranges, IPv4 carried in IPv6, and numeric spellings resolvers read as loopback
		"http://198.18.0.1/", "http://240.0.0.1/", "http://192.0.0.8/", "http://[fec0::1]/", "http://[::7f00:1]/",
		"http://[64:ff9b::a9fe:a9fe]/", "http://[2002:7f00:1::]/", "http://127.1/", "http://2130706433/", "http://0x7f.1/",
		"http://LOCALHOST./", "http://foo.localhost/"} {
		if err := d.CheckURL(u); err == nil {
			t.Errorf("CheckURL(%s) accepted", u)
		}
	}
	for _, u := range []string{"https://hooks.example.com/esr", "http://93.184.215.14:8080/x", "http://[64:ff9b::5db8:d70e]/",
		"http://[2606:2800:220:1::]/"} {
		if err := d.CheckURL(u); err != nil {
			t.Errorf("CheckURL(%s) = %v", u, err)
		}
	}
	for _, u := range []string{"ftp://example.com/", "/relative", "https://user:pw@example.com/"} {
		if err := d.CheckURL(u); err == nil {
			t.Errorf("CheckURL(%s) accepted", u)
		}
	}
	var hit atomic.Bool
	srv := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { hit.Store(true) }))
	defer srv.Close()
	sub := &Subscription{ID: "wh_1", URL: srv.URL, Secret: NewSecret()}
	_, _, err := d.attempt(context.Background(), sub, Event{ID: "ev-1", Body: []byte(`{}`)})
	if err == nil || !strings.Contains(err.Error(), "not a public address") || hit.Load() {
		t.Errorf("dial to 127.0.0.1 = %v (receiver hit: %v)", err, hit.Load())
	}
	allowed := NewDispatcher(Config{AllowPrivate: true}, nil, nil, zap.NewNop())
	if code, _, err := allowed.attempt(context.Background(), sub, Event{ID: "ev-1", Body: []byte(`{}`)}); err != nil || code != 200 || !hit.Load() {
		t.Errorf("with AllowPrivate: %d %v", code, err)
	}
}

// A subscription whose owner may not see personal fields gets minimised
// bodies, signed as sent; one whose owner may gets them whole.
func TestBodiesMinimisedUnlessSensitive(t *testing.T) {
	var got atomic.Value
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		got.Store(string(b) + "|" + r.Header.Get("webhook-signature") + "|" + r.Header.Get("webhook-timestamp"))
	}))
	defer srv.Close()
	strip := func(b []byte) []byte {
		return []byte(strings.ReplaceAll(string(b), `,"date_of_birth":"1980-01-01"`, ""))
	}
	d := NewDispatcher(Config{AllowPrivate: true, Minimise: strip}, nil, nil, zap.NewNop())
	ev := Event{ID: "ev-1", Body: []byte(`{"event_id":"ev-1","date_of_birth":"1980-01-01"}`)}
	for _, tc := range []struct {
		sensitive bool
		want      string
	}{{false, `{"event_id":"ev-1"}`}, {true, `{"event_id":"ev-1","date_of_birth":"1980-01-01"}`}} {
		sub := &Subscription{ID: "wh_1", URL: srv.URL, Secret: NewSecret(), Sensitive: tc.sensitive}
		if code, _, err := d.attempt(context.Background(), sub, ev); err != nil || code != 200 {
			t.Fatalf("attempt = %d %v", code, err)
		}
		parts := strings.Split(got.Load().(string), "|")
		body, sig := parts[0], parts[1]
		if body != tc.want {
			t.Errorf("sensitive=%v: body %s, want %s", tc.sensitive, body, tc.want)
		}
		// The signature is over the bytes sent (checked against Sign, whose
		// correctness TestSignMatchesSpecExample pins).
		ts, _ := strconv.ParseInt(parts[2], 10, 64)
		if want, _ := Sign(sub.Secret, ev.ID, time.Unix(ts, 0), []byte(body)); want != sig {
			t.Errorf("sensitive=%v: signature not over the body sent", tc.sensitive)
		}
	}
}

// The delivery log, which the subscriber reads, names a class of failure,
// never the error's text: that could name internal resolvers and
// addresses.
func TestDeliveryErrorsAreClasses(t *testing.T) {
	dns := &net.DNSError{Err: "no such host", Name: "hooks.internal", Server: "10.255.255.53:53"}
	for err, want := range map[error]string{
		dns: "name not resolved",
		&url.Error{Op: "Post", URL: "http://x", Err: dns}:                                     "name not resolved",
		errors.New("webhook: 10.1.2.3 is not a public address (see --webhook.allow-private)"): "address not allowed",
		fmt.Errorf("%w after %s", errTimeout, time.Second):                                    "timeout after 1s",
		errors.New("something with 10.9.8.7 in it"):                                           "request failed",
	} {
		if got := errorClass(err); got != want || strings.Contains(got, "10.") {
			t.Errorf("errorClass(%v) = %q, want %q", err, got, want)
		}
	}
}
