package api

import (
	"bytes"
	"encoding/json"
	"maps"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"

	"github.com/esrflow/esrflow/services/api/auth"
	"github.com/esrflow/esrflow/services/api/minimise"
)

// personalScope is the scope without which the properties the document
// marks `x-personal: true` must be absent from a response. Field
// minimisation per scope plugs in here: mark a property x-personal in
// openapi.yaml (or give minimisationChecks a row with another scope) and
// the matrix checks every operation whose response schema reaches it.
var personalScope = auth.ScopePeopleSensitive

// minimisationChecks are further per-scope field rules: a key holding the
// operation's scopes but not `without` must not see `fields` in the
// operation's response (checked on every operation that answers 200).
var minimisationChecks = []struct {
	without string
	fields  []string
}{
	{without: auth.ScopePeopleSensitive, fields: minimise.Fields},
}

// testIsolationMatrix is generated from the document: for every operation
// under /v1/tenants/{tenant}, (1) a key for RYY asking for RXX's resource is
// refused 403 with nothing but the error, (2) a key holding every scope but
// the operation's is refused 403 likewise, (3) a key with the scope and the
// tenant gets the data (GETs), and (4) properties marked x-personal are
// absent for a key without personalScope. Runs on the conformance fixture,
// so every id in a path exists.
func testIsolationMatrix(t *testing.T, f *contractFixture) {
	// Values that only RXX's data holds: none may appear in a refusal.
	leaks := []string{"20990417", "31004581", "ev-starter-1", "hb-9f2c4e1a7b3d5f6e", sha1, shaHeld1, "esr.rxx.", f.ids["id"]}
	if f.ids["replay_id"] != "" {
		leaks = append(leaks, f.ids["replay_id"])
	}
	var checked int
	for _, o := range operations(f.doc) {
		if !strings.Contains(o.path, "{tenant}") {
			continue
		}
		checked++
		path := o.path
		ids := maps.Clone(f.ids)
		if o.op.OperationID == "getLocation" {
			ids["name"] = "Ward 7 Admin" // {name} is an organisation's elsewhere
		}
		for name, v := range ids {
			path = strings.ReplaceAll(path, "{"+name+"}", url.PathEscape(v))
		}
		if strings.Contains(path, "{") {
			t.Errorf("%s: no value for a parameter of %s: add it to the fixture's ids", o.op.OperationID, o.path)
			continue
		}
		body, ct := `{"reason":"probe"}`, ""
		switch o.op.OperationID {
		case "uploadFile":
			path += "?name=GO_412_EXP_GOC_20240317_00000352.DAT"
			body, ct = "HDR\n", "application/octet-stream"
		case "getFileLines":
			path += "?line=2"
		case "replayQuarantine":
			body = `{"ids":["` + f.ids["id"] + `"],"reason":"probe"}`
		}
		if o.method == "GET" {
			body = ""
		}
		refused := func(who, key, wantError string) {
			got := f.call(t, o.method, path, key, ct, body, 403)
			// Nothing but the error: "error" and the problem details members.
			var m map[string]any
			if err := json.Unmarshal(got, &m); err != nil || m["error"] != wantError {
				t.Errorf("%s as %s: body %s, want the error %q", o.op.OperationID, who, got, wantError)
			}
			for k := range m {
				if !slices.Contains([]string{"error", "type", "title", "status", "detail", "instance"}, k) {
					t.Errorf("%s as %s: the refusal carries %q: %s", o.op.OperationID, who, k, got)
				}
			}
			for _, leak := range leaks {
				if bytes.Contains(got, []byte(leak)) {
					t.Errorf("%s as %s leaks RXX's %s: %s", o.op.OperationID, who, leak, got)
				}
			}
		}
		refused("a key for RYY", f.keys["ryy-all"], "this API key is not allowed tenant RXX")
		refused("a key without "+strings.Join(o.scopes(), " or "), f.keys[lackingKey(o)],
			"this API key lacks the "+strings.Join(o.scopes(), " or ")+" scope")
		if o.method != "GET" {
			continue // writes are exercised, with their side effects, by the conformance test
		}
		// The right key gets the data, so the refusals above are about the
		// key and not an empty tenant.
		full := f.call(t, o.method, path, f.keys["rxx-all"], "", "", 200)
		personal := personalProperties(f.doc, o)
		if len(personal) > 0 && !containsAnyKey(full, personal) && o.op.OperationID == "getQuarantineItem" {
			t.Errorf("%s with %s lacks every x-personal property %v: the minimisation check below would prove nothing", o.op.OperationID, personalScope, personal)
		}
		if strings.Contains(o.path, "/webhooks") {
			// A subscription is its client's own: any other key, even
			// with every scope, gets 404 (webhook_test.go), so the
			// per-scope answers below do not apply.
			continue
		}
		minimal := f.call(t, o.method, path, f.keys[withoutKey(personalScope)], "", "", 200)
		if k := firstKey(minimal, personal); k != "" {
			t.Errorf("%s without %s shows %q (x-personal)", o.op.OperationID, personalScope, k)
		}
		for _, c := range minimisationChecks {
			got := f.call(t, o.method, path, f.keys[withoutKey(c.without)], "", "", 200)
			if k := firstKey(got, c.fields); k != "" {
				t.Errorf("%s without %s shows %q", o.op.OperationID, c.without, k)
			}
		}
	}
	// As many as the router has routes under a tenant (read from http.go),
	// so a route the document lacks cannot escape the matrix either.
	var routes int
	for pattern := range sourceRoutes(t) {
		if strings.Contains(pattern, "{tenant}") {
			routes++
		}
	}
	if checked != routes {
		t.Errorf("the matrix checked %d operations; the router has %d under /v1/tenants/{tenant}", checked, routes)
	}
}

// personalProperties are the property names marked x-personal anywhere in
// o's 200 response schema.
func personalProperties(doc *openapi3.T, o operation) []string {
	resp := o.op.Responses.Status(200)
	if resp == nil || resp.Value == nil {
		return nil
	}
	mt := resp.Value.Content.Get("application/json")
	if mt == nil || mt.Schema == nil {
		return nil
	}
	var out []string
	seen := map[*openapi3.Schema]bool{}
	var walk func(s *openapi3.SchemaRef)
	walk = func(s *openapi3.SchemaRef) {
		if s == nil || s.Value == nil || seen[s.Value] {
			return
		}
		seen[s.Value] = true
		for name, p := range s.Value.Properties {
			if p.Value != nil && p.Value.Extensions["x-personal"] == true {
				out = append(out, name)
			}
			walk(p)
		}
		for _, list := range [][]*openapi3.SchemaRef{s.Value.AllOf, s.Value.OneOf, s.Value.AnyOf} {
			for _, e := range list {
				walk(e)
			}
		}
		walk(s.Value.Items)
		if s.Value.AdditionalProperties.Schema != nil {
			walk(s.Value.AdditionalProperties.Schema)
		}
	}
	walk(mt.Schema)
	return out
}

// firstKey returns the first of keys that is an object key anywhere in the
// JSON document b; "" when none is.
func firstKey(b []byte, keys []string) string {
	var v any
	if json.Unmarshal(b, &v) != nil {
		return ""
	}
	var found string
	var walk func(v any)
	walk = func(v any) {
		switch t := v.(type) {
		case map[string]any:
			for k, e := range t {
				for _, want := range keys {
					if k == want && found == "" {
						found = k
					}
				}
				walk(e)
			}
		case []any:
			for _, e := range t {
				walk(e)
			}
		}
	}
	walk(v)
	return found
}

func containsAnyKey(b []byte, keys []string) bool { return firstKey(b, keys) != "" }

// withoutKey names the RXX key holding every scope but one.
func withoutKey(scope string) string { return "rxx without " + scope }
