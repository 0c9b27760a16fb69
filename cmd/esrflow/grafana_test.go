package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"regexp/syntax"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/VictoriaMetrics/metricsql"
	"github.com/grafana/grafana-foundation-sdk/go/cog"
	"github.com/grafana/grafana-foundation-sdk/go/cog/plugins"
	"github.com/grafana/grafana-foundation-sdk/go/common"
	"github.com/grafana/grafana-foundation-sdk/go/dashboard"
	grafanaprom "github.com/grafana/grafana-foundation-sdk/go/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"gopkg.in/yaml.v3"
)

// The Grafana side of deploy/: dashboards, and the provisioning that gives
// them their datasource. The dashboards name the datasource by this uid, so
// they work on any Grafana whose Prometheus datasource carries it.
const (
	grafanaDir           = "deploy/grafana"
	grafanaDatasourceUID = "esrflow-prometheus"
	// grafanaMinSchema is the dashboard schema Grafana 12.0 writes; compose
	// pins a 12.x image, which migrates anything older on load.
	grafanaMinSchema = 41
)

// grafanaDashboards are the dashboard files; each must exist.
var grafanaDashboards = []string{"pipeline.json", "services.json"}

// registerGrafanaPlugins lets the SDK decode panel options and targets by
// panel type and datasource type: without it, options and targets would be
// kept as untyped bags and a misspelt field in them would pass.
var registerGrafanaPlugins = sync.OnceFunc(plugins.RegisterDefaultPlugins)

// metricRef is one metric a dashboard's query names, and where.
type metricRef struct {
	where  string // "pipeline.json panel 3 (Rows ingested) target A"
	metric string
}

// grafanaBuiltins are Grafana's own variables the dashboards use, each with
// a stand-in value the query parsers accept.
var grafanaBuiltins = map[string]string{
	"__rate_interval": "5m",
	"__interval":      "1m",
	"__range":         "1d",
}

var grafanaVarRef = regexp.MustCompile(`\$(\w+)|\$\{(\w+)(?::\w+)?\}`)

// interpolate replaces template variables the way Grafana would before it
// sends a query: builtins by a duration, dashboard variables by a label
// value. A variable the dashboard does not define is an error: Grafana would
// send "$name" as it is and the panel would be empty.
func interpolate(expr string, vars map[string]bool) (string, error) {
	var undefined []string
	out := grafanaVarRef.ReplaceAllStringFunc(expr, func(m string) string {
		sub := grafanaVarRef.FindStringSubmatch(m)
		name := sub[1] + sub[2]
		if v, ok := grafanaBuiltins[name]; ok {
			return v
		}
		if vars[name] {
			return "x"
		}
		undefined = append(undefined, m)
		return m
	})
	if len(undefined) > 0 {
		return "", fmt.Errorf("undefined variable(s) %v", undefined)
	}
	return out, nil
}

// metricNames parses a PromQL expression and returns every metric name its
// selectors name. A selector by a __name__ regex counts as each name the
// regex can match, which must be finitely many (an alternation of
// literals): the dashboard must say which metrics it reads, so they can be
// checked against what the services export.
func metricNames(expr string) ([]string, error) {
	e, err := metricsql.Parse(expr)
	if err != nil {
		return nil, err
	}
	var names []string
	var errs []error
	metricsql.VisitAll(e, func(e metricsql.Expr) {
		me, ok := e.(*metricsql.MetricExpr)
		if !ok {
			return
		}
		for _, lfs := range me.LabelFilterss {
			var named bool
			for _, lf := range lfs {
				if lf.Label != "__name__" {
					continue
				}
				named = true
				switch {
				case lf.IsNegative:
					errs = append(errs, fmt.Errorf("negative __name__ matcher in %s", me.AppendString(nil)))
				case !lf.IsRegexp:
					names = append(names, lf.Value)
				default:
					all, err := regexpStrings(lf.Value)
					if err != nil {
						errs = append(errs, fmt.Errorf("__name__=~%q: %w", lf.Value, err))
					}
					names = append(names, all...)
				}
			}
			if !named {
				errs = append(errs, fmt.Errorf("selector %s names no metric", me.AppendString(nil)))
			}
		}
	})
	if len(names) == 0 && len(errs) == 0 {
		errs = append(errs, errors.New("the query reads no metric"))
	}
	return names, errors.Join(errs...)
}

// regexpStrings lists every string a regular expression matches (anchored,
// as Prometheus anchors label matchers), if there are few of them.
func regexpStrings(expr string) ([]string, error) {
	re, err := syntax.Parse(expr, syntax.Perl)
	if err != nil {
		return nil, err
	}
	var expand func(re *syntax.Regexp) ([]string, error)
	expand = func(re *syntax.Regexp) ([]string, error) {
		switch re.Op {
		case syntax.OpLiteral:
			return []string{string(re.Rune)}, nil
		case syntax.OpEmptyMatch:
			return []string{""}, nil
		case syntax.OpCapture:
			return expand(re.Sub[0])
		case syntax.OpAlternate:
			var out []string
			for _, s := range re.Sub {
				more, err := expand(s)
				if err != nil {
					return nil, err
				}
				out = append(out, more...)
			}
			return out, nil
		case syntax.OpConcat:
			out := []string{""}
			for _, s := range re.Sub {
				more, err := expand(s)
				if err != nil {
					return nil, err
				}
				var next []string
				for _, a := range out {
					for _, b := range more {
						next = append(next, a+b)
					}
				}
				out = next
			}
			return out, nil
		case syntax.OpCharClass:
			var out []string
			for i := 0; i+1 < len(re.Rune); i += 2 {
				for r := re.Rune[i]; r <= re.Rune[i+1]; r++ {
					out = append(out, string(r))
				}
			}
			if len(out) > 64 {
				return nil, errors.New("character class too wide to list")
			}
			return out, nil
		}
		return nil, fmt.Errorf("%s matches unboundedly many names; list them", re)
	}
	out, err := expand(re.Simplify())
	if err == nil && len(out) > 64 {
		err = errors.New("matches too many names to list")
	}
	return out, err
}

var labelValuesQuery = regexp.MustCompile(`^\s*label_values\(\s*(.+)\s*,\s*(\w+)\s*\)\s*$`)

// checkedDashboard is what checkDashboard found in one dashboard.
type checkedDashboard struct {
	refs  []metricRef
	exprs []string // interpolated, for promtool
}

// checkDashboard decodes a dashboard as Grafana's own schema (the Grafana
// Foundation SDK, strictly: an unknown or misspelt field, a wrong type or a
// missing required field anywhere is an error) and checks what the schema
// cannot: panel ids unique, every panel placed, on the provisioned
// Prometheus datasource, with PromQL targets that parse and name metrics.
func checkDashboard(name string, raw []byte) (checkedDashboard, error) {
	registerGrafanaPlugins()
	var out checkedDashboard
	var strict dashboard.Dashboard
	if err := sdkError(strict.UnmarshalJSONStrict(raw)); err != nil {
		return out, fmt.Errorf("%s: not a Grafana dashboard: %w", name, err)
	}
	// The strict decoder reports every error, but in v0.0.22 it also drops
	// each panel that decoded cleanly (PanelOrRowPanel takes the panel's
	// empty error list for a failure), so the model the checks below read
	// is decoded again, leniently: the strict pass has already refused
	// anything the lenient one would let through.
	var d dashboard.Dashboard
	if err := json.Unmarshal(raw, &d); err != nil {
		return out, fmt.Errorf("%s: %w", name, err)
	}
	var errs []error
	fail := func(format string, args ...any) { errs = append(errs, fmt.Errorf(name+": "+format, args...)) }
	if err := sdkError(d.Validate()); err != nil {
		fail("%v", err)
	}
	if d.Uid == nil || *d.Uid == "" || d.Title == nil || *d.Title == "" {
		fail("uid and title are required: provisioning and links use them")
	}
	if d.SchemaVersion < grafanaMinSchema {
		fail("schemaVersion %d, want at least %d (Grafana 12)", d.SchemaVersion, grafanaMinSchema)
	}

	vars := map[string]bool{}
	for _, v := range d.Templating.List {
		vars[v.Name] = true
	}
	addExpr := func(where, expr string) {
		q, err := interpolate(expr, vars)
		if err != nil {
			fail("%s: %v", where, err)
			return
		}
		names, err := metricNames(q)
		if err != nil {
			fail("%s: %q: %v", where, expr, err)
		}
		for _, n := range names {
			out.refs = append(out.refs, metricRef{where: name + " " + where, metric: n})
		}
		out.exprs = append(out.exprs, q)
	}
	for _, v := range d.Templating.List {
		where := "variable " + v.Name
		if v.Type != dashboard.VariableTypeQuery {
			continue
		}
		if !provisionedDatasource(v.Datasource) {
			fail("%s: datasource is not the provisioned Prometheus (uid %s)", where, grafanaDatasourceUID)
		}
		var q string
		if v.Query != nil && v.Query.String != nil {
			q = *v.Query.String
		} else if v.Query != nil && v.Query.Map != nil {
			q, _ = v.Query.Map["query"].(string)
		}
		m := labelValuesQuery.FindStringSubmatch(q)
		if m == nil {
			fail("%s: query %q, want label_values(<selector>, <label>)", where, q)
			continue
		}
		addExpr(where, m[1])
	}

	ids := map[uint32]string{}
	var panels []dashboard.Panel
	for _, p := range d.Panels {
		switch {
		case p.Panel != nil:
			panels = append(panels, *p.Panel)
		case p.RowPanel != nil:
			// A row only groups: it has an id and a place, no query.
			r := p.RowPanel
			if r.GridPos == nil {
				fail("row %d: no gridPos", r.Id)
			}
			if _, dup := ids[r.Id]; dup {
				fail("row %d: id repeated", r.Id)
			}
			ids[r.Id] = "row"
			panels = append(panels, r.Panels...)
		}
	}
	if len(panels) == 0 {
		fail("no panels")
	}
	for i, p := range panels {
		title := ""
		if p.Title != nil {
			title = *p.Title
		}
		where := fmt.Sprintf("panel %d (%s)", i, title)
		if p.Id == nil {
			fail("%s: no id", where)
		} else {
			if other, dup := ids[*p.Id]; dup {
				fail("%s: id %d is also %s's", where, *p.Id, other)
			}
			ids[*p.Id] = title
			where = fmt.Sprintf("panel %d (%s)", *p.Id, title)
		}
		if title == "" {
			fail("%s: no title", where)
		}
		if _, ok := cog.ConfigForPanelcfgVariant(p.Type); !ok {
			fail("%s: panel type %q is not one Grafana ships", where, p.Type)
		}
		if g := p.GridPos; g == nil {
			fail("%s: no gridPos", where)
		} else if g.W == 0 || g.H == 0 || g.X+g.W > 24 {
			fail("%s: gridPos %+v is outside the 24-column grid", where, *g)
		}
		if !provisionedDatasource(p.Datasource) {
			fail("%s: datasource is not the provisioned Prometheus (uid %s)", where, grafanaDatasourceUID)
		}
		if len(p.Targets) == 0 {
			fail("%s: no targets", where)
		}
		refIDs := map[string]bool{}
		for j, tq := range p.Targets {
			q, ok := tq.(*grafanaprom.Dataquery)
			if !ok {
				fail("%s: target %d is %T, not a Prometheus query (its datasource must say type prometheus)", where, j, tq)
				continue
			}
			tw := fmt.Sprintf("%s target %d", where, j)
			if q.RefId == nil || *q.RefId == "" || refIDs[*q.RefId] {
				fail("%s: refId missing or repeated", tw)
			} else {
				refIDs[*q.RefId] = true
				tw = where + " target " + *q.RefId
			}
			if !provisionedDatasource(q.Datasource) {
				fail("%s: datasource is not the provisioned Prometheus (uid %s)", tw, grafanaDatasourceUID)
			}
			if strings.TrimSpace(q.Expr) == "" {
				fail("%s: no expr", tw)
				continue
			}
			addExpr(tw, q.Expr)
		}
	}
	return out, errors.Join(errs...)
}

// sdkError: the SDK returns its error list as an error even when it is
// empty (a non-nil interface holding a nil slice).
func sdkError(err error) error {
	var list cog.BuildErrors
	if errors.As(err, &list) && len(list) == 0 {
		return nil
	}
	return err
}

// provisionedDatasource: the reference names the Prometheus datasource
// deploy/grafana/provisioning creates.
func provisionedDatasource(ds *common.DataSourceRef) bool {
	return ds != nil && ds.Uid != nil && *ds.Uid == grafanaDatasourceUID && ds.Type != nil && *ds.Type == "prometheus"
}

func readGrafanaDashboards(t *testing.T) map[string][]byte {
	t.Helper()
	out := map[string][]byte{}
	for _, name := range grafanaDashboards {
		b, err := os.ReadFile(filepath.Join(repoRoot, grafanaDir, "dashboards", name))
		if err != nil {
			t.Fatal(err)
		}
		out[name] = b
	}
	// Every file in the folder is provisioned: none may escape the checks.
	all, err := filepath.Glob(filepath.Join(repoRoot, grafanaDir, "dashboards", "*"))
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range all {
		if _, ok := out[filepath.Base(f)]; !ok {
			t.Errorf("%s is provisioned but not in grafanaDashboards: add it so it is checked", f)
		}
	}
	return out
}

// checkGrafanaDashboards checks every dashboard and returns the metrics
// they name, failing the test on any dashboard error.
func checkGrafanaDashboards(t *testing.T) []metricRef {
	t.Helper()
	var refs []metricRef
	var exprs []string
	for name, raw := range readGrafanaDashboards(t) {
		c, err := checkDashboard(name, raw)
		if err != nil {
			t.Error(err)
		}
		refs = append(refs, c.refs...)
		exprs = append(exprs, c.exprs...)
	}
	if ran, err := promtoolCheck(exprs); err != nil {
		t.Error(err)
	} else if !ran {
		t.Log("promtool not on PATH: the dashboards' queries were parsed as MetricsQL only, not by Prometheus")
	}
	return refs
}

// promtoolCheck has Prometheus itself parse every query, as recording
// rules: metricsql (which extracts the metric names) accepts MetricsQL, a
// superset of PromQL, so a query only VictoriaMetrics understands would
// otherwise pass. CI installs promtool (Debian's prometheus package); ran
// is false without it.
func promtoolCheck(exprs []string) (ran bool, err error) {
	promtool, err := exec.LookPath("promtool")
	if err != nil {
		return false, nil
	}
	type rule struct {
		Record string `yaml:"record"`
		Expr   string `yaml:"expr"`
	}
	var rules []rule
	for i, e := range exprs {
		rules = append(rules, rule{Record: fmt.Sprintf("esrflow:grafana_query:%d", i), Expr: e})
	}
	b, err := yaml.Marshal(map[string]any{"groups": []any{map[string]any{"name": "grafana", "rules": rules}}})
	if err != nil {
		return true, err
	}
	dir, err := os.MkdirTemp("", "grafana-queries")
	if err != nil {
		return true, err
	}
	defer os.RemoveAll(dir)
	f := filepath.Join(dir, "queries.yml")
	if err := os.WriteFile(f, b, 0o600); err != nil {
		return true, err
	}
	if out, err := exec.Command(promtool, "check", "rules", f).CombinedOutput(); err != nil {
		return true, fmt.Errorf("promtool rejects a query: %v\n%s\n%s", err, out, b)
	}
	return true, nil
}

// The dashboards are valid Grafana dashboards on the provisioned
// datasource, and compose provisions them.
func TestGrafanaDashboards(t *testing.T) {
	refs := checkGrafanaDashboards(t)
	if len(refs) == 0 {
		t.Fatal("the dashboards name no metric")
	}
	var tenantVar bool
	for _, r := range refs {
		if strings.HasPrefix(r.where, "pipeline.json variable tenant") {
			tenantVar = true
		}
	}
	if !tenantVar {
		t.Error("pipeline.json has no tenant variable from label_values")
	}

	// The datasource the dashboards name is the one provisioned.
	var ds struct {
		Datasources []struct {
			UID  string `yaml:"uid"`
			Type string `yaml:"type"`
			URL  string `yaml:"url"`
		} `yaml:"datasources"`
	}
	readYAML(t, filepath.Join(grafanaDir, "provisioning/datasources/prometheus.yml"), &ds)
	if len(ds.Datasources) != 1 || ds.Datasources[0].UID != grafanaDatasourceUID || ds.Datasources[0].Type != "prometheus" ||
		ds.Datasources[0].URL != "http://prometheus:9090" {
		t.Errorf("datasources = %+v, want one prometheus at http://prometheus:9090 with uid %s", ds.Datasources, grafanaDatasourceUID)
	}
	var prov struct {
		Providers []struct {
			Type    string `yaml:"type"`
			Options struct {
				Path string `yaml:"path"`
			} `yaml:"options"`
		} `yaml:"providers"`
	}
	readYAML(t, filepath.Join(grafanaDir, "provisioning/dashboards/esrflow.yml"), &prov)
	if len(prov.Providers) != 1 || prov.Providers[0].Type != "file" {
		t.Fatalf("dashboard providers = %+v, want one file provider", prov.Providers)
	}

	// Compose mounts the provisioning where Grafana reads it, and the
	// dashboards where the provider looks.
	g, ok := readCompose(t).Services["grafana"]
	if !ok {
		t.Fatal("compose has no grafana service")
	}
	want := []string{
		"./" + grafanaDir + "/provisioning:/etc/grafana/provisioning:ro",
		"./" + grafanaDir + "/dashboards:" + prov.Providers[0].Options.Path + ":ro",
	}
	for _, v := range want {
		if !slices.Contains(g.Volumes, v) {
			t.Errorf("grafana does not mount %s (volumes %v)", v, g.Volumes)
		}
	}
	if _, ok := g.DependsOn["prometheus"]; !ok {
		t.Error("grafana does not depend on prometheus")
	}
	if !regexp.MustCompile(`^grafana/grafana(-oss)?:1[12]\.\d+\.\d+$`).MatchString(g.Image) {
		t.Errorf("grafana image %q: want a pinned 11.x or 12.x tag", g.Image)
	}
}

func readYAML(t *testing.T, rel string, v any) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(repoRoot, rel))
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(b, v); err != nil {
		t.Fatalf("%s: %v", rel, err)
	}
}

// The checks must be able to fail: each mistake in a copy of the pipeline
// dashboard is caught.
func TestGrafanaDashboardChecksCatchMistakes(t *testing.T) {
	raw := readGrafanaDashboards(t)["pipeline.json"]
	if _, err := checkDashboard("pipeline.json", raw); err != nil {
		t.Fatalf("the dashboard itself fails: %v", err)
	}
	for _, c := range []struct{ name, old, new string }{
		{"misspelt panel field", `"gridPos"`, `"gridPoss"`},
		{"misspelt option", `"showLegend"`, `"showLegnd"`},
		{"misspelt target field", `"legendFormat"`, `"legendFromat"`},
		{"wrong type", `"schemaVersion": 41`, `"schemaVersion": "41"`},
		{"wrong type in a panel", `"w": 4`, `"w": "4"`},
		{"old schema", `"schemaVersion": 41`, `"schemaVersion": 36`},
		{"duplicate panel id", `"id": 2`, `"id": 1`},
		{"undefined variable", `$tenant`, `$tennant`},
		{"not PromQL", `sum by (tenant) (increase(esrflow_ingest_rows_total`, `sum by (tenant) ((increase(esrflow_ingest_rows_total`},
		{"unbounded name regex", `esrflow_(normalise|validate)_quarantined_total`, `esrflow_.*_quarantined_total`},
		{"no panel type", `"type": "stat",`, ``},
		{"unknown panel type", `"type": "stat"`, `"type": "stats"`},
	} {
		t.Run(c.name, func(t *testing.T) {
			bad := bytes.Replace(raw, []byte(c.old), []byte(c.new), 1)
			if bytes.Equal(bad, raw) {
				t.Fatalf("%q is not in the dashboard", c.old)
			}
			if _, err := checkDashboard("pipeline.json", bad); err == nil {
				t.Errorf("not caught")
			} else {
				t.Log(err)
			}
		})
	}
	// Mistakes in one panel or target, made on the decoded JSON.
	for _, c := range []struct {
		name   string
		mutate func(panel map[string]any, target map[string]any)
	}{
		{"panel on another datasource", func(p, _ map[string]any) { p["datasource"] = map[string]any{"type": "prometheus", "uid": "prometheus"} }},
		{"panel without datasource", func(p, _ map[string]any) { delete(p, "datasource") }},
		{"target on another datasource", func(_, q map[string]any) { q["datasource"] = map[string]any{"type": "prometheus", "uid": "other"} }},
		{"target without datasource type", func(_, q map[string]any) { q["datasource"] = map[string]any{"uid": grafanaDatasourceUID} }},
		{"target without expr", func(_, q map[string]any) { q["expr"] = "" }},
		{"target naming no metric", func(_, q map[string]any) { q["expr"] = `sum({tenant="x"})` }},
		{"panel without gridPos", func(p, _ map[string]any) { delete(p, "gridPos") }},
		{"panel without targets", func(p, _ map[string]any) { delete(p, "targets") }},
	} {
		t.Run(c.name, func(t *testing.T) {
			var d map[string]any
			if err := json.Unmarshal(raw, &d); err != nil {
				t.Fatal(err)
			}
			panel := d["panels"].([]any)[3].(map[string]any)
			c.mutate(panel, panel["targets"].([]any)[0].(map[string]any))
			bad, err := json.Marshal(d)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := checkDashboard("pipeline.json", bad); err == nil {
				t.Errorf("not caught")
			} else {
				t.Log(err)
			}
		})
	}

	names, err := metricNames(`sum(increase({__name__=~"esrflow_(normalise|validate)_quarantined_total", tenant=~"x"}[6h])) / sum(increase(esrflow_ingest_rows_total[6h]))`)
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(names)
	if want := []string{"esrflow_ingest_rows_total", "esrflow_normalise_quarantined_total", "esrflow_validate_quarantined_total"}; !slices.Equal(names, want) {
		t.Errorf("metricNames = %v, want %v", names, want)
	}

	// PromQL, not MetricsQL: rate() without a range is MetricsQL only.
	mql := `sum(rate(esrflow_ingest_rows_total{tenant="x"}))`
	if _, err := metricNames(mql); err != nil {
		t.Errorf("metricsql: %v", err)
	}
	if ran, err := promtoolCheck([]string{mql}); ran && err == nil {
		t.Errorf("promtool accepts %s", mql)
	}

	// A panel naming a metric no service exports is reported.
	exported := exportedSeries(map[string]*dto.MetricFamily{
		"esrflow_ingest_rows_total":     family(dto.MetricType_COUNTER, 1),
		"esrflow_stage_restore_seconds": family(dto.MetricType_HISTOGRAM, 1),
		"esrflow_publish_events_total":  family(dto.MetricType_COUNTER, 0), // a CounterVec with no child yet
	})
	missing := missingMetrics([]metricRef{
		{"a", "esrflow_ingest_rows_total"}, {"b", "esrflow_ingest_row_total"},
		{"c", "esrflow_stage_restore_seconds_bucket"}, {"d", "esrflow_stage_restore_seconds_count"}, {"e", "esrflow_stage_restore_seconds"},
		{"f", "esrflow_publish_events_total"},
	}, exported)
	if want := []string{"b: esrflow_ingest_row_total", "e: esrflow_stage_restore_seconds", "f: esrflow_publish_events_total"}; !slices.Equal(missing, want) {
		t.Errorf("missing = %v, want %v", missing, want)
	}
}

func family(typ dto.MetricType, children int) *dto.MetricFamily {
	return &dto.MetricFamily{Type: &typ, Metric: make([]*dto.Metric, children)}
}

// exportedSeries are the series names a scrape's families give PromQL: a
// histogram is queried by its _bucket, _sum and _count series, never by
// its own name. A family with no series (a vector none of whose label
// combinations has been seen) exports nothing.
func exportedSeries(fams map[string]*dto.MetricFamily) map[string]bool {
	out := map[string]bool{}
	for name, f := range fams {
		if len(f.Metric) == 0 {
			continue
		}
		switch f.GetType() {
		case dto.MetricType_HISTOGRAM, dto.MetricType_GAUGE_HISTOGRAM:
			out[name+"_bucket"], out[name+"_sum"], out[name+"_count"] = true, true, true
		case dto.MetricType_SUMMARY:
			out[name], out[name+"_sum"], out[name+"_count"] = true, true, true
		default:
			out[name] = true
		}
	}
	return out
}

// missingMetrics lists the references to series not exported, sorted.
func missingMetrics(refs []metricRef, exported map[string]bool) []string {
	var out []string
	for _, r := range refs {
		if !exported[r.metric] {
			out = append(out, r.where+": "+r.metric)
		}
	}
	sort.Strings(out)
	return slices.Compact(out)
}

var metricsURL = regexp.MustCompile(`metrics: +(http://\S+/metrics)`)

func scrapeMetrics(url string) (map[string]*dto.MetricFamily, error) {
	resp, err := http.Get(url)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	return p.TextToMetricFamilies(resp.Body)
}

// Every metric a dashboard panel or variable reads is one the services
// export: `esrflow up --demo` (every service in one process, on one
// /metrics) runs the demo's 11 files through, and its /metrics must have
// them all. A labelled metric only appears once one of its series is set,
// so the test looks in two phases and a metric must be in either:
//   - the demo's files through (plus up to 20 s for what the leaver clock
//     publishes): the counters of what the files did (quarantined rows,
//     events by type, leaver latencies);
//   - a restart on the same data folder: publish's per-tenant gauges
//     (esrflow_publish_held_batches, ..._scheduled_leavers) are set when a
//     tenant's state is restored or a batch is held, so a first run that
//     holds nothing has none; every later start has them.
func TestGrafanaDashboardMetricsAreExported(t *testing.T) {
	refs := checkGrafanaDashboards(t)
	_, args := demoArgs(t)
	for i, a := range args {
		if a == "--metrics.addr" {
			args[i+1] = "127.0.0.1:0"
		}
	}
	missing := refs
	scrape := func(out string) {
		m := metricsURL.FindStringSubmatch(out)
		if m == nil {
			t.Fatalf("up announced no metrics address:\n%s", out)
		}
		fams, err := scrapeMetrics(m[1])
		if err != nil {
			t.Fatal(err)
		}
		exported := exportedSeries(fams)
		missing = slices.DeleteFunc(missing, func(r metricRef) bool { return exported[r.metric] })
	}
	var through time.Time
	runUpUntil(t, args, func(out string) bool {
		if len(reportLine.FindAllString(out, -1)) < 11 {
			return false
		}
		if through.IsZero() {
			through = time.Now()
		}
		scrape(out)
		return len(missing) == 0 || time.Since(through) > 20*time.Second
	})
	if len(missing) > 0 {
		started := time.Now()
		runUpUntil(t, args, func(out string) bool {
			if !metricsURL.MatchString(out) {
				return false
			}
			scrape(out)
			return len(missing) == 0 || time.Since(started) > 20*time.Second
		})
	}
	for _, m := range missingMetrics(missing, nil) {
		t.Errorf("not exported by the services: %s", m)
	}
}
