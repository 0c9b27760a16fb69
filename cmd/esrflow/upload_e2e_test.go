package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/esrflow/esrflow/cmd/esrflow/internal/observe"
	"github.com/esrflow/esrflow/cmd/esrflow/internal/stack"
	"github.com/esrflow/esrflow/esr/gen"
	"github.com/esrflow/esrflow/esr/tenant"
	"github.com/esrflow/esrflow/services/api/auth"
)

// uploadAnswer is the api's answer to an upload.
type uploadAnswer struct {
	File   string `json:"file"`
	SHA256 string `json:"sha256"`
	Size   int64  `json:"size"`
	Report string `json:"report"`
}

// upload POSTs a file's bytes to the stack's api.
func upload(t *testing.T, apiURL, key, name string, data []byte) uploadAnswer {
	t.Helper()
	req, err := http.NewRequest("POST", apiURL+"/v1/tenants/RXX/files?name="+url.QueryEscape(name), bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+key)
	req.Header.Set("Content-Type", "application/octet-stream")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusAccepted {
		t.Fatalf("upload %s = %d %s", name, resp.StatusCode, b)
	}
	var a uploadAnswer
	if err := json.Unmarshal(b, &a); err != nil {
		t.Fatal(err)
	}
	if a.File != name || a.SHA256 != sha256Hex(data) || a.Size != int64(len(data)) || a.Report != "/v1/tenants/RXX/files/"+a.SHA256 {
		t.Fatalf("upload %s answered %+v", name, a)
	}
	return a
}

// fileReportView is what the api serves for a file report.
type fileReportView struct {
	Status string `json:"status"`
	File   struct {
		Name string `json:"name"`
	} `json:"file"`
	DuplicateOf *struct {
		Name string `json:"name"`
	} `json:"duplicate_of"`
	Duplicates []fileReportView `json:"duplicates"`
}

// waitReportAt polls a report location until ok says it is the one awaited.
func waitReportAt(t *testing.T, apiURL, key, path string, ok func(fileReportView) bool) fileReportView {
	t.Helper()
	deadline := time.Now().Add(2 * time.Minute)
	for {
		var v fileReportView
		if code := callJSON(t, "GET", key, apiURL+path, "", &v); code == http.StatusOK && ok(v) {
			return v
		}
		if time.Now().After(deadline) {
			t.Fatalf("GET %s: no awaited report within 2m", path)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestUploadOverHTTPMatchesTruth delivers a trust's files only through the
// api's upload endpoint: each answer's report location serves the file's
// report once the pipeline has run, the events equal the generator's truth,
// and the same bytes uploaded again (under their name and under another)
// are duplicates that publish nothing.
func TestUploadOverHTTPMatchesTruth(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end run")
	}
	tr := generate(t, gen.Config{Tenant: "RXX", VPD: "412", Staff: 150, Days: 4, Seed: 11})
	tenants, err := tenant.Parse("RXX=412")
	if err != nil {
		t.Fatal(err)
	}
	const key = "e2e-uploader-key"
	st, rd := uploaderStack(t, tenants, "e2e-uploader", key, auth.ScopeFilesWrite, auth.ScopeReadFiles)
	for _, f := range tr.res.Files {
		a := upload(t, st.APIURL(), key, f.Name, tr.sink.Bytes(f.Name))
		v := waitReportAt(t, st.APIURL(), key, a.Report, func(v fileReportView) bool { return v.File.Name == f.Name })
		if v.Status != "ACCEPTED" {
			t.Fatalf("%s: %s", f.Name, v.Status)
		}
	}
	ctx := context.Background()
	events, err := rd.Events(ctx, "RXX")
	if err != nil {
		t.Fatal(err)
	}
	published, _ := tr.expectedEvents()
	if missing, extra := compareEvents(t, events, published); missing+extra > 0 {
		t.Fatal("uploaded files did not yield the truth's events")
	}

	again := tr.res.Files[1]
	renamed := strings.Replace(again.Name, again.Name[len(again.Name)-12:], "00000099.DAT", 1)
	for _, name := range []string{again.Name, renamed} {
		a := upload(t, st.APIURL(), key, name, tr.sink.Bytes(again.Name))
		v := waitReportAt(t, st.APIURL(), key, "/v1/tenants/RXX/files/"+url.PathEscape(name), func(v fileReportView) bool {
			return v.Status == "DUPLICATE"
		})
		if v.File.Name != name || v.DuplicateOf == nil || v.DuplicateOf.Name != again.Name {
			t.Fatalf("%s: report %+v, want a duplicate of %s", name, v, again.Name)
		}
		// The upload's report location: the accepted file's report,
		// listing this delivery among its duplicates.
		byHash := waitReportAt(t, st.APIURL(), key, a.Report, func(v fileReportView) bool {
			for _, d := range v.Duplicates {
				if d.File.Name == name {
					return true
				}
			}
			return false
		})
		if byHash.Status != "ACCEPTED" || byHash.File.Name != again.Name {
			t.Fatalf("%s by hash: %+v", name, byHash)
		}
	}
	after, err := rd.Events(ctx, "RXX")
	if err != nil {
		t.Fatal(err)
	}
	if len(after) != len(events) {
		t.Fatalf("duplicates published %d new events", len(after)-len(events))
	}
	t.Logf("%d files uploaded over HTTP, %d events equal to the truth; 2 duplicate uploads published nothing", len(tr.res.Files), len(events))
}

// gatedBody sends the first half of data, then waits for release before it
// sends the rest: an upload still in progress for as long as the test
// wants.
type gatedBody struct {
	data    []byte
	off     int
	release <-chan struct{}
}

func (g *gatedBody) Read(p []byte) (int, error) {
	half := len(g.data) / 2
	if g.off == half {
		<-g.release
	}
	end := len(g.data)
	if g.off < half {
		end = half
	}
	if g.off == len(g.data) {
		return 0, io.EOF
	}
	n := copy(p, g.data[g.off:end])
	g.off += n
	return n, nil
}

// TestChangeFilesWaitForAFullFileStillUploading is the full-file race over
// HTTP: while a full file is still being uploaded, the change files after
// it are uploaded whole; ingest holds them back until the full file is
// complete and then reads all three in sequence, so the baseline is the
// full file and the events equal the truth.
func TestChangeFilesWaitForAFullFileStillUploading(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end run")
	}
	tr := generate(t, gen.Config{Tenant: "RXX", VPD: "412", Staff: 200, Days: 2, Seed: 12})
	tenants, err := tenant.Parse("RXX=412")
	if err != nil {
		t.Fatal(err)
	}
	const key = "e2e-uploader-key"
	st, rd := uploaderStack(t, tenants, "e2e-uploader", key, auth.ScopeFilesWrite)
	full, changes := tr.res.Files[0], tr.res.Files[1:]
	release := make(chan struct{})
	fullDone := make(chan uploadAnswer, 1)
	go func() {
		data := tr.sink.Bytes(full.Name)
		req, err := http.NewRequest("POST", st.APIURL()+"/v1/tenants/RXX/files?name="+full.Name, &gatedBody{data: data, release: release})
		if err != nil {
			t.Error(err)
			close(fullDone)
			return
		}
		req.ContentLength = int64(len(data))
		req.Header.Set("Authorization", "Bearer "+key)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Error(err)
			close(fullDone)
			return
		}
		defer resp.Body.Close()
		var a uploadAnswer
		if resp.StatusCode != http.StatusAccepted || json.NewDecoder(resp.Body).Decode(&a) != nil {
			t.Errorf("full file upload = %d", resp.StatusCode)
		}
		fullDone <- a
	}()
	defer func() {
		select {
		case <-release:
		default:
			close(release)
		}
	}()
	for _, f := range changes {
		upload(t, st.APIURL(), key, f.Name, tr.sink.Bytes(f.Name))
	}
	// Ingest sees the full file's upload in progress and the change files
	// behind it, and reads none of them.
	want := float64(1 + len(changes))
	for deadline := time.Now().Add(time.Minute); gauge(t, st.Registry, "esrflow_ingest_files_waiting", "RXX") != want; time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("esrflow_ingest_files_waiting{tenant=RXX} never reached %v", want)
		}
	}
	if reps, err := rd.FileReports(context.Background()); err != nil || len(reps) != 0 {
		t.Fatalf("files were read while the full file was uploading: %+v (%v)", reps, err)
	}
	close(release)
	if a, ok := <-fullDone; !ok || a.SHA256 != full.SHA256 {
		t.Fatalf("full file upload answered %+v", a)
	}
	reps := waitReports(t, rd, len(tr.res.Files), 2*time.Minute)
	for i, f := range tr.res.Files {
		if reps[i].File.Name != f.Name || reps[i].Status != "ACCEPTED" {
			t.Fatalf("report %d: %s %s, want %s ACCEPTED (files in sequence)", i, reps[i].File.Name, reps[i].Status, f.Name)
		}
	}
	events, err := rd.Events(context.Background(), "RXX")
	if err != nil {
		t.Fatal(err)
	}
	published, _ := tr.expectedEvents()
	compareEvents(t, events, published)
}

// A CSV-list trust uploads its staff lists over HTTP: the api takes the
// names its tenant's lists match (it has the tenants' settings, as ingest
// does), refuses a name no list matches with 400, and the events equal the
// truth.
func TestUploadCSVListsOverHTTPMatchesTruth(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end run")
	}
	tr := generate(t, gen.Config{Tenant: "RXX", VPD: "412", Staff: 150, Days: 3, Seed: 9, Format: gen.FormatCSV})
	tenants, err := tenant.New(tenant.Tenant{Code: "RXX", VPDs: []string{"412"},
		Feeds: tenant.Feeds{CSV: tenant.CSVFeed{Lists: []tenant.CSVList{gen.CSVList()}}}})
	if err != nil {
		t.Fatal(err)
	}
	const key = "e2e-csv-uploader-key"
	st, rd := uploaderStack(t, tenants, "e2e-csv-uploader", key, auth.ScopeFilesWrite, auth.ScopeReadFiles)
	first := tr.res.Files[0]
	req, err := http.NewRequest(http.MethodPost, st.APIURL()+"/v1/tenants/RXX/files?name=staff-list.csv", bytes.NewReader(tr.sink.Bytes(first.Name)))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+key)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest || !strings.Contains(string(body), "CSV staff lists") {
		t.Fatalf("a name no list matches: %d %s, want 400 naming the CSV lists", resp.StatusCode, body)
	}
	for _, f := range tr.res.Files {
		a := upload(t, st.APIURL(), key, f.Name, tr.sink.Bytes(f.Name))
		v := waitReportAt(t, st.APIURL(), key, a.Report, func(v fileReportView) bool { return v.File.Name == f.Name })
		if v.Status != "ACCEPTED" {
			t.Fatalf("%s: %s", f.Name, v.Status)
		}
	}
	waitReports(t, rd, len(tr.res.Files), time.Minute)
	events, err := rd.Events(context.Background(), "RXX")
	if err != nil {
		t.Fatal(err)
	}
	published, _ := tr.expectedEvents()
	if len(published) == 0 {
		t.Fatal("the truth has no events")
	}
	compareEvents(t, events, published)
	t.Logf("%d CSV lists uploaded over HTTP, %d events equal to the truth", len(tr.res.Files), len(events))
}

// uploaderStack starts a stack for tenants whose api lets the client name,
// with key, upload RXX's files with the given scopes, and a reader of its
// topics.
func uploaderStack(t *testing.T, tenants *tenant.Set, name, key string, scopes ...string) (*stack.Stack, *observe.Reader) {
	t.Helper()
	cfg := e2eStackConfig(t, t.TempDir(), tenants)
	cfg.APIClients = []auth.Client{{Name: name, KeySHA256: auth.HashKey(key), Tenants: []string{"RXX"}, Scopes: scopes}}
	st := startStackConfig(t, cfg)
	rd, err := observe.NewReader(st.Seeds(), st.RegistryURL())
	if err != nil {
		t.Fatal(err)
	}
	return st, rd
}
