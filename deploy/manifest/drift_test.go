package manifest_test

import (
	"context"
	"fmt"
	"maps"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/compose-spec/compose-go/v2/loader"
	"github.com/compose-spec/compose-go/v2/types"
	batchv1 "k8s.io/api/batch/v1"

	"github.com/esrflow/esrflow/deploy/manifest"
	"github.com/esrflow/esrflow/platform/service"
	"github.com/esrflow/esrflow/schemas"
	"github.com/esrflow/esrflow/services/api"
	"github.com/esrflow/esrflow/services/ingest"
	"github.com/esrflow/esrflow/services/normalise"
	"github.com/esrflow/esrflow/services/publish"
	"github.com/esrflow/esrflow/services/validate"
)

// specs are the esrflow binaries compose and the chart run, by name.
var specs = map[string]service.Spec{
	"ingest": ingest.Spec(), "normalise": normalise.Spec(), "validate": validate.Spec(),
	"publish": publish.Spec(), "api": api.Spec(),
}

// loadCompose loads docker-compose.yml as Docker Compose v2 does: its
// loader (compose-go) checks the file against the Compose Specification's
// schema, interpolates ${VAR:-default} from an empty environment and
// resolves the extension anchors.
func loadCompose(t *testing.T) *types.Project {
	t.Helper()
	p, err := loader.LoadWithContext(context.Background(), types.ConfigDetails{
		WorkingDir:  repoRoot,
		ConfigFiles: []types.ConfigFile{{Filename: filepath.Join(repoRoot, "docker-compose.yml")}},
		Environment: types.Mapping{},
	}, func(o *loader.Options) { o.SetProjectName("esrflow", true) })
	if err != nil {
		t.Fatalf("docker-compose.yml does not load as Compose v2: %v", err)
	}
	return p
}

// A scaled service needs no fixed container name, host name or host port.
func TestComposeLoadsAndScales(t *testing.T) {
	p := loadCompose(t)
	for name := range specs {
		svc, ok := p.Services[name]
		if !ok {
			t.Errorf("compose runs no %s", name)
			continue
		}
		scalable := name == "normalise" || name == "validate" || name == "publish"
		if scalable && (svc.ContainerName != "" || svc.Hostname != "" || len(svc.Ports) > 0) {
			t.Errorf("%s: a container name, host name or published port stops --scale %s=2", name, name)
		}
	}
}

// settings are the flags one deployment sets for each service, from its
// ESRFLOW_ variables, and the variables that name no flag of their service
// (the binary would ignore them, silently).
func settings(where string, env map[string][]string) (out map[string][]string, unknown []string) {
	out = map[string][]string{}
	for name, vars := range env {
		spec, ok := specs[name]
		if !ok {
			continue
		}
		flags := spec.EnvNames()
		for _, v := range vars {
			if !strings.HasPrefix(v, "ESRFLOW_") {
				continue
			}
			f, ok := flags[v]
			if !ok {
				unknown = append(unknown, fmt.Sprintf("%s: %s sets %s, which names no flag of the %s binary", where, name, v, name))
				continue
			}
			out[name] = append(out[name], f)
		}
		sort.Strings(out[name])
	}
	sort.Strings(unknown)
	return out, unknown
}

func composeEnv(p *types.Project) map[string][]string {
	out := map[string][]string{}
	for name, svc := range p.Services {
		out[name] = slices.Collect(maps.Keys(svc.Environment))
	}
	return out
}

func chartEnv(t *testing.T, set string) map[string][]string {
	out := map[string][]string{}
	for _, o := range render(t, set) {
		pod := manifest.PodSpec(o.Object)
		if pod == nil {
			continue
		}
		for _, c := range pod.Spec.Containers {
			for _, e := range c.Env {
				out[c.Name] = append(out[c.Name], e.Name)
			}
		}
	}
	return out
}

// onlyOneSets are the flags one deployment sets and the other does not,
// and why. Anything else set by one must be set by the other: a setting
// added to compose or the chart alone is drift.
var onlyOneSets = map[string]string{
	"tenants":      "compose takes the short form from ESRFLOW_TENANTS",
	"tenants.file": "the chart mounts the tenants file from a ConfigMap",
	"state.dir":    "the chart gives each stateful pod a volume; compose keeps no local store (restored from the changelog at start)",
	"log.level":    "the chart's log values; compose keeps the binaries' defaults",
	"log.format":   "the chart's log values; compose keeps the binaries' defaults",
}

// Compose, the chart (defaults and production values) and the binaries
// agree: the same services, every variable a real flag of its binary, and
// the same settings in both but for onlyOneSets.
func TestChartComposeAndBinariesAgree(t *testing.T) {
	compose, bad := settings("docker-compose.yml", composeEnv(loadCompose(t)))
	chart, badChart := settings("chart (default values)", chartEnv(t, "default"))
	production, badProduction := settings("chart (production values)", chartEnv(t, "production"))
	for _, b := range slices.Concat(bad, badChart, badProduction) {
		t.Error(b)
	}
	for where, s := range map[string]map[string][]string{"docker-compose.yml": compose, "chart": chart, "chart (production values)": production} {
		if got := slices.Sorted(maps.Keys(s)); !slices.Equal(got, slices.Sorted(maps.Keys(specs))) {
			t.Errorf("%s runs %v, want %v", where, got, slices.Sorted(maps.Keys(specs)))
		}
	}
	used := map[string]bool{}
	for name := range specs {
		for _, f := range symmetricDifference(compose[name], chart[name]) {
			if _, ok := onlyOneSets[f]; ok {
				used[f] = true
				continue
			}
			in := "docker-compose.yml"
			if slices.Contains(chart[name], f) {
				in = "the chart"
			}
			t.Errorf("%s: only %s sets --%s; set it in both or say why in onlyOneSets", name, in, f)
		}
		if slices.Contains(compose[name], "instance") || slices.Contains(chart[name], "instance") {
			t.Errorf("%s: --instance is set; it must default to the host name (a pod's or container's own)", name)
		}
	}
	for f := range onlyOneSets {
		if !used[f] {
			t.Errorf("onlyOneSets lists %s, which both now set alike: remove it", f)
		}
	}
}

func symmetricDifference(a, b []string) []string {
	var out []string
	for _, x := range a {
		if !slices.Contains(b, x) {
			out = append(out, x)
		}
	}
	for _, x := range b {
		if !slices.Contains(a, x) {
			out = append(out, x)
		}
	}
	return out
}

// The check itself catches a variable no binary reads, and one meant for
// another service.
func TestSettingsCatchMisspeltVariables(t *testing.T) {
	got, unknown := settings("test", map[string][]string{"api": {"ESRFLOW_API_DB_URL", "ESRFLOW_API_DATABASE_URL", "ESRFLOW_INGEST_DROP", "GOMEMLIMIT"}})
	if !slices.Equal(got["api"], []string{"db.url"}) || len(unknown) != 2 ||
		!strings.Contains(unknown[0], "ESRFLOW_API_DATABASE_URL") || !strings.Contains(unknown[1], "ESRFLOW_INGEST_DROP") {
		t.Errorf("settings = %v, unknown %q: want db.url, and ESRFLOW_API_DATABASE_URL and ESRFLOW_INGEST_DROP refused", got, unknown)
	}
}

// topicNames are the topic names a topic-creating script mentions.
var topicNames = regexp.MustCompile(`esr\.[a-z.-]+\.v1`)

// Compose's kafka-init and the chart's topics Job create exactly the
// tenant-keyed topics the services use (schemas.TenantKeyedTopics).
func TestTopicCreationMatchesTheServices(t *testing.T) {
	want := slices.Sorted(slices.Values(schemas.TenantKeyedTopics))
	created := func(script string) []string {
		return slices.Compact(slices.Sorted(slices.Values(topicNames.FindAllString(script, -1))))
	}
	init, ok := loadCompose(t).Services["kafka-init"]
	if !ok {
		t.Fatal("compose has no kafka-init")
	}
	if got := created(strings.Join(slices.Concat(init.Entrypoint, init.Command), "\n")); !slices.Equal(got, want) {
		t.Errorf("compose's kafka-init creates %v, want %v", got, want)
	}
	var jobs int
	for _, o := range render(t, "default") {
		job, ok := o.Object.(*batchv1.Job)
		if !ok {
			continue
		}
		jobs++
		c := job.Spec.Template.Spec.Containers[0]
		if got := created(strings.Join(slices.Concat(c.Command, c.Args), "\n")); !slices.Equal(got, want) {
			t.Errorf("the chart's %s creates %v, want %v", job.Name, got, want)
		}
	}
	if jobs != 1 {
		t.Errorf("the chart renders %d Jobs, want the topics Job", jobs)
	}
}
