package publish

import (
	"context"
	"slices"
	"sort"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/esrflow/esrflow/schemas"
)

// asyncAPIDoc is the part of schemas/asyncapi.yaml this test holds publish to.
type asyncAPIDoc struct {
	Channels map[string]struct {
		Address  string `yaml:"address"`
		Messages map[string]struct {
			Ref string `yaml:"$ref"`
		} `yaml:"messages"`
	} `yaml:"channels"`
	Components struct {
		Messages map[string]struct {
			CEType string `yaml:"x-ce-type"`
		} `yaml:"messages"`
		Schemas struct {
			CEHeaders struct {
				Required   []string                  `yaml:"required"`
				Properties map[string]map[string]any `yaml:"properties"`
			} `yaml:"ceHeaders"`
		} `yaml:"schemas"`
	} `yaml:"components"`
}

// The AsyncAPI document describes what publish really does: the topics it
// creates for a tenant are exactly the document's channels, every event
// record carries exactly the headers the document lists (constants
// included), its key is the person id (= ce_subject), and its ce_type is its
// channel's message's.
func TestAsyncAPIMatchesWhatPublishWrites(t *testing.T) {
	var doc asyncAPIDoc
	if err := yaml.Unmarshal(schemas.AsyncAPI(), &doc); err != nil {
		t.Fatal(err)
	}
	ceType := map[string]string{} // channel address → ce_type
	var addresses []string
	for id, ch := range doc.Channels {
		addresses = append(addresses, ch.Address)
		for _, m := range ch.Messages {
			name := strings.TrimPrefix(m.Ref, "#/components/messages/")
			ceType[ch.Address] = doc.Components.Messages[name].CEType
		}
		if ceType[ch.Address] == "" {
			t.Errorf("channel %s: no message with x-ce-type", id)
		}
	}
	sort.Strings(addresses)

	env := newEnv(t)
	h := newHarness(t, env)
	_, events := baseline(h)
	if len(events) == 0 {
		t.Fatal("the baseline published no events")
	}
	ctx := context.Background()
	topics, err := env.adm.ListTopics(ctx)
	if err != nil {
		t.Fatal(err)
	}
	prefix := "esr." + strings.ToLower(tenantRXX) + "."
	var created []string
	for _, name := range topics.Names() {
		if strings.HasPrefix(name, prefix) {
			created = append(created, "esr.{tenant}."+strings.TrimPrefix(name, prefix))
		}
	}
	sort.Strings(created)
	if !slices.Equal(created, addresses) {
		t.Errorf("publish created the tenant topics %v; asyncapi.yaml has the channels %v", created, addresses)
	}

	hdrs := doc.Components.Schemas.CEHeaders
	var n int
	for _, r := range h.out {
		if !strings.HasPrefix(r.Topic, prefix) {
			continue
		}
		n++
		address := "esr.{tenant}." + strings.TrimPrefix(r.Topic, prefix)
		var keys []string
		values := map[string]string{}
		for _, hd := range r.Headers {
			keys = append(keys, hd.Key)
			values[hd.Key] = string(hd.Value)
		}
		if !slices.Equal(keys, hdrs.Required) {
			t.Errorf("%s record headers %v; asyncapi.yaml ceHeaders.required %v", r.Topic, keys, hdrs.Required)
		}
		for name, p := range hdrs.Properties {
			if c, ok := p["const"]; ok && values[name] != c {
				t.Errorf("%s header %s = %q; asyncapi.yaml says const %q", r.Topic, name, values[name], c)
			}
		}
		if values["ce_type"] != ceType[address] {
			t.Errorf("%s ce_type %q; asyncapi.yaml's message for %s says %q", r.Topic, values["ce_type"], address, ceType[address])
		}
		if string(r.Key) != values["ce_subject"] || len(r.Key) == 0 {
			t.Errorf("%s key %q, ce_subject %q: the document says the key is the person id", r.Topic, r.Key, values["ce_subject"])
		}
	}
	if n == 0 {
		t.Fatal("no event records to check")
	}
}
