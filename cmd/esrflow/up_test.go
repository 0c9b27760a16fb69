package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/sr"

	"github.com/esrflow/esrflow/esr/gen"
	"github.com/esrflow/esrflow/schemas"
)

// syncBuffer lets the test read what `up` prints while it runs.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

var registryURL = regexp.MustCompile(`schema registry: (http://\S+)`)

// startUp runs `esrflow up` on dir until the returned stop is called, and
// returns the registry URL it announced.
func startUp(t *testing.T, dir string) (url string, stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	var out syncBuffer
	done := make(chan error, 1)
	go func() {
		done <- runUp(ctx, []string{"--data", dir, "--kafka.port", "0", "--registry.addr", "127.0.0.1:0", "--api.addr", "127.0.0.1:0", "--sftp.addr", "127.0.0.1:0", "--metrics.addr", "", "--partitions", "3", "--log.level", "error"}, &out, &out)
	}()
	deadline := time.Now().Add(60 * time.Second)
	for {
		if m := registryURL.FindStringSubmatch(out.String()); m != nil {
			url = m[1]
			break
		}
		select {
		case err := <-done:
			cancel()
			t.Fatalf("up exited early: %v\n%s", err, out.String())
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			cancel()
			t.Fatalf("up did not announce itself:\n%s", out.String())
		}
	}
	return url, func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("up returned %v after Ctrl-C, want a clean stop", err)
		}
	}
}

func subjectIDs(t *testing.T, url string) map[string][]int {
	t.Helper()
	cl, err := sr.NewClient(sr.URLs(url))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	subjects, err := cl.Subjects(ctx)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][]int{}
	for _, s := range subjects {
		all, err := cl.Schemas(ctx, s)
		if err != nil {
			t.Fatal(err)
		}
		for _, ss := range all {
			out[s] = append(out[s], ss.ID)
		}
	}
	return out
}

func hasAll(subjects map[string][]int, want []string) bool {
	for _, s := range want {
		if len(subjects[s]) == 0 {
			return false
		}
	}
	return true
}

func TestUpServesRegistryAndResumes(t *testing.T) {
	dir := t.TempDir()
	url, stop := startUp(t, dir)
	// A subject only this run registers: after a restart it exists only if
	// the registry's state really persisted in the data folder.
	cl, err := sr.NewClient(sr.URLs(url))
	if err != nil {
		t.Fatal(err)
	}
	probe := `{"type":"record","name":"Probe","fields":[{"name":"n","type":"long"}]}`
	if _, err := cl.CreateSchema(context.Background(), "probe-value", sr.Schema{Schema: probe}); err != nil {
		t.Fatal(err)
	}
	// Publish registers its ops topics' subjects, and the event subjects of
	// the configured tenant (the demo's RXX), as it starts, which may be
	// after up has printed its addresses.
	want := []string{
		schemas.Subject(schemas.TopicRaw), schemas.Subject(schemas.TopicNormalised), schemas.Subject(schemas.TopicValidated),
		schemas.Subject(schemas.TopicQuarantine), schemas.Subject(schemas.TopicFileReports),
		schemas.Subject(schemas.TopicCommands), schemas.Subject(schemas.TopicHeldBatches),
	}
	for _, e := range []string{schemas.EventStarterCreated, schemas.EventLeaverConfirmed, schemas.EventPositionUpdated, schemas.EventLeaverReversed} {
		want = append(want, schemas.Subject(schemas.EventTopic("RXX", e)))
	}
	first := subjectIDs(t, url)
	for deadline := time.Now().Add(20 * time.Second); !hasAll(first, want) && time.Now().Before(deadline); first = subjectIDs(t, url) {
		time.Sleep(50 * time.Millisecond)
	}
	stop()
	if len(first["probe-value"]) != 1 {
		t.Fatalf("probe subject missing: %v", first)
	}

	for _, s := range want {
		if len(first[s]) == 0 {
			t.Errorf("subject %s not registered by up; have %v", s, first)
		}
	}
	// normalised and validated share one schema, so the registry gives them one id.
	if !slices.Equal(first[want[1]], first[want[2]]) {
		t.Errorf("normalised ids %v != validated ids %v", first[want[1]], first[want[2]])
	}

	url2, stop2 := startUp(t, dir)
	defer stop2()
	second := subjectIDs(t, url2)
	for s, ids := range first {
		if !slices.Equal(second[s], ids) {
			t.Errorf("after restart %s ids = %v, want %v", s, second[s], ids)
		}
	}
	if len(second) != len(first) {
		t.Errorf("after restart %d subjects, want %d", len(second), len(first))
	}
}

var (
	reportLine = regexp.MustCompile(`(?m)^RXX (GO_412_EXP_GO[FC]_\d{8}_\d{8}\.DAT): (\d+) rows: .*; events: (.*)$`)
	apiURL     = regexp.MustCompile(`api: +(http://\S+)`)
)

// demoArgs are `make run`'s flags on a fresh data folder and free ports; it
// skips the test under -short.
func demoArgs(t *testing.T) (dir string, args []string) {
	if testing.Short() {
		t.Skip("end-to-end run")
	}
	dir = t.TempDir()
	return dir, []string{"--data", dir, "--demo", "--kafka.port", "0", "--registry.addr", "127.0.0.1:0", "--api.addr", "127.0.0.1:0", "--sftp.addr", "127.0.0.1:0",
		"--metrics.addr", "", "--partitions", "3", "--log.level", "error"}
}

// runUpUntil runs `esrflow up` with args until until(output) holds, then
// stops it with the equivalent of Ctrl-C and returns everything it printed.
func runUpUntil(t *testing.T, args []string, until func(out string) bool) string {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	var out syncBuffer
	done := make(chan error, 1)
	go func() { done <- runUp(ctx, args, &out, &out) }()
	deadline := time.Now().Add(2 * time.Minute)
	for !until(out.String()) {
		select {
		case err := <-done:
			cancel()
			t.Fatalf("up exited early: %v\n%s", err, out.String())
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			cancel()
			<-done
			t.Fatalf("timed out; up printed:\n%s", out.String())
		}
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("up returned %v after Ctrl-C, want a clean stop", err)
	}
	return out.String()
}

// TestUpDemoRunsEveryFileAndResumes is `make run`: up --demo drops a
// generated trust and reports every file; a second up on the same folder
// resumes without re-dropping or re-processing anything, and serves the
// state it had.
func TestUpDemoRunsEveryFileAndResumes(t *testing.T) {
	dir, args := demoArgs(t)
	out := runUpUntil(t, args, func(out string) bool { return len(reportLine.FindAllString(out, -1)) >= 11 })
	files := map[string]bool{}
	for _, m := range reportLine.FindAllStringSubmatch(out, -1) {
		files[m[1]] = true
	}
	demo, err := gen.Generate(gen.Config{Tenant: "RXX", VPD: "412", Staff: 2000, Days: 10, Seed: 1, Faults: true}, gen.DiscardSink{})
	if err != nil {
		t.Fatal(err)
	}
	if len(files) != 11 || !strings.Contains(out, fmt.Sprintf("demo: 11 files (%d rows) for RXX dropped", demo.Rows)) {
		t.Fatalf("want the 11 demo files reported once each:\n%s", out)
	}

	// Resume: nothing new is dropped or reported, and the api still serves
	// the files it recorded in the first run.
	var served int
	out2 := runUpUntil(t, args, func(out string) bool {
		m := apiURL.FindStringSubmatch(out)
		if m == nil {
			return false
		}
		var body struct {
			Files []json.RawMessage `json:"files"`
		}
		// up makes an operator key on first start; with a key configured the
		// api answers only requests that carry one.
		key, err := os.ReadFile(filepath.Join(dir, "operator.key"))
		if err != nil {
			return false
		}
		req, _ := http.NewRequest(http.MethodGet, m[1]+"/v1/tenants/RXX/files", nil)
		req.Header.Set("Authorization", "Bearer "+strings.TrimSpace(string(key)))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		if json.NewDecoder(resp.Body).Decode(&body) != nil {
			return false
		}
		served = len(body.Files)
		return served == 11
	})
	if strings.Contains(out2, "demo:") || reportLine.MatchString(out2) {
		t.Fatalf("the second up re-dropped or re-processed files:\n%s", out2)
	}
	// The SFTP server is announced, with the same host key both times:
	// trusts pin it in their known_hosts.
	first, second := sftpLine.FindStringSubmatch(out), sftpLine.FindStringSubmatch(out2)
	if first == nil || second == nil {
		t.Fatalf("up did not announce its SFTP server:\n%s\n%s", out, out2)
	}
	if first[2] != second[2] || first[1] != filepath.Join(dir, "sftp-accounts.yaml") {
		t.Errorf("sftp lines: %q then %q", first[0], second[0])
	}
}

var sftpLine = regexp.MustCompile(`sftp:\s+127\.0\.0\.1:\d+ \(accounts: (\S+); host key (SHA256:\S+)\)`)
