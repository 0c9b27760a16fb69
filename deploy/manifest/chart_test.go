package manifest_test

import (
	"bytes"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/esrflow/esrflow/deploy/manifest"
	"github.com/esrflow/esrflow/services/api/auth"
)

// repoRoot is where docker-compose.yml, deploy/ and bin/ are.
const repoRoot = "../.."

var chartDir = filepath.Join(repoRoot, "deploy/helm/esrflow")

// helmBinary finds helm: $HELM, bin/tools/helm (make test-deps builds it
// from the Go module proxy), or PATH. In CI a missing helm fails the test.
func helmBinary(t *testing.T) string {
	t.Helper()
	for _, p := range []string{os.Getenv("HELM"), filepath.Join(repoRoot, "bin/tools/helm")} {
		if p != "" {
			if _, err := os.Stat(p); err == nil {
				return p
			}
		}
	}
	if p, err := exec.LookPath("helm"); err == nil {
		return p
	}
	if os.Getenv("CI") != "" {
		t.Fatal("helm not found: make test-deps builds it into bin/tools")
	}
	t.Skip("helm not found (make test-deps builds it into bin/tools): the chart is not rendered")
	return ""
}

func helm(t *testing.T, args ...string) []byte {
	t.Helper()
	cmd := exec.Command(helmBinary(t), args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("helm %s: %v\n%s%s", strings.Join(args, " "), err, out, stderr.Bytes())
	}
	return out
}

// valueSet is values the chart is checked with, and the objects those
// values name as existing beforehand (kind/name): the only references the
// chart may leave to objects it does not render.
type valueSet struct {
	args     []string
	existing []string
}

// valueSets: the chart's defaults, the production example, and one with
// every optional part turned the other way from the defaults.
var valueSets = map[string]valueSet{
	"default": {existing: []string{"Secret/esrflow-api-database", "Secret/esrflow-api-clients"}},
	"production": {args: []string{"-f", filepath.Join(chartDir, "values-production.yaml")},
		existing: []string{"ConfigMap/esrflow-tenants", "Secret/esrflow-sftp-accounts", "Secret/esrflow-sftp-host-key",
			"Secret/esrflow-api-database", "Secret/esrflow-api-clients", "Secret/esrflow-console-secret"}},
	"minimal": {args: []string{"--set", "ingest.sftp.enabled=false,networkPolicy.enabled=false,podDisruptionBudget.enabled=false,api.files.enabled=false," +
		"serviceAccount.create=false,api.database.existingSecret=,api.database.url=postgres://esrflow@db:5432/esrflow,files.persistence.existingClaim=esr-files," +
		"api.auth.existingSecret=", "--set-json", `api.auth.clients=[{"name":"operator","key_sha256":"` + strings.Repeat("ab", 32) + `","tenants":["*"],"scopes":["admin"]}]`},
		existing: []string{"PersistentVolumeClaim/esr-files", "ServiceAccount/default"}},
}

// render lints and renders the chart with one value set, and decodes every
// object strictly.
func render(t *testing.T, set string) []manifest.Object {
	t.Helper()
	helm(t, append([]string{"lint", "--strict", chartDir}, valueSets[set].args...)...)
	out := helm(t, append([]string{"template", "esrflow", chartDir, "--namespace", "esr"}, valueSets[set].args...)...)
	objs, err := manifest.Decode(bytes.NewReader(out))
	if err != nil {
		t.Fatalf("values %s: the rendered chart does not decode strictly:\n%v", set, err)
	}
	return objs
}

// The chart renders with each value set, every object decodes strictly
// into its Kubernetes type, and what refers to something else finds it.
func TestChartRendersValidObjects(t *testing.T) {
	for set := range valueSets {
		t.Run(set, func(t *testing.T) {
			objs := render(t, set)
			checkReferences(t, objs, valueSets[set].existing)
			checkSecretsLoad(t, objs)
			for _, o := range objs {
				if pod := manifest.PodSpec(o.Object); pod != nil {
					checkPod(t, o, pod)
				}
			}
		})
	}
}

// Stateless stages are Deployments, stateful ones StatefulSets with a
// volume of their own for the state store at their --state.dir.
func TestChartWorkloadKinds(t *testing.T) {
	objs := render(t, "production")
	kinds := map[string]string{}
	for _, o := range objs {
		switch w := o.Object.(type) {
		case *appsv1.Deployment:
			kinds[w.Spec.Template.Spec.Containers[0].Name] = "Deployment"
		case *appsv1.StatefulSet:
			name := w.Spec.Template.Spec.Containers[0].Name
			kinds[name] = "StatefulSet"
			if name == "ingest" {
				continue
			}
			if len(w.Spec.VolumeClaimTemplates) != 1 {
				t.Errorf("%s: want one volume claim template (its state), got %d", name, len(w.Spec.VolumeClaimTemplates))
				continue
			}
			claim := w.Spec.VolumeClaimTemplates[0].Name
			c := w.Spec.Template.Spec.Containers[0]
			dir := envValue(c, "ESRFLOW_"+strings.ToUpper(name)+"_STATE_DIR")
			if !slices.ContainsFunc(c.VolumeMounts, func(m corev1.VolumeMount) bool { return m.Name == claim && m.MountPath == dir }) {
				t.Errorf("%s: its state dir %q is not on its claim %q (mounts %v)", name, dir, claim, c.VolumeMounts)
			}
		}
	}
	want := map[string]string{"ingest": "StatefulSet", "normalise": "Deployment", "validate": "StatefulSet", "publish": "StatefulSet", "api": "Deployment"}
	if !maps.Equal(kinds, want) {
		t.Errorf("workloads %v, want %v", kinds, want)
	}
}

// Only the api's port and ingest's SFTP port admit connections from
// anywhere; every other rule names where it admits from.
func TestChartNetworkPolicies(t *testing.T) {
	objs := render(t, "default")
	open := map[string][]string{}
	n := 0
	for _, o := range objs {
		np, ok := o.Object.(*networkingv1.NetworkPolicy)
		if !ok {
			continue
		}
		n++
		for _, rule := range np.Spec.Ingress {
			if len(rule.From) > 0 {
				continue
			}
			comp := np.Spec.PodSelector.MatchLabels["app.kubernetes.io/component"]
			for _, p := range rule.Ports {
				open[comp] = append(open[comp], p.Port.String())
			}
			if len(rule.Ports) == 0 {
				open[comp] = append(open[comp], "every port")
			}
		}
	}
	if n == 0 {
		t.Fatal("no NetworkPolicy rendered")
	}
	want := map[string][]string{"api": {"http"}, "ingest": {"sftp"}}
	if !maps.EqualFunc(open, want, slices.Equal) {
		t.Errorf("reachable from anywhere: %v, want %v", open, want)
	}
}

// checkSecretsLoad: a clients file the chart renders is one the api loads.
func checkSecretsLoad(t *testing.T, objs []manifest.Object) {
	t.Helper()
	for _, o := range objs {
		sec, ok := o.Object.(*corev1.Secret)
		if !ok || sec.StringData["clients.yaml"] == "" {
			continue
		}
		path := filepath.Join(t.TempDir(), "clients.yaml")
		if err := os.WriteFile(path, []byte(sec.StringData["clients.yaml"]), 0o600); err != nil {
			t.Fatal(err)
		}
		if _, err := auth.LoadClients(path); err != nil {
			t.Errorf("Secret %s: the api refuses its clients file: %v", sec.Name, err)
		}
	}
}

func envValue(c corev1.Container, name string) string {
	for _, e := range c.Env {
		if e.Name == name {
			return e.Value
		}
	}
	return ""
}

// checkPod: probes on the service's own port, resources, a non-root
// read-only container, and every mount backed by a volume.
func checkPod(t *testing.T, o manifest.Object, pod *corev1.PodTemplateSpec) {
	t.Helper()
	volumes := map[string]bool{}
	for _, v := range pod.Spec.Volumes {
		volumes[v.Name] = true
	}
	if sts, ok := o.Object.(*appsv1.StatefulSet); ok {
		for _, c := range sts.Spec.VolumeClaimTemplates {
			volumes[c.Name] = true
		}
	}
	if sc := pod.Spec.SecurityContext; sc == nil || sc.RunAsNonRoot == nil || !*sc.RunAsNonRoot {
		t.Errorf("%s: pod may run as root", o.Source)
	}
	// A Secret's files belong to root and the pod's fsGroup: a mode
	// without group read leaves them unreadable to the non-root service.
	for _, v := range pod.Spec.Volumes {
		if v.Secret != nil && v.Secret.DefaultMode != nil && *v.Secret.DefaultMode&0o040 == 0 {
			t.Errorf("%s: Secret volume %s mode %#o: the service (non-root, group fsGroup) cannot read it", o.Source, v.Name, *v.Secret.DefaultMode)
		}
	}
	for _, c := range pod.Spec.Containers {
		ports := map[string]bool{}
		for _, p := range c.Ports {
			ports[p.Name] = true
		}
		for probe, want := range map[*corev1.Probe]string{c.LivenessProbe: "/healthz", c.ReadinessProbe: "/readyz", c.StartupProbe: "/healthz"} {
			if probe == nil || probe.HTTPGet == nil || probe.HTTPGet.Path != want || !ports[probe.HTTPGet.Port.String()] {
				t.Errorf("%s %s: want a probe on %s at a port of the container", o.Source, c.Name, want)
			}
		}
		if c.Resources.Requests.Cpu().IsZero() || c.Resources.Requests.Memory().IsZero() || c.Resources.Limits.Memory().IsZero() {
			t.Errorf("%s %s: want CPU and memory requests and a memory limit, got %v", o.Source, c.Name, c.Resources)
		}
		if sc := c.SecurityContext; sc == nil || sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem ||
			sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation {
			t.Errorf("%s %s: want a read-only root and no privilege escalation", o.Source, c.Name)
		}
		for _, m := range c.VolumeMounts {
			if !volumes[m.Name] {
				t.Errorf("%s %s: mount %s has no volume", o.Source, c.Name, m.Name)
			}
		}
	}
}

// checkReferences: what an object names is rendered, or is an existing
// object the values name (tenantsConfigMap, *.existingSecret...).
func checkReferences(t *testing.T, objs []manifest.Object, existing []string) {
	t.Helper()
	rendered := map[string]bool{} // kind/name, and what the values name as existing
	for _, e := range existing {
		rendered[e] = true
	}
	var podLabels []labels.Set
	podPorts := map[string]bool{}
	for _, o := range objs {
		acc, err := meta(o.Object)
		if err != nil {
			t.Fatal(err)
		}
		rendered[o.Object.GetObjectKind().GroupVersionKind().Kind+"/"+acc] = true
		if pod := manifest.PodSpec(o.Object); pod != nil {
			podLabels = append(podLabels, pod.Labels)
			for _, c := range pod.Spec.Containers {
				for _, p := range c.Ports {
					podPorts[p.Name] = true
				}
			}
		}
	}
	selects := func(sel map[string]string) bool {
		return slices.ContainsFunc(podLabels, func(l labels.Set) bool { return labels.SelectorFromSet(sel).Matches(l) })
	}
	for _, o := range objs {
		switch x := o.Object.(type) {
		case *corev1.Service:
			if !selects(x.Spec.Selector) {
				t.Errorf("Service %s selects no pod", x.Name)
			}
			for _, p := range x.Spec.Ports {
				if !podPorts[p.TargetPort.String()] {
					t.Errorf("Service %s: target port %s is no container's", x.Name, p.TargetPort.String())
				}
			}
		case *appsv1.StatefulSet:
			if !rendered["Service/"+x.Spec.ServiceName] {
				t.Errorf("StatefulSet %s: governing Service %s is not rendered", x.Name, x.Spec.ServiceName)
			}
		case *policyv1.PodDisruptionBudget:
			if !selects(x.Spec.Selector.MatchLabels) {
				t.Errorf("PodDisruptionBudget %s selects no pod", x.Name)
			}
		case *autoscalingv2.HorizontalPodAutoscaler:
			if !rendered[x.Spec.ScaleTargetRef.Kind+"/"+x.Spec.ScaleTargetRef.Name] {
				t.Errorf("HorizontalPodAutoscaler %s: target %s/%s is not rendered", x.Name, x.Spec.ScaleTargetRef.Kind, x.Spec.ScaleTargetRef.Name)
			}
		}
		pod := manifest.PodSpec(o.Object)
		if pod == nil {
			continue
		}
		refs := []string{"ServiceAccount/" + pod.Spec.ServiceAccountName}
		for _, v := range pod.Spec.Volumes {
			switch {
			case v.ConfigMap != nil:
				refs = append(refs, "ConfigMap/"+v.ConfigMap.Name)
			case v.Secret != nil:
				refs = append(refs, "Secret/"+v.Secret.SecretName)
			case v.PersistentVolumeClaim != nil:
				refs = append(refs, "PersistentVolumeClaim/"+v.PersistentVolumeClaim.ClaimName)
			}
		}
		for _, c := range pod.Spec.Containers {
			for _, e := range c.Env {
				if e.ValueFrom != nil && e.ValueFrom.SecretKeyRef != nil {
					refs = append(refs, "Secret/"+e.ValueFrom.SecretKeyRef.Name)
				}
			}
		}
		for _, r := range refs {
			if !rendered[r] {
				t.Errorf("%s: %s is neither rendered nor named in the values as existing", o.Source, r)
			}
		}
	}
}

func meta(o runtime.Object) (string, error) {
	type named interface{ GetName() string }
	if n, ok := o.(named); ok {
		return n.GetName(), nil
	}
	return "", nil
}
