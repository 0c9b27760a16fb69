package main

import (
	"context"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sr"
	"go.uber.org/zap"

	"github.com/esrflow/esrflow/platform/avrox"
	"github.com/esrflow/esrflow/platform/kafka/embedded"
	"github.com/esrflow/esrflow/platform/kafka/kafkax"
	"github.com/esrflow/esrflow/platform/testkit"
	"github.com/esrflow/esrflow/schemas"
	"github.com/esrflow/esrflow/schemas/gen/internalv1"
	"github.com/esrflow/esrflow/services/api"
	"github.com/esrflow/esrflow/services/api/auth"
	"github.com/esrflow/esrflow/services/registry/registrytest"
)

const (
	heldSHA  = "3333333333333333333333333333333333333333333333333333333333333333"
	heldSHA2 = "4444444444444444444444444444444444444444444444444444444444444444"
)

// runningAPI is an api service on a kfake broker and a real registry, with
// one operator client, and a producer of framed file reports.
type runningAPI struct {
	url   string
	seeds []string
	cl    *kgo.Client
	serde *avrox.Serde
	w     avrox.Writer
}

func startAPI(t *testing.T, clients []auth.Client) *runningAPI {
	t.Helper()
	// esr.ops.intake.v1 is not made here: the api creates it on its first decision.
	k := testkit.Kafka(t, embedded.TopicSpec{Name: schemas.TopicFileReports, Partitions: 1})
	registry := registrytest.Start(t, k.Seeds())
	s, err := api.New(api.Config{
		Kafka: kafkax.Config{Brokers: k.Seeds(), ClientID: "files-cli-test"}, RegistryURL: registry, InstanceID: "t",
		DBURL: "sqlite:" + t.TempDir() + "/api.db", TopicRefresh: 200 * time.Millisecond, Clients: clients,
	}, api.Deps{Log: zap.NewNop(), Metrics: prometheus.NewRegistry()})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	srv := httptest.NewServer(s.Handler())
	t.Cleanup(func() {
		srv.Close()
		cancel()
		<-done
		s.Close()
	})
	srCl, err := sr.NewClient(sr.URLs(registry))
	if err != nil {
		t.Fatal(err)
	}
	a := &runningAPI{url: srv.URL, seeds: k.Seeds(), cl: testkit.Client(t, k.Seeds()), serde: avrox.New(srCl, internalv1.NewAPI())}
	for v := 1; v <= 4; v++ {
		_, text, err := schemas.Version(schemas.FileReport, v)
		if err != nil {
			t.Fatal(err)
		}
		if a.w, err = a.serde.Register(context.Background(), schemas.Subject(schemas.TopicFileReports), text); err != nil {
			t.Fatal(err)
		}
	}
	return a
}

func (a *runningAPI) report(t *testing.T, r *internalv1.FileReport) {
	t.Helper()
	v, err := a.w.Encode(nil, r)
	if err != nil {
		t.Fatal(err)
	}
	if err := a.cl.ProduceSync(context.Background(), &kgo.Record{Topic: schemas.TopicFileReports, Key: []byte(r.Tenant), Value: v}).FirstErr(); err != nil {
		t.Fatal(err)
	}
}

// decisions reads esr.ops.intake.v1 from the start until it has n records
// (or the wait ends), decoded through the registry.
func (a *runningAPI) decisions(t *testing.T, n int) []internalv1.IntakeDecision {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	// Every partition: the topic has several, and one tenant's decisions
	// are in order on its own.
	cl := testkit.Client(t, a.seeds, kgo.ConsumeTopics(schemas.TopicIntake), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	reader, _, err := schemas.Latest(schemas.IntakeDecision)
	if err != nil {
		t.Fatal(err)
	}
	var out []internalv1.IntakeDecision
	for len(out) < n && ctx.Err() == nil {
		fs := cl.PollFetches(ctx)
		for _, r := range fs.Records() {
			var d internalv1.IntakeDecision
			if _, err := a.serde.Decode(ctx, r.Value, reader, &d); err != nil {
				t.Fatal(err)
			}
			out = append(out, d)
		}
	}
	return out
}

func heldFileReport(name, sha string, seq int64, awaiting []int64, at time.Time) *internalv1.FileReport {
	last, refresh, reason := "GO_412_EXP_GOC_20240311_00000347.DAT", "REFRESH_RXX_412_EXP_00000348-00000350.json", "held: sequence gap"
	return &internalv1.FileReport{Tenant: "RXX", Vpd: "412", Status: internalv1.FileStatusHeld, Reason: &reason,
		File:          internalv1.FileInfo{Name: name, Sha256: sha, Dialect: "go-v2", Kind: internalv1.FileKindChange, Sequence: seq, RunDate: at, Size: 10},
		EventsEmitted: map[string]int64{}, ReportedAt: at, TopRules: []internalv1.RuleCount{},
		Hold: &internalv1.FileHold{Feed: "412/EXP", LastSequence: 347, LastFile: &last, AwaitingSequences: awaiting, RefreshRequest: &refresh}}
}

// `esrflow files --status held` shows what each held file awaits and its
// SHA-256; `esrflow files release|discard SHA --reason` has the api write
// one IntakeDecision each, as the key's client; the api's refusals are exit
// 1, usage errors exit 2.
func TestFilesReleaseAndDiscard(t *testing.T) {
	const key = "files-operator-key"
	a := startAPI(t, []auth.Client{{Name: "ics-operations", KeySHA256: auth.HashKey(key), Tenants: []string{"RXX"}, Scopes: []string{auth.ScopeOperate, auth.ScopeReadFiles}}})
	at := time.Date(2026, 12, 2, 6, 0, 0, 0, time.UTC)
	a.report(t, heldFileReport("GO_412_EXP_GOC_20240315_00000351.DAT", heldSHA, 351, []int64{348, 349, 350}, at))
	a.report(t, heldFileReport("GO_412_EXP_GOC_20240316_00000352.DAT", heldSHA2, 352, []int64{348, 349, 350, 351}, at.Add(time.Minute)))
	base := []string{"--api", a.url, "--key", key, "--tenant", "rxx"}

	var out string
	deadline := time.Now().Add(30 * time.Second)
	for {
		code, o, errs := runFilesCmd(append(base, "--status", "HELD")...)
		if code != 0 {
			t.Fatalf("files --status HELD: exit %d: %s", code, errs)
		}
		if out = o; strings.Count(out, "\n") == 3 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the api listed no held files:\n%s", out)
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Logf("esrflow files --status held:\n%s", out)
	rows := strings.Split(strings.TrimSpace(out), "\n")
	if !strings.HasPrefix(rows[0], "REPORTED (UTC)") || !strings.Contains(rows[0], "AWAITING") || !strings.Contains(rows[0], "SHA256") {
		t.Errorf("header: %q", rows[0])
	}
	for i, want := range []string{"00000352.DAT 352 412/EXP seq 348-351 GO_412_EXP_GOC_20240311_00000347.DAT REFRESH_RXX_412_EXP_00000348-00000350.json - " + heldSHA2,
		"00000351.DAT 351 412/EXP seq 348-350 GO_412_EXP_GOC_20240311_00000347.DAT REFRESH_RXX_412_EXP_00000348-00000350.json - " + heldSHA} {
		if !strings.Contains(strings.Join(strings.Fields(rows[i+1]), " "), want) {
			t.Errorf("row %d: %q, want it to contain %q", i+1, rows[i+1], want)
		}
	}

	// Release, SHA-256 before or after the flags.
	code, out, errs := runFilesCmd(append([]string{"release", strings.ToUpper(heldSHA)}, append(base, "--reason", "348-350 will not be re-sent")...)...)
	if code != 0 || !strings.HasPrefix(out, "release of "+heldSHA+" requested: decision ") || !strings.Contains(out, "GET /v1/tenants/RXX/files/"+heldSHA) {
		t.Fatalf("files release: exit %d, stdout %q, stderr %q", code, out, errs)
	}
	// The same again is the pending decision, sent once.
	code, again, _ := runFilesCmd(append(append([]string{"release"}, base...), "--reason", "348-350 will not be re-sent", heldSHA)...)
	decisionID := regexp.MustCompile(`decision ([0-9a-f-]{36})`)
	if m1, m2 := decisionID.FindStringSubmatch(out), decisionID.FindStringSubmatch(again); code != 0 || !strings.Contains(again, "already requested") ||
		m1 == nil || m2 == nil || m1[1] != m2[1] {
		t.Errorf("release again: exit %d: %q (first %q)", code, again, out)
	}
	// The held files now say which is being dealt with.
	if code, out, _ := runFilesCmd(append(base, "--status", "held")...); code != 0 ||
		!regexp.MustCompile(`00000351\.DAT .* release pending \(ics-operations\)\s+`+heldSHA).MatchString(out) || strings.Count(out, "pending") != 1 {
		t.Errorf("held files after the release:\n%s", out)
	}
	// Discarding it while the release is pending is the api's 409: exit 1.
	code, _, errs = runFilesCmd(append(append([]string{"discard", heldSHA}, base...), "--reason", "no")...)
	if code != 1 || !strings.Contains(errs, "409") || !strings.Contains(errs, "a decision is pending") {
		t.Errorf("discard while pending: exit %d, stderr %q", code, errs)
	}
	code, out2, errs := runFilesCmd(append(append([]string{"discard", heldSHA2}, base...), "--reason", "superseded by the full file", "--format", "json")...)
	if code != 0 || !strings.HasPrefix(out2, `{"decision_id":"`) || !strings.Contains(out2, `"action":"DISCARD","status":"REQUESTED"`) {
		t.Errorf("discard: exit %d, stdout %q, stderr %q", code, out2, errs)
	}
	ds := a.decisions(t, 2)
	if len(ds) != 2 {
		t.Fatalf("decisions on %s: %d, want 2: %+v", schemas.TopicIntake, len(ds), ds)
	}
	if d := ds[0]; d.Sha256 != heldSHA || d.Action != internalv1.IntakeActionRelease || d.Actor != "ics-operations" ||
		d.Reason != "348-350 will not be re-sent" || d.Tenant != "RXX" || !strings.Contains(out, d.DecisionID) {
		t.Errorf("release decision = %+v", d)
	}
	if d := ds[1]; d.Sha256 != heldSHA2 || d.Action != internalv1.IntakeActionDiscard || d.Reason != "superseded by the full file" || !strings.Contains(out2, d.DecisionID) {
		t.Errorf("discard decision = %+v", d)
	}
	// A file the api does not know, and a wrong key: exit 1 with the api's word.
	code, _, errs = runFilesCmd(append(append([]string{"release", strings.Repeat("7", 64)}, base...), "--reason", "x")...)
	if code != 1 || !strings.Contains(errs, "404") {
		t.Errorf("unknown file: exit %d, stderr %q", code, errs)
	}
	code, _, errs = runFilesCmd("release", heldSHA, "--api", a.url, "--key", "wrong", "--tenant", "RXX", "--reason", "x")
	if code != 1 || !strings.Contains(errs, "401") {
		t.Errorf("wrong key: exit %d, stderr %q", code, errs)
	}
}

func TestFilesDecisionUsageErrors(t *testing.T) {
	sha := strings.Repeat("a", 64)
	for _, args := range [][]string{
		{"release", "--tenant", "RXX", "--reason", "x"},                                         // no SHA-256
		{"release", sha, sha, "--tenant", "RXX", "--reason", "x"},                               // two
		{"discard", "GO_412_EXP_GOC_20240311_00000347.DAT", "--tenant", "RXX", "--reason", "x"}, // a name
		{"release", sha, "--reason", "x"},                                                       // no tenant
		{"release", sha, "--tenant", "RXX"},                                                     // no reason
		{"discard", sha, "--tenant", "RXX", "--reason", "  "},                                   // blank reason
		{"release", sha, "--tenant", "RXX", "--reason", "x", "--format", "xml"},                 // unknown format
		{"release", sha, "--tenant", "RXX", "--reason", "x", "--key", "a", "--key-file", "b"},
		{"release", "--no-such-flag"},
	} {
		if code, _, errs := runFilesCmd(args...); code != 2 {
			t.Errorf("files %q: exit %d, want 2 (stderr %q)", args, code, errs)
		}
	}
	if code, _, _ := runFilesCmd("release", "-h"); code != 0 {
		t.Errorf("release -h: exit %d, want 0", code)
	}
}

func TestAwaitingText(t *testing.T) {
	run := "2024-03-14"
	for _, c := range []struct {
		seqs []int64
		run  *string
		want string
	}{
		{[]int64{348}, nil, "seq 348"},
		{[]int64{348, 349}, nil, "seq 348, 349"},
		{[]int64{348, 349, 350, 352, 360, 361, 362, 363}, nil, "seq 348-350, 352, 360-363"},
		{[]int64{}, &run, "run 2024-03-14"},
		{[]int64{348}, &run, "seq 348; run 2024-03-14"},
		{nil, nil, "-"},
	} {
		if got := awaitingText(c.seqs, c.run); got != c.want {
			t.Errorf("awaitingText(%v) = %q, want %q", c.seqs, got, c.want)
		}
	}
}
