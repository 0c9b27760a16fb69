package registry_test

import (
	"encoding/json"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/twmb/franz-go/pkg/sr"
)

func TestSoftAndHardDelete(t *testing.T) {
	t.Parallel()
	in := newRegistry(t)
	cl, ctx := in.cl, ctxT(t)

	a1 := mustRegister(t, cl, "a", personV1)
	a2 := mustRegister(t, cl, "a", personGradeDefault)
	mustRegister(t, cl, "b", orgV1)

	// Hard delete before soft delete is refused.
	_, err := cl.DeleteSubject(ctx, "a", sr.HardDelete)
	wantCode(t, err, 40405)

	deleted, err := cl.DeleteSubject(ctx, "a", sr.SoftDelete)
	if err != nil || !slices.Equal(deleted, []int{1, 2}) {
		t.Fatalf("soft delete: got %v %v", deleted, err)
	}
	if subjects, _ := cl.Subjects(ctx); !slices.Equal(subjects, []string{"b"}) {
		t.Fatalf("subjects after soft delete: %v", subjects)
	}
	if subjects, _ := cl.Subjects(sr.WithParams(ctx, sr.ShowDeleted)); !slices.Equal(subjects, []string{"a", "b"}) {
		t.Fatalf("subjects with deleted: %v", subjects)
	}
	_, err = cl.SubjectVersions(ctx, "a")
	wantCode(t, err, 40401)
	if vs, err := cl.SubjectVersions(sr.WithParams(ctx, sr.ShowDeleted), "a"); err != nil || !slices.Equal(vs, []int{1, 2}) {
		t.Fatalf("versions with deleted: %v %v", vs, err)
	}
	if ss, err := cl.SchemaByVersion(sr.WithParams(ctx, sr.ShowDeleted), "a", 1); err != nil || ss.ID != a1.ID {
		t.Fatalf("soft-deleted version with deleted=true: %+v %v", ss, err)
	}
	// Ids still resolve after a soft delete, as in Confluent: data written
	// with them must stay readable.
	if s, err := cl.SchemaByID(ctx, a1.ID); err != nil || s.Schema != personV1 {
		t.Fatalf("schema by id after soft delete: %+v %v", s, err)
	}
	_, err = cl.DeleteSubject(ctx, "a", sr.SoftDelete)
	wantCode(t, err, 40404)

	// Re-registering after a soft delete does not reuse version numbers.
	again := mustRegister(t, cl, "a", personV1)
	if again.Version != 3 || again.ID != a1.ID {
		t.Fatalf("register after soft delete: got %+v, want version 3 id %d", again, a1.ID)
	}
	if _, err := cl.DeleteSubject(ctx, "a", sr.SoftDelete); err != nil {
		t.Fatalf("soft delete again: %v", err)
	}

	deleted, err = cl.DeleteSubject(ctx, "a", sr.HardDelete)
	if err != nil || !slices.Equal(deleted, []int{1, 2, 3}) {
		t.Fatalf("hard delete: got %v %v", deleted, err)
	}
	if subjects, _ := cl.Subjects(sr.WithParams(ctx, sr.ShowDeleted)); !slices.Equal(subjects, []string{"b"}) {
		t.Fatalf("subjects after hard delete: %v", subjects)
	}
	// Nothing else uses the ids any more: they are gone.
	_, err = cl.SchemaByID(ctx, a2.ID)
	wantCode(t, err, 40403)
	_, err = cl.DeleteSubject(ctx, "a", sr.HardDelete)
	wantCode(t, err, 40401)

	// A new schema never gets a hard-deleted id back.
	c := mustRegister(t, cl, "c", `{"type":"record","name":"C","fields":[]}`)
	if c.ID != 4 {
		t.Fatalf("id after hard delete: got %d, want 4", c.ID)
	}
	// A hard-deleted subject starts again at version 1; its old schema is
	// new again and gets a fresh id, never the hard-deleted one.
	if again := mustRegister(t, cl, "a", personV1); again.Version != 1 || again.ID != 5 {
		t.Fatalf("register after hard delete: got version %d id %d, want version 1 id 5", again.Version, again.ID)
	}
}

func TestDeleteVersion(t *testing.T) {
	t.Parallel()
	in := newRegistry(t)
	cl, ctx := in.cl, ctxT(t)
	mustRegister(t, cl, "s", personV1)
	v2 := mustRegister(t, cl, "s", personGradeDefault)
	mustRegister(t, cl, "other", personGradeDefault)

	err := cl.DeleteSchema(ctx, "s", 2, sr.HardDelete)
	wantCode(t, err, 40407)
	if err := cl.DeleteSchema(ctx, "s", 2, sr.SoftDelete); err != nil {
		t.Fatalf("soft delete version: %v", err)
	}
	err = cl.DeleteSchema(ctx, "s", 2, sr.SoftDelete)
	wantCode(t, err, 40406)
	_, err = cl.SchemaByVersion(ctx, "s", 2)
	wantCode(t, err, 40402)
	if latest, err := cl.SchemaByVersion(ctx, "s", -1); err != nil || latest.Version != 1 {
		t.Fatalf("latest after deleting v2: %+v %v", latest, err)
	}
	if err := cl.DeleteSchema(ctx, "s", 2, sr.HardDelete); err != nil {
		t.Fatalf("hard delete version: %v", err)
	}
	// "other" still uses the id, so it still resolves.
	if s, err := cl.SchemaByID(ctx, v2.ID); err != nil || s.Schema != personGradeDefault {
		t.Fatalf("shared id after hard delete: %+v %v", s, err)
	}
	err = cl.DeleteSchema(ctx, "s", 9, sr.SoftDelete)
	wantCode(t, err, 40402)

	var out any
	err = cl.Do(ctx, http.MethodDelete, "/subjects/s/versions/0", nil, &out)
	wantCode(t, err, 42202)
	err = cl.Do(ctx, http.MethodGet, "/subjects/s/versions/abc", nil, &out)
	wantCode(t, err, 42202)
}

func TestModes(t *testing.T) {
	t.Parallel()
	in := newRegistry(t)
	cl, ctx := in.cl, ctxT(t)
	mustRegister(t, cl, "s", personV1)

	if m := cl.Mode(ctx); m[0].Err != nil || m[0].Mode != sr.ModeReadWrite {
		t.Fatalf("default mode: %+v", m[0])
	}
	wantCode(t, cl.Mode(ctx, "s")[0].Err, 40409)

	if r := cl.SetMode(ctx, sr.ModeReadOnly); r[0].Err != nil || r[0].Mode != sr.ModeReadOnly {
		t.Fatalf("set READONLY: %+v", r[0])
	}
	_, err := cl.RegisterSchema(ctx, "s", avroSchema(personGradeDefault), -1, -1)
	wantCode(t, err, 42205)
	// Even a schema the subject already has: read-only refuses registering.
	_, err = cl.RegisterSchema(ctx, "s", avroSchema(personV1), -1, -1)
	wantCode(t, err, 42205)
	_, err = cl.DeleteSubject(ctx, "s", sr.SoftDelete)
	wantCode(t, err, 42205)
	// Reads still work.
	if _, err := cl.SchemaByID(ctx, 1); err != nil {
		t.Fatalf("read in READONLY: %v", err)
	}
	// A subject-level mode overrides the global one.
	if r := cl.SetMode(ctx, sr.ModeReadWrite, "s"); r[0].Err != nil {
		t.Fatalf("subject READWRITE: %v", r[0].Err)
	}
	if _, err := cl.RegisterSchema(ctx, "s", avroSchema(personGradeDefault), -1, -1); err != nil {
		t.Fatalf("register with subject READWRITE: %v", err)
	}
	_, err = cl.RegisterSchema(ctx, "t", avroSchema(orgV1), -1, -1)
	wantCode(t, err, 42205)

	var out any
	err = cl.Do(ctx, http.MethodPut, "/mode", map[string]string{"mode": "SOMETIMES"}, &out)
	wantCode(t, err, 42204)

	// IMPORT needs an empty registry (or force) and explicit ids.
	if r := cl.ResetMode(ctx); r[0].Err != nil {
		t.Fatalf("reset mode: %v", r[0].Err)
	}
	wantCode(t, cl.SetMode(ctx, sr.ModeImport)[0].Err, 42205)
	_, err = cl.RegisterSchema(ctx, "t", avroSchema(orgV1), 100, 5)
	wantCode(t, err, 42205) // explicit id outside IMPORT
	if r := cl.SetMode(sr.WithParams(ctx, sr.Force), sr.ModeImport, "imported"); r[0].Err != nil {
		t.Fatalf("IMPORT on subject: %v", r[0].Err)
	}
	_, err = cl.RegisterSchema(ctx, "imported", avroSchema(orgV1), -1, -1)
	wantCode(t, err, 42205) // no id in IMPORT
	id, err := cl.RegisterSchema(ctx, "imported", avroSchema(orgV1), 100, 5)
	if err != nil || id != 100 {
		t.Fatalf("import with id: %d %v", id, err)
	}
	if ss, err := cl.SchemaByVersion(ctx, "imported", 5); err != nil || ss.ID != 100 {
		t.Fatalf("imported version: %+v %v", ss, err)
	}
	// An id holding another schema cannot be overwritten.
	_, err = cl.RegisterSchema(ctx, "imported", avroSchema(personIDAsInt), 1, 6)
	wantCode(t, err, 42205)
	// Back to READWRITE: new ids continue after the imported one.
	if r := cl.ResetMode(ctx, "imported"); r[0].Err != nil {
		t.Fatalf("reset subject mode: %v", r[0].Err)
	}
	if ss := mustRegister(t, cl, "after-import", `{"type":"fixed","name":"F","size":4}`); ss.ID != 101 {
		t.Fatalf("id after import: got %d, want 101", ss.ID)
	}
}

func TestUnknownRoutesAreJSON(t *testing.T) {
	t.Parallel()
	in := newRegistry(t)
	for _, tc := range []struct {
		method, path string
		status       int
	}{
		{http.MethodGet, "/nope", 404},
		{http.MethodGet, "/subjects/s/versions/1/nope", 404},
		{http.MethodPost, "/subjects", 405},
		{http.MethodPut, "/subjects/s/versions", 405},
		{http.MethodPost, "/schemas/ids/1", 405},
	} {
		req, _ := http.NewRequest(tc.method, in.srv.URL+tc.path, strings.NewReader("{}"))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		var e struct {
			ErrorCode int    `json:"error_code"`
			Message   string `json:"message"`
		}
		if resp.StatusCode != tc.status || json.Unmarshal(body, &e) != nil || e.ErrorCode != tc.status || e.Message == "" {
			t.Fatalf("%s %s: got %d %s, want %d with JSON error_code", tc.method, tc.path, resp.StatusCode, body, tc.status)
		}
		if ct := resp.Header.Get("Content-Type"); ct != "application/vnd.schemaregistry.v1+json" {
			t.Fatalf("%s %s: content type %q", tc.method, tc.path, ct)
		}
	}
}
