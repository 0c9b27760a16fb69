package main

import (
	"context"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/pkg/sftp"
	"golang.org/x/crypto/ssh"

	"github.com/esrflow/esrflow/esr/gen"
	"github.com/esrflow/esrflow/schemas/gen/internalv1"
	"github.com/esrflow/esrflow/services/ingest"
)

// sftpPut uploads one file with pkg/sftp's client.
func sftpPut(t *testing.T, c *sftp.Client, name string, data []byte) {
	t.Helper()
	w, err := c.Create("/inbound/" + name)
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	if _, err := w.Write(data); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	if err := w.Close(); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
}

// refreshRequest is the part of a refresh request the test checks.
type refreshRequest struct {
	Format    string `json:"format"`
	Tenant    string `json:"tenant"`
	VPD       string `json:"vpd"`
	Interface string `json:"interface"`
	Rule      string `json:"rule"`
	Last      struct {
		File     string `json:"file"`
		Sequence int64  `json:"sequence"`
	} `json:"last_accepted"`
	Missing []struct {
		Sequence int64  `json:"sequence"`
		RunDate  string `json:"run_date"`
	} `json:"missing"`
	Held []struct {
		File     string `json:"file"`
		Sequence int64  `json:"sequence"`
	} `json:"held"`
}

// A trust uploads over SFTP with one change file withheld: the later
// files are HELD, a refresh request naming the missing file is readable in
// /outbound over SFTP, and when the withheld file is uploaded (with
// OpenSSH's sftp -b when the command is there) it and the held files flow
// in order: every file ACCEPTED, in sequence order, and the events equal
// the generator's truth exactly.
func TestSFTPWithheldFileHoldsTheLaterOnesThenReleasesThem(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end run")
	}
	tr := generate(t, gen.Config{Tenant: "RXX", VPD: "412", Staff: 300, Days: 4, Seed: 31})
	st, rd, c, key := sftpStackKey(t)
	files := tr.res.Files
	withheld := files[2] // sequence 3
	for _, f := range files {
		if f.Name != withheld.Name {
			sftpPut(t, c, f.Name, tr.sink.Bytes(f.Name))
		}
	}
	// full and 2 ACCEPTED (publish), 4 and 5 HELD (ingest).
	reps := waitReports(t, rd, 4, 3*time.Minute)
	held := map[string]internalv1.FileReport{}
	for _, r := range reps {
		if r.Status == internalv1.FileStatusHeld {
			held[r.File.Name] = r
		}
	}
	for _, f := range files[3:] {
		r, ok := held[f.Name]
		if !ok {
			t.Fatalf("%s not HELD: %+v", f.Name, reps)
		}
		if r.Hold == nil || r.Hold.Feed != "412/EXP" || r.Hold.LastSequence != 2 || !slices.Equal(r.Hold.AwaitingSequences, []int64{3}) ||
			r.Hold.RefreshRequest == nil || *r.Hold.RefreshRequest != ingest.RefreshName(f.Name) {
			t.Fatalf("%s hold %+v", f.Name, r.Hold)
		}
	}
	if v := gauge(t, st.Registry, "esrflow_ingest_files_held", "RXX"); v != 2 {
		t.Errorf("esrflow_ingest_files_held{RXX} = %v, want 2", v)
	}

	// The refresh request, read over SFTP: the last held file's lists both.
	name := ingest.RefreshName(files[4].Name)
	ents, err := c.ReadDir("/outbound")
	if err != nil {
		t.Fatal(err)
	}
	var listed []string
	for _, e := range ents {
		listed = append(listed, e.Name())
	}
	slices.Sort(listed)
	if want := []string{ingest.RefreshName(files[3].Name), name}; !slices.Equal(listed, want) {
		t.Errorf("/outbound lists %v, want %v", listed, want)
	}
	f, err := c.Open("/outbound/" + name)
	if err != nil {
		t.Fatal(err)
	}
	data, err := io.ReadAll(f)
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	var req refreshRequest
	if err := json.Unmarshal(data, &req); err != nil {
		t.Fatalf("%s: %v\n%s", name, err, data)
	}
	got := fmt.Sprintf("%+v", req)
	want := fmt.Sprintf("%+v", refreshRequest{Format: ingest.RefreshFormat, Tenant: "RXX", VPD: "412", Interface: "EXP", Rule: "sequence-gap",
		Last: struct {
			File     string `json:"file"`
			Sequence int64  `json:"sequence"`
		}{files[1].Name, 2},
		Missing: []struct {
			Sequence int64  `json:"sequence"`
			RunDate  string `json:"run_date"`
		}{{3, withheld.RunDate}},
		Held: []struct {
			File     string `json:"file"`
			Sequence int64  `json:"sequence"`
		}{{files[3].Name, 4}, {files[4].Name, 5}}})
	if got != want {
		t.Errorf("refresh request\n got %s\nwant %s", got, want)
	}

	// The withheld file arrives.
	uploadLate(t, st.SFTP().Addr(), key, c, withheld.Name, tr.sink.Bytes(withheld.Name), name)
	reps = waitReports(t, rd, len(files)+2, 3*time.Minute)
	var accepted []internalv1.FileReport
	for _, r := range reps {
		switch r.Status {
		case internalv1.FileStatusAccepted:
			accepted = append(accepted, r)
		case internalv1.FileStatusHeld:
		default:
			t.Errorf("%s: %s %v", r.File.Name, r.Status, r.Reason)
		}
	}
	if len(accepted) != len(files) {
		t.Fatalf("%d files ACCEPTED, want %d", len(accepted), len(files))
	}
	for i, r := range accepted {
		if r.File.Name != files[i].Name {
			t.Fatalf("ACCEPTED report %d is %s, want %s (sequence order)", i, r.File.Name, files[i].Name)
		}
	}
	events, err := rd.Events(context.Background(), "RXX")
	if err != nil {
		t.Fatal(err)
	}
	published, _ := tr.expectedEvents()
	if missing, extra := compareEvents(t, events, published); missing+extra > 0 {
		t.Fatalf("%d events missing, %d extra", missing, extra)
	}
	checkReports(t, tr, accepted, events)
	if v := gauge(t, st.Registry, "esrflow_ingest_files_held", "RXX"); v != 0 {
		t.Errorf("esrflow_ingest_files_held{RXX} = %v after the late file, want 0", v)
	}
}

// uploadLate uploads the late file with OpenSSH's sftp in batch mode, and
// fetches the refresh request with it, when the command is installed;
// otherwise with pkg/sftp's client.
func uploadLate(t *testing.T, addr string, key any, c *sftp.Client, name string, data []byte, refresh string) {
	t.Helper()
	bin, err := exec.LookPath("sftp")
	if err != nil {
		t.Logf("no sftp command: uploading %s with pkg/sftp", name)
		sftpPut(t, c, name, data)
		return
	}
	dir := t.TempDir()
	block, err := ssh.MarshalPrivateKey(key, "")
	if err != nil {
		t.Fatal(err)
	}
	keyFile := filepath.Join(dir, "id_ed25519")
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(block), 0o600); err != nil {
		t.Fatal(err)
	}
	local := filepath.Join(dir, name)
	if err := os.WriteFile(local, data, 0o640); err != nil {
		t.Fatal(err)
	}
	got := filepath.Join(dir, "refresh.json")
	batch := filepath.Join(dir, "batch")
	script := fmt.Sprintf("get /outbound/%s %s\nput %s\n", refresh, got, local)
	if err := os.WriteFile(batch, []byte(script), 0o600); err != nil {
		t.Fatal(err)
	}
	_, port, _ := net.SplitHostPort(addr)
	cmd := exec.Command(bin, "-b", batch, "-i", keyFile, "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
		"-o", "BatchMode=yes", "-o", "IdentitiesOnly=yes", "-P", port, "rxx-esr@127.0.0.1")
	cmd.Env = append(os.Environ(), "HOME="+dir)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("sftp -b: %v\n%s", err, out)
	}
	var m map[string]any
	if b, err := os.ReadFile(got); err != nil || json.Unmarshal(b, &m) != nil || m["tenant"] != "RXX" {
		t.Errorf("refresh request fetched with sftp: %v %v", err, m)
	}
}
