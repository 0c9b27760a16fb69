package main

import (
	"bufio"
	"bytes"
	"context"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"
)

// `esrflow` with no command is a usage error: usage on stderr, exit 2.
func TestNoCommandIsAUsageError(t *testing.T) {
	var stdout, stderr bytes.Buffer
	if code := dispatch(context.Background(), nil, &stdout, &stderr); code != 2 {
		t.Errorf("exit code %d, want 2", code)
	}
	if !strings.Contains(stderr.String(), "usage: esrflow <command>") || stdout.Len() != 0 {
		t.Errorf("stdout %q, stderr %q: want the usage on stderr only", stdout.String(), stderr.String())
	}
	// Asking for help is not an error.
	stdout.Reset()
	if code := dispatch(context.Background(), []string{"help"}, &stdout, &stderr); code != 0 || !strings.Contains(stdout.String(), "usage:") {
		t.Errorf("help: exit %d, stdout %q", code, stdout.String())
	}
}

// flagLine is a flag's line in -h output: "  -name placeholder".
var flagLine = regexp.MustCompile(`^  -(\S+)(?: (.+))?$`)

// Every flag's placeholder in -h is a type name or an upper-case word, never
// a word the flag package lifted out of back-quotes in the help text (it
// printed "-data up").
func TestHelpPlaceholders(t *testing.T) {
	ok := regexp.MustCompile(`^(string|int|uint|uint64|int64|float|duration|value|[A-Z][A-Z0-9_]*)$`)
	for _, c := range commands() {
		if c.name == "version" {
			continue
		}
		var stderr bytes.Buffer
		if code := dispatch(context.Background(), []string{c.name, "-h"}, &bytes.Buffer{}, &stderr); code != 0 {
			t.Errorf("%s -h: exit %d", c.name, code)
		}
		n := 0
		for _, l := range strings.Split(stderr.String(), "\n") {
			m := flagLine.FindStringSubmatch(l)
			if m == nil {
				continue
			}
			n++
			if m[2] != "" && !ok.MatchString(m[2]) {
				t.Errorf("esrflow %s -h: flag -%s shows the placeholder %q", c.name, m[1], m[2])
			}
		}
		if n == 0 {
			t.Errorf("esrflow %s -h lists no flags:\n%s", c.name, stderr.String())
		}
	}
}

// closedPort returns an address on which nothing listens.
func closedPort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	_ = l.Close()
	return addr
}

// `esrflow tail` with no stack running fails, naming the address it tried,
// instead of polling in silence until interrupted.
func TestTailWithoutAStackFailsNamingTheAddress(t *testing.T) {
	addr := closedPort(t)
	// The test's own deadline only stops a tail that hangs; a tail that
	// hangs then returns nil, which fails below.
	ctx, cancel := context.WithTimeout(context.Background(), 45*time.Second)
	defer cancel()
	err := runTail(ctx, []string{"--kafka.brokers", addr, "--registry.url", "http://" + closedPort(t), "--connect.timeout", "2s"}, &bytes.Buffer{}, &bytes.Buffer{})
	if err == nil || !strings.Contains(err.Error(), "no Kafka broker answers at "+addr) {
		t.Fatalf("runTail = %v, want an error naming %s", err, addr)
	}
}

// `esrflow ingest --tenant RZZ` for a tenant the stack does not serve fails
// before copying, and creates no folder for it.
func TestIngestUnknownTenantCreatesNothing(t *testing.T) {
	data := t.TempDir()
	if err := os.MkdirAll(filepath.Join(data, "drop", "RXX"), 0o750); err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "GO_412_EXP_GOF_20240401_00000001.DAT")
	if err := os.WriteFile(file, []byte("HDR~x\n"), 0o640); err != nil {
		t.Fatal(err)
	}
	err := runIngest(context.Background(), []string{"--tenant", "RZZ", "--data", data, file}, &bytes.Buffer{}, &bytes.Buffer{})
	if err == nil || !strings.Contains(err.Error(), "tenant RZZ has no drop folder") {
		t.Fatalf("runIngest = %v", err)
	}
	if _, err := os.Lstat(filepath.Join(data, "drop", "RZZ")); !os.IsNotExist(err) {
		t.Errorf("drop/RZZ exists after the refusal (Lstat: %v)", err)
	}
	// No stack on the folder at all: refused, nothing created.
	empty := filepath.Join(t.TempDir(), "none")
	err = runIngest(context.Background(), []string{"--tenant", "RXX", "--data", empty, file}, &bytes.Buffer{}, &bytes.Buffer{})
	if err == nil || !strings.Contains(err.Error(), "no drop folder at") {
		t.Fatalf("runIngest on an empty --data = %v", err)
	}
	if _, err := os.Lstat(empty); !os.IsNotExist(err) {
		t.Errorf("%s created", empty)
	}
}

// A second `up` on the data folder of a running one fails at once, naming
// the folder; it starts nothing.
func TestSecondUpOnOneDataFolderFails(t *testing.T) {
	dir := t.TempDir()
	_, stop := startUp(t, dir)
	defer stop()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var out bytes.Buffer
	err := runUp(ctx, []string{"--data", dir, "--kafka.port", "0", "--registry.addr", "127.0.0.1:0", "--api.addr", "127.0.0.1:0", "--sftp.addr", "127.0.0.1:0", "--metrics.addr", "", "--log.level", "error"}, &out, &out)
	if err == nil || !strings.Contains(err.Error(), "data folder "+dir+" is in use by another esrflow up") {
		t.Fatalf("second up = %v\n%s", err, out.String())
	}
	if out.Len() != 0 {
		t.Errorf("second up printed %q", out.String())
	}
}

// lockHelperEnv makes the test binary a process that holds a data folder's
// lock until it is killed.
const lockHelperEnv = "ESRFLOW_TEST_LOCK_HELPER"

func TestLockHelperProcess(t *testing.T) {
	dir := os.Getenv(lockHelperEnv)
	if dir == "" {
		t.Skip("helper process for TestDataFolderLockDiesWithItsProcess")
	}
	if _, err := lockDataDir(dir); err != nil {
		os.Stdout.WriteString("error: " + err.Error() + "\n")
		os.Exit(1)
	}
	os.Stdout.WriteString("locked\n")
	select {} // until SIGKILL
}

// The lock belongs to the process: held while it lives, gone when it is
// SIGKILLed (no clean-up runs), so a restart after a crash is never blocked.
func TestDataFolderLockDiesWithItsProcess(t *testing.T) {
	dir := t.TempDir()
	cmd := exec.Command(os.Args[0], "-test.run=^TestLockHelperProcess$")
	cmd.Env = append(os.Environ(), lockHelperEnv+"="+dir)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil || line != "locked\n" {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		t.Fatalf("helper said %q (%v)", line, err)
	}
	_, err = lockDataDir(dir)
	if err == nil || !strings.Contains(err.Error(), "data folder "+dir+" is in use") || !strings.Contains(err.Error(), "pid ") {
		t.Errorf("lock while the helper holds it = %v", err)
	}
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait()
	release, err := lockDataDir(dir)
	if err != nil {
		t.Fatalf("lock after the holder was killed: %v", err)
	}
	release()
}
