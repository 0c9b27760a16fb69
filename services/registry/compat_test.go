package registry_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/twmb/franz-go/pkg/sr"
)

// Schema pairs where the direction of compatibility is known:
//   - adding a field without a default breaks BACKWARD (the new reader finds no
//     value in old data) but not FORWARD (old readers ignore the extra field);
//   - removing a field without a default breaks FORWARD (old readers need it)
//     but not BACKWARD;
//   - adding or removing a field with a default is FULL compatible.
func TestCompatibilityLevels(t *testing.T) {
	t.Parallel()
	in := newRegistry(t)
	cl, ctx := in.cl, ctxT(t)

	cases := []struct {
		name      string
		level     sr.CompatibilityLevel
		history   []string
		candidate string
		wantOK    bool
		wantWords string // in the 409 message
	}{
		{"none accepts a type change", sr.CompatNone, []string{personV1}, personIDAsInt, true, ""},
		{"backward accepts a field with default", sr.CompatBackward, []string{personV1}, personGradeDefault, true, ""},
		{"backward refuses a field without default", sr.CompatBackward, []string{personV1}, personGradeNoDefault, false, "grade"},
		{"backward refuses a type change", sr.CompatBackward, []string{personV1}, personIDAsInt, false, "BACKWARD"},
		{"forward accepts a field without default", sr.CompatForward, []string{personV1}, personGradeNoDefault, true, ""},
		{"forward refuses removing a field without default", sr.CompatForward, []string{personGradeNoDefault}, personV1, false, "grade"},
		{"full accepts a field with default", sr.CompatFull, []string{personV1}, personGradeDefault, true, ""},
		{"full refuses a field without default", sr.CompatFull, []string{personV1}, personGradeNoDefault, false, "FULL (backward)"},
		{"full refuses removing a field without default", sr.CompatFull, []string{personGradeNoDefault}, personV1, false, "FULL (forward)"},

		// v1 → v2 (grade with default) → v3 (grade without default): v3 reads
		// v2 data, but not v1 data, which has no grade at all.
		{"backward checks only the latest", sr.CompatBackward, []string{personV1, personGradeDefault}, personGradeNoDefault, true, ""},
		{"backward transitive checks every version", sr.CompatBackwardTransitive, []string{personV1, personGradeDefault}, personGradeNoDefault, false, "version 1"},
		// v1 (grade, no default) → v2 (grade with default) → v3 (no grade): v2
		// readers default it, v1 readers cannot.
		{"forward checks only the latest", sr.CompatForward, []string{personGradeNoDefault, personGradeDefault}, personV1, true, ""},
		{"forward transitive checks every version", sr.CompatForwardTransitive, []string{personGradeNoDefault, personGradeDefault}, personV1, false, "version 1"},
		{"full checks only the latest", sr.CompatFull, []string{personV1, personGradeDefault}, personGradeNoDefault, true, ""},
		{"full transitive checks every version", sr.CompatFullTransitive, []string{personV1, personGradeDefault}, personGradeNoDefault, false, "version 1"},
	}
	for i, tc := range cases {
		subject := "compat-" + strings.ReplaceAll(tc.name, " ", "-")
		// Build the history without checks, then turn the level on.
		setLevel(t, cl, sr.CompatNone, subject)
		for _, h := range tc.history {
			mustRegister(t, cl, subject, h)
		}
		setLevel(t, cl, tc.level, subject)

		check, err := cl.CheckCompatibility(sr.WithParams(ctx, sr.Verbose), subject, -2, avroSchema(tc.candidate))
		if err != nil {
			t.Fatalf("%d %s: check: %v", i, tc.name, err)
		}
		if check.Is != tc.wantOK {
			t.Fatalf("%d %s: check says compatible=%v, want %v (%v)", i, tc.name, check.Is, tc.wantOK, check.Messages)
		}
		if !tc.wantOK && len(check.Messages) == 0 {
			t.Fatalf("%d %s: verbose check gave no messages", i, tc.name)
		}

		_, err = cl.RegisterSchema(ctx, subject, avroSchema(tc.candidate), -1, -1)
		if tc.wantOK {
			if err != nil {
				t.Fatalf("%d %s: register: %v", i, tc.name, err)
			}
			continue
		}
		re := wantCode(t, err, 409)
		if re.StatusCode != http.StatusConflict || !strings.Contains(re.Message, tc.wantWords) {
			t.Fatalf("%d %s: 409 message %q should mention %q", i, tc.name, re.Message, tc.wantWords)
		}
		if vs, _ := cl.SubjectVersions(ctx, subject); len(vs) != len(tc.history) {
			t.Fatalf("%d %s: refused schema created a version: %v", i, tc.name, vs)
		}
	}
}

func TestDefaultLevelIsBackwardAndGlobalConfig(t *testing.T) {
	t.Parallel()
	in := newRegistry(t)
	cl, ctx := in.cl, ctxT(t)

	global := cl.Compatibility(ctx)
	if global[0].Err != nil || global[0].Level != sr.CompatBackward {
		t.Fatalf("default global level: got %+v", global[0])
	}
	mustRegister(t, cl, "s", personV1)
	_, err := cl.RegisterSchema(ctx, "s", avroSchema(personGradeNoDefault), -1, -1)
	wantCode(t, err, 409)

	// A global FORWARD applies to subjects without their own level.
	setLevel(t, cl, sr.CompatForward)
	if _, err := cl.RegisterSchema(ctx, "s", avroSchema(personGradeNoDefault), -1, -1); err != nil {
		t.Fatalf("register under global FORWARD: %v", err)
	}

	// A subject without its own level: 40408, unless defaultToGlobal.
	res := cl.Compatibility(ctx, "s")
	wantCode(t, res[0].Err, 40408)
	if !strings.Contains(res[0].Err.Error(), "Subject 's' does not have subject-level compatibility configured") {
		t.Fatalf("40408 message: %v", res[0].Err)
	}
	res = cl.Compatibility(sr.WithParams(ctx, sr.DefaultToGlobal), "s")
	if res[0].Err != nil || res[0].Level != sr.CompatForward {
		t.Fatalf("defaultToGlobal: got %+v", res[0])
	}

	setLevel(t, cl, sr.CompatFullTransitive, "s")
	res = cl.Compatibility(ctx, "s")
	if res[0].Err != nil || res[0].Level != sr.CompatFullTransitive {
		t.Fatalf("subject level: got %+v", res[0])
	}
	reset := cl.ResetCompatibility(ctx, "s")
	if reset[0].Err != nil {
		t.Fatalf("reset subject level: %v", reset[0].Err)
	}
	wantCode(t, cl.Compatibility(ctx, "s")[0].Err, 40408)

	// Resetting the global level goes back to the configured default.
	if r := cl.ResetCompatibility(ctx); r[0].Err != nil {
		t.Fatalf("reset global: %v", r[0].Err)
	}
	if g := cl.Compatibility(ctx); g[0].Level != sr.CompatBackward {
		t.Fatalf("global after reset: got %+v", g[0])
	}

	// Invalid levels.
	var out map[string]any
	err = cl.Do(ctx, http.MethodPut, "/config", map[string]string{"compatibility": "SIDEWAYS"}, &out)
	wantCode(t, err, 42203)
	err = cl.Do(ctx, http.MethodPut, "/config/s", map[string]string{"compatibility": ""}, &out)
	wantCode(t, err, 42203)
	// Lower case is accepted, as in Confluent.
	if err := cl.Do(ctx, http.MethodPut, "/config/s", map[string]string{"compatibility": "full"}, &out); err != nil || out["compatibility"] != "FULL" {
		t.Fatalf("lower-case level: got %v %v", out, err)
	}
}

func TestCheckCompatibilityAgainstOneVersion(t *testing.T) {
	t.Parallel()
	in := newRegistry(t)
	cl, ctx := in.cl, ctxT(t)
	setLevel(t, cl, sr.CompatNone, "s")
	mustRegister(t, cl, "s", personV1)
	mustRegister(t, cl, "s", personGradeDefault)
	setLevel(t, cl, sr.CompatBackward, "s")

	// Against version 2 the grade exists; against version 1 it does not.
	if r, err := cl.CheckCompatibility(ctx, "s", 2, avroSchema(personGradeNoDefault)); err != nil || !r.Is {
		t.Fatalf("against v2: got %+v %v", r, err)
	}
	r, err := cl.CheckCompatibility(sr.WithParams(ctx, sr.Verbose), "s", 1, avroSchema(personGradeNoDefault))
	if err != nil || r.Is || len(r.Messages) != 1 || !strings.Contains(r.Messages[0], "grade") {
		t.Fatalf("against v1: got %+v %v", r, err)
	}
	// Without verbose there are no messages.
	r, err = cl.CheckCompatibility(ctx, "s", 1, avroSchema(personGradeNoDefault))
	if err != nil || r.Is || len(r.Messages) != 0 {
		t.Fatalf("not verbose: got %+v %v", r, err)
	}
	_, err = cl.CheckCompatibility(ctx, "s", 7, avroSchema(personV1))
	wantCode(t, err, 40402)
	_, err = cl.CheckCompatibility(ctx, "nope", -1, avroSchema(personV1))
	wantCode(t, err, 40401)
	_, err = cl.CheckCompatibility(ctx, "s", -1, avroSchema(`{"type":"nope"}`))
	wantCode(t, err, 42201)
}
