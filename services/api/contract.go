package api

import (
	_ "embed"
	"encoding/json"
	"fmt"
	"io/fs"
	"net/http"
	"strings"
	"sync"

	"go.yaml.in/yaml/v3"

	"github.com/esrflow/esrflow/schemas"
)

// openAPIYAML is the REST contract (OpenAPI 3.1): every /v1 operation, its
// scopes (x-scopes), parameters, bodies and responses. The conformance tests
// hold the handlers to it (contract_test.go).
//
//go:embed openapi.yaml
var openAPIYAML []byte

// OpenAPIYAML returns the OpenAPI document as written.
func OpenAPIYAML() []byte { return append([]byte(nil), openAPIYAML...) }

// The documents are converted to JSON once (New calls loadContracts) and
// served from memory: they are part of the binary and never change while it
// runs.
var (
	openAPIJSON = sync.OnceValues(func() ([]byte, error) {
		var doc any
		if err := yaml.Unmarshal(openAPIYAML, &doc); err != nil {
			return nil, fmt.Errorf("openapi.yaml: %w", err)
		}
		return json.Marshal(jsonValue(doc))
	})
	asyncAPIJSON = sync.OnceValues(func() ([]byte, error) {
		var doc any
		if err := yaml.Unmarshal(schemas.AsyncAPI(), &doc); err != nil {
			return nil, fmt.Errorf("asyncapi.yaml: %w", err)
		}
		v := jsonValue(doc)
		if err := inlineAvro(v); err != nil {
			return nil, err
		}
		return json.Marshal(v)
	})
)

// jsonValue turns a decoded YAML value into one encoding/json can write:
// YAML allows non-string keys (e.g. a response code written unquoted).
func jsonValue(v any) any {
	switch t := v.(type) {
	case map[string]any:
		for k, e := range t {
			t[k] = jsonValue(e)
		}
		return t
	case map[any]any:
		out := make(map[string]any, len(t))
		for k, e := range t {
			out[fmt.Sprint(k)] = jsonValue(e)
		}
		return out
	case []any:
		for i, e := range t {
			t[i] = jsonValue(e)
		}
		return t
	default:
		return v
	}
}

// inlineAvro replaces each message payload's {"$ref": "./avro/<name>/vN.avsc"}
// with the schema itself, so a client of /asyncapi.json needs nothing else.
func inlineAvro(doc any) error {
	messages, _ := lookup(doc, "components", "messages").(map[string]any)
	for name, m := range messages {
		schema, _ := lookup(m, "payload", "schema").(map[string]any)
		ref, _ := schema["$ref"].(string)
		if ref == "" {
			continue
		}
		b, err := fs.ReadFile(schemas.FS(), strings.TrimPrefix(ref, "./avro/"))
		if err != nil {
			return fmt.Errorf("asyncapi.yaml: message %s: %w", name, err)
		}
		var avsc any
		if err := json.Unmarshal(b, &avsc); err != nil {
			return fmt.Errorf("asyncapi.yaml: message %s: %s: %w", name, ref, err)
		}
		m.(map[string]any)["payload"].(map[string]any)["schema"] = avsc
	}
	return nil
}

// loadContracts converts both documents (once; later calls are free).
func loadContracts() error {
	if _, err := openAPIJSON(); err != nil {
		return err
	}
	_, err := asyncAPIJSON()
	return err
}

// lookup follows keys through nested objects; nil when one is missing.
func lookup(v any, keys ...string) any {
	for _, k := range keys {
		m, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = m[k]
	}
	return v
}

// serveDocument answers GET /openapi.json or /asyncapi.json. The contracts
// are public (they describe, they reveal no tenant's data), so no key is
// asked for and no access log row written.
func serveDocument(doc func() ([]byte, error)) http.HandlerFunc {
	return func(w http.ResponseWriter, _ *http.Request) {
		b, err := doc()
		if err != nil {
			// Cannot happen with the embedded documents (tests parse them).
			writeError(w, http.StatusInternalServerError, "internal error")
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "public, max-age=300")
		_, _ = w.Write(b)
	}
}
