package api

import (
	"fmt"
	"os"
	"sort"
	"strings"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"go.yaml.in/yaml/v3"

	"github.com/esrflow/esrflow/schemas"
)

const (
	referencePath = "../../docs/api-reference.md"
	schemasDoc    = "../../docs/schemas.md"
	asyncBegin    = "<!-- asyncapi:begin (generated from schemas/asyncapi.yaml; UPDATE_DOCS=1 go test ./services/api -run TestContractDocsAreGenerated rewrites it) -->"
	asyncEnd      = "<!-- asyncapi:end -->"
)

// referenceMarkdown renders the OpenAPI document as docs/api-reference.md:
// the endpoint table with scopes, then each operation's parameters, body and
// answers.
func referenceMarkdown(doc *openapi3.T) string {
	var b strings.Builder
	fmt.Fprintf(&b, "# API reference\n\n")
	fmt.Fprintf(&b, "<!-- Generated from services/api/openapi.yaml; do not edit. UPDATE_DOCS=1 go test ./services/api -run TestContractDocsAreGenerated rewrites it. -->\n\n")
	fmt.Fprintf(&b, "The REST contract of the api service, OpenAPI %s: [services/api/openapi.yaml](../services/api/openapi.yaml), "+
		"served as JSON at `GET /openapi.json` (no key needed). [api.md](api.md) explains the behaviour behind each "+
		"endpoint. A key must hold **one** of an endpoint's scopes and be granted the path's tenant; "+
		"the tests validate every endpoint's real answers against the document ([conformance](#conformance)).\n\n", doc.OpenAPI)
	ops := operations(doc)
	sort.SliceStable(ops, func(i, j int) bool {
		if ops[i].path != ops[j].path {
			return ops[i].path < ops[j].path
		}
		return ops[i].method < ops[j].method
	})
	b.WriteString("| endpoint | operation | scopes | |\n|---|---|---|---|\n")
	for _, o := range ops {
		scopes := "none (public)"
		if o.anyKey() {
			scopes = "any valid key"
		} else if s := o.scopes(); len(s) > 0 {
			scopes = "`" + strings.Join(s, "` or `") + "`"
		}
		fmt.Fprintf(&b, "| `%s %s` | [`%s`](#%s) | %s | %s |\n", o.method, o.path, o.op.OperationID,
			strings.ToLower(o.op.OperationID), scopes, oneLine(o.op.Summary))
	}
	for _, o := range ops {
		fmt.Fprintf(&b, "\n## %s\n\n`%s %s`: %s\n", o.op.OperationID, o.method, o.path, oneLine(o.op.Summary))
		if o.op.Description != "" {
			fmt.Fprintf(&b, "\n%s\n", strings.TrimSpace(o.op.Description))
		}
		if len(o.op.Parameters) > 0 {
			b.WriteString("\n| parameter | in | required | |\n|---|---|---|---|\n")
			for _, p := range o.op.Parameters {
				v := p.Value
				fmt.Fprintf(&b, "| `%s` | %s | %v | %s |\n", v.Name, v.In, v.Required, oneLine(v.Description))
			}
		}
		if rb := o.op.RequestBody; rb != nil && rb.Value != nil {
			var types []string
			for ct, mt := range rb.Value.Content {
				types = append(types, "`"+ct+"`"+schemaName(mt.Schema))
			}
			sort.Strings(types)
			fmt.Fprintf(&b, "\nBody: %s.\n", strings.Join(types, ", "))
		}
		b.WriteString("\n| status | answer |\n|---|---|\n")
		codes := o.op.Responses.Map()
		var keys []string
		for k := range codes {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			r := codes[k].Value
			answer := oneLine(*r.Description)
			if mt := r.Content.Get("application/json"); mt != nil {
				answer = schemaName(mt.Schema) + " " + answer
			}
			fmt.Fprintf(&b, "| %s | %s |\n", k, strings.TrimSpace(answer))
		}
	}
	b.WriteString("\n## Conformance\n\n" +
		"`services/api/contract_test.go` runs every operation against a real api (embedded Kafka, the registry over " +
		"HTTP, SQLite and PostgreSQL) with success and error answers and validates each response's status, headers and " +
		"body against this document with kin-openapi (`openapi3filter.ValidateResponse`, undocumented statuses refused); " +
		"it also fails when the router (`http.go`) has a route or scope the document lacks, or the other way round. " +
		"`isolation_test.go` is generated from the document: for every operation under a tenant, a key for another tenant " +
		"and a key lacking the operation's scopes are refused with nothing but the error, and properties marked " +
		"`x-personal` are absent for a key without `people:sensitive` (and `minimise.Fields` too). `cmd/esrflow/contract_e2e_test.go` feeds a generated trust " +
		"through a whole stack over HTTP and validates every answer about it against the `/openapi.json` that stack serves.\n")
	return b.String()
}

func schemaName(s *openapi3.SchemaRef) string {
	if s == nil {
		return ""
	}
	if s.Ref != "" {
		return " `" + s.Ref[strings.LastIndex(s.Ref, "/")+1:] + "`"
	}
	return ""
}

func oneLine(s string) string {
	return strings.ReplaceAll(strings.Join(strings.Fields(s), " "), "|", `\|`)
}

// asyncAPIMarkdown renders the AsyncAPI document's channels and headers for
// docs/schemas.md.
func asyncAPIMarkdown(t *testing.T) string {
	var doc struct {
		Channels map[string]struct {
			Address     string `yaml:"address"`
			Description string `yaml:"description"`
			Messages    map[string]struct {
				Ref string `yaml:"$ref"`
			} `yaml:"messages"`
		} `yaml:"channels"`
		Components struct {
			Messages map[string]struct {
				Name    string `yaml:"name"`
				CEType  string `yaml:"x-ce-type"`
				Subject string `yaml:"x-registry-subject"`
				Payload struct {
					Schema struct {
						Ref string `yaml:"$ref"`
					} `yaml:"schema"`
				} `yaml:"payload"`
			} `yaml:"messages"`
			Schemas struct {
				CEHeaders struct {
					Required   []string `yaml:"required"`
					Properties map[string]struct {
						Const       string `yaml:"const"`
						Description string `yaml:"description"`
					} `yaml:"properties"`
				} `yaml:"ceHeaders"`
			} `yaml:"schemas"`
		} `yaml:"components"`
	}
	if err := yaml.Unmarshal(schemas.AsyncAPI(), &doc); err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	b.WriteString("| channel (topic) | message | `ce_type` | payload (Avro) | registry subject | |\n|---|---|---|---|---|---|\n")
	var ids []string
	for id := range doc.Channels {
		ids = append(ids, id)
	}
	sort.Slice(ids, func(i, j int) bool { return doc.Channels[ids[i]].Address < doc.Channels[ids[j]].Address })
	for _, id := range ids {
		c := doc.Channels[id]
		for _, ref := range c.Messages {
			m := doc.Components.Messages[strings.TrimPrefix(ref.Ref, "#/components/messages/")]
			avsc := strings.TrimPrefix(m.Payload.Schema.Ref, "./")
			fmt.Fprintf(&b, "| `%s` | `%s` | `%s` | [%s](../schemas/%s) | `%s` | %s |\n", c.Address, m.Name, m.CEType,
				avsc, avsc, m.Subject, oneLine(c.Description))
		}
	}
	b.WriteString("\n| header | value |\n|---|---|\n")
	for _, h := range doc.Components.Schemas.CEHeaders.Required {
		p := doc.Components.Schemas.CEHeaders.Properties[h]
		v := oneLine(p.Description)
		if p.Const != "" {
			v = "`" + p.Const + "`"
		}
		fmt.Fprintf(&b, "| `%s` | %s |\n", h, v)
	}
	return b.String()
}

// docs/api-reference.md and the AsyncAPI section of docs/schemas.md are
// generated from the two documents: a change to either without
// regenerating fails here. UPDATE_DOCS=1 rewrites them.
func TestContractDocsAreGenerated(t *testing.T) {
	ref := referenceMarkdown(loadOpenAPI(t))
	sdoc, err := os.ReadFile(schemasDoc)
	if err != nil {
		t.Fatal(err)
	}
	before, rest, ok1 := strings.Cut(string(sdoc), asyncBegin)
	_, after, ok2 := strings.Cut(rest, asyncEnd)
	if !ok1 || !ok2 {
		t.Fatalf("%s: no %q … %q markers", schemasDoc, asyncBegin, asyncEnd)
	}
	schemasWant := before + asyncBegin + "\n" + asyncAPIMarkdown(t) + asyncEnd + after
	for path, want := range map[string]string{referencePath: ref, schemasDoc: schemasWant} {
		got, _ := os.ReadFile(path)
		if string(got) == want {
			continue
		}
		if os.Getenv("UPDATE_DOCS") == "1" {
			if err := os.WriteFile(path, []byte(want), 0o644); err != nil {
				t.Fatal(err)
			}
			t.Logf("rewrote %s", path)
			continue
		}
		t.Errorf("%s differs from the contract documents; run UPDATE_DOCS=1 go test ./services/api -run TestContractDocsAreGenerated", path)
	}
}
