package api

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/esrflow/esrflow/schemas/gen/internalv1"
	"github.com/esrflow/esrflow/services/api/auth"
	"github.com/esrflow/esrflow/services/api/store"
	"github.com/esrflow/esrflow/services/api/store/dbtest"
)

const linesFile = "GO_412_EXP_GOC_20240311_00000347.DAT"

// praLine is a GO v2 PRA line with a last name, date of birth, NI number,
// e-mail and an ethnic origin (special category) in it.
func praLine() string {
	f := praFields()
	f[21] = "A White - British" // ethnic_origin
	return "PRA~" + strings.Join(f, "~")
}

// goV2File is a GO v2 file of the given data lines, terminated by eol:
// HDR on line 1, the data lines from line 2, TRL last.
func goV2File(eol string, data ...string) []byte {
	lines := append([]string{"HDR~" + linesFile + "~20240311 021700~412~20240310 021700~20240311 021700~02"}, data...)
	lines = append(lines, "TRL~"+strconv.Itoa(len(lines)+1))
	return []byte(strings.Join(lines, eol) + eol)
}

// writeArchived puts content where ingest archives tenant's file sha.
func writeArchived(t *testing.T, root, tenant, sha string, content []byte) {
	t.Helper()
	if err := os.MkdirAll(filepath.Join(root, tenant), 0o750); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, tenant, sha), content, 0o640); err != nil {
		t.Fatal(err)
	}
}

func hashOf(b []byte) string {
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:])
}

type linesAnswer struct {
	File      store.FileRef `json:"file"`
	Line      int           `json:"line"`
	Context   int           `json:"context"`
	EndOfFile bool          `json:"end_of_file"`
	Lines     []struct {
		Line       int              `json:"line"`
		RecordType string           `json:"record_type"`
		Fields     []store.RawField `json:"fields"`
		RawSHA256  *string          `json:"raw_sha256"`
	} `json:"lines"`
}

func getLines(t *testing.T, body string) linesAnswer {
	t.Helper()
	var a linesAnswer
	if err := json.Unmarshal([]byte(body), &a); err != nil {
		t.Fatalf("%v: %s", err, body)
	}
	return a
}

// field returns the named column of a line's fields.
func field(t *testing.T, fs []store.RawField, name string) store.RawField {
	t.Helper()
	for _, f := range fs {
		if f.Name == name {
			return f
		}
	}
	t.Fatalf("no column %s in %+v", name, fs)
	return store.RawField{}
}

func TestFileLines(t *testing.T) {
	dbtest.ForEach(t, testFileLines)
}

// A file's lines come from the archive, split and named as the GO v2 parser
// reads them, personal columns masked unless the key holds
// people:sensitive, each with the hash of its original bytes.
func testFileLines(t *testing.T, dbURL string) {
	e := newEnv(t)
	readKey, personalKey, ryyKey, eventsKey := newKey(t), newKey(t), newKey(t), newKey(t)
	clients := []auth.Client{
		{Name: "triage", KeySHA256: auth.HashKey(readKey), Tenants: []string{"RXX"}, Scopes: []string{auth.ScopeQuarantineRead}},
		{Name: "data-quality", KeySHA256: auth.HashKey(personalKey), Tenants: []string{"RXX"}, Scopes: []string{auth.ScopeQuarantineRead, auth.ScopePeopleSensitive}},
		{Name: "ops-ryy", KeySHA256: auth.HashKey(ryyKey), Tenants: []string{"RYY"}, Scopes: []string{auth.ScopeQuarantineRead, auth.ScopePeopleSensitive}},
		{Name: "vendor", KeySHA256: auth.HashKey(eventsKey), Tenants: []string{"*"}, Scopes: []string{auth.ScopeReadEvents, auth.ScopePeopleSensitive}},
	}
	// A: LF, ASCII, lines HDR, PRA, ASA, (blank), PRA, TRL. B: CRLF, a
	// Windows-1252 last name. C: reported, no longer archived. D: RYY's.
	asa := "ASA~" + strings.Join(asaFields(), "~")
	fileA := goV2File("\n", praLine(), asa, "", praLine())
	w1252 := strings.Replace(praLine(), "~"+lastName+"~", "~Zo\xeb~", 1)
	fileB := goV2File("\r\n", w1252)
	shaA, shaB, shaC, shaD := hashOf(fileA), hashOf(fileB), hashOf([]byte("gone")), hashOf([]byte("ryy"))
	root := t.TempDir()
	writeArchived(t, root, "RXX", shaA, fileA)
	writeArchived(t, root, "RXX", shaB, fileB)
	writeArchived(t, root, "RYY", shaD, fileA)
	report := func(tenant, sha string) *internalv1.FileReport {
		r := readOutcomeReport(heldReport(tenant, linesFile, sha, 347, recorded1, internalv1.FileHold{}), recorded1)
		return r
	}
	e.produce(true, e.reportV4(report("RXX", shaA)), e.reportV4(report("RXX", shaB)), e.reportV4(report("RXX", shaC)),
		e.reportV4(report("RYY", shaD)))
	_, srv := e.startWith(Config{DBURL: dbURL, Clients: clients, Archive: root}, testLogger(t))
	p := "/v1/tenants/RXX/files/"
	waitKey(t, srv, readKey, p+shaC+"/lines?line=1", 404, "the archived original is no longer kept")
	waitKey(t, srv, ryyKey, "/v1/tenants/RYY/files/"+shaD+"/lines?line=1", 200, `"HDR"`)

	rawLines := strings.Split(string(fileA), "\n")
	_, body := do(t, srv, "GET", p+shaA+"/lines?line=2", readKey, "")
	a := getLines(t, body)
	if a.File != (store.FileRef{Name: linesFile, SHA256: shaA, Dialect: "go-v2"}) || a.Line != 2 || a.Context != 3 || a.EndOfFile {
		t.Errorf("answer = %+v", a)
	}
	if len(a.Lines) != 5 { // 1..5 of 6 lines
		t.Fatalf("lines = %s", body)
	}
	for i, l := range a.Lines {
		if l.Line != i+1 || l.RawSHA256 == nil || *l.RawSHA256 != hashOf([]byte(rawLines[i])) {
			t.Errorf("line %d: number %d, raw_sha256 %v, want %s", i+1, l.Line, l.RawSHA256, hashOf([]byte(rawLines[i])))
		}
	}
	// The header, named from its layout and not personal.
	hdr := a.Lines[0]
	if hdr.RecordType != "HDR" || len(hdr.Fields) != 6 || *field(t, hdr.Fields, "file_name").Value != linesFile ||
		*field(t, hdr.Fields, "vpd").Value != "412" {
		t.Errorf("HDR = %+v", hdr)
	}
	// The PRA: personal columns redacted, the rest shown.
	pra := a.Lines[1]
	if pra.RecordType != "PRA" || len(pra.Fields) != 43 {
		t.Fatalf("PRA = %+v", pra)
	}
	for _, name := range []string{"last_name", "first_name", "title", "date_of_birth", "ni_number", "office_email", "ethnic_origin"} {
		if f := field(t, pra.Fields, name); f.Value != nil || !f.Redacted {
			t.Errorf("PRA %s without people:sensitive = %+v, want redacted", name, f)
		}
	}
	if f := field(t, pra.Fields, "person_id"); f.Value == nil || *f.Value != "20990417" || f.Redacted {
		t.Errorf("PRA person_id = %+v", f)
	}
	if f := field(t, pra.Fields, "middle_names"); f.Value == nil || *f.Value != "" {
		t.Errorf("an empty personal column = %+v, want \"\"", f)
	}
	for _, v := range []string{lastName, niNumber, birthDate, email, "British"} {
		if strings.Contains(body, v) {
			t.Errorf("the answer without people:sensitive shows %q: %s", v, body)
		}
	}
	if a.Lines[2].RecordType != "ASA" || *field(t, a.Lines[2].Fields, "assignment_number").Value != "31004581-2" {
		t.Errorf("ASA = %+v", a.Lines[2])
	}
	if l := a.Lines[3]; l.RecordType != "" || len(l.Fields) != 0 || *l.RawSHA256 != hashOf(nil) {
		t.Errorf("blank line = %+v", l)
	}

	// With people:sensitive the values are there; special-category data,
	// which the pipeline never keeps, stays redacted.
	_, body = do(t, srv, "GET", p+strings.ToUpper(shaA)+"/lines?line=5&context=2", personalKey, "")
	a = getLines(t, body)
	if len(a.Lines) != 4 || a.Lines[0].Line != 3 || a.Lines[3].Line != 6 || !a.EndOfFile || a.Lines[3].RecordType != "TRL" ||
		*field(t, a.Lines[3].Fields, "record_count").Value != "6" {
		t.Fatalf("line 5 ±2 = %s", body)
	}
	pra = a.Lines[2]
	for name, want := range map[string]string{"last_name": lastName, "first_name": "Adaeze", "date_of_birth": birthDate, "ni_number": niNumber, "office_email": email} {
		if f := field(t, pra.Fields, name); f.Value == nil || *f.Value != want || f.Redacted {
			t.Errorf("PRA %s with people:sensitive = %+v, want %q", name, f, want)
		}
	}
	if f := field(t, pra.Fields, "ethnic_origin"); f.Value != nil || !f.Redacted {
		t.Errorf("ethnic_origin with people:sensitive = %+v, want redacted", f)
	}

	// CRLF: the hash is of the line without \r\n; a Windows-1252 byte is
	// decoded, and hashed as the original byte.
	_, body = do(t, srv, "GET", p+shaB+"/lines?line=2&context=0", personalKey, "")
	a = getLines(t, body)
	if len(a.Lines) != 1 || *a.Lines[0].RawSHA256 != hashOf([]byte(w1252)) {
		t.Errorf("CRLF line 2 = %s, want raw_sha256 %s", body, hashOf([]byte(w1252)))
	}
	if f := field(t, a.Lines[0].Fields, "last_name"); f.Value == nil || *f.Value != "Zoë" {
		t.Errorf("Windows-1252 last name = %+v, want Zoë", f)
	}
	if _, body = do(t, srv, "GET", p+shaB+"/lines?line=3&context=0", personalKey, ""); !strings.Contains(body, hashOf([]byte("TRL~3"))) {
		t.Errorf("CRLF TRL = %s", body)
	}

	check := func(path, key string, status int, want string) {
		t.Helper()
		code, got := do(t, srv, "GET", path, key, "")
		if code != status || !strings.Contains(got, want) {
			t.Errorf("GET %s\n got %d %s\nwant %d containing %s", path, code, got, status, want)
		}
	}
	check(p+shaA+"/lines", readKey, 400, "line must be a line number")
	check(p+shaA+"/lines?line=0", readKey, 400, "line must be a line number")
	check(p+shaA+"/lines?line=x", readKey, 400, "line must be a line number")
	check(p+shaA+"/lines?line=1&context=21", readKey, 400, "context must be 0 to 20")
	check(p+shaA+"/lines?line=1&context=-1", readKey, 400, "context must be 0 to 20")
	// A path that climbs out of the tenant's is never a file's: nothing of
	// RYY's file comes back.
	if code, got := do(t, srv, "GET", p+"../../RYY/"+shaD+"/lines?line=1", readKey, ""); code != 404 || strings.Contains(got, "HDR") {
		t.Errorf("a climbing path = %d %s, want 404", code, got)
	}
	check(p+"..%2f..%2fRYY%2f"+shaD+"/lines?line=1", readKey, 400, "file must be a SHA-256")
	check(p+"not-a-sha/lines?line=1", readKey, 400, "file must be a SHA-256")
	check(p+shaA+"/lines?line=7", readKey, 404, "the file has no line 7")
	check(p+shaA+"/lines?line=6&context=0", readKey, 200, `"end_of_file":true`)
	check(p+shaA+"/lines?line=5&context=0", readKey, 200, `"end_of_file":false`)
	check(p+shaNobody+"/lines?line=1", readKey, 404, "file not found")
	// RYY's file under RXX's path: RXX has no report for it.
	check(p+shaD+"/lines?line=1", readKey, 404, "file not found")
	check(p+shaA+"/lines?line=1", ryyKey, 403, "not allowed tenant RXX")
	check(p+shaA+"/lines?line=1", eventsKey, 403, "lacks the quarantine:read scope")
	check(p+shaA+"/lines?line=1", "", 401, "an API key is required")

	// Without --archive: 501.
	_, off := e.startWith(Config{DBURL: "sqlite:" + filepath.Join(t.TempDir(), "off.db"), Group: "g-lines-off", Clients: clients}, testLogger(t))
	code, got := do(t, off, "GET", p+shaA+"/lines?line=1", readKey, "")
	if code != 501 || !strings.Contains(got, "--archive") {
		t.Errorf("without --archive: %d %s, want 501", code, got)
	}
}
