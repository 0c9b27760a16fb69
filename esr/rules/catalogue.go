// Package rules is esrflow's validation rule catalogue and the engine that
// applies it: the baseline rules every tenant gets (catalogue.yaml, the one
// source the docs and `esrflow rules` are generated from), each tenant's
// overrides and CEL rules compiled into a Set with a content-hash version,
// and File, which judges one file's canonical records — record rules as each
// arrives, cross-record rules and the error budget once the file is whole.
//
// The validate service and the offline `esrflow validate` command both run
// this package over records made by the same parser (esr/format) and mapper
// (services/normalise), so a file judged offline is judged as the pipeline
// would judge it.
package rules

import (
	_ "embed"
	"fmt"
	"slices"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Severity says what a violation does: an error quarantines the row (the
// file, for ESR-F rules), a warning flags it and lets it pass.
type Severity string

// Severities.
const (
	Error   Severity = "error"
	Warning Severity = "warning"
)

// Stage says where a rule runs.
type Stage string

// Stages.
const (
	// StageIngest rules judge a whole file as it is read; a broken one
	// rejects the file.
	StageIngest Stage = "ingest"
	// StageNormalise rules judge a row's shape as it is parsed.
	StageNormalise Stage = "normalise"
	// StageValidate rules judge canonical entities (this package's engine).
	StageValidate Stage = "validate"
)

// Record kinds a validate rule may apply to.
const (
	KindPerson       = "person"
	KindAssignment   = "assignment"
	KindPosition     = "position"
	KindOrganisation = "organisation"
	KindLocation     = "location"
)

// RecordKinds are the record kinds, in the order they are documented.
var RecordKinds = []string{KindPerson, KindAssignment, KindPosition, KindOrganisation, KindLocation}

// Rule is one catalogue entry.
type Rule struct {
	// Code is the stable id: ESR-F (file), ESR-R (record), ESR-V (field),
	// ESR-X (cross-record) and three digits.
	Code string `yaml:"code" json:"code"`
	// Name is a short slug; for file and parse rules, the id the parser or
	// ingest reports (esr/format.Rule*, ingest.Rule*).
	Name        string         `yaml:"name" json:"name"`
	Stage       Stage          `yaml:"stage" json:"stage"`
	Applies     []string       `yaml:"applies,omitempty" json:"applies,omitempty"`
	Field       string         `yaml:"field,omitempty" json:"field,omitempty"`
	Severity    Severity       `yaml:"severity" json:"severity"`
	Description string         `yaml:"description" json:"description"`
	Message     string         `yaml:"message" json:"message"`
	Params      map[string]any `yaml:"params,omitempty" json:"params,omitempty"`
}

// Category is the rule's kind as its code says: file, record, field or
// cross-record.
func (r Rule) Category() string {
	switch {
	case strings.HasPrefix(r.Code, "ESR-F"):
		return "file"
	case strings.HasPrefix(r.Code, "ESR-R"):
		return "record"
	case strings.HasPrefix(r.Code, "ESR-V"):
		return "field"
	case strings.HasPrefix(r.Code, "ESR-X"):
		return "cross-record"
	}
	return "tenant"
}

//go:embed catalogue.yaml
var catalogueYAML []byte

var (
	catalogue []Rule
	byCode    map[string]int
	byName    map[string]string
)

func init() {
	var doc struct {
		Rules []Rule `yaml:"rules"`
	}
	dec := yaml.NewDecoder(strings.NewReader(string(catalogueYAML)))
	dec.KnownFields(true)
	if err := dec.Decode(&doc); err != nil {
		panic(fmt.Sprintf("rules: catalogue.yaml: %v", err))
	}
	catalogue = doc.Rules
	byCode = make(map[string]int, len(catalogue))
	byName = make(map[string]string, len(catalogue))
	for i, r := range catalogue {
		if err := r.valid(); err != nil {
			panic(fmt.Sprintf("rules: catalogue.yaml: %s: %v", r.Code, err))
		}
		if _, dup := byCode[r.Code]; dup {
			panic("rules: catalogue.yaml: code " + r.Code + " twice")
		}
		if _, dup := byName[r.Name]; dup {
			panic("rules: catalogue.yaml: name " + r.Name + " twice")
		}
		byCode[r.Code] = i
		byName[r.Name] = r.Code
	}
}

func (r Rule) valid() error {
	if r.Category() == "tenant" || len(r.Code) != 8 {
		return fmt.Errorf("code must be ESR-F, ESR-R, ESR-V or ESR-X and three digits")
	}
	if r.Name == "" || r.Description == "" || r.Message == "" {
		return fmt.Errorf("name, description and message are required")
	}
	if r.Severity != Error && r.Severity != Warning {
		return fmt.Errorf("severity %q must be error or warning", r.Severity)
	}
	switch r.Stage {
	case StageIngest, StageNormalise:
	case StageValidate:
		for _, k := range r.Applies {
			if !slices.Contains(RecordKinds, k) {
				return fmt.Errorf("applies: unknown record kind %q", k)
			}
		}
	default:
		return fmt.Errorf("stage %q must be ingest, normalise or validate", r.Stage)
	}
	return nil
}

// Catalogue returns every baseline rule in catalogue order (a copy).
func Catalogue() []Rule {
	out := make([]Rule, len(catalogue))
	copy(out, catalogue)
	return out
}

// Lookup returns the catalogue rule with a code.
func Lookup(code string) (Rule, bool) {
	i, ok := byCode[code]
	if !ok {
		return Rule{}, false
	}
	return catalogue[i], true
}

// CodeOf returns the code of the rule a parser or ingest slug names
// ("date" → ESR-V001). An unknown slug is returned as it is, so nothing a
// stage reports is lost for want of a catalogue entry.
func CodeOf(slug string) string {
	if c, ok := byName[slug]; ok {
		return c
	}
	return slug
}

// Message is a rule's violation text for a field, "<field>: <message>"
// (the message alone for whole-record rules). It never holds a value.
func Message(code, field string) string {
	r, ok := Lookup(code)
	text := r.Message
	if !ok {
		text = "rule " + code + " failed"
	}
	if field != "" {
		return field + ": " + text
	}
	return text
}
