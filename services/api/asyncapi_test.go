package api

import (
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/hamba/avro/v2"
	"go.yaml.in/yaml/v3"

	"github.com/esrflow/esrflow/schemas"
	"github.com/esrflow/esrflow/schemas/registrar"
	"github.com/esrflow/esrflow/services/api/materialise"
)

// The AsyncAPI document (schemas/asyncapi.yaml) against the code: its
// channels are the public event bindings (schemas.Bindings, the topics the
// api consumes), each message's payload is the latest .avsc of its event,
// registered under the binding's subject, and /asyncapi.json serves it with
// those schemas inlined. (services/publish checks the headers and topics
// publish really writes.)
func TestAsyncAPIDocument(t *testing.T) {
	var doc map[string]any
	if err := yaml.Unmarshal(schemas.AsyncAPI(), &doc); err != nil {
		t.Fatal(err)
	}
	if doc["asyncapi"] != "3.0.0" {
		t.Errorf("asyncapi: %v, want 3.0.0", doc["asyncapi"])
	}
	public := map[string]schemas.Binding{} // address → binding
	for _, b := range schemas.Bindings() {
		if b.CEType != "" {
			public[strings.ReplaceAll(b.Topic, "<tenant>", "{tenant}")] = b
		}
	}
	consumed := regexp.MustCompile(materialise.EventTopicsRegex)
	served, err := asyncAPIJSON()
	if err != nil {
		t.Fatal(err)
	}
	var servedDoc map[string]any
	if err := json.Unmarshal(served, &servedDoc); err != nil {
		t.Fatal(err)
	}
	channels, _ := doc["channels"].(map[string]any)
	var addresses []string
	for id, c := range channels {
		address, _ := lookup(c, "address").(string)
		addresses = append(addresses, address)
		b, ok := public[address]
		if !ok {
			t.Errorf("channel %s: %q is not a public event topic (schemas.Bindings)", id, address)
			continue
		}
		if !consumed.MatchString(strings.ReplaceAll(address, "{tenant}", "rxx")) {
			t.Errorf("channel %s: the api does not consume %s", id, address)
		}
		if lookup(c, "parameters", "tenant") == nil {
			t.Errorf("channel %s: no tenant parameter", id)
		}
		if lookup(c, "bindings", "kafka") == nil {
			t.Errorf("channel %s: no Kafka binding", id)
		}
		msgs, _ := lookup(c, "messages").(map[string]any)
		if len(msgs) != 1 {
			t.Errorf("channel %s: %d messages, want 1", id, len(msgs))
			continue
		}
		for _, ref := range msgs {
			name := strings.TrimPrefix(lookup(ref, "$ref").(string), "#/components/messages/")
			m := lookup(doc, "components", "messages", name)
			versions, err := schemas.Versions(b.Schema)
			if err != nil {
				t.Fatal(err)
			}
			latest := slices.Max(versions)
			if got, want := lookup(m, "payload", "schema", "$ref"), fmt.Sprintf("./avro/%s/v%d.avsc", b.Schema, latest); got != want {
				t.Errorf("message %s: payload %v, want the latest schema %s", name, got, want)
			}
			if got := lookup(m, "payload", "schemaFormat"); got != "application/vnd.apache.avro+json;version=1.9.0" {
				t.Errorf("message %s: schemaFormat %v", name, got)
			}
			if got := lookup(m, "x-ce-type"); got != b.CEType {
				t.Errorf("message %s: x-ce-type %v, publish writes %s", name, got, b.CEType)
			}
			if got, want := lookup(m, "x-registry-subject"), schemas.Subject(address); got != want {
				t.Errorf("message %s: x-registry-subject %v, want %s", name, got, want)
			}
			if got := lookup(m, "headers", "$ref"); got != "#/components/schemas/ceHeaders" {
				t.Errorf("message %s: headers %v", name, got)
			}
			key := lookup(m, "bindings", "kafka", "$ref")
			if key != "#/components/messageBindings/personKey" {
				t.Errorf("message %s: Kafka binding %v, want the person key", name, key)
			}
			// Served: the payload is the .avsc itself, the same schema
			// (fingerprint) as the latest the registry is given.
			inlined, _ := json.Marshal(lookup(servedDoc, "components", "messages", name, "payload", "schema"))
			got, err := avro.Parse(string(inlined))
			if err != nil {
				t.Errorf("message %s: /asyncapi.json payload is not an Avro schema: %v", name, err)
				continue
			}
			want, _, err := schemas.Latest(b.Schema)
			if err != nil {
				t.Fatal(err)
			}
			if got.Fingerprint() != want.Fingerprint() {
				t.Errorf("message %s: /asyncapi.json payload differs from the latest %s schema", name, b.Schema)
			}
			if rec, ok := got.(*avro.RecordSchema); !ok || lookup(m, "name") != rec.Name() {
				t.Errorf("message %s: name %v, the Avro record is %v", name, lookup(m, "name"), got)
			}
		}
	}
	sort.Strings(addresses)
	var want []string
	for a := range public {
		want = append(want, a)
	}
	sort.Strings(want)
	if !slices.Equal(addresses, want) {
		t.Errorf("asyncapi.yaml channels %v; the public event topics are %v", addresses, want)
	}
	key := lookup(doc, "components", "messageBindings", "personKey")
	if lookup(key, "key", "type") != "string" || lookup(key, "schemaLookupStrategy") != "TopicNameStrategy" ||
		lookup(key, "schemaIdPayloadEncoding") != "confluent" {
		t.Errorf("personKey binding: %v", key)
	}
	if want := registrar.Compatibility.String(); doc["x-compatibility"] != want {
		t.Errorf("x-compatibility %v; the registrar sets %s", doc["x-compatibility"], want)
	}
}
