package main

import (
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/esrflow/esrflow/services/publish"
)

// alertRule is one rule of deploy/prometheus/alerts.yml.
type alertRule struct {
	Alert       string            `yaml:"alert"`
	Expr        string            `yaml:"expr"`
	Annotations map[string]string `yaml:"annotations"`
}

func readAlertRules(t *testing.T) []alertRule {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(repoRoot, "deploy/prometheus/alerts.yml"))
	if err != nil {
		t.Fatal(err)
	}
	var f struct {
		Groups []struct {
			Rules []alertRule `yaml:"rules"`
		} `yaml:"groups"`
	}
	if err := yaml.Unmarshal(b, &f); err != nil {
		t.Fatal(err)
	}
	var out []alertRule
	for _, g := range f.Groups {
		for _, r := range g.Rules {
			if r.Alert != "" {
				out = append(out, r)
			}
		}
	}
	if len(out) == 0 {
		t.Fatal("alerts.yml has no alerts")
	}
	return out
}

// Every alert has a promtool unit test in alerts_test.yml that shows it
// firing (an alert_rule_test with its name and expected alerts), so a rule
// that can never fire, or fires with other labels, fails `promtool test
// rules` (run by TestPrometheusConfig where promtool is installed).
func TestPrometheusAlertsHaveUnitTests(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(repoRoot, "deploy/prometheus/alerts_test.yml"))
	if err != nil {
		t.Fatal(err)
	}
	var f struct {
		Tests []struct {
			AlertRuleTest []struct {
				Alertname string           `yaml:"alertname"`
				ExpAlerts []map[string]any `yaml:"exp_alerts"`
			} `yaml:"alert_rule_test"`
		} `yaml:"tests"`
	}
	if err := yaml.Unmarshal(b, &f); err != nil {
		t.Fatal(err)
	}
	firing := map[string]bool{}
	for _, tc := range f.Tests {
		for _, a := range tc.AlertRuleTest {
			if len(a.ExpAlerts) > 0 {
				firing[a.Alertname] = true
			}
		}
	}
	known := map[string]bool{}
	for _, r := range readAlertRules(t) {
		known[r.Alert] = true
		if !firing[r.Alert] {
			t.Errorf("alert %s has no test in alerts_test.yml that expects it to fire", r.Alert)
		}
	}
	for name := range firing {
		if !known[name] {
			t.Errorf("alerts_test.yml tests %s, which alerts.yml does not define", name)
		}
	}
}

// Every alert names its runbook: a runbook_url whose anchor is a heading
// of docs/operations.md, and the "Alerts" table there lists it.
func TestPrometheusAlertsHaveRunbooks(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(repoRoot, "docs/operations.md"))
	if err != nil {
		t.Fatal(err)
	}
	doc := string(b)
	anchors := map[string]bool{}
	for _, line := range strings.Split(doc, "\n") {
		if strings.HasPrefix(line, "#") {
			anchors[headingAnchor(strings.TrimLeft(line, "#"))] = true
		}
	}
	for _, r := range readAlertRules(t) {
		url := r.Annotations["runbook_url"]
		_, anchor, ok := strings.Cut(url, "#")
		switch {
		case url == "":
			t.Errorf("alert %s has no runbook_url annotation", r.Alert)
		case !ok || !strings.Contains(url, "docs/operations.md"):
			t.Errorf("alert %s: runbook_url %q is not an anchor of docs/operations.md", r.Alert, url)
		case !anchors[anchor]:
			t.Errorf("alert %s: runbook_url anchor #%s is no heading of docs/operations.md", r.Alert, anchor)
		}
		if !strings.Contains(doc, "`"+r.Alert+"`") {
			t.Errorf("alert %s is not in docs/operations.md's Alerts table", r.Alert)
		}
	}
}

// headingAnchor is GitHub's anchor for a Markdown heading: lower case,
// punctuation dropped, spaces to hyphens.
func headingAnchor(h string) string {
	var sb strings.Builder
	for _, r := range strings.ToLower(strings.TrimSpace(h)) {
		switch {
		case r == ' ':
			sb.WriteRune('-')
		case r == '-' || r == '_' || (r >= 'a' && r <= 'z') || (r >= '0' && r <= '9'):
			sb.WriteRune(r)
		}
	}
	return sb.String()
}

func TestHeadingAnchor(t *testing.T) {
	for h, want := range map[string]string{
		" Runbook: the api dead-lettered records, or is stuck": "runbook-the-api-dead-lettered-records-or-is-stuck",
		" Listing file reports: `esrflow files`":               "listing-file-reports-esrflow-files",
	} {
		if got := headingAnchor(h); got != want {
			t.Errorf("headingAnchor(%q) = %q, want %q", h, got, want)
		}
	}
}

var (
	metricName = regexp.MustCompile(`\besrflow_[a-z][a-z0-9_]*[a-z0-9]`)
	latencyLe  = regexp.MustCompile(`esrflow_publish_leaver_latency_seconds_bucket\{[^}]*\ble=~?"([0-9.e+]+)`)
)

// Every metric an alert reads is one a service exports: its name (without
// a histogram's _bucket, _count or _sum) is a string in the Go code of
// services/ or platform/, and a latency bucket an alert names is one of
// publish's bounds. A renamed metric would otherwise leave its alert
// silently reading nothing.
func TestPrometheusAlertsReadExportedMetrics(t *testing.T) {
	var src strings.Builder
	for _, dir := range []string{"services", "platform"} {
		err := filepath.WalkDir(filepath.Join(repoRoot, dir), func(path string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
				return nil
			}
			b, err := os.ReadFile(path)
			src.Write(b)
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	code := src.String()
	bounds := publish.LeaverLatencyBuckets()
	var used []string
	for _, r := range readAlertRules(t) {
		for _, name := range metricName.FindAllString(r.Expr, -1) {
			base := name
			for _, suffix := range []string{"_bucket", "_count", "_sum"} {
				if b, ok := strings.CutSuffix(name, suffix); ok && strings.Contains(code, `"`+b+`"`) {
					base = b
				}
			}
			if !strings.Contains(code, `"`+base+`"`) {
				t.Errorf("alert %s reads %s, which no service exports", r.Alert, name)
			}
			used = append(used, base)
		}
		for _, m := range latencyLe.FindAllStringSubmatch(r.Expr, -1) {
			le, err := strconv.ParseFloat(m[1], 64)
			if err != nil || !slices.Contains(bounds, le) {
				t.Errorf("alert %s reads the leaver-latency bucket le=%q, not one of publish's bounds %v", r.Alert, m[1], bounds)
			}
		}
	}
	sort.Strings(used)
	if !slices.Contains(used, "esrflow_publish_leaver_latency_seconds") {
		t.Errorf("no alert reads the leaver latency (metrics read: %v)", slices.Compact(used))
	}
}
