package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/esrflow/esrflow/cmd/esrflow/internal/observe"
	"github.com/esrflow/esrflow/cmd/esrflow/internal/stack"
	"github.com/esrflow/esrflow/esr/tenant"
	"github.com/esrflow/esrflow/services/api/auth"
)

// quarantineItem is the part of the api's quarantined record the test reads.
type quarantineItem struct {
	ID      string `json:"id"`
	Status  string `json:"status"`
	Lineage struct {
		FileName   string `json:"file_name"`
		FileSHA256 string `json:"file_sha256"`
		Line       int64  `json:"line"`
	} `json:"lineage"`
	Violations []struct {
		Rule     string `json:"rule"`
		Severity string `json:"severity"`
	} `json:"violations"`
}

// replayView is the part of GET .../replays/{id} the test reads.
type replayView struct {
	ReplayID    string `json:"replay_id"`
	Status      string `json:"status"`
	RowOutcomes []struct {
		QuarantineID string `json:"quarantine_id"`
		Outcome      string `json:"outcome"`
		Events       []struct {
			EventID string `json:"event_id"`
			Type    string `json:"type"`
		} `json:"events"`
	} `json:"row_outcomes"`
}

// TestReplayAfterARuleChangeThroughTheAPI is the replay an operator makes:
// a starter's only assignment arrives with an FTE of 1.8, over the baseline
// maximum (ESR-V019), so it is quarantined and the starter not published.
// The trust then raises its FTE maximum to 2.0 (a rule parameter in its
// tenant configuration, rolled out by restarting the platform), finds the
// record through GET .../quarantine?rule=ESR-V019 and replays it through
// POST .../quarantine/replay. The row goes through normalise and validate
// again under the new rule set, is accepted, and publishes exactly the
// starter the truth has — sourced from the change file's line — once; the
// replay's outcome says so, and the record is resolved, so a second replay
// of it is refused and publishes nothing.
func TestReplayAfterARuleChangeThroughTheAPI(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end run")
	}
	r := breakStarter(t, func(cols []string) { cols[25] = "1.8" }) // GO v2 ASA column 25: fte
	dir := t.TempDir()
	baseline, err := tenant.Parse("RXX=412")
	if err != nil {
		t.Fatal(err)
	}
	const key = "e2e-operator-key"
	operated := func(tenants *tenant.Set) stack.Config {
		cfg := e2eStackConfig(t, dir, tenants)
		cfg.APIClients = []auth.Client{{Name: "e2e-operator", KeySHA256: auth.HashKey(key), Tenants: []string{"RXX"}, Scopes: auth.Scopes}}
		return cfg
	}
	st := startStackConfig(t, operated(baseline))
	rd, published := r.deliver(t, st)
	ctx := context.Background()
	item := waitQuarantined(t, st.APIURL(), key, r.change.Name, int64(r.line))
	line := bytes.TrimSuffix(bytes.Split(r.data, []byte("\n"))[r.line-1], []byte("\r"))
	sum := sha256.Sum256(line)
	lineHash := hex.EncodeToString(sum[:])

	// The row in its file, as the console shows it: the line ingest
	// archived, with one on either side, its hash the lineage's.
	var window struct {
		Lines []struct {
			Line       int    `json:"line"`
			RecordType string `json:"record_type"`
			Fields     []struct {
				Name  string  `json:"name"`
				Value *string `json:"value"`
			} `json:"fields"`
			RawSHA256 string `json:"raw_sha256"`
		} `json:"lines"`
	}
	linesURL := fmt.Sprintf("%s/v1/tenants/RXX/files/%s/lines?line=%d&context=1", st.APIURL(), item.Lineage.FileSHA256, r.line)
	if code := callJSON(t, http.MethodGet, key, linesURL, "", &window); code != http.StatusOK || len(window.Lines) != 3 {
		t.Fatalf("GET %s: HTTP %d, %d lines; want 200 with 3", linesURL, code, len(window.Lines))
	}
	if l := window.Lines[1]; l.Line != r.line || l.RecordType != "ASA" || l.RawSHA256 != lineHash ||
		!slices.ContainsFunc(l.Fields, func(f struct {
			Name  string  `json:"name"`
			Value *string `json:"value"`
		}) bool {
			return f.Name == "fte" && f.Value != nil && *f.Value == "1.8"
		}) {
		t.Errorf("the quarantined row's line = %+v; want line %d, ASA, fte 1.8, raw_sha256 %s", l, r.line, lineHash)
	}

	// The rule change: RXX allows an FTE up to 2.0.
	relaxed, err := tenant.New(tenant.Tenant{Code: "RXX", VPDs: []string{"412"}, Validation: tenant.Validation{
		Rules: map[string]tenant.RuleOverride{"ESR-V019": {Params: map[string]any{"max": 2.0}}}}})
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	st = startStackConfig(t, operated(relaxed))
	rd, err = observe.NewReader(st.Seeds(), st.RegistryURL())
	if err != nil {
		t.Fatal(err)
	}

	body := fmt.Sprintf(`{"ids": [%q], "reason": "RXX allows an FTE up to 2.0", "idempotency_key": "e2e-1"}`, item.ID)
	var accepted struct {
		ReplayID string `json:"replay_id"`
		Rows     int    `json:"rows"`
	}
	if code := callJSON(t, http.MethodPost, key, st.APIURL()+"/v1/tenants/RXX/quarantine/replay", body, &accepted); code != http.StatusAccepted || accepted.Rows != 1 {
		t.Fatalf("replay: %d %+v, want 202 with 1 row", code, accepted)
	}
	rp := waitReplay(t, st.APIURL(), key, accepted.ReplayID)
	if rp.Status != "COMPLETED" || len(rp.RowOutcomes) != 1 || rp.RowOutcomes[0].Outcome != "accepted" ||
		len(rp.RowOutcomes[0].Events) != 1 || rp.RowOutcomes[0].Events[0].Type != "starter-created" {
		t.Fatalf("replay outcome %+v, want COMPLETED, the row accepted with its starter-created", rp)
	}
	events, err := rd.Events(ctx, "RXX")
	if err != nil {
		t.Fatal(err)
	}
	compareEvents(t, events, published)

	// The replayed row kept its original bytes' hash: the event's lineage
	// names the SHA-256 of the line as delivered in the change file.
	var lin struct {
		Source struct {
			RawSHA256 *string `json:"raw_record_sha256"`
		} `json:"source"`
		NotRecorded []string `json:"not_recorded"`
	}
	evID := rp.RowOutcomes[0].Events[0].EventID
	if code := callJSON(t, http.MethodGet, key, st.APIURL()+"/v1/tenants/RXX/events/"+evID+"/lineage", "", &lin); code != http.StatusOK {
		t.Fatalf("lineage of the replayed starter %s: HTTP %d", evID, code)
	}
	if want := lineHash; lin.Source.RawSHA256 == nil || *lin.Source.RawSHA256 != want || len(lin.NotRecorded) != 0 {
		t.Errorf("lineage of the replayed starter: raw_record_sha256 %v, not_recorded %v; want %s and none", lin.Source.RawSHA256, lin.NotRecorded, want)
	}

	var after quarantineItem
	if code := callJSON(t, http.MethodGet, key, st.APIURL()+"/v1/tenants/RXX/quarantine/"+item.ID, "", &after); code != http.StatusOK || after.Status != "resolved" {
		t.Errorf("quarantined record after the replay: %d %+v, want resolved", code, after)
	}
	again := fmt.Sprintf(`{"ids": [%q], "reason": "once more", "idempotency_key": "e2e-2"}`, item.ID)
	if code := callJSON(t, http.MethodPost, key, st.APIURL()+"/v1/tenants/RXX/quarantine/replay", again, nil); code != http.StatusConflict {
		t.Errorf("replaying a resolved record: %d, want 409", code)
	}
	reps := waitReports(t, rd, 3, time.Minute)
	if last := reps[len(reps)-1]; last.ReplayID == nil || *last.ReplayID != accepted.ReplayID || last.EventsEmitted["starter-created"] != 1 {
		t.Errorf("the replay's file report: %+v", last)
	}
	final, err := rd.Events(ctx, "RXX")
	if err != nil {
		t.Fatal(err)
	}
	if len(final) != len(events) {
		t.Errorf("%d events after the refused replay, %d before", len(final), len(events))
	}
}

// waitQuarantined waits for the api to list a row of a file quarantined
// under ESR-V019 and returns it.
func waitQuarantined(t *testing.T, apiURL, key, file string, line int64) quarantineItem {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for {
		var list struct {
			Quarantine []quarantineItem `json:"quarantine"`
		}
		if code := callJSON(t, http.MethodGet, key, apiURL+"/v1/tenants/RXX/quarantine?rule=ESR-V019", "", &list); code == http.StatusOK {
			for _, q := range list.Quarantine {
				if q.Lineage.FileName == file && q.Lineage.Line == line {
					if q.Status != "open" || !slices.ContainsFunc(q.Violations, func(v struct {
						Rule     string `json:"rule"`
						Severity string `json:"severity"`
					}) bool {
						return v.Rule == "ESR-V019" && v.Severity == "ERROR"
					}) {
						t.Fatalf("quarantined record %+v, want open under ESR-V019", q)
					}
					return q
				}
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("the api lists no record of %s:%d under ESR-V019", file, line)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// waitReplay waits until a replay is no longer in progress.
func waitReplay(t *testing.T, apiURL, key, id string) replayView {
	t.Helper()
	deadline := time.Now().Add(2 * time.Minute)
	for {
		var rp replayView
		if code := callJSON(t, http.MethodGet, key, apiURL+"/v1/tenants/RXX/replays/"+id, "", &rp); code == http.StatusOK && rp.Status != "REQUESTED" && rp.Status != "" {
			return rp
		}
		if time.Now().After(deadline) {
			t.Fatalf("replay %s did not settle", id)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// callJSON sends a request with the api key (a JSON body when set) and
// decodes a 2xx answer into v (when set).
func callJSON(t *testing.T, method, key, url, body string, v any) int {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+key)
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if v != nil && resp.StatusCode/100 == 2 {
		if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
			t.Fatal(err)
		}
	}
	return resp.StatusCode
}
