package schemas_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/hamba/avro/v2"

	"github.com/esrflow/esrflow/schemas"
)

// generateLine is one `//go:generate go tool avrogen ...` line of generate.go.
type generateLine struct {
	args  []string // after "go tool avrogen"
	out   string   // value of -o
	files []string // the .avsc arguments
}

// readGenerateLines parses generate.go, so the tests check the very commands
// `go generate` runs instead of a copy that could drift from them.
func readGenerateLines(t *testing.T) []generateLine {
	t.Helper()
	src, err := os.ReadFile("generate.go")
	if err != nil {
		t.Fatal(err)
	}
	var lines []generateLine
	for _, l := range strings.Split(string(src), "\n") {
		rest, ok := strings.CutPrefix(l, "//go:generate go tool avrogen ")
		if !ok {
			continue
		}
		g := generateLine{args: splitArgs(t, rest)}
		for i, a := range g.args {
			switch {
			case a == "-o" && i+1 < len(g.args):
				g.out = g.args[i+1]
			case strings.HasPrefix(a, "avro/") && strings.HasSuffix(a, ".avsc"):
				g.files = append(g.files, a)
			}
		}
		lines = append(lines, g)
	}
	if len(lines) == 0 {
		t.Fatal("no avrogen lines in generate.go")
	}
	return lines
}

// splitArgs splits like go generate does: on blanks, with "double quoted"
// arguments.
func splitArgs(t *testing.T, s string) []string {
	t.Helper()
	var args []string
	for s = strings.TrimSpace(s); s != ""; s = strings.TrimSpace(s) {
		if s[0] == '"' {
			end := strings.IndexByte(s[1:], '"')
			if end < 0 {
				t.Fatalf("unterminated quote in %q", s)
			}
			args = append(args, s[1:end+1])
			s = s[end+2:]
			continue
		}
		end := strings.IndexAny(s, " \t")
		if end < 0 {
			end = len(s)
		}
		args = append(args, s[:end])
		s = s[end:]
	}
	return args
}

// Every schema is generated exactly once, from its latest version: adding
// v3.avsc without moving generate.go to it fails here.
func TestGenerateUsesLatestVersions(t *testing.T) {
	seen := map[string]string{}
	for _, g := range readGenerateLines(t) {
		for _, f := range g.files {
			name := filepath.Base(filepath.Dir(f))
			if prev, ok := seen[name]; ok {
				t.Errorf("%s generated twice (%s, %s)", name, prev, g.out)
			}
			seen[name] = g.out
			vs, err := schemas.Versions(name)
			if err != nil {
				t.Fatal(err)
			}
			if want := fmt.Sprintf("avro/%s/v%d.avsc", name, vs[len(vs)-1]); f != want {
				t.Errorf("generate.go uses %s, latest is %s", f, want)
			}
		}
	}
	for _, name := range schemas.Names() {
		if _, ok := seen[name]; !ok {
			t.Errorf("schema %s has no Go types: add it to a go:generate line", name)
		}
	}
}

// Schemas generated into one package share Go types by name (Source,
// FileInfo, Lineage ...). avrogen keeps the first definition it meets, so
// every copy of a named type must be identical, or a Go type would silently
// disagree with one of the schemas.
func TestSharedNamedTypesAgree(t *testing.T) {
	for _, g := range readGenerateLines(t) {
		defs := map[string]string{}
		where := map[string]string{}
		for _, f := range g.files {
			b, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			s, err := avro.ParseBytesWithCache(b, "", &avro.SchemaCache{})
			if err != nil {
				t.Fatal(err)
			}
			walkNamed(s, func(n avro.NamedSchema) {
				js, _ := json.Marshal(n)
				if prev, ok := defs[n.FullName()]; ok && prev != string(js) {
					t.Errorf("%s: %s differs between %s and %s", g.out, n.FullName(), where[n.FullName()], f)
				}
				defs[n.FullName()], where[n.FullName()] = string(js), f
			})
		}
	}
}

func walkNamed(s avro.Schema, fn func(avro.NamedSchema)) {
	switch s := s.(type) {
	case *avro.RecordSchema:
		fn(s)
		for _, f := range s.Fields() {
			walkNamed(f.Type(), fn)
		}
	case *avro.EnumSchema:
		fn(s)
	case *avro.FixedSchema:
		fn(s)
	case *avro.ArraySchema:
		walkNamed(s.Items(), fn)
	case *avro.MapSchema:
		walkNamed(s.Values(), fn)
	case *avro.UnionSchema:
		for _, u := range s.Types() {
			walkNamed(u, fn)
		}
	}
}

// The committed Go types are what avrogen makes of the committed schemas.
// This runs the generate.go lines into a temporary directory with the
// avrogen pinned in go.mod and compares.
func TestGeneratedCodeUpToDate(t *testing.T) {
	if testing.Short() {
		t.Skip("builds avrogen")
	}
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go command on PATH")
	}
	tmp := t.TempDir()
	for _, g := range readGenerateLines(t) {
		args := slices.Clone(g.args)
		out := filepath.Join(tmp, filepath.Base(g.out))
		args[slices.Index(args, "-o")+1] = out
		cmd := exec.Command(goBin, append([]string{"tool", "avrogen"}, args...)...)
		cmd.Stderr = &bytes.Buffer{}
		if err := cmd.Run(); err != nil {
			t.Fatalf("go tool avrogen: %v\n%s", err, cmd.Stderr)
		}
		want, err := os.ReadFile(out)
		if err != nil {
			t.Fatal(err)
		}
		got, err := os.ReadFile(g.out)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%s is stale: run `go generate` in schemas/", g.out)
		}
	}
}

// Public events never carry the NI number or special-category data
// (DESIGN.md "Events"). Field names are the contract, so a name check is a
// real guard against a field being added by mistake.
func TestEventsCarryNoSensitiveFields(t *testing.T) {
	forbidden := []string{"ni_number", "nino", "national_insurance", "ethnic", "religio", "sexual", "disab", "date_of_birth", "dob"}
	for _, name := range []string{schemas.StarterCreated, schemas.LeaverConfirmed, schemas.PositionUpdated} {
		vs, _ := schemas.Versions(name)
		for _, v := range vs {
			walkNamed(mustParse(t, name, v), func(n avro.NamedSchema) {
				rec, ok := n.(*avro.RecordSchema)
				if !ok {
					return
				}
				for _, f := range rec.Fields() {
					for _, bad := range forbidden {
						if strings.Contains(strings.ToLower(f.Name()), bad) {
							t.Errorf("%s v%d: field %s.%s looks like sensitive data", name, v, rec.Name(), f.Name())
						}
					}
				}
			})
		}
	}
}
