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
	"github.com/esrflow/esrflow/esr/gen"
	"github.com/esrflow/esrflow/esr/tenant"
)

// A trust delivering over the built-in SFTP server gets the events a
// trust dropping files into the folder gets: the generator's truth.
func TestSFTPEndToEndMatchesTruth(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end run")
	}
	tr := generate(t, gen.Config{Tenant: "RXX", VPD: "412", Staff: 400, Days: 5, Seed: 11, Faults: true})
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
	defer conn.Close()
	c, err := sftp.NewClient(conn)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
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
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != "esrflow_sftp_uploads_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "tenant" && l.GetValue() == tenantCode {
					return m.GetCounter().GetValue()
				}
			}
		}
	}
	return 0
}
