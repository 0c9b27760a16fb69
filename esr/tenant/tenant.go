// Package tenant is the per-trust configuration every stage reads: which ESR
// VPDs a tenant (an employing organisation, named by its ODS code) receives,
// and how its rows map onto the canonical model. It is plain data loaded from
// a YAML file (or a short flag form for one machine), so a tenant's
// configuration is versioned with the deployment and rolled out on its own.
package tenant

import (
	"fmt"
	"os"
	"regexp"
	"sort"
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
}

var (
	odsCode = regexp.MustCompile(`^[A-Z0-9]{3,5}$`)
	vpdCode = regexp.MustCompile(`^[0-9]{3,4}$`)
)

// New validates tenants and builds a Set.
func New(tenants ...Tenant) (*Set, error) {
	s := &Set{byCode: make(map[string]Tenant, len(tenants))}
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
		for _, v := range t.VPDs {
			if !vpdCode.MatchString(v) {
				return nil, fmt.Errorf("tenant %s: VPD %q must be 3-4 digits", t.Code, v)
			}
			if other, ok := vpdOwner[v]; ok {
				return nil, fmt.Errorf("tenant %s: VPD %s already belongs to tenant %s", t.Code, v, other)
			}
			vpdOwner[v] = t.Code
		}
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
//	    mapping:
//	      ignore_record_types: [COA]
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

// Ignores reports whether the tenant's mapping ignores a record type.
func (m Mapping) Ignores(recordType string) bool {
	for _, t := range m.IgnoreRecordTypes {
		if strings.EqualFold(t, recordType) {
			return true
		}
	}
	return false
}
