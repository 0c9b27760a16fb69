// Package schemas holds the esrflow Avro contracts: the .avsc files under
// avro/<name>/v<N>.avsc are the source of truth, embedded here so every
// service registers and reads exactly what is reviewed in git.
//
// Each released version stays in its own file (v1.avsc, v2.avsc ...) so the
// history is explicit and tests can prove that every version is BACKWARD
// compatible with all earlier ones. Go types for the latest versions are
// generated into gen/eventsv1 and gen/internalv1.
package schemas

import (
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"slices"
	"strconv"
	"strings"

	"github.com/hamba/avro/v2"
)

// files holds every .avsc under avro/. It is the only package-level state,
// and it is read-only.
//
//go:embed avro
var files embed.FS

// ErrUnknownSchema is returned for a schema name or version with no file.
var ErrUnknownSchema = errors.New("schemas: unknown schema")

// Schema names: the directory names under avro/.
const (
	Raw             = "raw"
	Entity          = "entity"
	Quarantine      = "quarantine"
	FileReport      = "file-report"
	StarterCreated  = "starter-created"
	LeaverConfirmed = "leaver-confirmed"
	LeaverReversed  = "leaver-reversed"
	PositionUpdated = "position-updated"
	OperatorCommand = "operator-command"
	HeldBatch       = "held-batch"
	ReplayRequest   = "replay-request"
	IntakeDecision  = "intake-decision"
	EventLineage    = "event-lineage"
)

// FS returns the embedded schema tree, rooted so that paths read
// "<name>/v<N>.avsc".
func FS() fs.FS {
	sub, err := fs.Sub(files, "avro")
	if err != nil {
		panic(err) // cannot happen: "avro" is embedded
	}
	return sub
}

// Names returns every schema name, sorted.
func Names() []string {
	entries, _ := fs.ReadDir(files, "avro") // embedded: cannot fail
	var names []string
	for _, e := range entries {
		if e.IsDir() {
			names = append(names, e.Name())
		}
	}
	return names
}

// Versions returns the released versions of a schema in ascending order.
func Versions(name string) ([]int, error) {
	entries, err := fs.ReadDir(files, path.Join("avro", name))
	if err != nil {
		return nil, fmt.Errorf("%w %q", ErrUnknownSchema, name)
	}
	var vs []int
	for _, e := range entries {
		n, ok := strings.CutSuffix(e.Name(), ".avsc")
		if !ok || !strings.HasPrefix(n, "v") {
			continue
		}
		v, err := strconv.Atoi(n[1:])
		if err != nil || v < 1 {
			return nil, fmt.Errorf("schemas: bad version file %s/%s", name, e.Name())
		}
		vs = append(vs, v)
	}
	if len(vs) == 0 {
		return nil, fmt.Errorf("%w %q", ErrUnknownSchema, name)
	}
	slices.Sort(vs)
	return vs, nil
}

// Source returns the .avsc text of one version, as written in git (with
// docs).
func Source(name string, version int) ([]byte, error) {
	b, err := files.ReadFile(path.Join("avro", name, "v"+strconv.Itoa(version)+".avsc"))
	if err != nil {
		return nil, fmt.Errorf("%w %s v%d", ErrUnknownSchema, name, version)
	}
	return b, nil
}

// Parse parses one version. Each call uses its own schema cache: versions of
// one schema define the same names, and hamba's default cache would let one
// version's types leak into another's parse.
func Parse(name string, version int) (avro.Schema, error) {
	b, err := Source(name, version)
	if err != nil {
		return nil, err
	}
	s, err := avro.ParseBytesWithCache(b, "", &avro.SchemaCache{})
	if err != nil {
		return nil, fmt.Errorf("schemas: parse %s v%d: %w", name, version, err)
	}
	return s, nil
}

// Latest returns the newest version of a schema and its canonical text: the
// compact JSON every service registers under the topic's subject.
//
// The canonical text is hamba's full JSON rendering (stable field order, no
// whitespace), not Avro's Parsing Canonical Form: PCF drops field defaults,
// and a registry checking BACKWARD compatibility needs them (a new optional
// field is compatible only because of its default). It keeps docs, so
// consumers browsing the registry see them.
func Latest(name string) (avro.Schema, string, error) {
	vs, err := Versions(name)
	if err != nil {
		return nil, "", err
	}
	return Version(name, vs[len(vs)-1])
}

// Version is Latest for a given version.
func Version(name string, version int) (avro.Schema, string, error) {
	s, err := Parse(name, version)
	if err != nil {
		return nil, "", err
	}
	b, err := json.Marshal(s)
	if err != nil {
		return nil, "", fmt.Errorf("schemas: render %s v%d: %w", name, version, err)
	}
	return s, string(b), nil
}
