package main

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/esrflow/esrflow/cmd/esrflow/internal/observe"
	"github.com/esrflow/esrflow/esr/gen"
	"github.com/esrflow/esrflow/esr/tenant"
	"github.com/esrflow/esrflow/schemas/gen/internalv1"
	"github.com/esrflow/esrflow/services/api/auth"
)

// An operator deals with held files through the api, across the real
// services: with change file 3 never delivered, files 4 and 5 are HELD;
// the operator discards 5 and releases 4. Ingest reports 5 DISCARDED and
// never reads it, reports 4 RELEASED and then reads it (ACCEPTED), and the
// api shows each file's state, history and completed audit row. The events
// are exactly the truth's for the files that were read (the full file and
// change files 2 and 4, whose changes do not depend on file 3's people).
func TestHeldFilesReleasedAndDiscardedThroughTheAPI(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end run")
	}
	tr := generate(t, gen.Config{Tenant: "RXX", VPD: "412", Staff: 80, Days: 4, Seed: 11})
	if len(tr.res.Files) != 5 {
		t.Fatalf("%d files generated, want 5", len(tr.res.Files))
	}
	files := tr.res.Files // seq 1 (full), 2, 3, 4, 5
	tenants, err := tenant.Parse("RXX=412")
	if err != nil {
		t.Fatal(err)
	}
	const key = "hold-operator-key"
	cfg := e2eStackConfig(t, t.TempDir(), tenants)
	cfg.APIClients = []auth.Client{{Name: "rxx-intake-ops", KeySHA256: auth.HashKey(key), Tenants: []string{"RXX"}, Scopes: auth.Scopes}}
	st := startStackConfig(t, cfg)
	rd, err := observe.NewReader(st.Seeds(), st.RegistryURL())
	if err != nil {
		t.Fatal(err)
	}
	for _, i := range []int{0, 1, 3, 4} {
		dropFile(t, st.DropDir(), "RXX", files[i].Name, tr.sink.Bytes(files[i].Name))
	}
	reps := waitReports(t, rd, 4, time.Minute)
	status := map[string]internalv1.FileStatus{}
	for _, r := range reps {
		status[r.File.Name] = r.Status
	}
	for i, want := range map[int]internalv1.FileStatus{0: internalv1.FileStatusAccepted, 1: internalv1.FileStatusAccepted,
		3: internalv1.FileStatusHeld, 4: internalv1.FileStatusHeld} {
		if status[files[i].Name] != want {
			t.Fatalf("%s: %s, want %s (reports %v)", files[i].Name, status[files[i].Name], want, status)
		}
	}

	// The api lists both as held, 4 awaiting sequence 3.
	held := waitHeldFiles(t, st.APIURL(), key, 2)
	for _, f := range held {
		if f.File.Name == files[3].Name && (f.Hold == nil || fmt.Sprint(f.Hold.AwaitingSequences) != "[3]") {
			t.Errorf("held %s: hold %+v, want awaiting [3]", f.File.Name, f.Hold)
		}
	}

	post := func(f gen.FileInfo, action, reason string) string {
		var got struct {
			DecisionID string `json:"decision_id"`
			Status     string `json:"status"`
		}
		body := fmt.Sprintf(`{"reason": %q}`, reason)
		url := st.APIURL() + "/v1/tenants/RXX/files/" + f.SHA256 + "/" + action
		if code := callJSON(t, http.MethodPost, key, url, body, &got); code != http.StatusAccepted || got.DecisionID == "" {
			t.Fatalf("%s %s: %d %+v, want 202 with a decision", action, f.Name, code, got)
		}
		return got.DecisionID
	}
	discardID := post(files[4], "discard", "5 is re-sent after 3")
	releaseID := post(files[3], "release", "3 was never produced: ESR ticket 4411")

	// DISCARDED 5, RELEASED 4, then 4 read: three more reports.
	reps = waitReports(t, rd, 7, time.Minute)
	var got []string
	for _, r := range reps[4:] {
		d := ""
		if r.Decision != nil {
			d = r.Decision.DecisionID
		}
		got = append(got, fmt.Sprintf("%s %s %s", r.File.Name, r.Status, d))
	}
	want := []string{
		fmt.Sprintf("%s DISCARDED %s", files[4].Name, discardID),
		fmt.Sprintf("%s RELEASED %s", files[3].Name, releaseID),
		fmt.Sprintf("%s ACCEPTED ", files[3].Name),
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("reports after the decisions:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}

	// State, history and audit in the api.
	waitFileState(t, st.APIURL(), key, files[3].SHA256, "ACCEPTED", []string{"ACCEPTED", "RELEASED", "HELD"})
	waitFileState(t, st.APIURL(), key, files[4].SHA256, "DISCARDED", []string{"DISCARDED", "HELD"})
	for id, want := range map[string]string{releaseID: "RELEASED", discardID: "DISCARDED"} {
		waitAuditStatus(t, st.APIURL(), key, id, want)
	}

	// Events: exactly the truth's for files 1, 2 and 4; nothing of 5.
	read := map[string]bool{files[0].Name: true, files[1].Name: true, files[3].Name: true}
	published, _ := tr.expectedEvents()
	var wantEvents []gen.TruthLine
	for _, l := range published {
		if read[l.File] {
			wantEvents = append(wantEvents, l)
		}
	}
	events, err := rd.Events(context.Background(), "RXX")
	if err != nil {
		t.Fatal(err)
	}
	compareEvents(t, events, wantEvents)
}

// heldFile is the part of a listed file report the test reads.
type heldFile struct {
	File struct {
		Name string `json:"name"`
	} `json:"file"`
	Status string `json:"status"`
	Hold   *struct {
		AwaitingSequences []int64 `json:"awaiting_sequences"`
	} `json:"hold"`
	History []struct {
		Status string `json:"status"`
	} `json:"history"`
}

func waitHeldFiles(t *testing.T, apiURL, key string, n int) []heldFile {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		var list struct {
			Files []heldFile `json:"files"`
		}
		code := callJSON(t, http.MethodGet, key, apiURL+"/v1/tenants/RXX/files?status=HELD", "", &list)
		if code == http.StatusOK && len(list.Files) == n {
			return list.Files
		}
		if time.Now().After(deadline) {
			t.Fatalf("held files: %d %+v, want %d", code, list.Files, n)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func waitFileState(t *testing.T, apiURL, key, sha, status string, history []string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		var f heldFile
		code := callJSON(t, http.MethodGet, key, apiURL+"/v1/tenants/RXX/files/"+sha, "", &f)
		var got []string
		for _, h := range f.History {
			got = append(got, h.Status)
		}
		if code == http.StatusOK && f.Status == status && fmt.Sprint(got) == fmt.Sprint(history) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("file %s: %d %s history %v, want %s history %v", sha[:12], code, f.Status, got, status, history)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func waitAuditStatus(t *testing.T, apiURL, key, decisionID, status string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		var audit struct {
			Audit []struct {
				CommandID string `json:"command_id"`
				Action    string `json:"action"`
				Actor     string `json:"actor"`
				Status    string `json:"status"`
			} `json:"audit"`
		}
		code := callJSON(t, http.MethodGet, key, apiURL+"/v1/tenants/RXX/audit", "", &audit)
		for _, a := range audit.Audit {
			if a.CommandID == decisionID && a.Status == status && a.Actor == "rxx-intake-ops" && strings.HasPrefix(a.Action, "FILE_") {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("audit: %d %+v, want decision %s %s", code, audit.Audit, decisionID, status)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
