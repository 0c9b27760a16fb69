package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sr"
	"go.uber.org/zap/zaptest"

	"github.com/esrflow/esrflow/esr/gen"
	"github.com/esrflow/esrflow/esr/tenant"
	"github.com/esrflow/esrflow/platform/avrox"
	"github.com/esrflow/esrflow/platform/kafka/embedded"
	"github.com/esrflow/esrflow/platform/testkit"
	"github.com/esrflow/esrflow/schemas"
	"github.com/esrflow/esrflow/schemas/gen/internalv1"
	"github.com/esrflow/esrflow/services/ingest"
	"github.com/esrflow/esrflow/services/registry/registrytest"
)

// ingestStack is Kafka, the registry and a running ingest service.
type ingestStack struct {
	seeds         []string
	url           string
	drop, archive string
	reports       avrox.Writer
}

func startIngestStack(t *testing.T) *ingestStack {
	t.Helper()
	k := testkit.Kafka(t,
		embedded.TopicSpec{Name: schemas.TopicRaw, Partitions: 3},
		embedded.TopicSpec{Name: schemas.TopicFileReports, Partitions: 1})
	url := registrytest.Start(t, k.Seeds(), schemas.TopicRaw, schemas.TopicFileReports)
	dir := t.TempDir()
	st := &ingestStack{seeds: k.Seeds(), url: url, drop: filepath.Join(dir, "drop"), archive: filepath.Join(dir, "archive")}
	tenants, err := tenant.Parse("RXX=412")
	if err != nil {
		t.Fatal(err)
	}
	svc, err := ingest.New(ingest.Config{Drop: st.drop, Archive: st.archive, Tenants: tenants, Brokers: k.Seeds(),
		RegistryURL: url, InstanceID: "cli-test", Settle: 20 * time.Millisecond, Interval: 10 * time.Millisecond},
		ingest.Deps{Log: zaptest.NewLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- svc.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil && !errors.Is(err, context.Canceled) {
			t.Errorf("ingest: %v", err)
		}
	})
	for deadline := time.Now().Add(20 * time.Second); svc.Ready() != nil; time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("ingest not ready")
		}
	}
	cl, err := sr.NewClient(sr.URLs(url))
	if err != nil {
		t.Fatal(err)
	}
	_, text, err := schemas.Latest(schemas.FileReport)
	if err != nil {
		t.Fatal(err)
	}
	if st.reports, err = avrox.New(cl, internalv1.NewAPI()).Register(context.Background(), schemas.Subject(schemas.TopicFileReports), text); err != nil {
		t.Fatal(err)
	}
	return st
}

// publishReport writes an ACCEPTED report, standing in for the publish stage.
func (st *ingestStack) publishReport(t *testing.T, fi gen.FileInfo) {
	t.Helper()
	rep := internalv1.FileReport{Tenant: "RXX", Vpd: "412", File: internalv1.FileInfo{Name: fi.Name, Sha256: fi.SHA256,
		Dialect: "go-v2", Kind: internalv1.FileKindFull, Sequence: int64(fi.Seq), RunDate: time.Date(2024, 4, 1, 0, 0, 0, 0, time.UTC)},
		Status: internalv1.FileStatusAccepted, RowsRead: int64(fi.Rows), EntitiesAccepted: int64(fi.Rows),
		EventsEmitted: map[string]int64{}, ReportedAt: time.UnixMilli(1_700_000_000_000).UTC()}
	v, err := st.reports.Encode(nil, &rep)
	if err != nil {
		t.Error(err)
		return
	}
	cl := testkit.Client(t, st.seeds)
	if err := cl.ProduceSync(context.Background(), &kgo.Record{Topic: schemas.TopicFileReports, Key: []byte("RXX"), Value: v}).FirstErr(); err != nil {
		t.Error(err)
	}
}

func (st *ingestStack) args(extra ...string) []string {
	return append([]string{"--tenant", "rxx", "--drop", st.drop, "--wait", "--kafka.brokers", strings.Join(st.seeds, ","),
		"--registry.url", st.url, "--timeout", "30s"}, extra...)
}

func writeGenerated(t *testing.T, cfg gen.Config) (string, gen.Result) {
	t.Helper()
	dir := t.TempDir()
	res, err := gen.Generate(cfg, gen.DirSink(dir))
	if err != nil {
		t.Fatal(err)
	}
	return dir, res
}

// printedReport is what `esrflow ingest --wait` prints per file: the
// report rendered from its Avro schema (dates as YYYY-MM-DD).
type printedReport struct {
	Tenant string `json:"tenant"`
	File   struct {
		Name    string `json:"name"`
		Sha256  string `json:"sha256"`
		RunDate string `json:"run_date"`
	} `json:"file"`
	Status   internalv1.FileStatus `json:"status"`
	Reason   *string               `json:"reason"`
	RowsRead int64                 `json:"rows_read"`
}

var isoDate = regexp.MustCompile(`^\d{4}-\d{2}-\d{2}$`)

func reportLines(t *testing.T, out string) []printedReport {
	t.Helper()
	var reps []printedReport
	for _, ln := range strings.Split(strings.TrimSpace(out), "\n") {
		if ln == "" {
			continue
		}
		var r printedReport
		if err := json.Unmarshal([]byte(ln), &r); err != nil {
			t.Fatalf("stdout line %q: %v", ln, err)
		}
		if !isoDate.MatchString(r.File.RunDate) {
			t.Fatalf("stdout line %q: run_date is not YYYY-MM-DD", ln)
		}
		reps = append(reps, r)
	}
	return reps
}

func TestIngestCommandWaitsForEachFilesReport(t *testing.T) {
	st := startIngestStack(t)
	dir, res := writeGenerated(t, gen.Config{Tenant: "RXX", VPD: "412", Staff: 20, Days: 1, Seed: 9})
	full, change := res.Files[0], res.Files[1]

	// A bad copy of the change file: its trailer count is wrong.
	good, err := os.ReadFile(filepath.Join(dir, change.Name))
	if err != nil {
		t.Fatal(err)
	}
	badDir := t.TempDir()
	bad := bytes.Replace(good, []byte("TRL~"), []byte("TRL~9"), 1)
	if err := os.WriteFile(filepath.Join(badDir, change.Name), bad, 0o640); err != nil {
		t.Fatal(err)
	}
	badSHA := sha256Hex(bad)
	// A report for the bad file's hash from before the command ran must not
	// be taken for its report.
	old := change
	old.SHA256 = badSHA
	st.publishReport(t, old)

	// The full file is accepted by ingest; publish (stood in for here) then
	// reports it ACCEPTED.
	go func() {
		for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
			if _, err := os.Stat(filepath.Join(st.archive, "RXX", full.SHA256)); err == nil {
				st.publishReport(t, full)
				return
			}
		}
	}()

	var stdout, stderr bytes.Buffer
	err = runIngest(context.Background(), st.args(filepath.Join(dir, full.Name), filepath.Join(badDir, change.Name)), &stdout, &stderr)
	if err == nil || err.Error() != "1 of 2 files rejected: "+change.Name {
		t.Fatalf("runIngest = %v, want the bad file named as rejected\nstderr: %s", err, stderr.String())
	}
	reps := reportLines(t, stdout.String())
	if len(reps) != 2 {
		t.Fatalf("%d report lines, want 2:\n%s", len(reps), stdout.String())
	}
	bySHA := map[string]printedReport{}
	for _, r := range reps {
		bySHA[r.File.Sha256] = r
	}
	if r := bySHA[full.SHA256]; r.Status != internalv1.FileStatusAccepted || r.RowsRead != int64(full.Rows) {
		t.Errorf("full file report = %+v", r)
	}
	r := bySHA[badSHA]
	if r.Status != internalv1.FileStatusRejected || r.Reason == nil || !strings.Contains(*r.Reason, "trailer-count: ") || r.File.Name != change.Name {
		t.Errorf("bad file report = %+v", r)
	}
	if _, err := os.Stat(filepath.Join(st.archive, "RXX", badSHA)); err != nil {
		t.Errorf("bad file not archived: %v", err)
	}
}

func TestIngestCommandAcceptedOnlyReturnsNil(t *testing.T) {
	st := startIngestStack(t)
	dir, res := writeGenerated(t, gen.Config{Tenant: "RXX", VPD: "412", Staff: 10, Days: 0, Seed: 2})
	full := res.Files[0]
	go func() {
		for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
			if _, err := os.Stat(filepath.Join(st.archive, "RXX", full.SHA256)); err == nil {
				st.publishReport(t, full)
				return
			}
		}
	}()
	var stdout, stderr bytes.Buffer
	if err := runIngest(context.Background(), st.args(filepath.Join(dir, full.Name)), &stdout, &stderr); err != nil {
		t.Fatalf("runIngest: %v\n%s", err, stderr.String())
	}
	if reps := reportLines(t, stdout.String()); len(reps) != 1 || reps[0].File.Sha256 != full.SHA256 || reps[0].Status != internalv1.FileStatusAccepted {
		t.Fatalf("reports = %+v", reps)
	}
}

// TestIngestCommandHeldFails: a change file handed without the one before
// it gets ingest's HELD report; --wait prints it, says why on stderr, and
// fails naming it as held (not rejected).
func TestIngestCommandHeldFails(t *testing.T) {
	st := startIngestStack(t)
	dir, res := writeGenerated(t, gen.Config{Tenant: "RXX", VPD: "412", Staff: 10, Days: 2, Seed: 6})
	full, c2 := res.Files[0], res.Files[2]
	go func() {
		for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
			if _, err := os.Stat(filepath.Join(st.archive, "RXX", full.SHA256)); err == nil {
				st.publishReport(t, full)
				return
			}
		}
	}()
	var stdout, stderr bytes.Buffer
	err := runIngest(context.Background(), st.args(filepath.Join(dir, full.Name), filepath.Join(dir, c2.Name)), &stdout, &stderr)
	if err == nil || err.Error() != "1 of 2 files held (an earlier file of the feed is missing): "+c2.Name {
		t.Fatalf("runIngest = %v, want %s named as held\nstderr: %s", err, c2.Name, stderr.String())
	}
	if want := c2.Name + ": held: ESR-F026 " + c2.Name + ": sequence-gap: "; !strings.Contains(stderr.String(), want) {
		t.Errorf("stderr %q does not contain %q", stderr.String(), want)
	}
	reps := reportLines(t, stdout.String())
	if len(reps) != 2 {
		t.Fatalf("%d report lines, want 2:\n%s", len(reps), stdout.String())
	}
	for _, r := range reps {
		if r.File.Sha256 == c2.SHA256 && r.Status != internalv1.FileStatusHeld {
			t.Errorf("%s report %s, want HELD", c2.Name, r.Status)
		}
	}
}

// TestIngestCommandDuplicateIsSuccess: the same bytes handed again, under
// their name or another, get ingest's DUPLICATE report; --wait prints it,
// says which file it duplicates, and succeeds.
func TestIngestCommandDuplicateIsSuccess(t *testing.T) {
	st := startIngestStack(t)
	dir, res := writeGenerated(t, gen.Config{Tenant: "RXX", VPD: "412", Staff: 10, Days: 0, Seed: 4})
	full := res.Files[0]
	go func() {
		for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
			if _, err := os.Stat(filepath.Join(st.archive, "RXX", full.SHA256)); err == nil {
				st.publishReport(t, full)
				return
			}
		}
	}()
	if err := runIngest(context.Background(), st.args(filepath.Join(dir, full.Name)), &bytes.Buffer{}, &bytes.Buffer{}); err != nil {
		t.Fatalf("first delivery: %v", err)
	}
	renamed := strings.Replace(full.Name, "_00000001.DAT", "_00000002.DAT", 1)
	if renamed == full.Name {
		t.Fatalf("cannot rename %s", full.Name)
	}
	b, err := os.ReadFile(filepath.Join(dir, full.Name))
	if err != nil {
		t.Fatal(err)
	}
	otherDir := t.TempDir()
	if err := os.WriteFile(filepath.Join(otherDir, renamed), b, 0o640); err != nil {
		t.Fatal(err)
	}
	for _, path := range []string{filepath.Join(dir, full.Name), filepath.Join(otherDir, renamed)} {
		var stdout, stderr bytes.Buffer
		if err := runIngest(context.Background(), st.args(path), &stdout, &stderr); err != nil {
			t.Fatalf("%s again: runIngest = %v, want success\nstderr: %s", filepath.Base(path), err, stderr.String())
		}
		reps := reportLines(t, stdout.String())
		if len(reps) != 1 || reps[0].Status != internalv1.FileStatusDuplicate || reps[0].File.Name != filepath.Base(path) || reps[0].File.Sha256 != full.SHA256 {
			t.Fatalf("%s again: reports = %+v", filepath.Base(path), reps)
		}
		if want := filepath.Base(path) + ": duplicate of " + full.Name + " (accepted "; !strings.Contains(stderr.String(), want) {
			t.Fatalf("stderr = %q, want it to contain %q", stderr.String(), want)
		}
	}
}

func TestIngestCommandTimesOutNamingTheFile(t *testing.T) {
	st := startIngestStack(t)
	dir, res := writeGenerated(t, gen.Config{Tenant: "RXX", VPD: "412", Staff: 10, Days: 0, Seed: 2})
	full := res.Files[0]
	// Accepted by ingest, but nothing downstream reports it.
	args := st.args("--timeout", "500ms", filepath.Join(dir, full.Name))
	err := runIngest(context.Background(), args, &bytes.Buffer{}, &bytes.Buffer{})
	if err == nil || !strings.HasPrefix(err.Error(), "no report within the timeout for "+full.Name+" ") {
		t.Fatalf("runIngest = %v", err)
	}
}

func TestIngestCommandCopiesAtomically(t *testing.T) {
	dir, res := writeGenerated(t, gen.Config{Tenant: "RXX", VPD: "412", Staff: 10, Days: 1, Seed: 2})
	data := t.TempDir()
	// The running stack made its tenants' folders.
	if err := os.MkdirAll(filepath.Join(data, "drop", "RXX"), 0o750); err != nil {
		t.Fatal(err)
	}
	var files []string
	for _, f := range res.Files {
		files = append(files, filepath.Join(dir, f.Name))
	}
	var stdout, stderr bytes.Buffer
	if err := runIngest(context.Background(), append([]string{"--tenant", "RXX", "--data", data}, files...), &stdout, &stderr); err != nil {
		t.Fatal(err)
	}
	if stdout.Len() != 0 {
		t.Errorf("stdout without --wait: %q", stdout.String())
	}
	ents, err := os.ReadDir(filepath.Join(data, "drop", "RXX"))
	if err != nil {
		t.Fatal(err)
	}
	// ReadDir sorts by name: the change file (GOC) before the full file.
	if len(ents) != 2 || ents[0].Name() != res.Files[1].Name || ents[1].Name() != res.Files[0].Name {
		t.Fatalf("drop folder holds %v", ents)
	}
	for _, f := range res.Files {
		b, _ := os.ReadFile(filepath.Join(data, "drop", "RXX", f.Name))
		if sha256Hex(b) != f.SHA256 {
			t.Errorf("%s copied with different content", f.Name)
		}
	}
	// Handing the same file again while it still waits is refused.
	err = runIngest(context.Background(), []string{"--tenant", "RXX", "--data", data, files[0]}, &stdout, &stderr)
	if err == nil || !strings.Contains(err.Error(), "already waiting") {
		t.Fatalf("second hand-over = %v", err)
	}
}

func TestIngestCommandFlags(t *testing.T) {
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"x.DAT"}, "--tenant is required"},
		{[]string{"--tenant", "R-X", "x.DAT"}, `--tenant "R-X": want an ODS code`},
		{[]string{"--tenant", "RXX"}, "no files given"},
		{[]string{"--tenant", "RXX", filepath.Join(t.TempDir(), "missing.DAT")}, "no such file"},
	} {
		err := runIngest(context.Background(), tt.args, &bytes.Buffer{}, &bytes.Buffer{})
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("runIngest(%q) = %v, want %q", tt.args, err, tt.want)
		}
	}
}

func sha256Hex(b []byte) string {
	s, err := hashReader(bytes.NewReader(b))
	if err != nil {
		panic(err)
	}
	return s
}
