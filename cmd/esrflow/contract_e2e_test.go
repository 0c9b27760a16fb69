package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/legacy"

	"github.com/esrflow/esrflow/esr/gen"
	"github.com/esrflow/esrflow/esr/tenant"
	"github.com/esrflow/esrflow/services/api/auth"
)

// contractClient reads a running stack's api and validates every answer
// against the OpenAPI document that api serves.
type contractClient struct {
	t      *testing.T
	base   string
	key    string
	router routers.Router
	n      int
}

func (c *contractClient) get(path string) []byte {
	c.t.Helper()
	req, err := http.NewRequest("GET", c.base+path, nil)
	if err != nil {
		c.t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+c.key)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		c.t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK {
		c.t.Fatalf("GET %s = %d %s", path, resp.StatusCode, body)
	}
	vreq, _ := http.NewRequest("GET", path, nil)
	route, params, err := c.router.FindRoute(vreq)
	if err != nil {
		c.t.Fatalf("GET %s: not in the served OpenAPI document: %v", path, err)
	}
	in := &openapi3filter.RequestValidationInput{Request: vreq, PathParams: params, Route: route,
		Options: &openapi3filter.Options{AuthenticationFunc: openapi3filter.NoopAuthenticationFunc}}
	if err := openapi3filter.ValidateRequest(context.Background(), in); err != nil {
		c.t.Errorf("GET %s: request does not conform: %v", path, err)
	}
	if err := openapi3filter.ValidateResponse(context.Background(), &openapi3filter.ResponseValidationInput{
		RequestValidationInput: in, Status: resp.StatusCode, Header: resp.Header, Body: io.NopCloser(bytes.NewReader(body)),
		Options: &openapi3filter.Options{IncludeResponseStatus: true, MultiError: true},
	}); err != nil {
		c.t.Errorf("GET %s does not conform to /openapi.json: %v\n%s", path, err, body)
	}
	c.n++
	return body
}

// The contracts hold on a real stack: files uploaded over HTTP run through
// ingest, normalise, validate and publish; every answer the api gives about
// them (every event page, every person and their events, every file by hash
// and by name, the other listings) conforms to the /openapi.json it serves,
// and every record publish wrote conforms to the /asyncapi.json it serves
// (topic = a channel, headers, key, ce_type).
func TestContractsHoldOnARealStack(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end run")
	}
	tr := generate(t, gen.Config{Tenant: "RXX", VPD: "412", Staff: 80, Days: 3, Seed: 12})
	tenants, err := tenant.Parse("RXX=412")
	if err != nil {
		t.Fatal(err)
	}
	const key = "e2e-contract-key"
	st, rd := uploaderStack(t, tenants, "e2e-contract", key, auth.Scopes...)
	for _, f := range tr.res.Files {
		a := upload(t, st.APIURL(), key, f.Name, tr.sink.Bytes(f.Name))
		waitReportAt(t, st.APIURL(), key, a.Report, func(v fileReportView) bool { return v.File.Name == f.Name && v.Status != "HELD" })
	}

	// The documents as the api serves them, without a key.
	fetch := func(path string) []byte {
		resp, err := http.Get(st.APIURL() + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "application/json" {
			t.Fatalf("GET %s = %d %s", path, resp.StatusCode, resp.Header.Get("Content-Type"))
		}
		return b
	}
	doc, err := openapi3.NewLoader().LoadFromData(fetch("/openapi.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := doc.Validate(context.Background()); err != nil {
		t.Fatalf("/openapi.json: %v", err)
	}
	router, err := legacy.NewRouter(doc)
	if err != nil {
		t.Fatal(err)
	}
	c := &contractClient{t: t, base: st.APIURL(), key: key, router: router}

	events, err := rd.Events(context.Background(), "RXX")
	if err != nil {
		t.Fatal(err)
	}
	if len(events) == 0 {
		t.Fatal("the trust published no events")
	}
	// Every event, through the paged listing, once the api has them all.
	var served int
	for deadline := time.Now().Add(time.Minute); ; {
		served = 0
		cursor := ""
		for {
			var page struct {
				Events     []json.RawMessage `json:"events"`
				NextCursor string            `json:"next_cursor"`
			}
			if err := json.Unmarshal(c.get("/v1/tenants/RXX/events?limit=50"+cursor), &page); err != nil {
				t.Fatal(err)
			}
			served += len(page.Events)
			if page.NextCursor == "" {
				break
			}
			cursor = "&cursor=" + url.QueryEscape(page.NextCursor)
		}
		if served == len(events) || time.Now().After(deadline) {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	if served != len(events) {
		t.Fatalf("the api serves %d events, publish wrote %d", served, len(events))
	}
	people := map[string]bool{}
	for _, e := range events {
		if !people[e.Key] {
			people[e.Key] = true
			c.get("/v1/tenants/RXX/people/" + url.PathEscape(e.Key))
			c.get("/v1/tenants/RXX/people/" + url.PathEscape(e.Key) + "/events")
		}
	}
	var files struct {
		Files []struct {
			File struct{ Name, Sha256 string } `json:"file"`
		} `json:"files"`
	}
	if err := json.Unmarshal(c.get("/v1/tenants/RXX/files"), &files); err != nil {
		t.Fatal(err)
	}
	if len(files.Files) != len(tr.res.Files) {
		t.Errorf("%d files listed, %d uploaded", len(files.Files), len(tr.res.Files))
	}
	for _, f := range files.Files {
		c.get("/v1/tenants/RXX/files/" + f.File.Sha256)
		c.get("/v1/tenants/RXX/files/" + url.PathEscape(f.File.Name))
	}
	for _, f := range files.Files {
		c.get("/v1/tenants/RXX/files/" + f.File.Sha256 + "/events")
		c.get("/v1/tenants/RXX/files/" + f.File.Sha256 + "/quarantine")
	}
	for _, p := range []string{"held-batches", "audit", "dead-letters", "quarantine", "replays", "people?limit=1000",
		"positions?limit=1000", "organisations", "locations"} {
		c.get("/v1/tenants/RXX/" + p)
	}
	// Every event's lineage, and one of each entity the lists name.
	for _, e := range events {
		c.get("/v1/tenants/RXX/events/" + url.PathEscape(e.ID) + "/lineage")
	}
	var lists struct {
		Positions []struct {
			Number string `json:"position_number"`
		} `json:"positions"`
		Organisations []struct{ Name string } `json:"organisations"`
		Locations     []struct{ Name string } `json:"locations"`
	}
	for _, p := range []string{"positions", "organisations", "locations"} {
		if err := json.Unmarshal(c.get("/v1/tenants/RXX/"+p+"?limit=1"), &lists); err != nil {
			t.Fatal(err)
		}
	}
	if len(lists.Positions) == 0 || len(lists.Organisations) == 0 {
		t.Fatalf("no positions or organisations listed: %+v", lists)
	}
	c.get("/v1/tenants/RXX/positions/" + url.PathEscape(lists.Positions[0].Number))
	c.get("/v1/tenants/RXX/organisations/" + url.PathEscape(lists.Organisations[0].Name))
	if len(lists.Locations) > 0 {
		c.get("/v1/tenants/RXX/locations/" + url.PathEscape(lists.Locations[0].Name))
	}

	// Every published record against the served AsyncAPI document.
	var async struct {
		Channels map[string]struct {
			Address  string                       `json:"address"`
			Messages map[string]map[string]string `json:"messages"`
		} `json:"channels"`
		Components struct {
			Messages map[string]struct {
				CEType string `json:"x-ce-type"`
			} `json:"messages"`
			Schemas map[string]struct {
				Required []string `json:"required"`
			} `json:"schemas"`
		} `json:"components"`
	}
	if err := json.Unmarshal(fetch("/asyncapi.json"), &async); err != nil {
		t.Fatal(err)
	}
	ceType := map[string]string{}
	for _, ch := range async.Channels {
		for _, m := range ch.Messages {
			ceType[strings.ReplaceAll(ch.Address, "{tenant}", "rxx")] = async.Components.Messages[strings.TrimPrefix(m["$ref"], "#/components/messages/")].CEType
		}
	}
	required := async.Components.Schemas["ceHeaders"].Required
	for _, e := range events {
		want, ok := ceType[e.Topic]
		if !ok {
			t.Errorf("%s is no channel of /asyncapi.json", e.Topic)
			continue
		}
		var names []string
		for h := range e.Headers {
			names = append(names, h)
		}
		slices.Sort(names)
		sorted := slices.Sorted(slices.Values(required))
		if !slices.Equal(names, sorted) || e.Headers["ce_type"] != want || e.Headers["ce_subject"] != e.Key || e.Headers["ce_id"] != e.ID {
			t.Errorf("%s %s: headers %v, key %q; /asyncapi.json requires %v, ce_type %s, ce_subject = key, ce_id = event id",
				e.Topic, e.ID, e.Headers, e.Key, required, want)
		}
	}
	t.Logf("%d events, %d people, %d files: %d answers conform to /openapi.json, %d records to /asyncapi.json",
		len(events), len(people), len(files.Files), c.n, len(events))
}
