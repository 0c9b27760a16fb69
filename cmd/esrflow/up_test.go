package main

import (
	"bytes"
	"context"
	"regexp"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/sr"

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
		done <- runUp(ctx, []string{"--data", dir, "--kafka.port", "0", "--registry.addr", "127.0.0.1:0", "--api.addr", "127.0.0.1:0", "--metrics.addr", "", "--partitions", "3", "--log.level", "error"}, &out, &out)
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
	first := subjectIDs(t, url)
	stop()
	if len(first["probe-value"]) != 1 {
		t.Fatalf("probe subject missing: %v", first)
	}

	want := []string{
		schemas.Subject(schemas.TopicRaw), schemas.Subject(schemas.TopicNormalised), schemas.Subject(schemas.TopicValidated),
		schemas.Subject(schemas.TopicQuarantine), schemas.Subject(schemas.TopicFileReports),
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
