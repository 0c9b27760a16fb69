// Package tenant is the per-trust configuration every stage reads: which ESR
// VPDs a tenant (an employing organisation, named by its ODS code) receives,
// and how its rows map onto the canonical model. It is plain data loaded from
// a YAML file (or a short flag form for one machine), so a tenant's
// configuration is versioned with the deployment and rolled out on its own.
package tenant

import (
	"cmp"
	"flag"
	"fmt"
	"os"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Tenant is one trust's configuration.
type Tenant struct {
	// Code is the ODS code, upper case (e.g. RXX). Event topics use it in
	// lower case.
	Code string `yaml:"code" json:"code"`
	// VPDs are the ESR VPD numbers whose files this tenant receives, leading
	// zeros kept. A file with another VPD in the tenant's folder is rejected.
	VPDs []string `yaml:"vpds" json:"vpds"`
	// Mapping adjusts how normalise maps this tenant's rows.
	Mapping Mapping `yaml:"mapping,omitempty" json:"mapping,omitempty"`
	// LeaverGuard holds a file's leavers for an operator when there are too
	// many of them; nil means DefaultGuard.
	LeaverGuard *Guard `yaml:"leaver_guard,omitempty" json:"leaver_guard,omitempty"`
	// Feeds configures each kind of feed the tenant sends (go, csv).
	Feeds Feeds `yaml:"feeds,omitempty" json:"feeds,omitempty"`
	// Validation overrides the baseline rule catalogue for this tenant and
	// sets its per-file error budget. It is plain data here; esr/rules
	// compiles it (CEL included) when a service loads its configuration.
	Validation Validation `yaml:"validation,omitempty" json:"validation,omitempty"`
	// Partition pins the tenant to one partition of every tenant-keyed
	// internal topic, or to the hash of its code (see Set.Partition); nil
	// means the default spread by position in the file.
	Partition *Pin `yaml:"partition,omitempty" json:"partition,omitempty"`
}

// Validation is a tenant's changes to the baseline validation rules.
type Validation struct {
	// ErrorBudget bounds the rows of one file that may be quarantined at
	// error severity before the whole file is rejected; nil means
	// rules.DefaultBudget.
	ErrorBudget *ErrorBudget `yaml:"error_budget,omitempty" json:"error_budget,omitempty"`
	// Rules changes catalogue rules, by code (ESR-V012 ...).
	Rules map[string]RuleOverride `yaml:"rules,omitempty" json:"rules,omitempty"`
	// Custom are the tenant's own rules, CEL expressions over one record.
	Custom []CustomRule `yaml:"custom,omitempty" json:"custom,omitempty"`
}

// ErrorBudget is a per-file error budget. A file is over it when its rows
// quarantined at error severity exceed MaxErrors, or when they are at least
// MinErrors and exceed MaxPercent of the rows read. A zero threshold is not
// applied; Disabled turns the budget off.
type ErrorBudget struct {
	MaxErrors  int64   `yaml:"max_errors" json:"max_errors"`
	MaxPercent float64 `yaml:"max_percent" json:"max_percent"`
	MinErrors  int64   `yaml:"min_errors" json:"min_errors"`
	Disabled   bool    `yaml:"disabled,omitempty" json:"disabled,omitempty"`
}

// RuleOverride changes one catalogue rule for a tenant.
type RuleOverride struct {
	// Disabled turns the rule off.
	Disabled bool `yaml:"disabled,omitempty" json:"disabled,omitempty"`
	// Severity is error or warning; empty keeps the catalogue's.
	Severity string `yaml:"severity,omitempty" json:"severity,omitempty"`
	// Params replace the named catalogue parameters (others keep theirs).
	Params map[string]any `yaml:"params,omitempty" json:"params,omitempty"`
}

// CustomRule is a tenant rule: a CEL expression that must hold for every
// record of one kind. It is true for a good record; false (or an
// evaluation error) is a violation.
type CustomRule struct {
	// Code is the rule's stable code, unique in the tenant, e.g. RXX-001.
	Code string `yaml:"code" json:"code"`
	// Applies is the record kind: person, assignment, position,
	// organisation or location.
	Applies string `yaml:"applies" json:"applies"`
	// Field is the field the rule is about ("" for the whole record).
	Field string `yaml:"field,omitempty" json:"field,omitempty"`
	// Severity is error (default) or warning.
	Severity string `yaml:"severity,omitempty" json:"severity,omitempty"`
	// Description says what the rule requires, in one line.
	Description string `yaml:"description" json:"description"`
	// Message says what is wrong when it fails; it must not quote values.
	Message string `yaml:"message" json:"message"`
	// Expr is the CEL expression, e.g. "assignment.fte <= 1.0".
	Expr string `yaml:"expr" json:"expr"`
}

// Guard is a tenant's leaver-guard thresholds, applied to each file (the
// baseline excepted). A file trips the guard when its leavers exceed
// MaxLeavers, or when they are at least MinLeavers and exceed MaxPercent of
// the people employed when the file started. A zero threshold is not
// applied; Disabled turns the guard off.
type Guard struct {
	MaxLeavers int     `yaml:"max_leavers" json:"max_leavers"`
	MaxPercent float64 `yaml:"max_percent" json:"max_percent"`
	MinLeavers int     `yaml:"min_leavers" json:"min_leavers"`
	Disabled   bool    `yaml:"disabled,omitempty" json:"disabled,omitempty"`
}

// DefaultGuard is the guard of a tenant that configures none: a normal day
// of a 20,000-person trust (a few dozen leavers) passes, a truncated full
// file does not.
var DefaultGuard = Guard{MaxLeavers: 100, MaxPercent: 5, MinLeavers: 10}

// Trips reports whether leavers out of an active population exceed the
// thresholds, and says which one ("" when it does not).
func (g Guard) Trips(leavers, active int) string {
	if g.Disabled || leavers == 0 {
		return ""
	}
	if g.MaxLeavers > 0 && leavers > g.MaxLeavers {
		return fmt.Sprintf("count %d > %d", leavers, g.MaxLeavers)
	}
	if g.MaxPercent > 0 && leavers >= g.MinLeavers {
		if active <= 0 || float64(leavers)*100 > g.MaxPercent*float64(active) {
			return fmt.Sprintf("%d of %d employed > %g%%", leavers, active, g.MaxPercent)
		}
	}
	return ""
}

// Guard returns the tenant's guard, DefaultGuard when none is configured.
func (t Tenant) Guard() Guard {
	if t.LeaverGuard == nil {
		return DefaultGuard
	}
	return *t.LeaverGuard
}

// What a full file's omissions mean (Feed.Missing).
const (
	// MissingIgnore: a person absent from a full file is unchanged.
	MissingIgnore = "ignore"
	// MissingCorrect: an absent person is removed from state as a data
	// correction, with no event.
	MissingCorrect = "correct"
	// MissingLeave: an absent employed person is a leaver on the file's run
	// date (subject to the leaver guard).
	MissingLeave = "leave"
)

// Feeds holds per-feed settings, by dialect family.
type Feeds struct {
	// GO is the ESR GO interface (go-v1 and go-v2 files).
	GO Feed `yaml:"go,omitempty" json:"go,omitempty"`
	// CSV is the tenant's header-row CSV staff lists (csv.go).
	CSV CSVFeed `yaml:"csv,omitempty" json:"csv,omitempty"`
}

// Feed is one feed's settings.
type Feed struct {
	// Missing is what a full file's omissions mean: ignore, correct or
	// leave. Empty means the feed's default: ignore for GO files (an ESR
	// full file is an extract, and a truncated one must not fan out as mass
	// access removal), leave for CSV staff lists (a list is the whole truth).
	Missing string `yaml:"missing,omitempty" json:"missing,omitempty"`
}

// Missing returns what a full file's omissions mean for a file read with
// dialect (go-v2, go-v1, csv ...).
func (t Tenant) Missing(dialect string) string {
	if strings.HasPrefix(dialect, "csv") {
		return cmp.Or(t.Feeds.CSV.Missing, MissingLeave)
	}
	return cmp.Or(t.Feeds.GO.Missing, MissingIgnore)
}

// Mapping holds a tenant's overrides of the baseline ESR mapping.
type Mapping struct {
	// IgnoreRecordTypes are record types normalise counts as ignored rather
	// than mapping (e.g. COA when a trust does not want costings).
	IgnoreRecordTypes []string `yaml:"ignore_record_types,omitempty" json:"ignore_record_types,omitempty"`
	// StaffGroupAliases maps a trust's local staff-group names to national
	// ones before the staff group is coded.
	StaffGroupAliases map[string]string `yaml:"staff_group_aliases,omitempty" json:"staff_group_aliases,omitempty"`
}

// Set is the configured tenants.
type Set struct {
	byCode map[string]Tenant
	// position is each tenant's index in the order it was configured (the
	// tenants file, the short form): the default partition assignment.
	position map[string]int
}

var (
	odsCode = regexp.MustCompile(`^[A-Z0-9]{3,5}$`)
	vpdCode = regexp.MustCompile(`^[0-9]{3,4}$`)
)

// New validates tenants and builds a Set.
func New(tenants ...Tenant) (*Set, error) {
	s := &Set{byCode: make(map[string]Tenant, len(tenants)), position: make(map[string]int, len(tenants))}
	vpdOwner := map[string]string{}
	for _, t := range tenants {
		t.Code = strings.ToUpper(strings.TrimSpace(t.Code))
		if !odsCode.MatchString(t.Code) {
			return nil, fmt.Errorf("tenant %q: code must be an ODS code of 3-5 letters or digits", t.Code)
		}
		if _, dup := s.byCode[t.Code]; dup {
			return nil, fmt.Errorf("tenant %s: configured twice", t.Code)
		}
		if len(t.VPDs) == 0 {
			return nil, fmt.Errorf("tenant %s: no VPDs", t.Code)
		}
		for _, m := range []string{t.Feeds.GO.Missing, t.Feeds.CSV.Missing} {
			if m != "" && m != MissingIgnore && m != MissingCorrect && m != MissingLeave {
				return nil, fmt.Errorf("tenant %s: feeds: missing %q must be ignore, correct or leave", t.Code, m)
			}
		}
		if err := t.compileCSV(); err != nil {
			return nil, fmt.Errorf("tenant %s: feeds: csv: %w", t.Code, err)
		}
		if t.Partition != nil && !t.Partition.Hash && t.Partition.Number < 0 {
			return nil, fmt.Errorf("tenant %s: partition must be >= 0", t.Code)
		}
		if g := t.LeaverGuard; g != nil && (g.MaxLeavers < 0 || g.MaxPercent < 0 || g.MaxPercent > 100 || g.MinLeavers < 0) {
			return nil, fmt.Errorf("tenant %s: leaver_guard: thresholds must be >= 0 (max_percent <= 100)", t.Code)
		}
		for _, v := range t.VPDs {
			if !vpdCode.MatchString(v) {
				return nil, fmt.Errorf("tenant %s: VPD %q must be 3-4 digits", t.Code, v)
			}
			if other, ok := vpdOwner[v]; ok {
				return nil, fmt.Errorf("tenant %s: VPD %s already belongs to tenant %s", t.Code, v, other)
			}
			vpdOwner[v] = t.Code
		}
		s.position[t.Code] = len(s.position)
		s.byCode[t.Code] = t
	}
	return s, nil
}

// Parse reads the short form used on the command line and in environment
// variables: "RXX=412,RYY=413+414" (tenant=VPD[+VPD...], comma separated).
func Parse(spec string) (*Set, error) {
	var ts []Tenant
	for _, part := range strings.Split(spec, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		code, vpds, ok := strings.Cut(part, "=")
		if !ok {
			return nil, fmt.Errorf("tenant %q: want CODE=VPD[+VPD...]", part)
		}
		ts = append(ts, Tenant{Code: code, VPDs: strings.Split(vpds, "+")})
	}
	return New(ts...)
}

// file is the YAML layout of a tenants file.
type file struct {
	Tenants []Tenant `yaml:"tenants"`
}

// Load reads a YAML tenants file:
//
//	tenants:
//	  - code: RXX
//	    vpds: ["412"]
//	    partition: 3   # optional: pins RXX to partition 3 (see Set.Partition)
//	    mapping:
//	      ignore_record_types: [COA]
//	    leaver_guard: {max_leavers: 100, max_percent: 5, min_leavers: 10}
//	    feeds:
//	      go: {missing: ignore}
//	      csv:
//	        missing: leave
//	        lists:
//	          - name: staff-list
//	            file_name_pattern: 'RXX_STAFF_(?P<date>\d{8})\.csv'
//	            columns:
//	              - {header: Employee Number, field: employee_number, required: true}
//	              - {header: Assignment Number, field: assignment_number, required: true}
//	              - {header: Assignment Status, field: assignment_status, required: true}
//	            values:
//	              assignment_status: {Active Assignment: ACTIVE_ASSIGN}
//	    validation:
//	      error_budget: {max_errors: 500, max_percent: 10, min_errors: 10}
//	      rules:
//	        ESR-V015: {severity: error}
//	        ESR-V021: {params: {max: 37.5}}
//	        ESR-X004: {disabled: true}
//	      custom:
//	        - code: RXX-001
//	          applies: assignment
//	          field: fte
//	          description: Bank assignments carry no FTE.
//	          message: a bank assignment has an FTE
//	          expr: assignment.category != "Bank" || !has(assignment.fte)
func Load(path string) (*Set, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var f file
	dec := yaml.NewDecoder(strings.NewReader(string(b)))
	dec.KnownFields(true)
	if err := dec.Decode(&f); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	s, err := New(f.Tenants...)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return s, nil
}

// FromFlags returns the tenants named by a file path or a short-form spec,
// whichever is set (the file wins); an empty Set when neither is.
func FromFlags(path, spec string) (*Set, error) {
	switch {
	case path != "":
		return Load(path)
	case spec != "":
		return Parse(spec)
	default:
		return New()
	}
}

// Flags is the --tenants / --tenants.file pair every service takes.
type Flags struct{ File, Spec string }

// Register adds the pair to fs; uses says what the service reads from the
// file, for the help text.
func (f *Flags) Register(fs *flag.FlagSet, uses string) {
	fs.StringVar(&f.File, "tenants.file", "", "YAML tenants file ("+uses+"); wins over --tenants")
	fs.StringVar(&f.Spec, "tenants", "", "tenants in short form, e.g. RXX=412,RYY=413+414 (CODE=VPD[+VPD...])")
}

// Load returns the tenants the flags name (see FromFlags).
func (f Flags) Load() (*Set, error) { return FromFlags(f.File, f.Spec) }

// Get returns a tenant by ODS code (any case).
func (s *Set) Get(code string) (Tenant, bool) {
	t, ok := s.byCode[strings.ToUpper(code)]
	return t, ok
}

// Codes lists the tenant codes, sorted.
func (s *Set) Codes() []string {
	out := make([]string, 0, len(s.byCode))
	for c := range s.byCode {
		out = append(out, c)
	}
	sort.Strings(out)
	return out
}

// Partition is the partition, of a tenant-keyed internal topic with n
// partitions, that carries the tenant's records; false for a code that is not
// configured (or n < 1), whose records the producers partition by key hash.
//
// A tenant's configured Partition wins: a number modulo n (so a pin
// survives a topic with fewer partitions than planned), or "hash", which
// answers false so the producers keep the murmur2 placement a store created
// before the assignment has the tenant's state in. Otherwise it is the tenant's position
// in the tenants file modulo n: round robin, so the tenants of the file spread
// over the partitions with at most one tenant between the fullest and the
// emptiest (a hash of the code gave 20 trusts 6/4/3/3/3/1 over six), and
// stable as tenants are appended, because appending changes no earlier
// tenant's position. Removing or reordering tenants does move the ones after
// them: pin those (docs/partitioning.md), since a stateful stage keeps a
// tenant's state in the changelog partition its records arrive on.
func (s *Set) Partition(code string, n int) (int, bool) {
	if s == nil || n < 1 {
		return 0, false
	}
	code = strings.ToUpper(code)
	t, ok := s.byCode[code]
	if !ok {
		return 0, false
	}
	switch {
	case t.Partition != nil && t.Partition.Hash:
		return 0, false
	case t.Partition != nil:
		return t.Partition.Number % n, true
	}
	return s.position[code] % n, true
}

// Ignores reports whether the tenant's mapping ignores a record type.
func (m Mapping) Ignores(recordType string) bool {
	for _, t := range m.IgnoreRecordTypes {
		if strings.EqualFold(t, recordType) {
			return true
		}
	}
	return false
}

// Pin is a tenant's `partition:` in the tenants file: a partition number,
// or "hash" for the murmur2 hash of the code (the placement of stores
// created before the assignment existed).
type Pin struct {
	Number int
	Hash   bool
}

// PinNumber pins to partition n; PinHash keeps the hash placement.
func PinNumber(n int) *Pin { return &Pin{Number: n} }

// PinHash keeps a tenant on the murmur2 partition of its code.
func PinHash() *Pin { return &Pin{Hash: true} }

const pinHash = "hash"

// UnmarshalYAML reads a number or "hash".
func (p *Pin) UnmarshalYAML(node *yaml.Node) error {
	if node.Kind == yaml.ScalarNode && node.Value == pinHash {
		*p = Pin{Hash: true}
		return nil
	}
	var n int
	if err := node.Decode(&n); err != nil {
		return fmt.Errorf("partition: want a partition number or %q", pinHash)
	}
	*p = Pin{Number: n}
	return nil
}

// MarshalYAML writes what UnmarshalYAML reads.
func (p Pin) MarshalYAML() (any, error) {
	if p.Hash {
		return pinHash, nil
	}
	return p.Number, nil
}

// MarshalJSON writes a number or "hash".
func (p Pin) MarshalJSON() ([]byte, error) {
	if p.Hash {
		return []byte(`"` + pinHash + `"`), nil
	}
	return []byte(strconv.Itoa(p.Number)), nil
}

// WithHashPlacement returns a copy of s in which the named tenants that
// have no pin of their own keep the hash placement: how `esrflow up`
// carries a store created before the assignment across the upgrade.
func (s *Set) WithHashPlacement(codes ...string) *Set {
	out := &Set{byCode: make(map[string]Tenant, len(s.byCode)), position: s.position}
	for code, t := range s.byCode {
		out.byCode[code] = t
	}
	for _, code := range codes {
		code = strings.ToUpper(code)
		if t, ok := out.byCode[code]; ok && t.Partition == nil {
			t.Partition = PinHash()
			out.byCode[code] = t
		}
	}
	return out
}
