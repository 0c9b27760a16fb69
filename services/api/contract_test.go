package api

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/legacy"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/esrflow/esrflow/schemas"
	"github.com/esrflow/esrflow/schemas/gen/eventsv1"
	"github.com/esrflow/esrflow/schemas/gen/internalv1"
	"github.com/esrflow/esrflow/services/api/auth"
	"github.com/esrflow/esrflow/services/api/store"
	"github.com/esrflow/esrflow/services/api/store/dbtest"
)

// loadOpenAPI parses and validates the embedded OpenAPI document.
func loadOpenAPI(t *testing.T) *openapi3.T {
	t.Helper()
	loader := openapi3.NewLoader()
	doc, err := loader.LoadFromData(openAPIYAML)
	if err != nil {
		t.Fatalf("openapi.yaml: %v", err)
	}
	if err := doc.Validate(context.Background()); err != nil {
		t.Fatalf("openapi.yaml is not a valid OpenAPI document: %v", err)
	}
	return doc
}

// operation is one method and path of the OpenAPI document.
type operation struct {
	method, path string
	op           *openapi3.Operation
}

func (o operation) scopes() []string {
	var out []string
	if raw, ok := o.op.Extensions["x-scopes"]; ok {
		for _, s := range raw.([]any) {
			out = append(out, s.(string))
		}
	}
	return out
}

// anyKey reports an operation whose x-scopes is present and empty: any
// valid key (GET /v1/whoami), as a route with no scopes in http.go.
func (o operation) anyKey() bool {
	raw, ok := o.op.Extensions["x-scopes"].([]any)
	return ok && len(raw) == 0
}

func operations(doc *openapi3.T) []operation {
	var out []operation
	for _, path := range doc.Paths.InMatchingOrder() {
		for method, op := range doc.Paths.Value(path).Operations() {
			out = append(out, operation{method, path, op})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].op.OperationID < out[j].op.OperationID })
	return out
}

func TestOpenAPIDocumentIsValid(t *testing.T) {
	doc := loadOpenAPI(t)
	if !doc.IsOpenAPI31OrLater() {
		t.Errorf("openapi: %s, want 3.1", doc.OpenAPI)
	}
	seen := map[string]bool{}
	for _, o := range operations(doc) {
		id := o.op.OperationID
		if id == "" || seen[id] {
			t.Errorf("%s %s: operationId %q missing or repeated", o.method, o.path, id)
		}
		seen[id] = true
		if strings.HasPrefix(o.path, "/v1/") && len(o.scopes()) == 0 && !o.anyKey() {
			t.Errorf("%s: no x-scopes (an empty list means any valid key)", id)
		}
		for _, s := range o.scopes() {
			if !slices.Contains(auth.Scopes, s) {
				t.Errorf("%s: x-scopes names %q, not a scope the api knows", id, s)
			}
		}
	}
	// The JSON the api serves is the same document.
	served, err := openAPIJSON()
	if err != nil {
		t.Fatal(err)
	}
	doc2, err := openapi3.NewLoader().LoadFromData(served)
	if err != nil {
		t.Fatalf("/openapi.json: %v", err)
	}
	if len(operations(doc2)) != len(operations(doc)) || doc2.Info.Title != doc.Info.Title {
		t.Errorf("/openapi.json has %d operations, openapi.yaml %d", len(operations(doc2)), len(operations(doc)))
	}
}

// sourceRoutes reads the routes Handler registers, from http.go itself:
// "METHOD /path" → the scope constants' values, in order. The catch-all
// "/v1/" is left out (it only answers 404). So a route added to the router
// without the document (or the other way round) fails
// TestOpenAPIMatchesTheRouter, whoever forgets.
func sourceRoutes(t *testing.T) map[string][]string {
	t.Helper()
	fset := token.NewFileSet()
	nonTest := func(fi os.FileInfo) bool { return !strings.HasSuffix(fi.Name(), "_test.go") }
	pkgs, err := parser.ParseDir(fset, ".", nonTest, 0)
	if err != nil {
		t.Fatal(err)
	}
	// The scope constants are package auth's.
	authPkgs, err := parser.ParseDir(fset, "auth", nonTest, 0)
	if err != nil {
		t.Fatal(err)
	}
	consts := map[string]string{}
	aliases := map[string]string{} // const A = B
	var files []*ast.File
	for _, p := range append(slices.Collect(maps.Values(pkgs)), slices.Collect(maps.Values(authPkgs))...) {
		for _, f := range p.Files {
			if p.Name == "api" {
				files = append(files, f)
			}
			ast.Inspect(f, func(n ast.Node) bool {
				if vs, ok := n.(*ast.ValueSpec); ok {
					for i, name := range vs.Names {
						if i < len(vs.Values) {
							if lit, ok := vs.Values[i].(*ast.BasicLit); ok && lit.Kind == token.STRING {
								consts[name.Name], _ = strconv.Unquote(lit.Value)
							} else if id, ok := vs.Values[i].(*ast.Ident); ok {
								aliases[name.Name] = id.Name
							}
						}
					}
				}
				return true
			})
		}
	}
	for a, target := range aliases {
		if v, ok := consts[target]; ok {
			consts[a] = v
		}
	}
	routes := map[string][]string{}
	for _, f := range files {
		ast.Inspect(f, func(n ast.Node) bool {
			call, ok := n.(*ast.CallExpr)
			if !ok || len(call.Args) == 0 {
				return true
			}
			var fn string
			switch c := call.Fun.(type) {
			case *ast.Ident:
				fn = c.Name
			case *ast.SelectorExpr:
				fn = c.Sel.Name
			}
			if fn != "route" && fn != "HandleFunc" && fn != "Handle" {
				return true
			}
			lit, ok := call.Args[0].(*ast.BasicLit)
			if !ok || lit.Kind != token.STRING {
				return true
			}
			pattern, _ := strconv.Unquote(lit.Value)
			if !strings.Contains(pattern, " ") {
				return true // "/v1/": the catch-all
			}
			var scopes []string
			for _, a := range call.Args[min(2, len(call.Args)):] {
				if sel, ok := a.(*ast.SelectorExpr); ok {
					if x, ok := sel.X.(*ast.Ident); ok && x.Name == "auth" {
						a = sel.Sel
					}
				}
				if id, ok := a.(*ast.Ident); ok {
					v, ok := consts[id.Name]
					if !ok {
						t.Fatalf("route %s: scope %s is not a string constant", pattern, id.Name)
					}
					scopes = append(scopes, v)
				}
			}
			if fn != "route" {
				scopes = nil
			}
			routes[pattern] = scopes
			return true
		})
	}
	if len(routes) < 10 {
		t.Fatalf("found only %d routes in the source: has Handler changed shape?", len(routes))
	}
	return routes
}

func TestOpenAPIMatchesTheRouter(t *testing.T) {
	doc := loadOpenAPI(t)
	routes := sourceRoutes(t)
	documented := map[string]bool{}
	for _, o := range operations(doc) {
		key := o.method + " " + o.path
		documented[key] = true
		scopes, ok := routes[key]
		if !ok {
			t.Errorf("%s (%s) is in openapi.yaml but the api has no such route", key, o.op.OperationID)
			continue
		}
		if !slices.Equal(scopes, o.scopes()) {
			t.Errorf("%s: x-scopes %v, the route requires one of %v", key, o.scopes(), scopes)
		}
	}
	for key := range routes {
		if !documented[key] {
			t.Errorf("route %s is not in openapi.yaml", key)
		}
	}
}

// contractFixture is an api with data of every kind in RXX and RYY, an
// upload folder for RXX, and keys: one per tenant holding every scope, and
// for each operation's scope set a key holding every other scope.
type contractFixture struct {
	e      *env
	srv    *httptest.Server
	doc    *openapi3.T
	router routers.Router
	keys   map[string]string
	// ids names, per path parameter, a value that exists in RXX.
	ids map[string]string
	// statuses are the statuses each operation was seen to answer, validated.
	statuses map[string]map[int]bool
}

const (
	ryyPerson = "49990001"
	qLine     = int64(3)
)

func newContractFixture(t *testing.T, dbURL string) *contractFixture {
	t.Helper()
	e := newEnv(t)
	doc := loadOpenAPI(t)
	router, err := legacy.NewRouter(doc)
	if err != nil {
		t.Fatal(err)
	}
	f := &contractFixture{e: e, doc: doc, router: router, keys: map[string]string{}, statuses: map[string]map[int]bool{}}
	var clients []auth.Client
	add := func(name string, tenants, scopes []string) {
		f.keys[name] = newKey(t)
		clients = append(clients, auth.Client{Name: name, KeySHA256: auth.HashKey(f.keys[name]), Tenants: tenants, Scopes: scopes})
	}
	add("rxx-all", []string{"RXX"}, auth.Scopes)
	add("ryy-all", []string{"RYY"}, auth.Scopes)
	for _, c := range append(minimisationChecks, struct {
		without string
		fields  []string
	}{without: personalScope}) {
		if f.keys[withoutKey(c.without)] == "" {
			add(withoutKey(c.without), []string{"RXX"}, slices.DeleteFunc(slices.Clone(auth.Scopes), func(s string) bool { return s == c.without || s == auth.ScopeAdmin }))
		}
	}
	for _, o := range operations(doc) {
		if len(o.scopes()) == 0 || f.keys[lackingKey(o)] != "" {
			continue
		}
		// admin holds every scope, so a key lacking one never has it.
		rest := slices.DeleteFunc(slices.Clone(auth.Scopes), func(s string) bool { return s == auth.ScopeAdmin || slices.Contains(o.scopes(), s) })
		add(lackingKey(o), []string{"*"}, rest)
	}

	// RXX: a person with all four kinds of event, an accepted file, two held
	// files, two held batches, a quarantined row, a dead letter. RYY: one of
	// each, with ids RXX's never contain, so a leak shows.
	st := starter()
	lv := leaverEvent("ev-leaver-1", "RXX", st.PersonID)
	lv.RecordedAt = recorded2
	pu := positionUpdated()
	rv := reversal()
	// A second RXX person keeps a current assignment, with a location, so
	// positions, organisations and locations have something to list.
	st2 := starter()
	st2.EventID, st2.PersonID, st2.EmployeeNumber, st2.AssignmentNumber = "ev-starter-2", "20990418", "31004582", "31004582"
	pu2 := positionUpdated()
	pu2.EventID, pu2.PersonID, pu2.EmployeeNumber, pu2.AssignmentNumber = "ev-position-2", st2.PersonID, st2.EmployeeNumber, st2.AssignmentNumber
	pu2.RecordedAt = recorded2.Add(2 * time.Hour)
	other := starter()
	other.EventID, other.Tenant, other.PersonID, other.EmployeeNumber = "ev-starter-ryy", "RYY", ryyPerson, "49990002"
	other.Source.FileSha256 = sha2
	accepted := readOutcomeReport(heldReport("RXX", "GO_412_EXP_GOC_20240311_00000347.DAT", sha1, 347, recorded1, internalv1.FileHold{}), recorded1)
	hold := internalv1.FileHold{Feed: "412/EXP", LastSequence: 347, AwaitingSequences: []int64{348}}
	held1 := heldReport("RXX", "GO_412_EXP_GOC_20240313_00000349.DAT", shaHeld1, 349, recorded2, hold)
	held2 := heldReport("RXX", "GO_412_EXP_GOC_20240314_00000350.DAT", shaHeld2, 350, recorded2, hold)
	ryyReport := readOutcomeReport(heldReport("RYY", "GO_499_EXP_GOC_20240311_00000001.DAT", sha2, 1, recorded1, internalv1.FileHold{}), recorded1)
	batchA, batchB := heldRecord("RXX", "hb-9f2c4e1a7b3d5f6e", sha1, heldAt1, 3), heldRecord("RXX", "hb-3333333333333333", shaHeld1, heldAt2, 3)
	batchRYY := heldRecord("RYY", "hb-2222222222222222", sha2, heldAt1, 3)
	for i := range batchRYY.Held {
		batchRYY.Held[i].PersonID, batchRYY.Held[i].EmployeeNumber = fmt.Sprintf("4999100%d", i), fmt.Sprintf("4999200%d", i)
	}
	q := qrec("RXX", "GO_412_EXP_GOC_20240311_00000347.DAT", sha1, qLine, internalv1.StageNormalise, "PRA", "person", praFields(),
		violation("ESR-V010", "date_of_birth", internalv1.SeverityError))
	q2 := qrec("RXX", "GO_412_EXP_GOC_20240311_00000347.DAT", sha1, qLine+1, internalv1.StageValidate, "ASA", "assignment", asaFields(),
		violation("ESR-X002", "position_id", internalv1.SeverityError))
	qRYY := qrec("RYY", "GO_499_EXP_GOC_20240311_00000001.DAT", sha2, 7, internalv1.StageNormalise, "ASA", "assignment", asaFields(),
		violation("ESR-X002", "position_id", internalv1.SeverityError))
	notAvro := func(tenant string) *kgo.Record {
		return &kgo.Record{Topic: schemas.EventTopic(tenant, schemas.EventPositionUpdated), Key: []byte("x"), Value: []byte("not avro")}
	}
	e.produce(true,
		e.event("RXX", schemas.EventStarterCreated, 1, st.PersonID, st),
		e.event("RXX", schemas.EventLeaverConfirmed, 2, st.PersonID, lv),
		e.event("RXX", schemas.EventPositionUpdated, 1, st.PersonID, pu),
		e.event("RXX", schemas.EventLeaverReversed, 1, st.PersonID, rv),
		e.event("RXX", schemas.EventStarterCreated, 1, st2.PersonID, st2),
		e.event("RXX", schemas.EventPositionUpdated, 1, st2.PersonID, pu2),
		e.event("RYY", schemas.EventStarterCreated, 1, other.PersonID, other),
		e.reportV4(accepted), e.reportV4(held1), e.reportV4(held2), e.reportV4(ryyReport),
		e.heldBatch(batchA), e.heldBatch(batchB), e.heldBatch(batchRYY),
		e.quarantine(q, 2), e.quarantine(q2, 2), e.quarantine(qRYY, 2),
		notAvro("RXX"), notAvro("RYY"))

	drop := t.TempDir()
	if err := os.Mkdir(filepath.Join(drop, "RXX"), 0o750); err != nil {
		t.Fatal(err)
	}
	// The archived originals of RXX's held file (the ids' {sha256}) and of
	// RYY's file, for GET …/files/{sha256}/lines.
	archiveDir := t.TempDir()
	writeArchived(t, archiveDir, "RXX", shaHeld1, goV2File("\n", praLine()))
	writeArchived(t, archiveDir, "RYY", sha2, goV2File("\n", praLine()))
	// A small upload limit and a small burst for callers without a key, so
	// 413 and 429 can be answered too.
	_, f.srv = e.startWith(Config{DBURL: dbURL, Clients: clients, UploadDrop: drop, UploadMaxBytes: 1024, Archive: archiveDir,
		UnauthenticatedRate: 0.001, UnauthenticatedBurst: 2}, testLogger(t))
	f.ids = map[string]string{
		"tenant": "RXX", "person_id": st.PersonID, "file": sha1, "sha256": shaHeld1, "batch_id": batchA.BatchID,
		"id": store.QuarantineID("RXX", sha1, qLine), "replay_id": "", "event_id": st.EventID, "number": pu2.After.PositionNumber,
		"name": pu2.After.Organisation,
	}
	key := f.keys["rxx-all"]
	waitKey(t, f.srv, key, "/v1/tenants/RXX/events?limit=10", 200, `"ev-reversed-1"`)
	waitKey(t, f.srv, key, "/v1/tenants/RXX/locations", 200, `"Ward 7 Admin"`)
	waitKey(t, f.srv, key, "/v1/tenants/RXX/files?status=HELD", 200, shaHeld2)
	waitKey(t, f.srv, key, "/v1/tenants/RXX/held-batches", 200, batchB.BatchID)
	waitKey(t, f.srv, key, "/v1/tenants/RXX/quarantine", 200, store.QuarantineID("RXX", sha1, qLine+1))
	waitKey(t, f.srv, key, "/v1/tenants/RXX/dead-letters", 200, `"decode"`)
	ryy := f.keys["ryy-all"]
	waitKey(t, f.srv, ryy, "/v1/tenants/RYY/quarantine", 200, `"q-`)
	waitKey(t, f.srv, ryy, "/v1/tenants/RYY/held-batches", 200, batchRYY.BatchID)
	waitKey(t, f.srv, ryy, "/v1/tenants/RYY/files", 200, sha2)
	waitKey(t, f.srv, ryy, "/v1/tenants/RYY/people/"+ryyPerson, 200, ryyPerson)
	return f
}

// lackingKey names the key that holds every scope but o's.
func lackingKey(o operation) string { return "lacks " + strings.Join(o.scopes(), "|") }

func positionUpdated() *eventsv1.PositionUpdated {
	return &eventsv1.PositionUpdated{
		EventID: "ev-position-1", Tenant: "RXX", Vpd: "412", PersonID: "20990417", EmployeeNumber: "31004581",
		EffectiveDate: day(2024, 3, 20), RecordedAt: recorded1.Add(time.Hour), Source: src(6),
		AssignmentNumber: "31004581", Change: eventsv1.PositionChange("ATTRIBUTES_CHANGED"),
		Before: snapshot("Staff Nurse", "XR05"), After: snapshot("Senior Staff Nurse", "XR06"),
	}
}

func reversal() *eventsv1.LeaverReversed {
	return &eventsv1.LeaverReversed{
		EventID: "ev-reversed-1", Tenant: "RXX", Vpd: "412", PersonID: "20990417", EmployeeNumber: "31004581",
		EffectiveDate: day(2024, 4, 10), RecordedAt: recorded2.Add(time.Hour), Source: src(7),
		ReversedEventID: "ev-leaver-1", ReversedLeavingDate: day(2024, 4, 10), Reversal: "WITHDRAWN",
		LeavingReason: "Retirement Age",
	}
}

// call makes a request, checks its status, and validates the response
// (status, headers, body) against the document. It returns the body.
func (f *contractFixture) call(t *testing.T, method, path, key, contentType, body string, want int) []byte {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, f.srv.URL+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != want {
		t.Errorf("%s %s = %d %s, want %d", method, path, resp.StatusCode, got, want)
		return got
	}
	// Route against the document with the server's URL stripped (the
	// document's server is "/").
	vreq, _ := http.NewRequest(method, path, nil)
	route, params, err := f.router.FindRoute(vreq)
	if err != nil {
		t.Errorf("%s %s: not in the OpenAPI document: %v", method, path, err)
		return got
	}
	in := &openapi3filter.RequestValidationInput{Request: vreq, PathParams: params, Route: route,
		Options: &openapi3filter.Options{AuthenticationFunc: openapi3filter.NoopAuthenticationFunc}}
	if err := openapi3filter.ValidateResponse(context.Background(), &openapi3filter.ResponseValidationInput{
		RequestValidationInput: in, Status: resp.StatusCode, Header: resp.Header, Body: io.NopCloser(bytes.NewReader(got)),
		Options: &openapi3filter.Options{IncludeResponseStatus: true, MultiError: true},
	}); err != nil {
		t.Errorf("%s %s → %d does not conform to openapi.yaml: %v\nbody: %s", method, path, resp.StatusCode, err, got)
	}
	if resp.StatusCode < 300 {
		// The request this test sent for a success must itself conform
		// (parameters, body), so the document admits what the api takes.
		vreq, _ := http.NewRequest(method, path, strings.NewReader(body))
		if body != "" {
			if contentType == "" {
				contentType = "application/json"
			}
			vreq.Header.Set("Content-Type", contentType)
		}
		in := &openapi3filter.RequestValidationInput{Request: vreq, PathParams: params, Route: route,
			Options: &openapi3filter.Options{AuthenticationFunc: openapi3filter.NoopAuthenticationFunc}}
		if err := openapi3filter.ValidateRequest(context.Background(), in); err != nil {
			t.Errorf("%s %s: the test's request does not conform to openapi.yaml: %v", method, path, err)
		}
	}
	op := route.Operation.OperationID
	if f.statuses[op] == nil {
		f.statuses[op] = map[int]bool{}
	}
	f.statuses[op][resp.StatusCode] = true
	return got
}

func TestOpenAPIConformance(t *testing.T) {
	dbtest.ForEach(t, testOpenAPIConformance)
}

// Every operation of the document, against a real api (Kafka, registry, the
// database), with success and error answers; each response is validated
// against the document. Then the isolation matrix runs on the same data.
func testOpenAPIConformance(t *testing.T, dbURL string) {
	f := newContractFixture(t, dbURL)
	all, ryy, noPersonal := f.keys["rxx-all"], f.keys["ryy-all"], f.keys[withoutKey(personalScope)]
	p := "/v1/tenants/RXX"
	const reason = `{"reason":"Confirmed with HR"}`

	// People and events.
	f.call(t, "GET", p+"/people/20990417", all, "", "", 200)
	f.call(t, "GET", "/v1/tenants/rxx/people/20990417", all, "", "", 200)
	f.call(t, "GET", p+"/people/nobody", all, "", "", 404)
	f.call(t, "GET", "/v1/tenants/R-X/people/20990417", all, "", "", 400)
	f.call(t, "GET", p+"/people/20990417", "", "", "", 401)
	f.call(t, "GET", p+"/people/20990417", ryy, "", "", 403)
	body := f.call(t, "GET", p+"/people/20990417/events", all, "", "", 200)
	for _, typ := range []string{"starter-created", "leaver-confirmed", "position-updated", "leaver-reversed"} {
		if !bytes.Contains(body, []byte(`"type":"`+typ+`"`)) {
			t.Errorf("person events lack a %s event: the conformance data must cover every event type", typ)
		}
	}
	f.call(t, "GET", p+"/people/nobody/events", all, "", "", 404)
	page := f.call(t, "GET", p+"/events?limit=1", all, "", "", 200)
	var ev struct {
		NextCursor string `json:"next_cursor"`
	}
	_ = json.Unmarshal(page, &ev)
	if ev.NextCursor == "" {
		t.Errorf("GET events?limit=1 has no next_cursor: %s", page)
	}
	f.call(t, "GET", p+"/events?limit=1&cursor="+ev.NextCursor, all, "", "", 200)
	f.call(t, "GET", p+"/events?type=leaver-confirmed&since=2024-03-01", all, "", "", 200)
	f.call(t, "GET", p+"/events?type=leaver", all, "", "", 400)
	f.call(t, "GET", p+"/events?limit=0", all, "", "", 400)

	// Current state and lineage.
	f.call(t, "GET", p+"/people", all, "", "", 200)
	f.call(t, "GET", p+"/people?status=employed&organisation="+url.QueryEscape("412 Cardiology Outpatients")+"&limit=1", all, "", "", 200)
	f.call(t, "GET", p+"/people?employee_number=31004582&changed_since=2024-01-01", all, "", "", 200)
	f.call(t, "GET", p+"/people?status=gone", all, "", "", 400)
	f.call(t, "GET", p+"/people/20990418/assignments", all, "", "", 200)
	f.call(t, "GET", p+"/people/nobody/assignments", all, "", "", 404)
	f.call(t, "GET", p+"/positions", all, "", "", 200)
	f.call(t, "GET", p+"/positions/5102277", all, "", "", 200)
	f.call(t, "GET", p+"/positions/0000000", all, "", "", 404)
	f.call(t, "GET", p+"/organisations?limit=1", all, "", "", 200)
	f.call(t, "GET", p+"/organisations/"+url.PathEscape("412 Cardiology Outpatients"), all, "", "", 200)
	f.call(t, "GET", p+"/organisations/nowhere", all, "", "", 404)
	f.call(t, "GET", p+"/locations", all, "", "", 200)
	f.call(t, "GET", p+"/locations/"+url.PathEscape("Ward 7 Admin"), all, "", "", 200)
	f.call(t, "GET", p+"/locations/nowhere", all, "", "", 404)
	f.call(t, "GET", p+"/events/ev-starter-1/lineage", all, "", "", 200)
	f.call(t, "GET", p+"/events/ev-nothing/lineage", all, "", "", 404)
	f.call(t, "GET", p+"/files/"+sha1+"/events?limit=2", all, "", "", 200)
	f.call(t, "GET", p+"/files/not-a-sha/events", all, "", "", 400)
	f.call(t, "GET", p+"/files/"+sha1+"/quarantine", noPersonal, "", "", 200)
	f.call(t, "GET", p+"/files/"+sha1+"/quarantine?status=closed", all, "", "", 400)
	f.call(t, "GET", p+"/files/"+shaHeld1+"/lines?line=2", all, "", "", 200)
	f.call(t, "GET", p+"/files/"+shaHeld1+"/lines?line=2&context=0", noPersonal, "", "", 200)
	f.call(t, "GET", p+"/files/"+shaHeld1+"/lines?line=0", all, "", "", 400)
	f.call(t, "GET", p+"/files/"+shaHeld1+"/lines?line=99", all, "", "", 404)
	f.call(t, "GET", p+"/files/"+shaNobody+"/lines?line=1", all, "", "", 404)

	// Files.
	f.call(t, "GET", p+"/files", all, "", "", 200)
	f.call(t, "GET", p+"/files?status=held&limit=1", all, "", "", 200)
	f.call(t, "GET", p+"/files?status=nope", all, "", "", 400)
	f.call(t, "GET", p+"/files/"+sha1, all, "", "", 200)
	f.call(t, "GET", p+"/files/GO_412_EXP_GOC_20240311_00000347.DAT", all, "", "", 200)
	f.call(t, "GET", p+"/files/"+shaNobody, all, "", "", 404)
	const upName = "GO_412_EXP_GOC_20240316_00000351.DAT"
	f.call(t, "POST", p+"/files?name="+upName, all, "application/octet-stream", "HDR\n", 202)
	f.call(t, "POST", p+"/files?name="+upName, all, "application/octet-stream", "HDR\n", 409)
	f.call(t, "POST", p+"/files?name=../x", all, "application/octet-stream", "HDR\n", 400)
	f.call(t, "POST", "/v1/tenants/RYY/files?name="+upName, ryy, "application/octet-stream", "HDR\n", 404)
	f.call(t, "POST", p+"/files?name=GO_412_EXP_GOC_20240318_00000353.DAT", all, "application/octet-stream", strings.Repeat("x", 2048), 413)
	f.call(t, "POST", p+"/files/"+shaHeld1+"/release", all, "", reason, 202)
	f.call(t, "POST", p+"/files/"+shaHeld1+"/release", all, "", reason, 200) // a retry
	f.call(t, "POST", p+"/files/"+shaHeld1+"/discard", all, "", reason, 409) // one pending already
	f.call(t, "POST", p+"/files/"+sha1+"/release", all, "", reason, 409)     // ACCEPTED
	f.call(t, "POST", p+"/files/"+shaNobody+"/release", all, "", reason, 404)
	f.call(t, "POST", p+"/files/not-a-sha/release", all, "", reason, 400)
	f.call(t, "POST", p+"/files/"+shaHeld2+"/discard", all, "", reason, 202)
	f.call(t, "POST", p+"/files/"+shaHeld2+"/discard", noPersonal, "", `{"reason":""}`, 400)

	// Held batches and the audit.
	f.call(t, "GET", p+"/held-batches", all, "", "", 200)
	f.call(t, "GET", p+"/held-batches?status=HELD&limit=5", all, "", "", 200)
	f.call(t, "GET", p+"/held-batches?status=maybe", all, "", "", 400)
	f.call(t, "GET", p+"/held-batches/hb-9f2c4e1a7b3d5f6e", all, "", "", 200)
	f.call(t, "GET", p+"/held-batches/hb-0000000000000000", all, "", "", 404)
	f.call(t, "POST", p+"/held-batches/hb-9f2c4e1a7b3d5f6e/release", all, "", reason, 202)
	f.call(t, "POST", p+"/held-batches/hb-9f2c4e1a7b3d5f6e/reject", all, "", reason, 409)
	f.call(t, "POST", p+"/held-batches/hb-3333333333333333/reject", all, "", `{"reason":" "}`, 400)
	f.call(t, "POST", p+"/held-batches/hb-3333333333333333/reject", all, "", reason, 202)
	f.call(t, "POST", p+"/held-batches/hb-0000000000000000/release", all, "", reason, 404)
	f.call(t, "GET", p+"/audit", all, "", "", 200)
	f.call(t, "GET", p+"/audit?file_sha256="+shaHeld1, all, "", "", 200)
	f.call(t, "GET", p+"/audit?limit=x", all, "", "", 400)
	f.call(t, "GET", p+"/dead-letters", all, "", "", 200)
	f.call(t, "GET", p+"/dead-letters?limit=2000", all, "", "", 400)

	// Quarantine and replays.
	qid := f.ids["id"]
	f.call(t, "GET", p+"/quarantine", all, "", "", 200)
	f.call(t, "GET", p+"/quarantine?limit=1&rule=ESR-V010", noPersonal, "", "", 200)
	f.call(t, "GET", p+"/quarantine?status=closed", all, "", "", 400)
	f.call(t, "GET", p+"/quarantine/"+qid, all, "", "", 200)
	f.call(t, "GET", p+"/quarantine/"+qid, noPersonal, "", "", 200)
	f.call(t, "GET", p+"/quarantine/q-00000000000000000000", all, "", "", 404)
	replayBody := `{"ids":["` + qid + `"],"reason":"Mapping fixed","idempotency_key":"ticket-1"}`
	var rp struct {
		ReplayID string `json:"replay_id"`
	}
	_ = json.Unmarshal(f.call(t, "POST", p+"/quarantine/replay", all, "", replayBody, 202), &rp)
	f.ids["replay_id"] = rp.ReplayID
	f.call(t, "POST", p+"/quarantine/replay", all, "", replayBody, 200) // the same request again
	f.call(t, "POST", p+"/quarantine/replay", all, "", `{"ids":["`+qid+`"],"reason":"again","idempotency_key":"ticket-2"}`, 409)
	f.call(t, "POST", p+"/quarantine/replay", all, "", `{"ids":["q-00000000000000000000"],"reason":"x"}`, 404)
	f.call(t, "POST", p+"/quarantine/replay", all, "", `{"reason":"neither ids nor filter"}`, 400)
	f.call(t, "GET", p+"/replays", all, "", "", 200)
	f.call(t, "GET", p+"/replays/"+rp.ReplayID, all, "", "", 200)
	f.call(t, "GET", p+"/replays/rp-00000000000000000000", all, "", "", 404)
	f.call(t, "GET", p+"/replays?limit=-1", all, "", "", 400)

	// Webhooks (the subscriber's own: docs/api.md, Webhooks). A public
	// URL that nothing answers: no event follows the subscription, so
	// nothing is sent.
	var sub struct {
		ID string `json:"id"`
	}
	_ = json.Unmarshal(f.call(t, "POST", p+"/webhooks", all, "", `{"url":"https://hooks.example.com/esr","types":["leaver-confirmed"]}`, 201), &sub)
	f.ids["webhook_id"] = sub.ID
	f.call(t, "POST", p+"/webhooks", all, "", `{"url":"http://127.0.0.1/esr"}`, 400) // private, not allowed here
	f.call(t, "GET", p+"/webhooks", all, "", "", 200)
	f.call(t, "GET", p+"/webhooks/"+sub.ID, all, "", "", 200)
	f.call(t, "GET", p+"/webhooks/wh_nothing", all, "", "", 404)
	f.call(t, "GET", p+"/webhooks/"+sub.ID+"/deliveries?limit=5", all, "", "", 200)
	f.call(t, "GET", p+"/webhooks/"+sub.ID+"/dead-letters?status=dead", all, "", "", 200)
	f.call(t, "GET", p+"/webhooks/"+sub.ID+"/dead-letters?status=bogus", all, "", "", 400)
	f.call(t, "POST", p+"/webhooks/"+sub.ID+"/dead-letters/replay", all, "", "", 202)
	var gone struct {
		ID string `json:"id"`
	}
	_ = json.Unmarshal(f.call(t, "POST", p+"/webhooks", all, "", `{"url":"https://hooks.example.com/other"}`, 201), &gone)
	f.call(t, "DELETE", p+"/webhooks/"+gone.ID, all, "", "", 204)
	f.call(t, "DELETE", p+"/webhooks/"+gone.ID, all, "", "", 404)

	// Callers without a key: 401 (WWW-Authenticate) until the burst is
	// spent, then 429 (Retry-After, no X-Request-Id).
	f.call(t, "GET", p+"/events", "", "", "", 401)
	f.call(t, "GET", p+"/events", "", "", "", 429)

	// API keys (admin).
	var created struct {
		ID string `json:"id"`
	}
	_ = json.Unmarshal(f.call(t, "POST", "/v1/keys", all, "", `{"name":"vendor-a","tenants":["RXX"],"scopes":["people:read"]}`, 201), &created)
	f.call(t, "POST", "/v1/keys", all, "", `{"tenants":[],"scopes":["people:read"]}`, 400)
	f.call(t, "POST", "/v1/keys", all, "", `{"tenants":["RYY"],"scopes":["people:read"]}`, 403)
	f.call(t, "GET", "/v1/keys", all, "", "", 200)
	f.call(t, "DELETE", "/v1/keys/"+created.ID, all, "", "", 200)
	f.call(t, "DELETE", "/v1/keys/"+created.ID, all, "", "", 409)
	f.call(t, "DELETE", "/v1/keys/k-nothing", all, "", "", 404)
	f.call(t, "GET", "/v1/keys", noPersonal, "", "", 403) // no admin
	f.call(t, "GET", "/v1/access-log?tenant=RXX&limit=5", all, "", "", 200)
	f.call(t, "GET", "/v1/access-log", all, "", "", 403) // a key for RXX must name its tenant
	f.call(t, "GET", "/v1/access-log?tenant=RXX&status=99", all, "", "", 400)

	// Who the caller is, and the region overview (a key for RXX sees RXX
	// only; a key for every tenant lacking files:read is refused).
	f.call(t, "GET", "/v1/whoami", all, "", "", 200)
	f.call(t, "GET", "/v1/whoami", noPersonal, "", "", 200)
	if body := f.call(t, "GET", "/v1/tenants", all, "", "", 200); !bytes.Contains(body, []byte(`"tenant":"RXX"`)) || bytes.Contains(body, []byte(`"RYY"`)) {
		t.Errorf("GET /v1/tenants as rxx-all: %s, want RXX alone", body)
	}
	f.call(t, "GET", "/v1/tenants", f.keys["lacks "+auth.ScopeReadFiles], "", "", 403)

	// The contracts themselves: no key needed.
	f.call(t, "GET", "/openapi.json", "", "", "", 200)
	f.call(t, "GET", "/asyncapi.json", "", "", "", 200)

	// Every operation answered at least one success and conformed.
	for _, o := range operations(f.doc) {
		ok := false
		for code := range f.statuses[o.op.OperationID] {
			ok = ok || code < 300
		}
		if !ok {
			t.Errorf("%s (%s %s) was never exercised with a successful answer", o.op.OperationID, o.method, o.path)
		}
	}

	t.Run("isolation", func(t *testing.T) { testIsolationMatrix(t, f) })
}
