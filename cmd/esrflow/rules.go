package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"text/tabwriter"

	"github.com/esrflow/esrflow/esr/rules"
	"github.com/esrflow/esrflow/esr/tenant"
)

// rulesReportVersion is the version of `esrflow rules --format json`'s
// layout.
const rulesReportVersion = 1

// rulesReport is `esrflow rules`'s JSON (documented in docs/validation.md).
type rulesReport struct {
	Version int `json:"version"`
	// Tenant is "" for the baseline catalogue.
	Tenant         string          `json:"tenant"`
	RuleSetVersion string          `json:"rule_set_version"`
	Budget         budgetReport    `json:"error_budget"`
	Rules          []effectiveRule `json:"rules"`
	Custom         []customRule    `json:"custom"`
}

// effectiveRule is a catalogue rule as a tenant runs it.
type effectiveRule struct {
	rules.Rule
	Category string `json:"category"`
	Enabled  bool   `json:"enabled"`
	// Overridden is set when the tenant changed the rule (disabled it, or
	// its severity or parameters).
	Overridden bool `json:"overridden"`
}

// customRule is a tenant's CEL rule.
type customRule struct {
	Code        string `json:"code"`
	Applies     string `json:"applies"`
	Field       string `json:"field"`
	Severity    string `json:"severity"`
	Description string `json:"description"`
	Message     string `json:"message"`
	Expr        string `json:"expr"`
}

// runRules is `esrflow rules`: the catalogue, or with --tenant the rules
// as that tenant runs them (overrides applied, its CEL rules, its
// rule-set version).
func runRules(_ context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("rules", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: esrflow rules [--format text|json] [--stage ingest|normalise|validate] [--tenant RXX --tenants FILE] | --cel-fields")
		fs.PrintDefaults()
	}
	formatName := fs.String("format", "text", "output format: text or json")
	stage := fs.String("stage", "", "only the rules of one stage: ingest, normalise or validate")
	tenantCode := fs.String("tenant", "", "show tenant `RXX`'s effective rules (needs --tenants)")
	tenantsFile := fs.String("tenants", "", "tenants `FILE` (YAML) with their validation overrides; or short form RXX=412")
	celFields := fs.Bool("cel-fields", false, "print instead the fields and variables a tenant's CEL rules can read, per record kind")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return &exitError{code: 2}
	}
	switch {
	case fs.NArg() > 0:
		return usageErr("unexpected argument %q", fs.Arg(0))
	case *formatName != "text" && *formatName != "json":
		return usageErr("--format %q: want text or json", *formatName)
	case *stage != "" && !slices.Contains([]rules.Stage{rules.StageIngest, rules.StageNormalise, rules.StageValidate}, rules.Stage(*stage)):
		return usageErr("--stage %q: want ingest, normalise or validate", *stage)
	case *tenantCode != "" && *tenantsFile == "":
		return usageErr("--tenant needs --tenants")
	}
	if *celFields {
		return writeCELFields(stdout, *formatName)
	}
	ts, sets, err := loadTenantRules(*tenantsFile)
	if err != nil {
		return &exitError{code: 2, err: err}
	}
	var t tenant.Tenant
	if *tenantCode != "" {
		var ok bool
		if t, ok = ts.Get(*tenantCode); !ok {
			return usageErr("--tenant %s: not in --tenants", strings.ToUpper(*tenantCode))
		}
	}
	rep := effectiveRules(t, sets.For(t.Code), rules.Stage(*stage))
	if *formatName == "json" {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(rep)
	}
	return writeRulesText(stdout, rep, isTerminal(stdout))
}

// effectiveRules applies a tenant's overrides to the catalogue the way
// rules.Compile does (the Set answers enabled and severity; parameters are
// the catalogue's with the tenant's laid over them).
func effectiveRules(t tenant.Tenant, set *rules.Set, stage rules.Stage) rulesReport {
	b := set.Budget()
	rep := rulesReport{Version: rulesReportVersion, Tenant: t.Code, RuleSetVersion: set.Version(),
		Budget: budgetReport{MaxErrors: b.MaxErrors, MaxPercent: b.MaxPercent, MinErrors: b.MinErrors, Disabled: b.Disabled},
		Rules:  []effectiveRule{}, Custom: []customRule{}}
	for _, r := range rules.Catalogue() {
		if stage != "" && r.Stage != stage {
			continue
		}
		o, overridden := t.Validation.Rules[r.Code]
		r.Severity = set.Severity(r.Code)
		if len(o.Params) > 0 {
			params := maps.Clone(r.Params)
			maps.Copy(params, o.Params)
			r.Params = params
		}
		rep.Rules = append(rep.Rules, effectiveRule{Rule: r, Category: r.Category(), Enabled: set.Enabled(r.Code), Overridden: overridden})
	}
	if stage == "" || stage == rules.StageValidate {
		for _, c := range t.Validation.Custom {
			sev := strings.ToLower(c.Severity)
			if sev == "" {
				sev = string(rules.Error)
			}
			rep.Custom = append(rep.Custom, customRule{Code: c.Code, Applies: c.Applies, Field: c.Field, Severity: sev,
				Description: c.Description, Message: c.Message, Expr: c.Expr})
		}
	}
	return rep
}

func writeRulesText(w io.Writer, rep rulesReport, colour bool) error {
	p := painter(colour)
	var b strings.Builder
	who := "baseline catalogue"
	if rep.Tenant != "" {
		who = "tenant " + rep.Tenant
	}
	fmt.Fprintf(&b, "%s, rule set %s, error budget %s\n\n", who, rep.RuleSetVersion, budgetLimits(rep.Budget))
	tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "code\tseverity\tstage\tapplies\tname\tdescription")
	for _, r := range rep.Rules {
		sev := fmt.Sprintf("%-8s", r.Severity)
		switch {
		case !r.Enabled:
			sev = p.paint(ansiYellow, fmt.Sprintf("%-8s", "off"))
		case r.Severity == rules.Error:
			sev = p.paint(ansiRed, sev)
		default:
			sev = p.paint(ansiYellow, sev)
		}
		name := r.Name
		if r.Overridden {
			name += " *"
		}
		desc := r.Description
		if len(r.Params) > 0 {
			desc += " " + formatParams(r.Params)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", r.Code, sev, r.Stage, appliesText(r.Applies), name, desc)
	}
	for _, c := range rep.Custom {
		fmt.Fprintf(tw, "%s\t%-8s\t%s\t%s\t%s\t%s [cel: %s]\n", c.Code, c.Severity, rules.StageValidate, c.Applies, tenantRuleName, c.Description, c.Expr)
	}
	tw.Flush()
	fmt.Fprintf(&b, "\n%d rules", len(rep.Rules)+len(rep.Custom))
	if rep.Tenant != "" {
		off, changed := 0, 0
		for _, r := range rep.Rules {
			if !r.Enabled {
				off++
			}
			if r.Overridden {
				changed++
			}
		}
		fmt.Fprintf(&b, " (%d overridden, marked *; %d off; %d tenant CEL rules)", changed, off, len(rep.Custom))
	}
	b.WriteString("\n")
	_, err := io.WriteString(w, b.String())
	return err
}

// formatParams renders parameters as (name=value, ...) in name order.
func formatParams(ps map[string]any) string {
	parts := make([]string, 0, len(ps))
	for _, k := range slices.Sorted(maps.Keys(ps)) {
		parts = append(parts, fmt.Sprintf("%s=%v", k, ps[k]))
	}
	return "(" + strings.Join(parts, ", ") + ")"
}

// appliesText is a rule's record kinds, "all" for all five.
func appliesText(kinds []string) string {
	if len(kinds) == len(rules.RecordKinds) {
		return "all"
	}
	return orDash(strings.Join(kinds, ","))
}

// celFieldsReport is `esrflow rules --cel-fields --format json`.
type celFieldsReport struct {
	Version   int                   `json:"version"`
	Variables map[string]string     `json:"variables"`
	Kinds     map[string][]celField `json:"kinds"`
}

type celField struct {
	Path     string `json:"path"`
	Type     string `json:"type"`
	Optional bool   `json:"optional"`
}

// writeCELFields prints what a tenant rule can read: per record kind its
// variable's fields (optional ones need has()), and the variables every
// rule has.
func writeCELFields(w io.Writer, format string) error {
	rep := celFieldsReport{Version: rulesReportVersion, Variables: rules.CELVariables(), Kinds: map[string][]celField{}}
	for _, kind := range rules.RecordKinds {
		for _, f := range rules.CELFields(kind) {
			rep.Kinds[kind] = append(rep.Kinds[kind], celField{Path: f.Path, Type: f.Type, Optional: f.Optional})
		}
	}
	if format == "json" {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(rep)
	}
	var b strings.Builder
	tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "variable\tfield\ttype\toptional (read with has() first)")
	for _, kind := range rules.RecordKinds {
		for _, f := range rep.Kinds[kind] {
			opt := ""
			if f.Optional {
				opt = "optional"
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", kind, f.Path, f.Type, opt)
		}
	}
	for _, k := range slices.Sorted(maps.Keys(rep.Variables)) {
		fmt.Fprintf(tw, "%s\t-\t%s\t\n", k, rep.Variables[k])
	}
	tw.Flush()
	_, err := io.WriteString(w, b.String())
	return err
}
