package schemas_test

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/hamba/avro/v2"

	"github.com/esrflow/esrflow/schemas"
)

// (3) BACKWARD_TRANSITIVE, as the registry enforces it: every version can
// read data written with every earlier version.
func TestBackwardTransitive(t *testing.T) {
	checked := 0
	for _, name := range schemas.Names() {
		vs, err := schemas.Versions(name)
		if err != nil {
			t.Fatal(err)
		}
		for i, rv := range vs {
			for _, wv := range vs[:i] {
				t.Run(fmt.Sprintf("%s/v%d-reads-v%d", name, rv, wv), func(t *testing.T) {
					reader, writer := mustParse(t, name, rv), mustParse(t, name, wv)
					if err := avro.NewSchemaCompatibility().Compatible(reader, writer); err != nil {
						t.Errorf("not BACKWARD compatible: %v", err)
					}
				})
				checked++
			}
		}
	}
	// leaver-confirmed ships v1 and v2, so the check above is not vacuous.
	if checked == 0 {
		t.Fatal("no schema has two versions: the transitive check checked nothing")
	}
}

// Incompatible changes held in testdata/incompatible (never under avro/) must
// be refused against every released version of their schema.
func TestIncompatibleChangesRefused(t *testing.T) {
	tests := []struct {
		file, schema string
	}{
		{"leaver-confirmed-required-field.avsc", schemas.LeaverConfirmed},
		{"leaver-confirmed-type-change.avsc", schemas.LeaverConfirmed},
		{"position-updated-removed-enum-symbol.avsc", schemas.PositionUpdated},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			b, err := os.ReadFile(filepath.Join("testdata", "incompatible", tt.file))
			if err != nil {
				t.Fatal(err)
			}
			candidate, err := avro.ParseBytesWithCache(b, "", &avro.SchemaCache{})
			if err != nil {
				t.Fatal(err)
			}
			vs, _ := schemas.Versions(tt.schema)
			for _, v := range vs {
				if err := avro.NewSchemaCompatibility().Compatible(candidate, mustParse(t, tt.schema, v)); err == nil {
					t.Errorf("%s accepted as BACKWARD compatible with %s v%d", tt.file, tt.schema, v)
				}
			}
		})
	}
}
