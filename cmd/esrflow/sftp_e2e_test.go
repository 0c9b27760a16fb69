package main

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pkg/sftp"
	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/crypto/ssh"

	"github.com/esrflow/esrflow/cmd/esrflow/internal/observe"
	"github.com/esrflow/esrflow/cmd/esrflow/internal/stack"
	"github.com/esrflow/esrflow/esr/gen"
	"github.com/esrflow/esrflow/esr/tenant"
	"github.com/esrflow/esrflow/schemas/gen/internalv1"
)

// A trust delivering over the built-in SFTP server gets the events a
// trust dropping files into the folder gets: the generator's truth.
func TestSFTPEndToEndMatchesTruth(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end run")
	}
	tr := generate(t, gen.Config{Tenant: "RXX", VPD: "412", Staff: 400, Days: 5, Seed: 11, Faults: true})
	st, rd, c := sftpStack(t)
	for _, f := range tr.res.Files {
		w, err := c.Create("/inbound/" + f.Name)
		if err != nil {
			t.Fatalf("%s: %v", f.Name, err)
		}
		if _, err := w.Write(tr.sink.Bytes(f.Name)); err != nil {
			t.Fatalf("%s: %v", f.Name, err)
		}
		if err := w.Close(); err != nil {
			t.Fatalf("%s: %v", f.Name, err)
		}
	}
	reps := waitReports(t, rd, len(tr.res.Files), 3*time.Minute)
	events, err := rd.Events(context.Background(), "RXX")
	if err != nil {
		t.Fatal(err)
	}
	published, held := tr.expectedEvents()
	if missing, extra := compareEvents(t, events, published); missing+extra > 0 {
		t.Fatalf("%d events missing, %d extra", missing, extra)
	}
	checkReports(t, tr, reps, events)
	checkHeld(t, st, held)
	if got := sftpUploads(t, st.Registry, "RXX"); got != float64(len(tr.res.Files)) {
		t.Errorf("esrflow_sftp_uploads_total{tenant=RXX} = %v, want %d", got, len(tr.res.Files))
	}
	t.Logf("%d files over SFTP, %d events published, %d leavers held", len(reps), len(events), len(held))
}

// sftpUploads reads esrflow_sftp_uploads_total{tenant} from the stack's
// registry.
func sftpUploads(t *testing.T, reg *prometheus.Registry, tenantCode string) float64 {
	return gauge(t, reg, "esrflow_sftp_uploads_total", tenantCode)
}

// gauge reads a counter or gauge with a tenant label from a registry.
func gauge(t *testing.T, reg *prometheus.Registry, name, tenantCode string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "tenant" && l.GetValue() == tenantCode {
					if m.GetGauge() != nil {
						return m.GetGauge().GetValue()
					}
					return m.GetCounter().GetValue()
				}
			}
		}
	}
	return 0
}

// sftpStack starts a stack with its SFTP server on and an account for
// RXX, and returns an SFTP client logged in to it.
func sftpStack(t *testing.T) (*stack.Stack, *observe.Reader, *sftp.Client) {
	t.Helper()
	st, rd, c, _ := sftpStackKey(t)
	return st, rd, c
}

// sftpStackKey is sftpStack, also returning the account's private key (for
// OpenSSH's sftp command).
func sftpStackKey(t *testing.T) (*stack.Stack, *observe.Reader, *sftp.Client, ed25519.PrivateKey) {
	t.Helper()
	dir := t.TempDir()
	_, key, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	signer, err := ssh.NewSignerFromKey(key)
	if err != nil {
		t.Fatal(err)
	}
	accounts := fmt.Sprintf("accounts:\n  - user: rxx-esr\n    tenant: RXX\n    authorized_keys: [%q]\n",
		strings.TrimSpace(string(ssh.MarshalAuthorizedKey(signer.PublicKey()))))
	if err := os.WriteFile(filepath.Join(dir, "sftp-accounts.yaml"), []byte(accounts), 0o600); err != nil {
		t.Fatal(err)
	}
	tenants, err := tenant.Parse("RXX=412")
	if err != nil {
		t.Fatal(err)
	}
	cfg := e2eStackConfig(t, dir, tenants)
	cfg.SFTPAddr = "127.0.0.1:0"
	st := startStackConfig(t, cfg)
	if st.SFTP() == nil {
		t.Fatal("stack started without its SFTP server")
	}
	rd, err := observe.NewReader(st.Seeds(), st.RegistryURL())
	if err != nil {
		t.Fatal(err)
	}

	conn, err := ssh.Dial("tcp", st.SFTP().Addr(), &ssh.ClientConfig{
		User: "rxx-esr", Auth: []ssh.AuthMethod{ssh.PublicKeys(signer)},
		HostKeyCallback: ssh.FixedHostKey(st.SFTP().HostKey()), Timeout: 10 * time.Second,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	c, err := sftp.NewClient(conn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return st, rd, c, key
}

// The full-file race of issue 11 over SFTP: the full file is still being
// uploaded (its handle open, half written) when the change files arrive
// complete in another session. Ingest must wait for the full file, so the
// reports come in sequence order and the events equal the truth.
func TestSFTPFullFileStillUploading(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end run")
	}
	tr := generate(t, gen.Config{Tenant: "RXX", VPD: "412", Staff: 400, Days: 4, Seed: 23})
	st, rd, c := sftpStack(t)
	full := tr.res.Files[0]
	data := tr.sink.Bytes(full.Name)
	w, err := c.Create("/inbound/" + full.Name)
	if err != nil {
		t.Fatal(err)
	}
	half := len(data) / 2
	if _, err := w.Write(data[:half]); err != nil {
		t.Fatal(err)
	}
	for i := len(tr.res.Files) - 1; i >= 1; i-- {
		fi := tr.res.Files[i]
		cw, err := c.Create("/inbound/" + fi.Name)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := cw.Write(tr.sink.Bytes(fi.Name)); err != nil {
			t.Fatal(err)
		}
		if err := cw.Close(); err != nil {
			t.Fatal(err)
		}
	}
	// A scan has seen every file, the full file's upload among them, and
	// read none: all wait.
	deadline := time.Now().Add(time.Minute)
	for gauge(t, st.Registry, "esrflow_ingest_files_waiting", "RXX") != float64(len(tr.res.Files)) {
		if time.Now().After(deadline) {
			t.Fatalf("esrflow_ingest_files_waiting{RXX} = %v, want %d", gauge(t, st.Registry, "esrflow_ingest_files_waiting", "RXX"), len(tr.res.Files))
		}
		time.Sleep(20 * time.Millisecond)
	}
	for _, fi := range tr.res.Files[1:] {
		if _, err := os.Stat(filepath.Join(st.DropDir(), "RXX", fi.Name)); err != nil {
			t.Fatalf("change file %s taken while the full file uploads: %v", fi.Name, err)
		}
	}
	if _, err := w.Write(data[half:]); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	reps := waitReports(t, rd, len(tr.res.Files), 3*time.Minute)
	for i, r := range reps {
		if r.Status != internalv1.FileStatusAccepted || r.File.Name != tr.res.Files[i].Name {
			t.Fatalf("report %d: %s %s, want %s ACCEPTED (the full file first)", i, r.File.Name, r.Status, tr.res.Files[i].Name)
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
}
