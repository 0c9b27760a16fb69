package registry_test

import (
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/sr"

	"github.com/esrflow/esrflow/platform/testkit"
	"github.com/esrflow/esrflow/services/registry"
)

func TestRegisterReuseAndFetch(t *testing.T) {
	t.Parallel()
	in := newRegistry(t)
	cl, ctx := in.cl, ctxT(t)

	first := mustRegister(t, cl, "esr.rxx.starter-created.v1-value", personV1)
	if first.ID != 1 || first.Version != 1 || first.Subject != "esr.rxx.starter-created.v1-value" {
		t.Fatalf("first registration: got %+v, want id 1 version 1", first)
	}

	// Registering the identical schema again changes nothing.
	again := mustRegister(t, cl, "esr.rxx.starter-created.v1-value", personV1)
	if again.ID != 1 || again.Version != 1 {
		t.Fatalf("re-registration: got id %d version %d, want 1/1", again.ID, again.Version)
	}
	// The same schema spelled differently is still the same schema.
	reformatted := mustRegister(t, cl, "esr.rxx.starter-created.v1-value", personV1Reformatted)
	if reformatted.ID != 1 || reformatted.Version != 1 {
		t.Fatalf("reformatted registration: got id %d version %d, want 1/1", reformatted.ID, reformatted.Version)
	}
	if vs, err := cl.SubjectVersions(ctx, "esr.rxx.starter-created.v1-value"); err != nil || !slices.Equal(vs, []int{1}) {
		t.Fatalf("versions: got %v %v, want [1]", vs, err)
	}

	// The same schema under another subject reuses the id, as version 1 there.
	other := mustRegister(t, cl, "esr.ryy.starter-created.v1-value", personV1)
	if other.ID != 1 || other.Version != 1 {
		t.Fatalf("other subject: got id %d version %d, want 1/1", other.ID, other.Version)
	}

	// A different schema gets the next id; one differing only in a default
	// is a different schema.
	org := mustRegister(t, cl, "org-value", orgV1)
	if org.ID != 2 {
		t.Fatalf("org: got id %d, want 2", org.ID)
	}
	setLevel(t, cl, sr.CompatNone, "grades")
	noDef := mustRegister(t, cl, "grades", personGradeNoDefault)
	withDef := mustRegister(t, cl, "grades", personGradeDefault)
	if noDef.ID == withDef.ID || withDef.Version != 2 {
		t.Fatalf("schemas differing in a default: got %+v and %+v, want distinct ids and version 2", noDef, withDef)
	}

	// Lookup.
	ss, err := cl.LookupSchema(ctx, "esr.ryy.starter-created.v1-value", avroSchema(personV1Reformatted))
	if err != nil || ss.ID != 1 || ss.Version != 1 || ss.Subject != "esr.ryy.starter-created.v1-value" || ss.Schema.Schema != personV1 {
		t.Fatalf("lookup: got %+v %v", ss, err)
	}
	_, err = cl.LookupSchema(ctx, "esr.ryy.starter-created.v1-value", avroSchema(orgV1))
	wantCode(t, err, 40403)
	_, err = cl.LookupSchema(ctx, "no-such-subject", avroSchema(orgV1))
	wantCode(t, err, 40401)

	// By id.
	s, err := cl.SchemaByID(ctx, 1)
	if err != nil || s.Schema != personV1 || s.Type != sr.TypeAvro {
		t.Fatalf("schema by id: got %+v %v", s, err)
	}
	text, err := cl.SchemaTextByID(ctx, 2)
	if err != nil || text != orgV1 {
		t.Fatalf("schema text by id: got %q %v", text, err)
	}
	_, err = cl.SchemaByID(ctx, 999)
	wantCode(t, err, 40403)

	subjects, err := cl.SubjectsByID(ctx, 1)
	if err != nil || !slices.Equal(subjects, []string{"esr.rxx.starter-created.v1-value", "esr.ryy.starter-created.v1-value"}) {
		t.Fatalf("subjects by id: got %v %v", subjects, err)
	}
	svs, err := cl.SchemaVersionsByID(ctx, 1)
	if err != nil || len(svs) != 2 || svs[0] != (sr.SubjectVersion{Subject: "esr.rxx.starter-created.v1-value", Version: 1}) {
		t.Fatalf("versions by id: got %v %v", svs, err)
	}
	usages, err := cl.SchemaUsagesByID(ctx, 1)
	if err != nil || len(usages) != 2 {
		t.Fatalf("usages by id: got %v %v", usages, err)
	}
	for _, u := range usages {
		if u.ID != 1 || u.Version != 1 || u.Schema.Schema != personV1 {
			t.Fatalf("usage: got %+v", u)
		}
	}

	// By subject and version.
	latest, err := cl.SchemaByVersion(ctx, "grades", -1)
	if err != nil || latest.Version != 2 || latest.ID != withDef.ID {
		t.Fatalf("latest: got %+v %v", latest, err)
	}
	text, err = cl.SchemaTextByVersion(ctx, "grades", 1)
	if err != nil || text != personGradeNoDefault {
		t.Fatalf("schema text by version: got %q %v", text, err)
	}
	_, err = cl.SchemaByVersion(ctx, "grades", 3)
	wantCode(t, err, 40402)
	_, err = cl.SchemaByVersion(ctx, "nope", 1)
	wantCode(t, err, 40401)

	all, err := cl.Subjects(ctx)
	want := []string{"esr.rxx.starter-created.v1-value", "esr.ryy.starter-created.v1-value", "grades", "org-value"}
	if err != nil || !slices.Equal(all, want) {
		t.Fatalf("subjects: got %v %v, want %v", all, err, want)
	}
	types, err := cl.SupportedTypes(ctx)
	if err != nil || len(types) != 1 || types[0] != sr.TypeAvro {
		t.Fatalf("types: got %v %v", types, err)
	}
}

// Every producer re-registers its schemas when it starts (publish does for
// each tenant's event topics). A schema the subject already has is answered
// from what the registry has read, without a round trip to its topic: so it
// is answered even while the topic cannot be reached, when a new schema
// cannot be registered.
func TestReRegistrationIsAnsweredFromState(t *testing.T) {
	t.Parallel()
	b := testkit.Kafka(t)
	in := startRegistry(t, b.Seeds(), registry.Config{WriteTimeout: 2 * time.Second})
	cl, ctx := in.cl, ctxT(t)
	first := mustRegister(t, cl, "esr.rxx.starter-created.v1-value", personV1)
	b.Close()
	for _, text := range []string{personV1, personV1Reformatted} {
		id, err := cl.RegisterSchema(ctx, "esr.rxx.starter-created.v1-value", avroSchema(text), -1, -1)
		if err != nil || id != first.ID {
			t.Fatalf("re-registration with the broker down: got id %d, %v; want %d", id, err, first.ID)
		}
	}
	if _, err := cl.RegisterSchema(ctx, "esr.ryy.starter-created.v1-value", avroSchema(personV1), -1, -1); err == nil {
		t.Fatal("registering under a new subject with the broker down succeeded")
	}
}

func TestConcurrentRegistrationsGetDistinctIDs(t *testing.T) {
	t.Parallel()
	in := newRegistry(t)
	const n = 12
	ids := make([]int, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			// Each goroutine registers its own schema twice, under two subjects.
			schema := `{"type":"record","name":"R` + string(rune('a'+i)) + `","fields":[{"name":"f","type":"long"}]}`
			a := mustRegister(t, in.cl, "a-"+string(rune('a'+i)), schema)
			b := mustRegister(t, in.cl, "b-"+string(rune('a'+i)), schema)
			if a.ID != b.ID {
				t.Errorf("schema %d: ids %d and %d, want equal", i, a.ID, b.ID)
			}
			ids[i] = a.ID
		}()
	}
	wg.Wait()
	slices.Sort(ids)
	for i, id := range ids {
		if id != i+1 {
			t.Fatalf("ids: got %v, want 1..%d", ids, n)
		}
	}
}

func TestInvalidSchemas(t *testing.T) {
	t.Parallel()
	in := newRegistry(t)
	cl, ctx := in.cl, ctxT(t)
	for name, s := range map[string]sr.Schema{
		"not json":         {Schema: `{"type":`},
		"unknown type":     {Schema: `{"type":"record","name":"R","fields":[{"name":"x","type":"Nope"}]}`},
		"bad default":      {Schema: `{"type":"record","name":"R","fields":[{"name":"x","type":"int","default":"one"}]}`},
		"empty":            {Schema: ``},
		"json schema type": {Schema: `{"type":"object"}`, Type: sr.TypeJSON},
		"protobuf":         {Schema: `syntax = "proto3";`, Type: sr.TypeProtobuf},
		"missing ref":      {Schema: `{"type":"record","name":"R","fields":[{"name":"o","type":"uk.nhs.esr.Organisation"}]}`, References: []sr.SchemaReference{{Name: "uk.nhs.esr.Organisation", Subject: "org", Version: 1}}},
	} {
		_, err := cl.RegisterSchema(ctx, "invalid", s, -1, -1)
		re := wantCode(t, err, 42201)
		if re.Message == "" {
			t.Fatalf("%s: empty message", name)
		}
		if s.Type == sr.TypeJSON && !strings.Contains(re.Message, "AVRO only") {
			t.Fatalf("%s: message %q should say only AVRO is supported", name, re.Message)
		}
	}
	if subjects, _ := cl.Subjects(ctx); len(subjects) != 0 {
		t.Fatalf("invalid schemas created subjects: %v", subjects)
	}
}

func TestSchemaReferences(t *testing.T) {
	t.Parallel()
	in := newRegistry(t)
	cl, ctx := in.cl, ctxT(t)
	org := mustRegister(t, cl, "org", orgV1)
	withRef := sr.Schema{
		Schema:     `{"type":"record","name":"Assignment","namespace":"uk.nhs.esr","fields":[{"name":"org","type":"Organisation"}]}`,
		References: []sr.SchemaReference{{Name: "uk.nhs.esr.Organisation", Subject: "org", Version: 1}},
	}
	ss, err := cl.CreateSchema(ctx, "assignment", withRef)
	if err != nil {
		t.Fatalf("register with reference: %v", err)
	}
	if ss.ID == org.ID || len(ss.References) != 1 || ss.References[0].Subject != "org" {
		t.Fatalf("registered with reference: got %+v", ss)
	}
	refs, err := cl.SchemaReferences(ctx, "org", 1)
	if err != nil || len(refs) != 1 || refs[0].Subject != "assignment" {
		t.Fatalf("referenced by: got %+v %v", refs, err)
	}
	// A referenced schema cannot be deleted.
	_, err = cl.DeleteSubject(ctx, "org", sr.SoftDelete)
	wantCode(t, err, 42206)
}
