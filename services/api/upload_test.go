package api

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"go.uber.org/zap"

	"github.com/esrflow/esrflow/esr/gen"
	"github.com/esrflow/esrflow/schemas"
	"github.com/esrflow/esrflow/schemas/gen/internalv1"
	"github.com/esrflow/esrflow/services/api/auth"
	"github.com/esrflow/esrflow/services/api/store/dbtest"
)

// uploadEnv is an api with upload enabled into a drop folder holding the
// folders of tenants RXX and RYY, and keys for each kind of client.
type uploadEnv struct {
	e    *env
	drop string
	svc  *Service
	srv  *httptest.Server
}

const (
	filesKey   = "files-write-rxx-key"
	operateKey = "operate-rxx-key"
	readerKey  = "read-files-rxx-key"
)

func newUploadEnv(t *testing.T, maxBytes int64) *uploadEnv {
	t.Helper()
	return newUploadEnvLog(t, maxBytes, testLogger(t))
}

func newUploadEnvLog(t *testing.T, maxBytes int64, log *zap.Logger) *uploadEnv {
	t.Helper()
	e := newEnv(t)
	drop := t.TempDir()
	for _, tn := range []string{"RXX", "RYY"} {
		if err := os.Mkdir(filepath.Join(drop, tn), 0o750); err != nil {
			t.Fatal(err)
		}
	}
	clients := []auth.Client{
		{Name: "uploader", KeySHA256: auth.HashKey(filesKey), Tenants: []string{"RXX"}, Scopes: []string{auth.ScopeFilesWrite, auth.ScopeReadFiles}},
		{Name: "ops", KeySHA256: auth.HashKey(operateKey), Tenants: []string{"RXX"}, Scopes: []string{auth.ScopeOperate}},
		{Name: "reader", KeySHA256: auth.HashKey(readerKey), Tenants: []string{"RXX"}, Scopes: []string{auth.ScopeReadFiles}},
	}
	svc, srv := e.startWith(Config{DBURL: "sqlite:" + filepath.Join(t.TempDir(), "api.db"), Clients: clients,
		UploadDrop: drop, UploadMaxBytes: maxBytes}, log)
	return &uploadEnv{e: e, drop: drop, svc: svc, srv: srv}
}

// post uploads body under name; size < 0 sends it chunked (no length).
func (u *uploadEnv) post(t *testing.T, tenant, name, key string, body io.Reader, size int64) (int, []byte) {
	t.Helper()
	req, err := http.NewRequest("POST", u.srv.URL+"/v1/tenants/"+tenant+"/files?name="+url.QueryEscape(name), body)
	if err != nil {
		t.Fatal(err)
	}
	req.ContentLength = size
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
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
	return resp.StatusCode, b
}

// entries lists every name in a tenant's drop folder, hidden ones too.
func (u *uploadEnv) entries(t *testing.T, tenant string) []string {
	t.Helper()
	des, err := os.ReadDir(filepath.Join(u.drop, tenant))
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, d := range des {
		out = append(out, d.Name())
	}
	return out
}

func TestUploadAGOv2FileThenItsReport(t *testing.T) {
	var logs logBuffer
	u := newUploadEnvLog(t, 0, logs.logger())
	sink := &gen.MemSink{}
	res, err := gen.Generate(gen.Config{Tenant: "RXX", VPD: "412", Staff: 20, Days: 0, Seed: 3}, sink)
	if err != nil {
		t.Fatal(err)
	}
	fi := res.Files[0]
	data := sink.Bytes(fi.Name)
	for _, key := range []string{filesKey, operateKey} {
		t.Run(key, func(t *testing.T) {
			code, body := u.post(t, "rxx", fi.Name, key, bytes.NewReader(data), int64(len(data)))
			if code != http.StatusAccepted {
				t.Fatalf("POST = %d %s", code, body)
			}
			var up Upload
			if err := json.Unmarshal(body, &up); err != nil {
				t.Fatal(err)
			}
			want := Upload{File: fi.Name, SHA256: fi.SHA256, Size: int64(len(data)), Report: "/v1/tenants/RXX/files/" + fi.SHA256}
			if up != want {
				t.Fatalf("answer %+v, want %+v", up, want)
			}
			got, err := os.ReadFile(filepath.Join(u.drop, "RXX", fi.Name))
			if err != nil || !bytes.Equal(got, data) {
				t.Fatalf("dropped file differs from the upload (%v)", err)
			}
			if names := u.entries(t, "RXX"); len(names) != 1 {
				t.Fatalf("drop folder holds %v, want only the file", names)
			}
			// Ingest has not taken it: a second upload of the name waits.
			if code, body := u.post(t, "RXX", fi.Name, key, bytes.NewReader(data), int64(len(data))); code != http.StatusConflict {
				t.Fatalf("second POST while waiting = %d %s, want 409", code, body)
			}
			if err := os.Remove(filepath.Join(u.drop, "RXX", fi.Name)); err != nil { // as ingest does
				t.Fatal(err)
			}
		})
	}

	// Each upload is in the access log, under its client, like any request.
	flushAccessLog(t, u.svc)
	var n int
	if err := u.svc.store.DB().QueryRow(`SELECT COUNT(*) FROM access_log WHERE method = 'POST' AND path = '/v1/tenants/rxx/files' AND status = 202 AND tenant = 'RXX'
		AND client IN ('uploader', 'ops')`).Scan(&n); err != nil || n != 2 {
		t.Fatalf("access log holds %d accepted uploads (%v), want 2", n, err)
	}

	// The log names the upload, never its content: no data line of the
	// file (every one holds a person's values) appears in it.
	out := logs.String()
	if !strings.Contains(out, `"msg":"file uploaded"`) || !strings.Contains(out, fi.SHA256) {
		t.Fatalf("no upload logged:\n%s", out)
	}
	for _, ln := range strings.Split(string(data), "\n")[1:5] {
		if fields := strings.Split(strings.TrimSpace(ln), "~"); len(fields) > 2 && strings.Contains(out, fields[1]+"~"+fields[2]) {
			t.Fatalf("the log holds file content %q", fields[1]+"~"+fields[2])
		}
	}

	// The report location answers 404 until a report of the file exists.
	if code, body := do(t, u.srv, "GET", "/v1/tenants/RXX/files/"+fi.SHA256, filesKey, ""); code != http.StatusNotFound {
		t.Fatalf("report before ingest = %d %s, want 404", code, body)
	}
	info := internalv1.FileInfo{Name: fi.Name, Sha256: fi.SHA256, Dialect: "go-v2", Kind: internalv1.FileKindFull,
		Sequence: 1, RunDate: day(2024, 3, 11), Size: int64(len(data))}
	u.e.produce(true, u.e.report(&internalv1.FileReport{Tenant: "RXX", Vpd: "412", File: info, Status: internalv1.FileStatusAccepted,
		EventsEmitted: map[string]int64{}, ReportedAt: recorded1}))
	waitKey(t, u.srv, filesKey, "/v1/tenants/RXX/files/"+fi.SHA256, http.StatusOK, `"status":"ACCEPTED"`)
}

func TestUploadRefusals(t *testing.T) {
	u := newUploadEnv(t, 1000)
	const name = "GO_412_EXP_GOC_20240311_00000347.DAT"
	small := strings.Repeat("x", 100)
	for _, tt := range []struct {
		desc, tenant, name, key string
		body                    string
		chunked                 bool
		want                    int
	}{
		{"no key", "RXX", name, "", small, false, http.StatusUnauthorized},
		{"read scope only", "RXX", name, readerKey, small, false, http.StatusForbidden},
		{"other tenant", "RYY", name, filesKey, small, false, http.StatusForbidden},
		{"no name", "RXX", "", filesKey, small, false, http.StatusBadRequest},
		{"name not ESR", "RXX", "staff.csv", filesKey, small, false, http.StatusBadRequest},
		{"dot dot", "RXX", "../RYY/" + name, filesKey, small, false, http.StatusBadRequest},
		{"absolute", "RXX", "/tmp/" + name, filesKey, small, false, http.StatusBadRequest},
		{"hidden", "RXX", "." + name, filesKey, small, false, http.StatusBadRequest},
		{"in-progress suffix", "RXX", name + ".part", filesKey, small, false, http.StatusBadRequest},
		{"too large, length given", "RXX", name, filesKey, strings.Repeat("x", 1001), false, http.StatusRequestEntityTooLarge},
		{"too large, chunked", "RXX", name, filesKey, strings.Repeat("x", 1001), true, http.StatusRequestEntityTooLarge},
	} {
		t.Run(tt.desc, func(t *testing.T) {
			size := int64(len(tt.body))
			var body io.Reader = strings.NewReader(tt.body)
			if tt.chunked {
				size, body = -1, io.MultiReader(body) // hides the length from net/http
			}
			if code, b := u.post(t, tt.tenant, tt.name, tt.key, body, size); code != tt.want {
				t.Fatalf("POST = %d %s, want %d", code, b, tt.want)
			}
			for _, tn := range []string{"RXX", "RYY"} {
				if names := u.entries(t, tn); len(names) != 0 {
					t.Fatalf("%s drop folder holds %v after a refusal", tn, names)
				}
			}
		})
	}
	// A tenant the platform has no folder for gets nothing created.
	all := []auth.Client{{Name: "all", KeySHA256: auth.HashKey("k-all"), Tenants: []string{"*"}, Scopes: []string{auth.ScopeFilesWrite}}}
	e := newEnv(t)
	_, srv := e.startWith(Config{DBURL: "sqlite:" + filepath.Join(t.TempDir(), "api.db"), Clients: all, UploadDrop: u.drop}, testLogger(t))
	u2 := &uploadEnv{e: e, drop: u.drop, srv: srv}
	if code, b := u2.post(t, "RZZ", name, "k-all", strings.NewReader(small), int64(len(small))); code != http.StatusNotFound {
		t.Fatalf("POST to a tenant with no folder = %d %s, want 404", code, b)
	}
	if _, err := os.Stat(filepath.Join(u.drop, "RZZ")); !os.IsNotExist(err) {
		t.Fatalf("a folder was created for RZZ: %v", err)
	}
}

func TestUploadDisabledOrOpen(t *testing.T) {
	e := newEnv(t)
	const name = "GO_412_EXP_GOC_20240311_00000347.DAT"
	// No clients configured (the embedded mode): reads are open, uploads never.
	drop := t.TempDir()
	_, open := e.startWith(Config{DBURL: "sqlite:" + filepath.Join(t.TempDir(), "a.db"), UploadDrop: drop}, testLogger(t))
	if code, body := do(t, open, "POST", "/v1/tenants/RXX/files?name="+name, "", "x"); code != http.StatusUnauthorized ||
		body != `{"error":"`+errUploadNeedsKey+`"}` {
		t.Fatalf("open-mode POST = %d %s", code, body)
	}
	// No drop folder configured: the endpoint says upload is off.
	clients := []auth.Client{{Name: "up", KeySHA256: auth.HashKey(filesKey), Tenants: []string{"RXX"}, Scopes: []string{auth.ScopeFilesWrite}}}
	_, off := e.startWith(Config{DBURL: "sqlite:" + filepath.Join(t.TempDir(), "b.db"), Group: "g2", Clients: clients}, testLogger(t))
	if code, body := do(t, off, "POST", "/v1/tenants/RXX/files?name="+name, filesKey, "x"); code != http.StatusNotImplemented {
		t.Fatalf("POST with upload disabled = %d %s, want 501", code, body)
	}
}

// pattern is an endless deterministic byte stream: a 100 MB body made on
// the fly, so the test itself never holds it.
type pattern struct {
	left int64
	n    uint64
}

func (p *pattern) Read(b []byte) (int, error) {
	if p.left <= 0 {
		return 0, io.EOF
	}
	if int64(len(b)) > p.left {
		b = b[:p.left]
	}
	for i := range b {
		p.n = p.n*6364136223846793005 + 1442695040888963407
		b[i] = byte(p.n >> 56)
	}
	p.left -= int64(len(b))
	return len(b), nil
}

// vmKB reads a /proc/self/status figure (VmRSS, VmHWM) in kB.
func vmKB(t *testing.T, field string) int64 {
	t.Helper()
	f, err := os.Open("/proc/self/status")
	if err != nil {
		t.Skip("no /proc/self/status: ", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), field+":"); ok {
			n, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			if err != nil {
				t.Fatal(err)
			}
			return n
		}
	}
	t.Fatalf("%s not in /proc/self/status", field)
	return 0
}

// TestUpload100MBStreams uploads 100 MB and measures how much the process
// (api and client both) grew. The bound is generous on purpose: it catches a
// handler that buffers the file, not allocator noise.
func TestUpload100MBStreams(t *testing.T) {
	if testing.Short() {
		t.Skip("100 MB upload")
	}
	u := newUploadEnv(t, 0)
	const size = 100 << 20
	const name = "GO_412_EXP_GOF_20240311_00000001.DAT"
	runtime.GC()
	rssBefore, hwmBefore := vmKB(t, "VmRSS"), vmKB(t, "VmHWM")
	h := sha256.New()
	code, body := u.post(t, "RXX", name, filesKey, io.TeeReader(&pattern{left: size}, h), size)
	if code != http.StatusAccepted {
		t.Fatalf("POST = %d %s", code, body)
	}
	rssAfter, hwmAfter := vmKB(t, "VmRSS"), vmKB(t, "VmHWM")
	var up Upload
	if err := json.Unmarshal(body, &up); err != nil {
		t.Fatal(err)
	}
	if want := hex.EncodeToString(h.Sum(nil)); up.SHA256 != want || up.Size != size {
		t.Fatalf("answer %+v, want sha256 %s size %d", up, want, size)
	}
	if fi, err := os.Stat(filepath.Join(u.drop, "RXX", name)); err != nil || fi.Size() != size {
		t.Fatalf("dropped file: %v %v", fi, err)
	}
	growth := max(rssAfter-rssBefore, hwmAfter-hwmBefore)
	t.Logf("100 MB upload: VmRSS %d → %d kB, VmHWM %d → %d kB; growth %d kB", rssBefore, rssAfter, hwmBefore, hwmAfter, growth)
	if growth > 64<<10 {
		t.Fatalf("the process grew %d kB uploading 100 MB: the upload is buffered, not streamed", growth)
	}
}

func (e *env) reportV3(r *internalv1.FileReport) *kgo.Record {
	return &kgo.Record{Topic: schemas.TopicFileReports, Key: []byte(r.Tenant), Value: e.encode(schemas.TopicFileReports, 3, r)}
}

// TestDuplicateReports: a DUPLICATE report (file-report v3) is kept beside
// the accepted file's report, never replacing it: by SHA-256 the accepted
// report lists its duplicates, by name each delivery has its own report,
// and the listing shows both.
func TestDuplicateReports(t *testing.T) {
	dbtest.ForEach(t, func(t *testing.T, dbURL string) {
		e := newEnv(t)
		_, srv := e.start(dbURL, "")
		const first, again = "GO_412_EXP_GOC_20240311_00000347.DAT", "GO_412_EXP_GOC_20240311_00000348.DAT"
		accepted := &internalv1.FileReport{Tenant: "RXX", Vpd: "412", File: *fileInfo(first, sha1, 347), Status: internalv1.FileStatusAccepted,
			RowsRead: 3, EntitiesAccepted: 3, EventsEmitted: map[string]int64{"starter-created": 1}, ReportedAt: recorded1, TopRules: []internalv1.RuleCount{}}
		reason := "ESR-F017 " + again + ": duplicate: same content"
		dup := &internalv1.FileReport{Tenant: "RXX", Vpd: "412", File: *fileInfo(again, sha1, 348), Status: internalv1.FileStatusDuplicate,
			Reason: &reason, EventsEmitted: map[string]int64{}, ReportedAt: recorded2, TopRules: []internalv1.RuleCount{},
			DuplicateOf: &internalv1.DuplicateOf{Name: first, Sha256: sha1, AcceptedAt: recorded1}}
		// The duplicate delivered twice (a re-read) is still one row.
		e.produce(true, e.reportV3(accepted), e.reportV3(dup), e.reportV3(dup))
		body := waitKey(t, srv, "", "/v1/tenants/RXX/files/"+sha1, http.StatusOK, `"duplicates":[`)
		var got struct {
			Status     string `json:"status"`
			File       struct{ Name string }
			Duplicates []struct {
				Status      string `json:"status"`
				File        struct{ Name string }
				DuplicateOf struct{ Name string } `json:"duplicate_of"`
			} `json:"duplicates"`
		}
		if err := json.Unmarshal([]byte(body), &got); err != nil {
			t.Fatal(err)
		}
		if got.Status != "ACCEPTED" || got.File.Name != first || len(got.Duplicates) != 1 ||
			got.Duplicates[0].Status != "DUPLICATE" || got.Duplicates[0].File.Name != again || got.Duplicates[0].DuplicateOf.Name != first {
			t.Fatalf("by sha256: %s", body)
		}
		if code, body := do(t, srv, "GET", "/v1/tenants/RXX/files/"+again, "", ""); code != http.StatusOK ||
			!strings.Contains(body, `"status":"DUPLICATE"`) || !strings.Contains(body, `"duplicate_of":{"name":"`+first+`"`) {
			t.Fatalf("by the duplicate's name: %d %s", code, body)
		}
		if code, body := do(t, srv, "GET", "/v1/tenants/RXX/files/"+first, "", ""); code != http.StatusOK || !strings.Contains(body, `"status":"ACCEPTED"`) {
			t.Fatalf("by the first name: %d %s", code, body)
		}
		code, body := do(t, srv, "GET", "/v1/tenants/RXX/files", "", "")
		if code != http.StatusOK || strings.Count(body, `{"tenant":"RXX"`) != 2 || strings.Index(body, again) > strings.Index(body, `"status":"ACCEPTED"`) {
			t.Fatalf("listing (newest first): %d %s", code, body)
		}
	})
}

// brokenBody sends some bytes, then fails: a client that goes away
// mid-upload.
type brokenBody struct{ sent bool }

func (b *brokenBody) Read(p []byte) (int, error) {
	if !b.sent {
		b.sent = true
		return copy(p, strings.Repeat("HDR~", 256)), nil
	}
	return 0, io.ErrUnexpectedEOF
}

// TestUploadCutShortLeavesNothing: an upload that breaks off leaves
// neither its name nor its temporary file in the drop folder, so ingest
// never sees half a file.
func TestUploadCutShortLeavesNothing(t *testing.T) {
	u := newUploadEnv(t, 0)
	const name = "GO_412_EXP_GOC_20240311_00000347.DAT"
	req, err := http.NewRequest("POST", u.srv.URL+"/v1/tenants/RXX/files?name="+name, &brokenBody{})
	if err != nil {
		t.Fatal(err)
	}
	req.ContentLength = 1 << 20
	req.Header.Set("Authorization", "Bearer "+filesKey)
	if resp, err := http.DefaultClient.Do(req); err == nil {
		resp.Body.Close()
		t.Fatalf("a broken body was sent whole: %d", resp.StatusCode)
	}
	// The handler finishes on its own after the connection drops; wait for
	// the request's access log row, written once the handler has returned.
	deadline := time.Now().Add(30 * time.Second)
	for {
		var n int
		if err := u.svc.store.DB().QueryRow(`SELECT COUNT(*) FROM access_log WHERE method = 'POST'`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the cut-short upload never finished")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if names := u.entries(t, "RXX"); len(names) != 0 {
		t.Fatalf("drop folder holds %v after a cut-short upload", names)
	}
}
