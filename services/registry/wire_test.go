package registry_test

import (
	"encoding/binary"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/hamba/avro/v2"
	"github.com/twmb/franz-go/pkg/sr"
)

type person struct {
	ID    string `avro:"id"`
	Grade string `avro:"grade"`
}

// TestSerdeRoundTrip encodes a value in the Confluent wire format with the id
// the registry assigned, and decodes it with a schema fetched back by id — the
// path every esrflow producer and consumer takes.
func TestSerdeRoundTrip(t *testing.T) {
	t.Parallel()
	in := newRegistry(t)
	cl, ctx := in.cl, ctxT(t)

	ss := mustRegister(t, cl, "esr.rxx.position-updated.v1-value", personGradeDefault)
	writerSchema := avro.MustParse(ss.Schema.Schema)

	var producer sr.Serde
	producer.Register(ss.ID, person{}, sr.EncodeFn(func(v any) ([]byte, error) { return avro.Marshal(writerSchema, v) }))
	b, err := producer.Encode(person{ID: "P123", Grade: "Band 5"})
	if err != nil {
		t.Fatal(err)
	}
	if b[0] != 0 || int(binary.BigEndian.Uint32(b[1:5])) != ss.ID {
		t.Fatalf("wire header: % x, want magic 0 and id %d", b[:5], ss.ID)
	}

	// The consumer knows only the bytes: it reads the id and asks the registry.
	var header sr.ConfluentHeader
	id, _, err := header.DecodeID(b)
	if err != nil {
		t.Fatal(err)
	}
	fetched, err := cl.SchemaByID(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	readerSchema := avro.MustParse(fetched.Schema)
	var consumer sr.Serde
	consumer.Register(id, person{}, sr.DecodeFn(func(b []byte, v any) error { return avro.Unmarshal(readerSchema, b, v) }))
	var got person
	if err := consumer.Decode(b, &got); err != nil {
		t.Fatal(err)
	}
	if got != (person{ID: "P123", Grade: "Band 5"}) {
		t.Fatalf("round trip: got %+v", got)
	}
}

// TestRawJSONShapes pins the exact JSON of a few endpoints, as clients in
// other languages parse them.
func TestRawJSONShapes(t *testing.T) {
	t.Parallel()
	in := newRegistry(t)
	mustRegister(t, in.cl, "s", personV1)

	get := func(path string) (int, string, map[string]json.RawMessage) {
		t.Helper()
		resp, err := http.Get(in.srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		if ct := resp.Header.Get("Content-Type"); ct != "application/vnd.schemaregistry.v1+json" {
			t.Fatalf("GET %s: content type %q", path, ct)
		}
		var m map[string]json.RawMessage
		_ = json.Unmarshal(body, &m)
		return resp.StatusCode, string(body), m
	}

	status, body, m := get("/subjects/s/versions/latest")
	wantSchema, _ := json.Marshal(personV1)
	if status != 200 || len(m) != 4 || string(m["subject"]) != `"s"` || string(m["version"]) != "1" ||
		string(m["id"]) != "1" || string(m["schema"]) != string(wantSchema) {
		t.Fatalf("GET /subjects/s/versions/latest: %d %s", status, body)
	}
	// AVRO is the default type, so schemaType is left out, as in Confluent.
	if status, body, m = get("/schemas/ids/1"); status != 200 || len(m) != 1 || string(m["schema"]) != string(wantSchema) {
		t.Fatalf("GET /schemas/ids/1: %d %s", status, body)
	}
	if status, body, _ = get("/schemas/ids/1/versions"); status != 200 || body != `[{"subject":"s","version":1}]` {
		t.Fatalf("GET /schemas/ids/1/versions: %d %s", status, body)
	}
	if status, body, _ = get("/subjects/s/versions/1/schema"); status != 200 || body != personV1 {
		t.Fatalf("GET raw schema: %d %s", status, body)
	}
	if status, body, _ = get("/config"); status != 200 || body != `{"compatibilityLevel":"BACKWARD"}` {
		t.Fatalf("GET /config: %d %s", status, body)
	}
	if status, body, _ = get("/"); status != 200 || body != `{}` {
		t.Fatalf("GET /: %d %s", status, body)
	}
	if status, body, _ = get("/schemas/types"); status != 200 || body != `["AVRO"]` {
		t.Fatalf("GET /schemas/types: %d %s", status, body)
	}
	if status, body, _ = get("/subjects/nope/versions"); status != 404 || body != `{"error_code":40401,"message":"Subject 'nope' not found."}` {
		t.Fatalf("GET unknown subject: %d %s", status, body)
	}

	// Register with plain application/json and read the {"id":N} body.
	req, _ := http.NewRequest(http.MethodPost, in.srv.URL+"/subjects/t/versions", strings.NewReader(`{"schema":`+string(wantSchema)+`}`))
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || string(raw) != `{"id":1}` {
		t.Fatalf("POST register: %d %s", resp.StatusCode, raw)
	}
	req, _ = http.NewRequest(http.MethodPost, in.srv.URL+"/subjects/t/versions", strings.NewReader(`{}`))
	req.Header.Set("Content-Type", "text/plain")
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnsupportedMediaType {
		t.Fatalf("text/plain body: got %d, want 415", resp.StatusCode)
	}
}

// TestNotReadyUntilStarted: before the topic is read, the API refuses work
// rather than answer from an empty state.
func TestNotReadyUntilStarted(t *testing.T) {
	t.Parallel()
	reg, err := newUnstarted(t)
	if err != nil {
		t.Fatal(err)
	}
	if reg.Ready() == nil {
		t.Fatal("ready before start")
	}
	rec := httptestRecorder()
	reg.Handler().ServeHTTP(rec, httptestRequest(http.MethodGet, "/subjects"))
	if rec.Code != http.StatusServiceUnavailable || !strings.Contains(rec.Body.String(), `"error_code":50003`) {
		t.Fatalf("before start: %d %s", rec.Code, rec.Body.String())
	}
}
