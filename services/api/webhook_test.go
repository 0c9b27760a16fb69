package api

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/esrflow/esrflow/schemas"
	"github.com/esrflow/esrflow/schemas/gen/eventsv1"
	"github.com/esrflow/esrflow/services/api/auth"
	"github.com/esrflow/esrflow/services/api/store/dbtest"
	"github.com/esrflow/esrflow/services/api/webhook"
)

// receiver is a webhook endpoint on 127.0.0.1 whose answers are scripted
// per event id and attempt: it fails (500), times out, and recovers.
type receiver struct {
	srv *httptest.Server

	mu        sync.Mutex
	requests  []capturedRequest
	attempts  map[string]int
	delivered []string // event ids answered 2xx, in order
	script    func(id string, attempt int) (status int, hang bool)
	release   chan struct{} // closed at cleanup: ends hung requests
}

type capturedRequest struct {
	Headers map[string]string `json:"headers"`
	Body    string            `json:"body"`
}

func newReceiver(t *testing.T, script func(id string, attempt int) (int, bool)) *receiver {
	r := &receiver{attempts: map[string]int{}, script: script, release: make(chan struct{})}
	r.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(req.Body)
		id := req.Header.Get("webhook-id")
		r.mu.Lock()
		r.attempts[id]++
		n := r.attempts[id]
		r.requests = append(r.requests, capturedRequest{Headers: map[string]string{
			"webhook-id": id, "webhook-timestamp": req.Header.Get("webhook-timestamp"), "webhook-signature": req.Header.Get("webhook-signature"),
		}, Body: string(body)})
		status, hang := r.script(id, n)
		r.mu.Unlock()
		if hang { // longer than the sender's timeout
			select {
			case <-r.release:
			case <-time.After(3 * time.Second):
			}
			return
		}
		if status/100 == 2 {
			r.mu.Lock()
			r.delivered = append(r.delivered, id)
			r.mu.Unlock()
		}
		w.WriteHeader(status)
	}))
	t.Cleanup(func() {
		close(r.release)
		r.srv.Close()
	})
	return r
}

func (r *receiver) snapshot() ([]string, []capturedRequest) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.delivered), slices.Clone(r.requests)
}

// eventually polls cond until it holds; the deadline only turns a hang into
// a failure.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("gave up waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Webhooks: a receiver that fails, times out and recovers gets every event
// at least once, each person's events in order, signed so that the
// Standard Webhooks reference library (and a verifier written here from the
// specification) accepts them; an event that fails every attempt goes to
// the dead letters with the person's later events held behind it, and a
// replay after a restart of the api delivers both, in order.
func TestWebhooks(t *testing.T) {
	dbtest.ForEach(t, testWebhooks)
}

func testWebhooks(t *testing.T, dbURL string) {
	e := newEnv(t)
	key, otherKey, readerKey := newKey(t), newKey(t), newKey(t)
	clients := []auth.Client{
		{Name: "vendor", KeySHA256: auth.HashKey(key), Tenants: []string{"RXX"}, Scopes: []string{auth.ScopeOperate, auth.ScopeReadEvents}},
		{Name: "other-vendor", KeySHA256: auth.HashKey(otherKey), Tenants: []string{"RXX"}, Scopes: []string{auth.ScopeOperate, auth.ScopeReadEvents}},
		{Name: "ops-only", KeySHA256: auth.HashKey(readerKey), Tenants: []string{"RXX"}, Scopes: []string{auth.ScopeOperate}},
	}
	cfg := Config{DBURL: dbURL, Clients: clients, Webhooks: webhook.Config{
		MaxAttempts: 3, BaseBackoff: 20 * time.Millisecond, MaxBackoff: 100 * time.Millisecond,
		Timeout: 300 * time.Millisecond, AllowPrivate: true,
	}}
	var recovered sync.Map // event id -> true once the receiver accepts it
	rcv := newReceiver(t, func(id string, n int) (int, bool) {
		switch id {
		case "ev-p1-1": // fails twice, then succeeds on the last attempt
			if n <= 2 {
				return 500, false
			}
		case "ev-p2-1": // times out once
			if n == 1 {
				return 0, true
			}
		case "ev-p3-1": // fails until it recovers
			if _, ok := recovered.Load(id); !ok {
				return 500, false
			}
		}
		return 204, false
	})
	_, srv, stop := e.run(cfg)

	// Subscribe: validation, then the vendor's subscription (secret shown once).
	code, body := do(t, srv, "POST", "/v1/tenants/RXX/webhooks", key, `{"url":"ftp://127.0.0.1/x"}`)
	if code != 400 || !strings.Contains(body, "http or https") {
		t.Errorf("ftp url = %d %s", code, body)
	}
	code, body = do(t, srv, "POST", "/v1/tenants/RXX/webhooks", readerKey, `{"url":"`+rcv.srv.URL+`"}`)
	if code != 403 {
		t.Errorf("subscribe without read:events = %d %s", code, body)
	}
	code, body = do(t, srv, "POST", "/v1/tenants/RXX/webhooks", key, `{"url":"`+rcv.srv.URL+`/hook","types":["starter-created"]}`)
	if code != 201 {
		t.Fatalf("subscribe = %d %s", code, body)
	}
	var sub webhook.Subscription
	if err := json.Unmarshal([]byte(body), &sub); err != nil || !strings.HasPrefix(sub.Secret, "whsec_") || sub.AfterSeq != 0 {
		t.Fatalf("subscription = %s (%v)", body, err)
	}
	base := "/v1/tenants/RXX/webhooks/" + sub.ID
	if code, body := do(t, srv, "GET", base, key, ""); code != 200 || strings.Contains(body, "whsec_") || !strings.Contains(body, sub.ID) {
		t.Errorf("GET subscription = %d %s (the secret is shown only at creation)", code, body)
	}
	if code, body := do(t, srv, "GET", base, otherKey, ""); code != 404 {
		t.Errorf("another client's subscription = %d %s", code, body)
	}

	// Three people's events, in one committed transaction: the feed order
	// is their order on the topic. A position change (not subscribed) is
	// not delivered.
	recs := e.produceStarters("ev-p1-1:P1", "ev-p2-1:P2", "ev-p1-2:P1", "ev-p3-1:P3", "ev-p3-2:P3", "ev-p2-2:P2")
	e.produce(true, recs...)
	e.produce(true, e.event("RXX", schemas.EventPositionUpdated, 1, "P1", positionOf("ev-pos-p1", "P1")))

	deadPath := base + "/dead-letters"
	eventually(t, "ev-p2-2 delivered and P3's events dead-lettered", func() bool {
		delivered, _ := rcv.snapshot()
		_, body := do(t, srv, "GET", deadPath, key, "")
		return slices.Contains(delivered, "ev-p2-2") && strings.Count(body, `"status":"dead"`) == 2
	})
	delivered, _ := rcv.snapshot()
	if got, want := strings.Join(delivered, ","), "ev-p1-1,ev-p2-1,ev-p1-2,ev-p2-2"; got != want {
		t.Errorf("delivered %s, want %s", got, want)
	}
	var dead struct {
		DeadLetters []webhook.DeadLetter `json:"dead_letters"`
	}
	_, body = do(t, srv, "GET", deadPath, key, "")
	if err := json.Unmarshal([]byte(body), &dead); err != nil {
		t.Fatal(err)
	}
	if len(dead.DeadLetters) != 2 || dead.DeadLetters[0].EventID != "ev-p3-1" || dead.DeadLetters[0].Attempts != 3 ||
		dead.DeadLetters[0].LastError != "HTTP 500" || dead.DeadLetters[1].EventID != "ev-p3-2" || dead.DeadLetters[1].Attempts != 0 ||
		!strings.HasPrefix(dead.DeadLetters[1].LastError, "held:") {
		t.Errorf("dead letters = %s", body)
	}

	// The list pages: one per page, in feed order.
	if code, body := do(t, srv, "GET", deadPath+"?limit=1", key, ""); code != 200 || !strings.Contains(body, `"ev-p3-1"`) || !strings.Contains(body, `"next_cursor"`) {
		t.Errorf("dead letters page 1 = %d %s", code, body)
	} else {
		var p struct {
			NextCursor string `json:"next_cursor"`
		}
		_ = json.Unmarshal([]byte(body), &p)
		if code, body := do(t, srv, "GET", deadPath+"?limit=1&cursor="+p.NextCursor, key, ""); code != 200 || !strings.Contains(body, `"ev-p3-2"`) || strings.Contains(body, `"ev-p3-1"`) {
			t.Errorf("dead letters page 2 = %d %s", code, body)
		}
	}

	// The delivery log: every attempt, with its status or error.
	type logRow struct {
		EventID, Error      string
		Attempt, StatusCode int
		Replay              bool
	}
	deliveries := func(eventID string) []logRow {
		t.Helper()
		code, body := do(t, srv, "GET", base+"/deliveries?event_id="+eventID, key, "")
		var l struct {
			Deliveries []struct {
				EventID    string `json:"event_id"`
				Attempt    int    `json:"attempt"`
				StatusCode int    `json:"status_code"`
				Error      string `json:"error"`
				Replay     bool   `json:"replay"`
			} `json:"deliveries"`
		}
		if err := json.Unmarshal([]byte(body), &l); code != 200 || err != nil {
			t.Fatalf("deliveries = %d %s", code, body)
		}
		var out []logRow
		for _, d := range l.Deliveries {
			out = append(out, logRow{d.EventID, d.Error, d.Attempt, d.StatusCode, d.Replay})
		}
		return out
	}
	if got := fmt.Sprint(deliveries("ev-p1-1")); got != "[{ev-p1-1 HTTP 500 1 500 false} {ev-p1-1 HTTP 500 2 500 false} {ev-p1-1  3 204 false}]" {
		t.Errorf("ev-p1-1 deliveries = %s", got)
	}
	if got := fmt.Sprint(deliveries("ev-p2-1")); got != "[{ev-p2-1 timeout after 300ms 1 0 false} {ev-p2-1  2 204 false}]" {
		t.Errorf("ev-p2-1 deliveries = %s", got)
	}
	if got := deliveries("ev-p3-2"); len(got) != 0 {
		t.Errorf("ev-p3-2 was attempted behind its person's dead letter: %v", got)
	}

	// A restart: the subscription, its position and its dead letters stay.
	stop()
	_, srv, _ = e.run(cfg)
	recovered.Store("ev-p3-1", true)
	code, body = do(t, srv, "POST", deadPath+"/replay", otherKey, "")
	if code != 404 {
		t.Errorf("another client's replay = %d %s", code, body)
	}
	code, body = do(t, srv, "POST", deadPath+"/replay", key, "")
	if code != 202 || body != `{"replaying":2}` {
		t.Fatalf("replay = %d %s", code, body)
	}
	eventually(t, "the replay delivered", func() bool {
		_, body := do(t, srv, "GET", deadPath+"?status=delivered", key, "")
		return strings.Count(body, `"status":"delivered"`) == 2
	})
	delivered, requests := rcv.snapshot()
	if got, want := strings.Join(delivered, ","), "ev-p1-1,ev-p2-1,ev-p1-2,ev-p2-2,ev-p3-1,ev-p3-2"; got != want {
		t.Errorf("delivered %s, want %s (every event once, each person in order)", got, want)
	}
	if got := fmt.Sprint(deliveries("ev-p3-1")); got != "[{ev-p3-1 HTTP 500 1 500 false} {ev-p3-1 HTTP 500 2 500 false} {ev-p3-1 HTTP 500 3 500 false} {ev-p3-1  1 204 true}]" {
		t.Errorf("ev-p3-1 deliveries = %s", got)
	}

	// The log pages: one attempt per page gives the same rows.
	var paged []string
	path := base + "/deliveries?limit=1&event_id=ev-p3-1"
	for range 10 {
		code, body := do(t, srv, "GET", path, key, "")
		var l struct {
			Deliveries []struct {
				Attempt int  `json:"attempt"`
				Replay  bool `json:"replay"`
			} `json:"deliveries"`
			NextCursor string `json:"next_cursor"`
		}
		if err := json.Unmarshal([]byte(body), &l); code != 200 || err != nil {
			t.Fatalf("GET %s = %d %s", path, code, body)
		}
		for _, d := range l.Deliveries {
			paged = append(paged, fmt.Sprintf("%d/%v", d.Attempt, d.Replay))
		}
		if l.NextCursor == "" {
			break
		}
		path = base + "/deliveries?limit=1&event_id=ev-p3-1&cursor=" + l.NextCursor
	}
	if got := strings.Join(paged, " "); got != "1/false 2/false 3/false 1/true" {
		t.Errorf("paged deliveries = %s", got)
	}

	// Each body is the event's feed item.
	_, feedBody := do(t, srv, "GET", "/v1/tenants/RXX/events?type=starter-created", key, "")
	var feedItems struct {
		Events []json.RawMessage `json:"events"`
	}
	if err := json.Unmarshal([]byte(feedBody), &feedItems); err != nil {
		t.Fatal(err)
	}
	items := map[string]string{}
	for _, it := range feedItems.Events {
		var head struct {
			EventID string `json:"event_id"`
		}
		_ = json.Unmarshal(it, &head)
		items[head.EventID] = string(it)
	}
	for _, r := range requests {
		if r.Body != items[r.Headers["webhook-id"]] {
			t.Errorf("delivery %s body %s is not its feed item %s", r.Headers["webhook-id"], r.Body, items[r.Headers["webhook-id"]])
		}
		if err := verifyFromSpec(sub.Secret, r.Headers, []byte(r.Body), time.Now()); err != nil {
			t.Errorf("delivery %s: %v", r.Headers["webhook-id"], err)
		}
	}
	// A signature of other bytes, or under another secret, is refused.
	if len(requests) > 0 {
		r := requests[0]
		if verifyFromSpec(sub.Secret, r.Headers, []byte(r.Body+" "), time.Now()) == nil || verifyFromSpec(webhook.NewSecret(), r.Headers, []byte(r.Body), time.Now()) == nil {
			t.Error("the spec verifier accepts a tampered delivery")
		}
	}
	verifyWithReferenceLibrary(t, sub.Secret, requests)

	// Deleting ends it: no more deliveries, and it is gone from the list.
	resp, _, err := send(t, "DELETE", srv.URL+base, key, "")
	if err != nil || resp.StatusCode != 204 {
		t.Fatalf("DELETE = %v %v", resp, err)
	}
	if code, body := do(t, srv, "GET", "/v1/tenants/RXX/webhooks", key, ""); code != 200 || body != `{"webhooks":[]}` {
		t.Errorf("list after delete = %d %s", code, body)
	}
}

func positionOf(id, person string) *eventsv1.PositionUpdated {
	return &eventsv1.PositionUpdated{EventID: id, Tenant: "RXX", Vpd: "412", PersonID: person, EmployeeNumber: "31004581",
		EffectiveDate: day(2024, 4, 1), RecordedAt: recorded2, Source: src(9), AssignmentNumber: "31004581",
		Change: eventsv1.PositionChangeAttributesChanged, Before: snapshot("Staff Nurse", "XR05"), After: snapshot("Senior Staff Nurse", "XR06")}
}

// produceStarters makes starter-created records of tenant RXX, one per
// "event-id:person-id".
func (e *env) produceStarters(specs ...string) []*kgo.Record {
	var out []*kgo.Record
	for i, spec := range specs {
		id, person, _ := strings.Cut(spec, ":")
		st := starter()
		st.EventID, st.PersonID, st.RecordedAt = id, person, recorded1.Add(time.Duration(i)*time.Second)
		out = append(out, e.event("RXX", schemas.EventStarterCreated, 1, person, st))
	}
	return out
}

// verifyFromSpec checks a delivery as the Standard Webhooks specification
// describes, written here without the webhook package's signing code: the
// secret is base64 after "whsec_"; the signed content is
// "<webhook-id>.<webhook-timestamp>.<body>"; webhook-signature is a
// space-separated list of "v1,<base64 HMAC-SHA256>", any of which may
// match; the timestamp must be within five minutes.
func verifyFromSpec(secret string, h map[string]string, body []byte, now time.Time) error {
	key, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(secret, "whsec_"))
	if err != nil {
		return err
	}
	ts, err := strconv.ParseInt(h["webhook-timestamp"], 10, 64)
	if err != nil {
		return fmt.Errorf("webhook-timestamp %q", h["webhook-timestamp"])
	}
	if d := now.Sub(time.Unix(ts, 0)); d > 5*time.Minute || d < -5*time.Minute {
		return errors.New("timestamp out of tolerance")
	}
	mac := hmac.New(sha256.New, key)
	fmt.Fprintf(mac, "%s.%d.", h["webhook-id"], ts)
	mac.Write(body)
	want := mac.Sum(nil)
	for _, sig := range strings.Fields(h["webhook-signature"]) {
		version, b64, ok := strings.Cut(sig, ",")
		got, err := base64.StdEncoding.DecodeString(b64)
		if ok && version == "v1" && err == nil && hmac.Equal(got, want) {
			return nil
		}
	}
	return errors.New("no matching v1 signature")
}

// verifyWithReferenceLibrary checks every captured delivery with the npm
// standardwebhooks package (installed by make test-deps from the committed
// lock file). Without Node or the package the check skips, except in CI.
func verifyWithReferenceLibrary(t *testing.T, secret string, requests []capturedRequest) {
	t.Helper()
	dir := filepath.Join("webhook", "testdata", "verifier")
	node, err := exec.LookPath("node")
	if _, statErr := os.Stat(filepath.Join(dir, "node_modules", "standardwebhooks")); err != nil || statErr != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("node or %s/node_modules missing (run make test-deps)", dir)
		}
		t.Logf("skipping the standardwebhooks check: node or %s/node_modules missing (make test-deps)", dir)
		return
	}
	in, _ := json.Marshal(map[string]any{"secret": secret, "requests": requests})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, "verify.mjs")
	cmd.Dir, cmd.Stdin = dir, bytes.NewReader(in)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("standardwebhooks refused deliveries: %v\n%s", err, out)
	}
	if got := strings.Count(string(out), "ok "); got != len(requests) || len(requests) == 0 {
		t.Errorf("standardwebhooks verified %d of %d deliveries:\n%s", got, len(requests), out)
	}
}

// A subscription delivers only while its owner's key stands: once the key
// is revoked, later events are not sent (the subscription is paused, its
// position kept), and a body for an owner without people:sensitive is
// minimised even when the subscription was made with it.
func TestWebhookPausedWhenItsOwnerKeyIsRevoked(t *testing.T) {
	dbtest.ForEach(t, func(t *testing.T, dbURL string) {
		e := newEnv(t)
		platform := newKey(t)
		clients := []auth.Client{{Name: "platform", KeySHA256: auth.HashKey(platform), Tenants: []string{auth.AllTenants}, Scopes: []string{auth.ScopeAdmin}}}
		cfg := Config{DBURL: dbURL, Clients: clients, KeysRefresh: 50 * time.Millisecond, Webhooks: webhook.Config{
			MaxAttempts: 2, BaseBackoff: 10 * time.Millisecond, MaxBackoff: 20 * time.Millisecond, Timeout: 300 * time.Millisecond, AllowPrivate: true,
		}}
		rcv := newReceiver(t, func(string, int) (int, bool) { return 204, false })
		_, srv, _ := e.run(cfg)
		code, vendor, body := createKey(t, srv.URL, platform, `{"name":"vendor","tenants":["RXX"],"scopes":["operate","events:read"]}`)
		if code != 201 {
			t.Fatalf("vendor key = %d %s", code, body)
		}
		if code, body := do(t, srv, "POST", "/v1/tenants/RXX/webhooks", vendor.Key, `{"url":"`+rcv.srv.URL+`/hook","types":["starter-created"]}`); code != 201 {
			t.Fatalf("subscribe = %d %s", code, body)
		}
		e.produce(true, e.produceStarters("ev-before:P1")...)
		eventually(t, "ev-before delivered", func() bool {
			delivered, _ := rcv.snapshot()
			return slices.Contains(delivered, "ev-before")
		})
		if code, body := do(t, srv, "DELETE", "/v1/keys/"+vendor.ID, platform, ""); code != 200 {
			t.Fatalf("revoke = %d %s", code, body)
		}
		e.produce(true, e.produceStarters("ev-after:P2", "ev-after-2:P3")...)
		// The feed has them (the platform key reads them) ...
		eventually(t, "the feed has ev-after-2", func() bool {
			_, body := do(t, srv, "GET", "/v1/tenants/RXX/events", platform, "")
			return strings.Contains(body, `"ev-after-2"`)
		})
		// ... and, a few dispatcher polls later, the revoked owner has
		// been sent nothing more.
		time.Sleep(500 * time.Millisecond)
		if delivered, _ := rcv.snapshot(); slices.Contains(delivered, "ev-after") || slices.Contains(delivered, "ev-after-2") {
			t.Errorf("delivered %v after the owner's key was revoked", delivered)
		}
	})
}

// A client's subscriptions on a tenant are bounded: the one past
// MaxWebhooksPerClient is 409, and deleting one makes room.
func TestWebhookSubscriptionsBoundedPerClient(t *testing.T) {
	e := newEnv(t)
	key := newKey(t)
	clients := []auth.Client{{Name: "vendor", KeySHA256: auth.HashKey(key), Tenants: []string{"RXX"}, Scopes: []string{auth.ScopeOperate, auth.ScopeReadEvents}}}
	_, srv, _ := e.run(Config{DBURL: "sqlite:" + filepath.Join(t.TempDir(), "api.db"), Clients: clients,
		Webhooks: webhook.Config{AllowPrivate: true}})
	var first webhook.Subscription
	for i := range MaxWebhooksPerClient {
		code, body := do(t, srv, "POST", "/v1/tenants/RXX/webhooks", key, `{"url":"http://127.0.0.1:9/hook"}`)
		if code != 201 {
			t.Fatalf("subscription %d = %d %s", i+1, code, body)
		}
		if i == 0 {
			_ = json.Unmarshal([]byte(body), &first)
		}
	}
	if code, body := do(t, srv, "POST", "/v1/tenants/RXX/webhooks", key, `{"url":"http://127.0.0.1:9/hook"}`); code != 409 {
		t.Errorf("one subscription too many = %d %s, want 409", code, body)
	}
	if resp, body, err := send(t, "DELETE", srv.URL+"/v1/tenants/RXX/webhooks/"+first.ID, key, ""); err != nil || resp.StatusCode/100 != 2 {
		t.Fatalf("delete = %v %s (%v)", resp, body, err)
	}
	if code, body := do(t, srv, "POST", "/v1/tenants/RXX/webhooks", key, `{"url":"http://127.0.0.1:9/hook"}`); code != 201 {
		t.Errorf("after a delete = %d %s, want 201", code, body)
	}
}
