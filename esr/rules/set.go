package rules

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"regexp"
	"sort"
	"strings"

	"github.com/esrflow/esrflow/esr/tenant"
)

// DefaultBudget is the error budget of a tenant that configures none: a file
// is rejected once at least 10 of its rows are quarantined at error severity
// and they are more than 10 % of its rows. A bad row or two in a daily change
// file passes (its good rows publish); a file that is mostly wrong — a wrong
// export, a broken extract — does not.
var DefaultBudget = tenant.ErrorBudget{MaxPercent: 10, MinErrors: 10}

// Set is one tenant's compiled rule set: the catalogue with the tenant's
// overrides applied, its CEL rules compiled, and its error budget. A Set is
// immutable and safe for concurrent use.
type Set struct {
	tenant  string
	version string
	rules   map[string][]*active // by record kind: enabled validate-stage rules with a record check, catalogue order
	byCode  map[string]*active   // every catalogue rule, overrides applied
	custom  []*customRule
	budget  tenant.ErrorBudget
}

// active is a catalogue rule as a tenant runs it.
type active struct {
	Rule
	disabled bool
	params   map[string]any
	check    recordCheck    // nil for ingest, normalise and cross-record rules
	pattern  *regexp.Regexp // the compiled "pattern" parameter, when the rule has one
}

// Baseline is the catalogue as it stands, for a tenant with no overrides.
func Baseline() *Set {
	s, err := Compile(tenant.Tenant{})
	if err != nil {
		panic("rules: the baseline does not compile: " + err.Error())
	}
	return s
}

// Compile builds a tenant's rule set. Its errors name the tenant and the
// rule, and for a CEL rule the line and column of the problem.
func Compile(t tenant.Tenant) (*Set, error) {
	s := &Set{tenant: t.Code, rules: map[string][]*active{}, byCode: make(map[string]*active, len(catalogue)), budget: DefaultBudget}
	fail := func(format string, args ...any) error {
		who := "tenant " + t.Code
		if t.Code == "" {
			who = "baseline"
		}
		return fmt.Errorf("%s: validation: %s", who, fmt.Sprintf(format, args...))
	}
	v := t.Validation
	if b := v.ErrorBudget; b != nil {
		if b.MaxErrors < 0 || b.MinErrors < 0 || b.MaxPercent < 0 || b.MaxPercent > 100 {
			return nil, fail("error_budget: thresholds must be >= 0 (max_percent <= 100)")
		}
		s.budget = *b
	}
	for code := range v.Rules {
		r, ok := Lookup(code)
		if !ok {
			return nil, fail("rules: %s is not a catalogue rule (see `esrflow rules`)", code)
		}
		if r.Stage != StageValidate || r.Code == codeErrorBudget {
			return nil, fail("rules: %s runs at %s and cannot be overridden per tenant", code, r.Stage)
		}
	}
	for _, r := range catalogue {
		a := &active{Rule: r, params: map[string]any{}, check: checks[r.Code]}
		for k, val := range r.Params {
			a.params[k] = val
		}
		if o, ok := v.Rules[r.Code]; ok {
			a.disabled = o.Disabled
			if o.Severity != "" {
				sev := Severity(strings.ToLower(o.Severity))
				if sev != Error && sev != Warning {
					return nil, fail("rules: %s: severity %q must be error or warning", r.Code, o.Severity)
				}
				a.Severity = sev
			}
			for k, val := range o.Params {
				def, known := r.Params[k]
				if !known {
					return nil, fail("rules: %s: unknown parameter %q (it has %s)", r.Code, k, paramNames(r))
				}
				if err := sameKind(def, val); err != nil {
					return nil, fail("rules: %s: parameter %s: %v", r.Code, k, err)
				}
				a.params[k] = val
			}
		}
		if p, ok := a.params["pattern"].(string); ok {
			re, err := regexp.Compile(p)
			if err != nil {
				return nil, fail("rules: %s: parameter pattern: %v", r.Code, err)
			}
			a.pattern = re
		}
		s.byCode[r.Code] = a
		if a.check != nil && !a.disabled {
			for _, kind := range a.Applies {
				s.rules[kind] = append(s.rules[kind], a)
			}
		}
	}
	custom, err := compileCustom(t.Code, v.Custom)
	if err != nil {
		return nil, fail("%v", err)
	}
	s.custom = custom
	s.version = version(v)
	return s, nil
}

// codeErrorBudget is the file rule a rejected file is reported under.
const codeErrorBudget = "ESR-F025"

// CodeErrorBudget is the code a file over its error budget is rejected
// under.
func CodeErrorBudget() string { return codeErrorBudget }

func paramNames(r Rule) string {
	names := make([]string, 0, len(r.Params))
	for k := range r.Params {
		names = append(names, k)
	}
	sort.Strings(names)
	if len(names) == 0 {
		return "none"
	}
	return strings.Join(names, ", ")
}

// sameKind checks an override parameter against the catalogue default's kind.
func sameKind(def, val any) error {
	switch def.(type) {
	case int, int64, float64:
		switch val.(type) {
		case int, int64, float64:
			return nil
		}
		return fmt.Errorf("want a number")
	case string:
		if _, ok := val.(string); ok {
			return nil
		}
		return fmt.Errorf("want a string")
	case bool:
		if _, ok := val.(bool); ok {
			return nil
		}
		return fmt.Errorf("want true or false")
	}
	return nil
}

// version is the content hash of everything that decides an outcome: the
// catalogue and the tenant's validation settings. Two tenants with the same
// settings share a version; any change to either makes a new one.
func version(v tenant.Validation) string {
	h := sha256.New()
	h.Write(catalogueYAML)
	b, _ := json.Marshal(v) // maps marshal with sorted keys: stable
	h.Write(b)
	return "rs-" + hex.EncodeToString(h.Sum(nil))[:12]
}

// Tenant is the tenant code the set was compiled for ("" for the baseline).
func (s *Set) Tenant() string { return s.tenant }

// Version is the rule-set version: a content hash that travels with every
// decision (quarantine records, validated records, file reports).
func (s *Set) Version() string { return s.version }

// Budget is the tenant's per-file error budget.
func (s *Set) Budget() tenant.ErrorBudget { return s.budget }

// Enabled reports whether a catalogue rule runs for the tenant.
func (s *Set) Enabled(code string) bool {
	a, ok := s.byCode[code]
	return ok && !a.disabled
}

// Severity is a catalogue rule's severity for the tenant.
func (s *Set) Severity(code string) Severity {
	if a, ok := s.byCode[code]; ok {
		return a.Severity
	}
	for _, c := range s.custom {
		if c.code == code {
			return c.severity
		}
	}
	return Error
}

// OverBudget says whether errors quarantined out of rows read exceed the
// budget, and which threshold ("" when within it).
func (s *Set) OverBudget(errors, rows int64) string {
	b := s.budget
	if b.Disabled || errors == 0 {
		return ""
	}
	if b.MaxErrors > 0 && errors > b.MaxErrors {
		return fmt.Sprintf("%d rows quarantined > max_errors %d", errors, b.MaxErrors)
	}
	if b.MaxPercent > 0 && errors >= b.MinErrors && rows > 0 {
		if pct := 100 * float64(errors) / float64(rows); pct > b.MaxPercent {
			return fmt.Sprintf("%d of %d rows quarantined (%.1f %%) > max_percent %g", errors, rows, pct, b.MaxPercent)
		}
	}
	return ""
}

// CompileAll compiles every configured tenant's rule set; the first error
// stops it. Services call it when they load their tenants, so a bad rule
// fails the start, not a file.
func CompileAll(ts *tenant.Set) (*Sets, error) {
	out := &Sets{byTenant: map[string]*Set{}, baseline: Baseline()}
	if ts == nil {
		return out, nil
	}
	for _, code := range ts.Codes() {
		t, _ := ts.Get(code)
		s, err := Compile(t)
		if err != nil {
			return nil, err
		}
		out.byTenant[code] = s
	}
	return out, nil
}

// Sets are the compiled rule sets of the configured tenants.
type Sets struct {
	byTenant map[string]*Set
	baseline *Set
}

// For returns a tenant's set, or the baseline for a tenant that is not
// configured.
func (s *Sets) For(code string) *Set {
	if s == nil {
		return Baseline()
	}
	if set, ok := s.byTenant[code]; ok {
		return set
	}
	return s.baseline
}

func (a *active) float(name string) float64 {
	switch v := a.params[name].(type) {
	case int:
		return float64(v)
	case int64:
		return float64(v)
	case float64:
		return v
	}
	return 0
}
