package schemas_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/hamba/avro/v2"

	"github.com/esrflow/esrflow/schemas"
	"github.com/esrflow/esrflow/schemas/gen/internalv1"
)

// UPDATE_GOLDEN=1 writes the golden payload of every schema version that has
// none yet (a version being released). It never rewrites an existing one: a
// released golden is what consumers may have on disk and in topics.
func updateGolden() bool { return os.Getenv("UPDATE_GOLDEN") == "1" }

func goldenPath(name string, v int, ext string) string {
	return filepath.Join("testdata", "golden", name, fmt.Sprintf("v%d.%s", v, ext))
}

// typedAPI knows the Go types of the entity union; it is harmless for the
// other schemas.
func typedAPI() avro.API { return internalv1.NewAPI() }

// genericAPI decodes into maps, independent of the Go types: the JSON beside
// a golden is rendered with it so it shows what is on the wire.
func genericAPI() avro.API { return avro.Config{}.Freeze() }

func mustParse(t *testing.T, name string, v int) avro.Schema {
	t.Helper()
	s, err := schemas.Parse(name, v)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func genericJSON(t *testing.T, s avro.Schema, payload []byte) []byte {
	t.Helper()
	var v any
	if err := genericAPI().Unmarshal(s, payload, &v); err != nil {
		t.Fatalf("generic decode: %v", err)
	}
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	return append(b, '\n')
}

// (1) The current Go types round-trip through the latest schema unchanged.
func TestGoTypesRoundTrip(t *testing.T) {
	api := typedAPI()
	for _, name := range schemas.Names() {
		t.Run(name, func(t *testing.T) {
			s, _, err := schemas.Latest(name)
			if err != nil {
				t.Fatal(err)
			}
			in := fixture(name)
			if in == nil {
				t.Fatalf("no fixture for %s: add one to fixtures_test.go", name)
			}
			b, err := api.Marshal(s, in)
			if err != nil {
				t.Fatalf("marshal: %v", err)
			}
			out := zero(name)
			if err := api.Unmarshal(s, b, out); err != nil {
				t.Fatalf("unmarshal: %v", err)
			}
			if !reflect.DeepEqual(in, out) {
				t.Errorf("round trip changed the value\n in: %+v\nout: %+v", in, out)
			}
		})
	}
}

// (2) Every version has a golden payload, its JSON matches it, and the latest
// schema and the current Go types read it.
func TestGoldens(t *testing.T) {
	api := typedAPI()
	for _, name := range schemas.Names() {
		vs, err := schemas.Versions(name)
		if err != nil {
			t.Fatal(err)
		}
		latestV := vs[len(vs)-1]
		latest := mustParse(t, name, latestV)
		for _, v := range vs {
			t.Run(fmt.Sprintf("%s/v%d", name, v), func(t *testing.T) {
				writer := mustParse(t, name, v)
				payload, err := os.ReadFile(goldenPath(name, v, "avro"))
				if errors.Is(err, fs.ErrNotExist) {
					if !updateGolden() {
						t.Fatalf("no golden for %s v%d: run UPDATE_GOLDEN=1 go test ./... once when releasing a version", name, v)
					}
					payload = writeGolden(t, api, name, v, writer)
				} else if err != nil {
					t.Fatal(err)
				}

				// The JSON is the reviewable copy of the payload; it must
				// say what the payload says.
				wantJSON, err := os.ReadFile(goldenPath(name, v, "json"))
				if err != nil {
					t.Fatal(err)
				}
				if got := genericJSON(t, writer, payload); !bytes.Equal(got, wantJSON) {
					t.Errorf("%s does not match its payload:\n%s", goldenPath(name, v, "json"), got)
				}

				// Read with the latest schema, as a consumer upgraded to the
				// latest version reads an old record still in a topic.
				resolved, err := avro.NewSchemaCompatibility().Resolve(latest, writer)
				if err != nil {
					t.Fatalf("resolve latest v%d against writer v%d: %v", latestV, v, err)
				}
				typed := zero(name)
				if err := api.Unmarshal(resolved, payload, typed); err != nil {
					t.Fatalf("typed decode of v%d golden with v%d: %v", v, latestV, err)
				}
				var generic map[string]any
				if err := genericAPI().Unmarshal(resolved, payload, &generic); err != nil {
					t.Fatalf("generic decode of v%d golden with v%d: %v", v, latestV, err)
				}
				// Every field the old version wrote keeps its value (a
				// nested record may have gained defaulted fields: those are
				// the new version's, not a change of an old value).
				var old map[string]any
				if err := genericAPI().Unmarshal(writer, payload, &old); err != nil {
					t.Fatal(err)
				}
				for k, want := range old {
					if !keeps(generic[k], want) {
						t.Errorf("field %s: read %v through v%d, wrote %v in v%d", k, generic[k], latestV, want, v)
					}
				}

				// The latest golden is lossless through the Go types:
				// decode then encode gives the same bytes, but for the
				// order of a map's entries (Go's map order is random,
				// Avro's is whatever the writer chose): then the same
				// values.
				if v == latestV {
					again, err := api.Marshal(latest, typed)
					if err != nil {
						t.Fatal(err)
					}
					if !bytes.Equal(again, payload) {
						var reread map[string]any
						if err := genericAPI().Unmarshal(latest, again, &reread); err != nil {
							t.Fatal(err)
						}
						if !reflect.DeepEqual(reread, generic) {
							t.Errorf("re-encoding the v%d golden changed it: %v, was %v", v, reread, generic)
						}
					}
				}
			})
		}
	}
}

func writeGolden(t *testing.T, api avro.API, name string, v int, writer avro.Schema) []byte {
	t.Helper()
	// The fixture follows the latest Go types; encoding with an older
	// writer schema keeps only that version's fields, which is exactly a
	// payload of that version.
	payload, err := api.Marshal(writer, fixture(name))
	if err != nil {
		t.Fatalf("encode golden %s v%d: %v", name, v, err)
	}
	if err := os.MkdirAll(filepath.Dir(goldenPath(name, v, "avro")), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(goldenPath(name, v, "avro"), payload, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(goldenPath(name, v, "json"), genericJSON(t, writer, payload), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("wrote golden %s v%d", name, v)
	return payload
}

// keeps reports whether got holds every value of want: equal, except that a
// record (map) in got may have fields want lacks.
func keeps(got, want any) bool {
	switch w := want.(type) {
	case map[string]any:
		g, ok := got.(map[string]any)
		if !ok {
			return false
		}
		for k, v := range w {
			if gv, ok := g[k]; !ok || !keeps(gv, v) {
				return false
			}
		}
		return true
	case []any:
		g, ok := got.([]any)
		if !ok || len(g) != len(w) {
			return false
		}
		for i := range w {
			if !keeps(g[i], w[i]) {
				return false
			}
		}
		return true
	}
	return reflect.DeepEqual(got, want)
}
