package registry_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/sr"
	"go.uber.org/zap/zaptest"

	"github.com/esrflow/esrflow/platform/testkit"
	"github.com/esrflow/esrflow/services/registry"
)

// instance is one registry process: the real handler behind an HTTP server,
// reached through franz-go's sr.Client like any esrflow service would.
type instance struct {
	reg *registry.Registry
	srv *httptest.Server
	cl  *sr.Client
}

// startRegistry starts a registry against seeds and stops it with the test
// (or earlier, through stop).
func startRegistry(t *testing.T, seeds []string, cfg registry.Config) *instance {
	t.Helper()
	reg, err := registry.New(cfg, registry.Deps{Brokers: seeds, Logger: zaptest.NewLogger(t)})
	if err != nil {
		t.Fatalf("new registry: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := reg.Start(ctx); err != nil {
		reg.Close()
		t.Fatalf("start registry: %v", err)
	}
	srv := httptest.NewServer(reg.Handler())
	cl, err := sr.NewClient(sr.URLs(srv.URL))
	if err != nil {
		t.Fatalf("sr client: %v", err)
	}
	in := &instance{reg: reg, srv: srv, cl: cl}
	t.Cleanup(in.stop)
	return in
}

func (in *instance) stop() {
	if in.srv != nil {
		in.srv.Close()
		in.reg.Close()
		in.srv = nil
	}
}

// newRegistry starts a fresh in-memory broker and a registry on it.
func newRegistry(t *testing.T) *instance {
	t.Helper()
	b := testkit.Kafka(t)
	return startRegistry(t, b.Seeds(), registry.Config{})
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// wantCode asserts err is a registry error with the given error_code.
func wantCode(t *testing.T, err error, code int) *sr.ResponseError {
	t.Helper()
	var re *sr.ResponseError
	if !errors.As(err, &re) {
		t.Fatalf("want registry error %d, got %v", code, err)
	}
	if re.ErrorCode != code {
		t.Fatalf("want error_code %d, got %d (%s)", code, re.ErrorCode, re.Message)
	}
	if want := statusOf(code); re.StatusCode != want {
		t.Fatalf("error_code %d: want HTTP %d, got %d", code, want, re.StatusCode)
	}
	return re
}

func statusOf(code int) int {
	for code >= 1000 {
		code /= 10
	}
	return code
}

func avroSchema(s string) sr.Schema { return sr.Schema{Schema: s, Type: sr.TypeAvro} }

func mustRegister(t *testing.T, cl *sr.Client, subject, schema string) sr.SubjectSchema {
	t.Helper()
	ss, err := cl.CreateSchema(ctxT(t), subject, avroSchema(schema))
	if err != nil {
		t.Fatalf("register %s: %v", subject, err)
	}
	return ss
}

func setLevel(t *testing.T, cl *sr.Client, level sr.CompatibilityLevel, subjects ...string) {
	t.Helper()
	for _, r := range cl.SetCompatibility(ctxT(t), sr.SetCompatibility{Level: level}, subjects...) {
		if r.Err != nil {
			t.Fatalf("set compatibility %s on %q: %v", level, r.Subject, r.Err)
		}
	}
}

// Schemas shared by the tests: a Person record evolving.
const (
	personV1 = `{"type":"record","name":"Person","namespace":"uk.nhs.esr","fields":[{"name":"id","type":"string"}]}`
	// The same schema spelled differently: whitespace, key order, full name.
	personV1Reformatted = `{
	  "fields": [ {"type": "string", "name": "id"} ],
	  "name": "uk.nhs.esr.Person",
	  "type": "record"
	}`
	personGradeDefault   = `{"type":"record","name":"Person","namespace":"uk.nhs.esr","fields":[{"name":"id","type":"string"},{"name":"grade","type":"string","default":""}]}`
	personGradeNoDefault = `{"type":"record","name":"Person","namespace":"uk.nhs.esr","fields":[{"name":"id","type":"string"},{"name":"grade","type":"string"}]}`
	personIDAsInt        = `{"type":"record","name":"Person","namespace":"uk.nhs.esr","fields":[{"name":"id","type":"int"}]}`
	orgV1                = `{"type":"record","name":"Organisation","namespace":"uk.nhs.esr","fields":[{"name":"code","type":"string"}]}`
)

func newUnstarted(t *testing.T) (*registry.Registry, error) {
	b := testkit.Kafka(t)
	reg, err := registry.New(registry.Config{}, registry.Deps{Brokers: b.Seeds(), Logger: zaptest.NewLogger(t)})
	if err == nil {
		t.Cleanup(reg.Close)
	}
	return reg, err
}

func httptestRecorder() *httptest.ResponseRecorder { return httptest.NewRecorder() }

func httptestRequest(method, path string) *http.Request {
	return httptest.NewRequest(method, path, nil)
}
