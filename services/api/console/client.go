package console

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
)

// apiError is a REST api answer of 400 or more, with the detail of its
// problem document: the console shows it as it is, so a user reads the
// same reason a program would (a missing scope, another tenant, a batch
// already decided).
type apiError struct {
	Status int
	Detail string
}

func (e *apiError) Error() string { return fmt.Sprintf("%d %s", e.Status, e.Detail) }

// statusOf returns the api status behind err, 500 for any other error.
func statusOf(err error) int {
	if e, ok := err.(*apiError); ok {
		return e.Status
	}
	return http.StatusInternalServerError
}

// client calls the REST api in process as the signed-in key. The console
// reads and acts only through it, so what a user sees and may do is exactly
// what the api lets that key see and do: its tenants, its scopes, field
// minimisation and redaction, the same checks and the same audit.
type client struct {
	api http.Handler
	key string
	// remote is the browser's address, so the api's limit on requests
	// without a valid key applies per browser, as for any caller.
	remote string
}

// get decodes the JSON answer of GET path (a /v1 path, its segments
// escaped by the caller with p) into out.
func (c client) get(ctx context.Context, path string, out any) error {
	return c.do(ctx, http.MethodGet, path, nil, out)
}

// post sends body as JSON and decodes the answer into out (nil: ignored).
func (c client) post(ctx context.Context, path string, body, out any) error {
	return c.do(ctx, http.MethodPost, path, body, out)
}

func (c client) do(ctx context.Context, method, path string, body, out any) error {
	var payload []byte
	if body != nil {
		var err error
		if payload, err = json.Marshal(body); err != nil {
			return err
		}
	}
	req, err := http.NewRequestWithContext(ctx, method, path, bytes.NewReader(payload))
	if err != nil {
		return err
	}
	req.RemoteAddr = c.remote
	req.Header.Set("Accept", "application/json")
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.key != "" {
		req.Header.Set("Authorization", "Bearer "+c.key)
	}
	var rw responseBuffer
	c.api.ServeHTTP(&rw, req)
	if rw.status >= 300 && rw.status < 400 {
		// The api answers no route with a redirect: its router does, to
		// the cleaned path, when a value from the page's own path is "."
		// or "..". Nothing has that id.
		return &apiError{Status: http.StatusNotFound, Detail: "not found"}
	}
	if rw.status >= 400 {
		var p struct {
			Detail string `json:"detail"`
		}
		_ = json.Unmarshal(rw.body.Bytes(), &p)
		if p.Detail == "" {
			p.Detail = http.StatusText(rw.status)
		}
		return &apiError{Status: rw.status, Detail: p.Detail}
	}
	if out == nil {
		return nil
	}
	if err := json.Unmarshal(rw.body.Bytes(), out); err != nil {
		// Not the path: it may hold a person id, and the error is logged
		// (with the console's route, which says which call it was).
		return fmt.Errorf("%s: decoding the api's answer: %w", method, err)
	}
	return nil
}

// responseBuffer is the http.ResponseWriter of an in-process call.
type responseBuffer struct {
	header http.Header
	status int
	body   bytes.Buffer
}

func (b *responseBuffer) Header() http.Header {
	if b.header == nil {
		b.header = http.Header{}
	}
	return b.header
}

func (b *responseBuffer) WriteHeader(status int) {
	if b.status == 0 {
		b.status = status
	}
}

func (b *responseBuffer) Write(p []byte) (int, error) {
	if b.status == 0 {
		b.status = http.StatusOK
	}
	return b.body.Write(p)
}

// p builds an api path from literal parts and values, escaping the values:
// p("/v1/tenants/", t, "/files/", sha) . Odd arguments are literal.
func p(parts ...string) string {
	var b strings.Builder
	for i, s := range parts {
		if i%2 == 1 {
			s = url.PathEscape(s)
		}
		b.WriteString(s)
	}
	return b.String()
}

// withQuery appends the non-empty values of q to path.
func withQuery(path string, q url.Values) string {
	for k, vs := range q {
		if len(vs) == 0 || vs[0] == "" {
			delete(q, k)
		}
	}
	if len(q) == 0 {
		return path
	}
	return path + "?" + q.Encode()
}
