package ingest_test

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/pkg/sftp"
	"golang.org/x/crypto/ssh"

	"github.com/esrflow/esrflow/esr/gen"
	"github.com/esrflow/esrflow/platform/service"
	"github.com/esrflow/esrflow/services/ingest"
)

// The ingest binary with --sftp.addr runs the SFTP server beside ingest: a
// file uploaded over SFTP is ingested, byte for byte: a Windows-1252 file
// with a Welsh place name reaches esr.raw.v1 decoded.
func TestSpecRunsSFTPServer(t *testing.T) {
	st := newStack(t)
	dir := t.TempDir()
	_, key, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	signer, err := ssh.NewSignerFromKey(key)
	if err != nil {
		t.Fatal(err)
	}
	creds := filepath.Join(dir, "accounts.yaml")
	accounts := fmt.Sprintf("accounts:\n  - user: ryy-esr\n    tenant: RYY\n    authorized_keys: [%q]\n",
		strings.TrimSpace(string(ssh.MarshalAuthorizedKey(signer.PublicKey()))))
	if err := os.WriteFile(creds, []byte(accounts), 0o600); err != nil {
		t.Fatal(err)
	}
	// A free port, released for the server to take.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	hostKey := filepath.Join(dir, "host-key")

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- service.Run(ctx, ingest.Spec(), []string{"-http.addr", "127.0.0.1:0", "-log.level", "error",
			"-kafka.brokers", strings.Join(st.seeds, ","), "-registry.url", st.registryURL, "-instance", "spec-sftp",
			"-drop", st.dropRoot, "-archive", st.archive, "-tenants", "RYY=413", "-settle", "20ms", "-interval", "10ms",
			"-sftp.addr", addr, "-sftp.credentials", creds, "-sftp.host-key", hostKey, "-sftp.outbound", filepath.Join(dir, "outbound")})
	}()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("service.Run: %v", err)
		}
	}()
	var conn *ssh.Client
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		conn, err = ssh.Dial("tcp", addr, &ssh.ClientConfig{User: "ryy-esr", Auth: []ssh.AuthMethod{ssh.PublicKeys(signer)},
			HostKeyCallback: ssh.InsecureIgnoreHostKey(), Timeout: 5 * time.Second})
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("sftp server not reachable: %v", err)
		}
	}
	defer conn.Close()
	c, err := sftp.NewClient(conn)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()

	sink, res := generate(t, gen.Config{Tenant: "RYY", VPD: "413", Staff: 10, Days: 0, Seed: 1})
	fi := res.Files[0]
	// The location's Welsh description in Windows-1252: en dash 0x96 and
	// a circumflex 0xE2, as an ESR export from a Windows host has them.
	lines := strings.Split(string(sink.Bytes(fi.Name)), "\n")
	edited := false
	for i, l := range lines {
		if f := strings.Split(l, "~"); f[0] == "LCA" && len(f) > 16 {
			f[16] = "Canolfan Gymunedol \x96 T\xe2l-y-bont"
			lines[i], edited = strings.Join(f, "~"), true
			break
		}
	}
	if !edited {
		t.Fatal("no LCA row to edit")
	}
	data := []byte(strings.Join(lines, "\n"))
	f, err := c.Create(fi.Name)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Write(data); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	waitGone(t, filepath.Join(st.dropRoot, "RYY", fi.Name))
	raw := st.rawRecords(t)
	if len(raw)+ignoredOn(raw) != fi.Rows+2 {
		t.Fatalf("raw has %d records and %d rows counted on FILE_END, want %d in all", len(raw), ignoredOn(raw), fi.Rows+2)
	}
	found := false
	for _, r := range raw {
		found = found || slices.Contains(r.Fields, "Canolfan Gymunedol – Tâl-y-bont")
	}
	if !found {
		t.Error("the Windows-1252 Welsh description is not in esr.raw.v1 as UTF-8")
	}
	if info, err := os.Stat(hostKey); err != nil || info.Mode().Perm() != 0o600 {
		t.Errorf("host key: %v %v", info, err)
	}
}
