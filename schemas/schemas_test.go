package schemas_test

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/hamba/avro/v2"

	"github.com/esrflow/esrflow/schemas"
)

func TestNamesAndVersions(t *testing.T) {
	want := []string{"entity", "event-lineage", "file-report", "held-batch", "intake-decision", "leaver-confirmed", "leaver-reversed", "operator-command", "position-updated", "quarantine", "raw", "replay-request", "starter-created"}
	if got := schemas.Names(); !slices.Equal(got, want) {
		t.Errorf("Names() = %v, want %v", got, want)
	}
	tests := []struct {
		name string
		want []int
		err  bool
	}{
		{schemas.LeaverConfirmed, []int{1, 2}, false},
		{schemas.StarterCreated, []int{1}, false},
		{"nope", nil, true},
	}
	for _, tt := range tests {
		got, err := schemas.Versions(tt.name)
		if (err != nil) != tt.err || !slices.Equal(got, tt.want) {
			t.Errorf("Versions(%q) = %v, %v", tt.name, got, err)
		}
		if tt.err && !errors.Is(err, schemas.ErrUnknownSchema) {
			t.Errorf("Versions(%q) error %v is not ErrUnknownSchema", tt.name, err)
		}
	}
}

func TestLatest(t *testing.T) {
	s, canonical, err := schemas.Latest(schemas.LeaverConfirmed)
	if err != nil {
		t.Fatal(err)
	}
	if s.(*avro.RecordSchema).FullName() != "uk.nhs.esr.LeaverConfirmed" {
		t.Errorf("full name %s", s.(*avro.RecordSchema).FullName())
	}
	// The registered text must keep defaults, or the registry would refuse
	// v2's new optional field as incompatible.
	if !strings.Contains(canonical, `"final_assignment_end_date"`) || !strings.Contains(canonical, `"default":null`) {
		t.Errorf("canonical text lost the v2 field or its default: %s", canonical)
	}
	again, err := avro.Parse(canonical)
	if err != nil {
		t.Fatalf("canonical text does not parse: %v", err)
	}
	if again.Fingerprint() != s.Fingerprint() {
		t.Error("canonical text is a different schema")
	}
	if _, _, err := schemas.Latest("nope"); !errors.Is(err, schemas.ErrUnknownSchema) {
		t.Errorf("Latest(nope) error = %v", err)
	}
}

// Every schema file is a single record in namespace uk.nhs.esr whose fields
// all carry a doc.
func TestSchemaConventions(t *testing.T) {
	for _, name := range schemas.Names() {
		vs, _ := schemas.Versions(name)
		for _, v := range vs {
			rec, ok := mustParse(t, name, v).(*avro.RecordSchema)
			if !ok {
				t.Errorf("%s v%d: top level is not a record", name, v)
				continue
			}
			if rec.Namespace() != "uk.nhs.esr" {
				t.Errorf("%s v%d: namespace %q", name, v, rec.Namespace())
			}
			walkNamed(rec, func(n avro.NamedSchema) {
				r, ok := n.(*avro.RecordSchema)
				if !ok {
					return
				}
				if r.Doc() == "" {
					t.Errorf("%s v%d: record %s has no doc", name, v, r.Name())
				}
				for _, f := range r.Fields() {
					if f.Doc() == "" {
						t.Errorf("%s v%d: field %s.%s has no doc", name, v, r.Name(), f.Name())
					}
				}
			})
		}
	}
}

func TestTopics(t *testing.T) {
	tests := []struct {
		topic, schema, ceType string
	}{
		{"esr.raw.v1", schemas.Raw, ""},
		{"esr.normalised.v1", schemas.Entity, ""},
		{"esr.validated.v1", schemas.Entity, ""},
		{"esr.quarantine.v1", schemas.Quarantine, ""},
		{"esr.ops.file-reports.v1", schemas.FileReport, ""},
		{"esr.rxx.starter-created.v1", schemas.StarterCreated, "uk.nhs.esr.starter-created.v1"},
		{"esr.rxx.leaver-confirmed.v1", schemas.LeaverConfirmed, "uk.nhs.esr.leaver-confirmed.v1"},
		{"esr.r1a.position-updated.v1", schemas.PositionUpdated, "uk.nhs.esr.position-updated.v1"},
	}
	for _, tt := range tests {
		b, err := schemas.SchemaForTopic(tt.topic)
		if err != nil || b.Schema != tt.schema || b.CEType != tt.ceType || b.Topic != tt.topic {
			t.Errorf("SchemaForTopic(%q) = %+v, %v", tt.topic, b, err)
		}
	}
	for _, bad := range []string{"esr.raw.v2", "esr..leaver-confirmed.v1", "esr.a.b.leaver-confirmed.v1", "leaver-confirmed"} {
		if _, err := schemas.SchemaForTopic(bad); !errors.Is(err, schemas.ErrUnknownSchema) {
			t.Errorf("SchemaForTopic(%q) error = %v", bad, err)
		}
	}
	if got := schemas.EventTopic("RXX", schemas.EventLeaverConfirmed); got != "esr.rxx.leaver-confirmed.v1" {
		t.Errorf("EventTopic = %q", got)
	}
	if got := schemas.Subject("esr.rxx.leaver-confirmed.v1"); got != "esr.rxx.leaver-confirmed.v1-value" {
		t.Errorf("Subject = %q", got)
	}
	// Every binding names a schema that exists.
	for _, b := range schemas.Bindings() {
		if _, _, err := schemas.Latest(b.Schema); err != nil {
			t.Errorf("%s: %v", b.Topic, err)
		}
	}
}
