package sftpd_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pkg/sftp"
	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/crypto/bcrypt"
	"golang.org/x/crypto/ssh"

	"github.com/esrflow/esrflow/esr/gen"
	"github.com/esrflow/esrflow/esr/tenant"
	"github.com/esrflow/esrflow/services/ingest/sftpd"
)

// env is a running server over real folders and a real TCP port.
type env struct {
	t        *testing.T
	dir      string
	cfg      sftpd.Config
	srv      *sftpd.Server
	reg      *prometheus.Registry
	stop     func()
	keys     map[string]ed25519.PrivateKey
	password string
}

func (e *env) drop(tenant string) string     { return filepath.Join(e.dir, "drop", tenant) }
func (e *env) outbound(tenant string) string { return filepath.Join(e.dir, "outbound", tenant) }

// hash is a bcrypt hash at the lowest cost: the tests log in many times.
func hash(t *testing.T, pw string) string {
	h, err := bcrypt.GenerateFromPassword([]byte(pw), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	return string(h)
}

func newKey(t *testing.T) ed25519.PrivateKey {
	_, k, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func authorizedKey(t *testing.T, k ed25519.PrivateKey) string {
	pub, err := ssh.NewPublicKey(k.Public())
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(ssh.MarshalAuthorizedKey(pub)))
}

// start runs a server for tenants RXX and RYY with accounts rxx-esr
// (password and key) and ryy-esr (key).
func start(t *testing.T) *env {
	t.Helper()
	dir := t.TempDir()
	tenants, err := tenant.Parse("RXX=412,RYY=413")
	if err != nil {
		t.Fatal(err)
	}
	e := &env{t: t, dir: dir, password: "correct horse battery",
		keys: map[string]ed25519.PrivateKey{"rxx-esr": newKey(t), "ryy-esr": newKey(t)}}
	e.cfg = sftpd.Config{Addr: "127.0.0.1:0", Credentials: filepath.Join(dir, "sftp-accounts.yaml"),
		HostKey: filepath.Join(dir, "sftp-host-key"), Drop: filepath.Join(dir, "drop"),
		Outbound: filepath.Join(dir, "outbound"), Tenants: tenants}
	e.writeAccounts(fmt.Sprintf(`accounts:
  - user: rxx-esr
    tenant: RXX
    password_hash: %q
    authorized_keys: [%q]
  - user: ryy-esr
    tenant: RYY
    authorized_keys: [%q]
`, hash(t, e.password), authorizedKey(t, e.keys["rxx-esr"]), authorizedKey(t, e.keys["ryy-esr"])))
	e.run()
	return e
}

func (e *env) writeAccounts(yaml string) {
	e.t.Helper()
	// Write and rename, as an operator's editor or config tool would.
	tmp := e.cfg.Credentials + ".new"
	if err := os.WriteFile(tmp, []byte(yaml), 0o600); err != nil {
		e.t.Fatal(err)
	}
	if err := os.Rename(tmp, e.cfg.Credentials); err != nil {
		e.t.Fatal(err)
	}
}

func (e *env) run() {
	e.t.Helper()
	e.reg = prometheus.NewRegistry()
	srv, err := sftpd.New(e.cfg, nil, e.reg)
	if err != nil {
		e.t.Fatal(err)
	}
	e.srv = srv
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Run(ctx) }()
	var stopped bool
	e.stop = func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		if err := <-done; err != nil && !errors.Is(err, context.Canceled) {
			e.t.Errorf("server stopped: %v", err)
		}
	}
	e.t.Cleanup(e.stop)
}

func (e *env) dial(user string, auth ...ssh.AuthMethod) (*ssh.Client, error) {
	return ssh.Dial("tcp", e.srv.Addr(), &ssh.ClientConfig{
		User: user, Auth: auth, HostKeyCallback: ssh.FixedHostKey(e.srv.HostKey()), Timeout: 10 * time.Second,
	})
}

func (e *env) keyAuth(user string) ssh.AuthMethod {
	s, err := ssh.NewSignerFromKey(e.keys[user])
	if err != nil {
		e.t.Fatal(err)
	}
	return ssh.PublicKeys(s)
}

// client logs user in by key and opens an SFTP session.
func (e *env) client(user string) *sftp.Client {
	e.t.Helper()
	conn, err := e.dial(user, e.keyAuth(user))
	if err != nil {
		e.t.Fatalf("login %s: %v", user, err)
	}
	c, err := sftp.NewClient(conn)
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() { c.Close(); conn.Close() })
	return c
}

func (e *env) counter(name string, labels ...string) float64 {
	e.t.Helper()
	mfs, err := e.reg.Gather()
	if err != nil {
		e.t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	metric:
		for _, m := range mf.GetMetric() {
			for i := 0; i+1 < len(labels); i += 2 {
				value := "" // an empty label value is not exported
				for _, lp := range m.GetLabel() {
					if lp.GetName() == labels[i] {
						value = lp.GetValue()
					}
				}
				if value != labels[i+1] {
					continue metric
				}
			}
			return m.GetCounter().GetValue()
		}
	}
	return 0
}

// waitCounter waits until a counter reaches want (the server updates it
// on its own goroutine).
func (e *env) waitCounter(want float64, name string, labels ...string) {
	e.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		got := e.counter(name, labels...)
		if got == want {
			return
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("%s%v = %v, want %v", name, labels, got, want)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// goV2File is a real generated GO v2 full file.
func goV2File(t *testing.T) (string, []byte) {
	t.Helper()
	sink := &gen.MemSink{}
	res, err := gen.Generate(gen.Config{Tenant: "RXX", VPD: "412", Staff: 50, Days: 1, Seed: 7}, sink)
	if err != nil {
		t.Fatal(err)
	}
	name := res.Files[0].Name
	return name, sink.Bytes(name)
}

func TestLoginByPasswordAndByKey(t *testing.T) {
	e := start(t)
	for _, tc := range []struct {
		name, user string
		auth       ssh.AuthMethod
		ok         bool
		outcome    string
	}{
		{"password", "rxx-esr", ssh.Password(e.password), true, "ok"},
		{"key", "rxx-esr", e.keyAuth("rxx-esr"), true, "ok"},
		{"wrong password", "rxx-esr", ssh.Password("not the password"), false, "bad-password"},
		{"another account's key", "rxx-esr", e.keyAuth("ryy-esr"), false, "bad-key"},
		{"no password set", "ryy-esr", ssh.Password(e.password), false, "no-password"},
		{"unknown account", "someone", ssh.Password(e.password), false, "unknown-account"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tenantLabel := map[string]string{"rxx-esr": "RXX", "ryy-esr": "RYY"}[tc.user]
			before := e.counter("esrflow_sftp_logins_total", "tenant", tenantLabel, "outcome", tc.outcome)
			conn, err := e.dial(tc.user, tc.auth)
			if tc.ok != (err == nil) {
				t.Fatalf("login: err = %v, want ok = %v", err, tc.ok)
			}
			if conn != nil {
				conn.Close()
			}
			// The server counts once its side of the handshake ends,
			// which may be just after the client's.
			e.waitCounter(before+1, "esrflow_sftp_logins_total", "tenant", tenantLabel, "outcome", tc.outcome)
		})
	}
}

// The password hash helper makes hashes the server accepts.
func TestHashPassword(t *testing.T) {
	if _, err := sftpd.HashPassword("short"); err == nil {
		t.Error("a short password was hashed")
	}
	h, err := sftpd.HashPassword("a long enough password")
	if err != nil {
		t.Fatal(err)
	}
	if bcrypt.CompareHashAndPassword([]byte(h), []byte("a long enough password")) != nil {
		t.Error("hash does not match its password")
	}
	if c, _ := bcrypt.Cost([]byte(h)); c != sftpd.PasswordCost {
		t.Errorf("cost %d, want %d", c, sftpd.PasswordCost)
	}
}

// visible lists the names ingest would consider in a folder: no dot
// names, no in-progress suffixes.
func visible(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, en := range entries {
		n := en.Name()
		if strings.HasPrefix(n, ".") || strings.HasSuffix(n, ".part") {
			continue
		}
		out = append(out, n)
	}
	return out
}

func TestUploadAppearsOnlyWhenClosed(t *testing.T) {
	e := start(t)
	name, data := goV2File(t)
	c := e.client("rxx-esr")
	f, err := c.Create(name) // relative: the session starts in /inbound
	if err != nil {
		t.Fatal(err)
	}
	half := len(data) / 2
	if _, err := f.Write(data[:half]); err != nil {
		t.Fatal(err)
	}
	// Written but not closed: only an in-progress name exists.
	if _, err := os.Stat(filepath.Join(e.drop("RXX"), name)); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("%s readable under its final name while open (err %v)", name, err)
	}
	if v := visible(t, e.drop("RXX")); len(v) != 0 {
		t.Fatalf("visible to ingest while open: %v", v)
	}
	if _, err := f.Write(data[half:]); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(filepath.Join(e.drop("RXX"), name))
	if err != nil {
		t.Fatalf("not in the inbound folder after close: %v", err)
	}
	if !bytes.Equal(got, data) {
		t.Fatalf("uploaded %d bytes, found %d different ones", len(data), len(got))
	}
	if v := visible(t, e.drop("RXX")); len(v) != 1 || v[0] != name {
		t.Errorf("inbound holds %v, want just %s (temporary name left behind?)", v, name)
	}
	if all, _ := os.ReadDir(e.drop("RXX")); len(all) != 1 {
		t.Errorf("inbound holds %d entries, want 1", len(all))
	}
	if v := visible(t, e.drop("RYY")); len(v) != 0 {
		t.Errorf("another tenant's folder got %v", v)
	}
	if got := e.counter("esrflow_sftp_uploads_total", "tenant", "RXX"); got != 1 {
		t.Errorf("uploads_total{RXX} = %v, want 1", got)
	}
	if got := e.counter("esrflow_sftp_upload_bytes_total", "tenant", "RXX"); got != float64(len(data)) {
		t.Errorf("upload_bytes_total{RXX} = %v, want %d", got, len(data))
	}
	// The same name again is refused while the first awaits ingest.
	if f, err := c.Create(name); err == nil {
		f.Close()
		t.Error("a second upload replaced a file awaiting ingest")
	}
	// The client's own in-progress name, renamed when done (WinSCP).
	f, err = c.Create("other.DAT.filepart")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Write(data); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	if err := c.Rename("other.DAT.filepart", "other.DAT"); err != nil {
		t.Fatalf("rename of an in-progress name: %v", err)
	}
	if _, err := os.Stat(filepath.Join(e.drop("RXX"), "other.DAT")); err != nil {
		t.Error(err)
	}
	// A delivered file is ingest's: not renamed, removed or read back.
	if err := c.Rename("other.DAT", "again.DAT"); err == nil {
		t.Error("a delivered file was renamed")
	}
	if err := c.Remove("other.DAT"); err == nil {
		t.Error("a delivered file was removed")
	}
	if f, err := c.Open("other.DAT"); err == nil {
		f.Close()
		t.Error("a delivered file was read back")
	}
}

// An upload whose connection drops before close never appears.
func TestInterruptedUploadIsDiscarded(t *testing.T) {
	e := start(t)
	conn, err := e.dial("rxx-esr", e.keyAuth("rxx-esr"))
	if err != nil {
		t.Fatal(err)
	}
	c, err := sftp.NewClient(conn)
	if err != nil {
		t.Fatal(err)
	}
	f, err := c.Create("cut.DAT")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Write(bytes.Repeat([]byte("x"), 100_000)); err != nil {
		t.Fatal(err)
	}
	conn.Close() // no close of f
	e.waitCounter(1, "esrflow_sftp_refusals_total", "tenant", "RXX", "reason", "incomplete")
	if all, _ := os.ReadDir(e.drop("RXX")); len(all) != 0 {
		t.Errorf("inbound holds %v after a cut upload", all)
	}
}

func TestConfinement(t *testing.T) {
	e := start(t)
	_, data := goV2File(t)
	// Files an escape would reach: the other tenant's delivery and
	// outbound file, and a file beside the drop folder.
	secret := []byte("not for RXX")
	for _, p := range []string{filepath.Join(e.drop("RYY"), "ryy.DAT"), filepath.Join(e.outbound("RYY"), "refresh.json"), filepath.Join(e.dir, "outside.txt")} {
		if err := os.WriteFile(p, secret, 0o640); err != nil {
			t.Fatal(err)
		}
	}
	// Symlinks planted by something else in RXX's folders, pointing out.
	if err := os.Symlink(filepath.Join(e.drop("RYY"), "ryy.DAT"), filepath.Join(e.drop("RXX"), "link.DAT")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(filepath.Join(e.outbound("RYY"), "refresh.json"), filepath.Join(e.outbound("RXX"), "link.json")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(e.drop("RYY"), filepath.Join(e.outbound("RXX"), "dirlink")); err != nil {
		t.Fatal(err)
	}
	c := e.client("rxx-esr")

	reads := []string{
		"../RYY/ryy.DAT", "../../drop/RYY/ryy.DAT", "/inbound/../../RYY/ryy.DAT",
		"/outbound/../../outbound/RYY/refresh.json", "../../outside.txt", "/etc/passwd",
		filepath.Join(e.drop("RYY"), "ryy.DAT"), // the real absolute path
		"/outbound/link.json", "/inbound/link.DAT", "/outbound/dirlink/ryy.DAT",
	}
	for _, p := range reads {
		if f, err := c.Open(p); err == nil {
			b, _ := io.ReadAll(f)
			f.Close()
			t.Errorf("read %s: %q", p, b)
		}
		if _, err := c.Stat(p); err == nil && !strings.HasSuffix(p, "link.DAT") {
			t.Errorf("stat %s succeeded", p)
		}
	}
	writes := []string{
		"../RYY/x.DAT", "/inbound/../RYY/x.DAT", "../../x.DAT", "/x.DAT", "/tmp/x.DAT",
		filepath.Join(e.drop("RYY"), "x.DAT"), "/outbound/x.DAT", "/outbound/dirlink/x.DAT",
		"sub/x.DAT", ".hidden.DAT", "link.DAT",
	}
	for _, p := range writes {
		if f, err := c.Create(p); err == nil {
			_, _ = f.Write(data)
			f.Close()
			t.Errorf("wrote %s", p)
		}
	}
	if err := c.Symlink("/inbound/x.DAT", "/inbound/newlink"); err == nil {
		t.Error("symlink created")
	}
	if err := c.Symlink("../RYY/ryy.DAT", "newlink"); err == nil {
		t.Error("symlink out created")
	}
	if err := c.Link("/inbound/x.DAT", "/inbound/hard"); err == nil {
		t.Error("hard link created")
	}
	if _, err := c.ReadLink("/inbound/link.DAT"); err == nil {
		t.Error("readlink answered")
	}
	if err := c.Mkdir("/inbound/sub"); err == nil {
		t.Error("mkdir succeeded")
	}
	if err := c.Rename("/outbound/link.json", "/inbound/x.DAT.part"); err == nil {
		t.Error("rename from outbound succeeded")
	}
	for _, dir := range []string{"/", "/inbound", "/outbound"} {
		if _, err := c.ReadDir(dir); err != nil {
			t.Errorf("list %s: %v", dir, err)
		}
	}
	if infos, err := c.ReadDir("../RYY"); err == nil {
		t.Errorf("listed another tenant's folder: %d entries", len(infos))
	}
	infos, err := c.ReadDir("/outbound")
	if err != nil {
		t.Fatal(err)
	}
	for _, fi := range infos {
		t.Errorf("outbound lists %s (symlinks must not be listed)", fi.Name())
	}

	// Nothing was written anywhere: RXX's inbound holds only the planted
	// link, RYY's folders what they held.
	if v := visible(t, e.drop("RXX")); len(v) != 1 || v[0] != "link.DAT" {
		t.Errorf("RXX inbound: %v", v)
	}
	if v := visible(t, e.drop("RYY")); len(v) != 1 {
		t.Errorf("RYY inbound: %v", v)
	}
	for _, p := range []string{filepath.Join(e.dir, "x.DAT"), filepath.Join(e.dir, "drop", "x.DAT")} {
		if _, err := os.Lstat(p); err == nil {
			t.Errorf("%s written", p)
		}
	}
	for _, reason := range []string{"outside", "symlink", "read-only", "subfolder", "name", "unsupported", "write-only", "exists"} {
		if e.counter("esrflow_sftp_refusals_total", "tenant", "RXX", "reason", reason) == 0 {
			t.Errorf("no refusal counted with reason %s", reason)
		}
	}
}

func TestOutboundIsReadable(t *testing.T) {
	e := start(t)
	want := []byte(`{"tenant":"RXX"}` + "\n")
	if err := os.WriteFile(filepath.Join(e.outbound("RXX"), "refresh-412-2.json"), want, 0o640); err != nil {
		t.Fatal(err)
	}
	c := e.client("rxx-esr")
	f, err := c.Open("/outbound/refresh-412-2.json")
	if err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(f)
	f.Close()
	if err != nil || !bytes.Equal(got, want) {
		t.Errorf("read %q, %v; want %q", got, err, want)
	}
	// RYY's account does not see it.
	if f, err := e.client("ryy-esr").Open("/outbound/refresh-412-2.json"); err == nil {
		f.Close()
		t.Error("another tenant read RXX's outbound file")
	}
}

func TestCredentialsReload(t *testing.T) {
	e := start(t)
	newcomer := newKey(t)
	e.keys["rzz-new"] = newcomer
	if _, err := e.dial("rzz-new", e.keyAuth("rzz-new")); err == nil {
		t.Fatal("an account not in the file logged in")
	}
	// Add an account for RXX (spelt in lower case: the configured code
	// names its folder), drop rxx-esr.
	e.writeAccounts(fmt.Sprintf("accounts:\n  - user: rzz-new\n    tenant: rxx\n    key_fingerprints: [%q]\n  - user: ryy-esr\n    tenant: RYY\n    authorized_keys: [%q]\n",
		ssh.FingerprintSHA256(mustPub(t, newcomer)), authorizedKey(t, e.keys["ryy-esr"])))
	c := e.client("rzz-new")
	f, err := c.Create("new.DAT")
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(e.drop("RXX"), "new.DAT")); err != nil {
		t.Errorf("the added account's upload is not in RXX's folder: %v", err)
	}
	if _, err := e.dial("rxx-esr", e.keyAuth("rxx-esr")); err == nil {
		t.Fatal("removed account logged in")
	}
	// A broken edit keeps the accounts that were there.
	e.writeAccounts("accounts:\n  - user: rzz-new\n    tenant: NOPE\n")
	conn, err := e.dial("rzz-new", e.keyAuth("rzz-new"))
	if err != nil {
		t.Fatalf("a broken file locked the accounts out: %v", err)
	}
	conn.Close()
	if got := e.counter("esrflow_sftp_credentials_reloads_total", "outcome", "error"); got == 0 {
		t.Error("broken credentials file not counted")
	}
}

func mustPub(t *testing.T, k ed25519.PrivateKey) ssh.PublicKey {
	p, err := ssh.NewPublicKey(k.Public())
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestBadCredentialsFileFailsStart(t *testing.T) {
	tenants, _ := tenant.Parse("RXX=412")
	dir := t.TempDir()
	for name, yaml := range map[string]string{
		"unknown tenant": "accounts:\n  - user: a\n    tenant: RQQ\n    key_fingerprints: [\"SHA256:x\"]\n",
		"no credential":  "accounts:\n  - user: a\n    tenant: RXX\n",
		"plain password": "accounts:\n  - user: a\n    tenant: RXX\n    password_hash: hunter2hunter2\n",
		"unknown field":  "accounts:\n  - user: a\n    tenant: RXX\n    password: x\n",
		"twice":          "accounts:\n  - {user: a, tenant: RXX, key_fingerprints: [\"SHA256:x\"]}\n  - {user: a, tenant: RXX, key_fingerprints: [\"SHA256:x\"]}\n",
	} {
		creds := filepath.Join(dir, "creds.yaml")
		if err := os.WriteFile(creds, []byte(yaml), 0o600); err != nil {
			t.Fatal(err)
		}
		_, err := sftpd.New(sftpd.Config{Addr: "127.0.0.1:0", Credentials: creds, HostKey: filepath.Join(dir, "key"),
			Drop: filepath.Join(dir, "drop"), Outbound: filepath.Join(dir, "out"), Tenants: tenants}, nil, nil)
		if err == nil {
			t.Errorf("%s: started", name)
		}
	}
}

func TestHostKeyPersisted(t *testing.T) {
	e := start(t)
	first := ssh.FingerprintSHA256(e.srv.HostKey())
	fi, err := os.Stat(e.cfg.HostKey)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("host key mode %v, want 0600", fi.Mode().Perm())
	}
	e.stop()
	e.run()
	if again := ssh.FingerprintSHA256(e.srv.HostKey()); again != first {
		t.Errorf("host key changed across restart: %s then %s", first, again)
	}
	// And the restarted server presents it.
	e.client("rxx-esr")
}

// Only SFTP: no shell, no exec.
func TestNoShell(t *testing.T) {
	e := start(t)
	conn, err := e.dial("rxx-esr", e.keyAuth("rxx-esr"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	sess, err := conn.NewSession()
	if err != nil {
		t.Fatal(err)
	}
	defer sess.Close()
	if out, err := sess.CombinedOutput("cat /etc/passwd"); err == nil {
		t.Errorf("exec ran: %q", out)
	}
}

// TestSystemSFTPClient uploads and downloads with OpenSSH's sftp command in
// batch mode (Debian's openssh-client; .ci/run installs it).
func TestSystemSFTPClient(t *testing.T) {
	bin, err := exec.LookPath("sftp")
	if err != nil {
		t.Skip("no sftp command (apt-get install openssh-client; .ci/run installs it)")
	}
	e := start(t)
	dir := t.TempDir()
	block, err := ssh.MarshalPrivateKey(e.keys["rxx-esr"], "")
	if err != nil {
		t.Fatal(err)
	}
	keyFile := filepath.Join(dir, "id_ed25519")
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(block), 0o600); err != nil {
		t.Fatal(err)
	}
	name, data := goV2File(t)
	local := filepath.Join(dir, name)
	if err := os.WriteFile(local, data, 0o640); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(e.outbound("RXX"), "refresh.json"), []byte("{}\n"), 0o640); err != nil {
		t.Fatal(err)
	}
	batch := filepath.Join(dir, "batch")
	script := fmt.Sprintf("put %s\nls\nget /outbound/refresh.json %s\n", local, filepath.Join(dir, "got.json"))
	if err := os.WriteFile(batch, []byte(script), 0o600); err != nil {
		t.Fatal(err)
	}
	_, port, _ := net.SplitHostPort(e.srv.Addr())
	cmd := exec.Command(bin, "-b", batch, "-i", keyFile, "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
		"-o", "BatchMode=yes", "-o", "IdentitiesOnly=yes", "-P", port, "rxx-esr@127.0.0.1")
	cmd.Env = append(os.Environ(), "HOME="+dir)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("sftp: %v\n%s", err, out)
	}
	got, err := os.ReadFile(filepath.Join(e.drop("RXX"), name))
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("uploaded file: %d bytes, %v; want %d bytes\n%s", len(got), err, len(data), out)
	}
	if b, err := os.ReadFile(filepath.Join(dir, "got.json")); err != nil || string(b) != "{}\n" {
		t.Errorf("downloaded refresh file: %q, %v", b, err)
	}
	if v := visible(t, e.drop("RXX")); len(v) != 1 {
		t.Errorf("inbound: %v", v)
	}
	// A refused put fails the batch, and nothing is written.
	bad := filepath.Join(dir, "bad")
	if err := os.WriteFile(bad, []byte(fmt.Sprintf("put %s /outbound/x.DAT\n", local)), 0o600); err != nil {
		t.Fatal(err)
	}
	args := append([]string{"-b", bad}, cmd.Args[3:]...)
	if out, err := exec.Command(bin, args...).CombinedOutput(); err == nil {
		t.Errorf("a put to /outbound succeeded:\n%s", out)
	}
	if _, err := os.Stat(filepath.Join(e.outbound("RXX"), "x.DAT")); err == nil {
		t.Error("/outbound/x.DAT written")
	}
}

// Password guessing is bounded per address: after sftpd.MaxPasswordFails wrong
// passwords within the window, even the right one is refused from that
// address without a bcrypt comparison ("rate-limited"), while a key login
// (no bcrypt) still works.
func TestPasswordGuessingRateLimited(t *testing.T) {
	e := start(t)
	for i := 0; i < sftpd.MaxPasswordFails; i++ {
		if conn, err := e.dial("rxx-esr", ssh.Password("guess")); err == nil {
			conn.Close()
			t.Fatal("a wrong password logged in")
		}
	}
	e.waitCounter(sftpd.MaxPasswordFails, "esrflow_sftp_logins_total", "tenant", "RXX", "outcome", "bad-password")
	if conn, err := e.dial("rxx-esr", ssh.Password(e.password)); err == nil {
		conn.Close()
		t.Fatal("the right password logged in from an address that had failed too often")
	}
	e.waitCounter(1, "esrflow_sftp_logins_total", "tenant", "", "outcome", "rate-limited")
	conn, err := e.dial("rxx-esr", e.keyAuth("rxx-esr"))
	if err != nil {
		t.Fatalf("key login after the password limit: %v", err)
	}
	conn.Close()
}
