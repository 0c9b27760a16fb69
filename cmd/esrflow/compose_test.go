package main

import (
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/esrflow/esrflow/platform/config"
	"github.com/esrflow/esrflow/platform/service"
	"github.com/esrflow/esrflow/services/api"
	"github.com/esrflow/esrflow/services/ingest"
	"github.com/esrflow/esrflow/services/normalise"
	"github.com/esrflow/esrflow/services/publish"
	"github.com/esrflow/esrflow/services/validate"
)

// repoRoot is where docker-compose.yml and deploy/ live.
const repoRoot = "../.."

// composeSpecs are the esrflow binaries compose runs, by compose service name.
func composeSpecs() map[string]service.Spec {
	return map[string]service.Spec{
		"ingest":    ingest.Spec(),
		"normalise": normalise.Spec(),
		"validate":  validate.Spec(),
		"publish":   publish.Spec(),
		"api":       api.Spec(),
	}
}

type composeService struct {
	Image       string         `yaml:"image"`
	Build       *composeBuild  `yaml:"build"`
	Environment map[string]any `yaml:"environment"`
	Healthcheck *struct {
		Test []string `yaml:"test"`
	} `yaml:"healthcheck"`
	Volumes   []string       `yaml:"volumes"`
	DependsOn map[string]any `yaml:"depends_on"`
	Restart   string         `yaml:"restart"`
}

type composeBuild struct {
	Context    string            `yaml:"context"`
	Dockerfile string            `yaml:"dockerfile"`
	Args       map[string]string `yaml:"args"`
}

type composeFile struct {
	Services map[string]composeService `yaml:"services"`
	Volumes  map[string]any            `yaml:"volumes"`
}

func readCompose(t *testing.T) composeFile {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(repoRoot, "docker-compose.yml"))
	if err != nil {
		t.Fatal(err)
	}
	var f composeFile
	if err := yaml.Unmarshal(b, &f); err != nil {
		t.Fatalf("docker-compose.yml: %v", err)
	}
	return f
}

// flagEnvNames returns every environment variable a service binary reads:
// the common flags plus the ones its Spec registers.
func flagEnvNames(spec service.Spec) map[string]bool {
	out := map[string]bool{}
	for env := range spec.EnvNames() {
		out[env] = true
	}
	return out
}

// The compose file must agree with the binaries: every ESRFLOW_ variable
// names a flag the service really registers (a typo would be silently
// ignored at run time), every esrflow service is built from the shared
// Dockerfile with its own cmd, and every long-running container has a health
// check (on /readyz for esrflow services).
func TestComposeMatchesBinaries(t *testing.T) {
	f := readCompose(t)
	specs := composeSpecs()
	for name := range specs {
		if _, ok := f.Services[name]; !ok {
			t.Errorf("compose has no %s service", name)
		}
	}
	for _, required := range []string{"kafka", "schema-registry", "postgres"} {
		if _, ok := f.Services[required]; !ok {
			t.Errorf("compose has no %s service", required)
		}
	}
	for name, svc := range f.Services {
		t.Run(name, func(t *testing.T) {
			if svc.Image == "" && svc.Build == nil {
				t.Errorf("no image and no build")
			}
			oneShot := svc.Restart == "no"
			if !oneShot && (svc.Healthcheck == nil || len(svc.Healthcheck.Test) == 0) {
				t.Errorf("no healthcheck")
			}
			for _, v := range svc.Volumes {
				src, _, _ := strings.Cut(v, ":")
				if strings.HasPrefix(src, ".") {
					if _, err := os.Stat(filepath.Join(repoRoot, src)); err != nil {
						t.Errorf("bind mount %s: %v", src, err)
					}
				} else if _, ok := f.Volumes[src]; !ok {
					t.Errorf("volume %s is not declared under volumes:", src)
				}
			}
			for dep := range svc.DependsOn {
				if _, ok := f.Services[dep]; !ok {
					t.Errorf("depends on unknown service %s", dep)
				}
			}
			spec, isEsrflow := specs[name]
			if !isEsrflow {
				for k := range svc.Environment {
					if strings.HasPrefix(k, "ESRFLOW_") {
						t.Errorf("%s is set on a service that is no esrflow binary", k)
					}
				}
				return
			}
			known := flagEnvNames(spec)
			var names []string
			for k := range svc.Environment {
				names = append(names, k)
			}
			sort.Strings(names)
			for _, k := range names {
				if !known[k] {
					t.Errorf("%s names no flag of the %s binary", k, spec.Name)
				}
			}
			prefix := config.EnvName("ESRFLOW_"+spec.Name, "")
			for _, must := range []string{"kafka.brokers", "registry.url"} {
				if _, ok := svc.Environment[config.EnvName("ESRFLOW_"+spec.Name, must)]; !ok {
					t.Errorf("%s%s is not set: the binary would use its default", prefix, strings.ToUpper(strings.NewReplacer(".", "_", "-", "_").Replace(must)))
				}
			}
			// One fixed instance id would give every replica of a scaled
			// service one transactional id and one static group member.
			if v, ok := svc.Environment[config.EnvName("ESRFLOW_"+spec.Name, "instance")]; ok {
				t.Errorf("%sINSTANCE = %v: leave it to the container's host name, distinct per replica", prefix, v)
			}
			if svc.Build == nil {
				t.Fatalf("esrflow service without build")
			}
			if want := "services/" + name + "/cmd/" + name; svc.Build.Args["CMD"] != want {
				t.Errorf("build arg CMD = %q, want %q", svc.Build.Args["CMD"], want)
			}
			if _, err := os.Stat(filepath.Join(repoRoot, svc.Build.Args["CMD"], "main.go")); err != nil {
				t.Errorf("build arg CMD: %v", err)
			}
			if _, err := os.Stat(filepath.Join(repoRoot, svc.Build.Context, svc.Build.Dockerfile)); err != nil {
				t.Errorf("dockerfile: %v", err)
			}
			if svc.Healthcheck != nil {
				test := strings.Join(svc.Healthcheck.Test, " ")
				if !strings.Contains(test, "/healthcheck ") || !strings.Contains(test, "/readyz") {
					t.Errorf("healthcheck %q: want the image's /healthcheck probe on /readyz", test)
				}
			}
		})
	}
	// The api stores into PostgreSQL in compose, and ingest shares a drop volume.
	if u, _ := f.Services["api"].Environment["ESRFLOW_API_DB_URL"].(string); !strings.HasPrefix(u, "postgres://") {
		t.Errorf("ESRFLOW_API_DB_URL = %q, want a postgres:// URL", u)
	}
	if !slices.ContainsFunc(f.Services["ingest"].Volumes, func(v string) bool { return strings.HasPrefix(v, "drop:") }) {
		t.Errorf("ingest does not mount the drop volume")
	}
	// Kafka's log is on its volume, not in the container's /tmp.
	logDirs, _ := f.Services["kafka"].Environment["KAFKA_LOG_DIRS"].(string)
	if logDirs == "" || !slices.ContainsFunc(f.Services["kafka"].Volumes, func(v string) bool { return strings.HasSuffix(v, ":"+logDirs) }) {
		t.Errorf("KAFKA_LOG_DIRS = %q is not on a volume of the kafka service (%v)", logDirs, f.Services["kafka"].Volumes)
	}
	// The api has a clients file, so an operator can act.
	if _, ok := f.Services["api"].Environment["ESRFLOW_API_AUTH_CLIENTS"]; !ok {
		t.Errorf("the api has no clients file: every operator action would be refused")
	}
}

// The image build context leaves out local secrets, build output and git.
func TestDockerignore(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(repoRoot, ".dockerignore"))
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(string(b), "\n")
	for _, want := range []string{".git", "bin", ".esrflow", "**/node_modules", "**/*.key"} {
		if !slices.Contains(lines, want) {
			t.Errorf(".dockerignore does not exclude %s", want)
		}
	}
}

// The compose test itself must be able to fail: a misspelt variable is caught.
func TestComposeEnvCheckCatchesTypos(t *testing.T) {
	known := flagEnvNames(api.Spec())
	for _, ok := range []string{"ESRFLOW_API_DB_URL", "ESRFLOW_API_KAFKA_BROKERS", "ESRFLOW_API_HTTP_ADDR", "ESRFLOW_API_LOG_LEVEL"} {
		if !known[ok] {
			t.Errorf("%s should be a known api variable", ok)
		}
	}
	for _, bad := range []string{"ESRFLOW_API_DATABASE_URL", "ESRFLOW_INGEST_DB_URL", "ESRFLOW_API_KAFKA_BROKER"} {
		if known[bad] {
			t.Errorf("%s should not be a known api variable", bad)
		}
	}
}

// Prometheus in compose scrapes every esrflow service and loads the alert
// rules, which cover the four conditions DESIGN.md names.
func TestPrometheusConfig(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(repoRoot, "deploy/prometheus/prometheus.yml"))
	if err != nil {
		t.Fatal(err)
	}
	type relabel struct {
		SourceLabels []string `yaml:"source_labels"`
		TargetLabel  string   `yaml:"target_label"`
	}
	var cfg struct {
		RuleFiles     []string `yaml:"rule_files"`
		ScrapeConfigs []struct {
			DNSSDConfigs []struct {
				Names []string `yaml:"names"`
				Port  int      `yaml:"port"`
			} `yaml:"dns_sd_configs"`
			RelabelConfigs []relabel `yaml:"relabel_configs"`
		} `yaml:"scrape_configs"`
	}
	if err := yaml.Unmarshal(b, &cfg); err != nil {
		t.Fatal(err)
	}
	// Every replica of a scaled service is scraped: targets come from DNS
	// (one A record per replica), labelled with their service's name.
	var targets []string
	for _, sc := range cfg.ScrapeConfigs {
		for _, d := range sc.DNSSDConfigs {
			for _, n := range d.Names {
				targets = append(targets, n+":"+strconv.Itoa(d.Port))
			}
		}
		if len(sc.DNSSDConfigs) > 0 && !slices.ContainsFunc(sc.RelabelConfigs, func(r relabel) bool {
			return r.TargetLabel == "service" && slices.Equal(r.SourceLabels, []string{"__meta_dns_name"})
		}) {
			t.Errorf("the DNS targets get no service label from their name")
		}
	}
	for name, spec := range composeSpecs() {
		// A service with its own API serves /metrics on its metrics port.
		port := "8080"
		if spec.DefaultMetricsAddr != "" {
			port = strings.TrimPrefix(spec.DefaultMetricsAddr, ":")
		}
		if !slices.Contains(targets, name+":"+port) {
			t.Errorf("prometheus does not scrape %s:%s (targets %v)", name, port, targets)
		}
	}
	if !slices.Contains(cfg.RuleFiles, "/etc/prometheus/alerts.yml") {
		t.Errorf("rule_files = %v", cfg.RuleFiles)
	}

	exprs := map[string]string{}
	for _, r := range readAlertRules(t) {
		exprs[r.Alert] = r.Expr
	}
	for alert, metric := range map[string]string{
		"EsrflowConsumerLagHigh":    "esrflow_stage_lag_records",
		"EsrflowTenantSilent":       "esrflow_ingest_last_accepted_timestamp_seconds",
		"EsrflowQuarantineRateHigh": "esrflow_ingest_rows_total",
		"EsrflowLeaverBatchHeld":    "esrflow_publish_held_batches",
		"EsrflowIngestFileHeld":     "esrflow_ingest_files_held",
	} {
		if !strings.Contains(exprs[alert], metric) {
			t.Errorf("alert %s: expr %q does not use %s", alert, exprs[alert], metric)
		}
	}
	if !strings.Contains(exprs["EsrflowQuarantineRateHigh"], "(normalise|validate)_quarantined_total") {
		t.Errorf("quarantine alert does not count both stages: %s", exprs["EsrflowQuarantineRateHigh"])
	}
	// With promtool on PATH, check the rules and run their unit tests.
	if promtool, err := exec.LookPath("promtool"); err == nil {
		for _, args := range [][]string{{"check", "config", "--syntax-only", "prometheus.yml"}, {"check", "rules", "alerts.yml"}, {"test", "rules", "alerts_test.yml"}} {
			cmd := exec.Command(promtool, args...)
			cmd.Dir = filepath.Join(repoRoot, "deploy/prometheus")
			if out, err := cmd.CombinedOutput(); err != nil {
				t.Errorf("promtool %v: %v\n%s", args, err, out)
			}
		}
	} else if os.Getenv("CI") != "" {
		t.Fatal("promtool not on PATH: .ci/run installs it (Debian's prometheus package); the alert rules' unit tests must run in CI")
	} else {
		t.Log("promtool not on PATH: alert rule syntax and unit tests not run")
	}
}

// The container probe: exit 0 on 2xx, 1 otherwise.
func TestHealthcheckProbe(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a binary")
	}
	bin := filepath.Join(t.TempDir(), "healthcheck")
	build := exec.Command(filepath.Join(runtime.GOROOT(), "bin", "go"), "build", "-o", bin, ".")
	build.Dir = filepath.Join(repoRoot, "deploy/docker/healthcheck")
	build.Env = append(os.Environ(), "GOWORK=off", "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("building the probe: %v\n%s", err, out)
	}
	var status atomic.Int32
	status.Store(http.StatusOK)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/readyz" {
			http.NotFound(w, r)
			return
		}
		w.WriteHeader(int(status.Load()))
	}))
	defer srv.Close()
	run := func(url string) int {
		err := exec.Command(bin, "-timeout", "2s", url).Run()
		if ee, ok := err.(*exec.ExitError); ok {
			return ee.ExitCode()
		} else if err != nil {
			t.Fatal(err)
		}
		return 0
	}
	if code := run(srv.URL + "/readyz"); code != 0 {
		t.Errorf("ready: exit %d, want 0", code)
	}
	status.Store(http.StatusServiceUnavailable)
	if code := run(srv.URL + "/readyz"); code != 1 {
		t.Errorf("not ready: exit %d, want 1", code)
	}
	srv.Close()
	if code := run(srv.URL + "/readyz"); code != 1 {
		t.Errorf("unreachable: exit %d, want 1", code)
	}
}

// With Docker Compose installed, compose itself validates the file.
func TestComposeConfigValid(t *testing.T) {
	var cmd *exec.Cmd
	if exec.Command("docker", "compose", "version").Run() == nil {
		cmd = exec.Command("docker", "compose", "config", "-q")
	} else if p, err := exec.LookPath("docker-compose"); err == nil {
		cmd = exec.Command(p, "config", "-q")
	} else {
		t.Skip("neither `docker compose` nor docker-compose is installed: compose's own validation not run")
	}
	cmd.Dir = repoRoot
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Errorf("compose config -q: %v\n%s", err, out)
	}
}
