package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/esrflow/esrflow/esr/gen"
	"github.com/esrflow/esrflow/esr/tenant"
	"github.com/esrflow/esrflow/services/api/auth"
)

// runFilesCmd runs `esrflow files` through dispatch, as a shell would.
func runFilesCmd(args ...string) (code int, stdout, stderr string) {
	var out, errb bytes.Buffer
	code = dispatch(context.Background(), append([]string{"files"}, args...), &out, &errb)
	return code, out.String(), errb.String()
}

// `esrflow files` against a running stack: a good full file and a change
// file with a wrong trailer count are both listed, with their statuses, in
// the table and as JSON lines; --status filters; a wrong key is an api
// error (exit 1).
func TestFilesListsReportsFromTheAPI(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end run")
	}
	dir := t.TempDir()
	tenants, err := tenant.Parse("RXX=412")
	if err != nil {
		t.Fatal(err)
	}
	const key = "files-operator-key"
	cfg := e2eStackConfig(t, dir, tenants)
	cfg.APIClients = []auth.Client{{Name: "files-reader", KeySHA256: auth.HashKey(key), Tenants: []string{"RXX"}, Scopes: []string{auth.ScopeReadFiles}}}
	st := startStackConfig(t, cfg)

	tr := generate(t, gen.Config{Tenant: "RXX", VPD: "412", Staff: 30, Days: 1, Seed: 11})
	full, change := tr.res.Files[0], tr.res.Files[1]
	dropFile(t, st.DropDir(), "RXX", full.Name, tr.sink.Bytes(full.Name))
	// A change file whose trailer miscounts its rows: rejected whole.
	bad := regexp.MustCompile(`TRL~\d+`).ReplaceAll(tr.sink.Bytes(change.Name), []byte("TRL~99999"))
	if bytes.Equal(bad, tr.sink.Bytes(change.Name)) {
		t.Fatal("no trailer to break")
	}
	dropFile(t, st.DropDir(), "RXX", change.Name, bad)

	keyFile := filepath.Join(t.TempDir(), "key")
	if err := os.WriteFile(keyFile, []byte(key+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	base := []string{"--api", st.APIURL(), "--key-file", keyFile, "--tenant", "rxx"}

	// The api reads reports asynchronously: wait until it lists both.
	var lines []map[string]any
	deadline := time.Now().Add(60 * time.Second)
	for {
		code, out, errs := runFilesCmd(append(base, "--format", "json")...)
		if code != 0 {
			t.Fatalf("files --format json: exit %d: %s", code, errs)
		}
		lines = nil
		for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
			if l == "" {
				continue
			}
			var m map[string]any
			if err := json.Unmarshal([]byte(l), &m); err != nil {
				t.Fatalf("not a JSON line: %q: %v", l, err)
			}
			lines = append(lines, m)
		}
		if len(lines) >= 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the api listed %d reports, want 2", len(lines))
		}
		time.Sleep(100 * time.Millisecond)
	}
	status := map[string]string{}
	for _, m := range lines {
		f, _ := m["file"].(map[string]any)
		name, _ := f["name"].(string)
		status[name], _ = m["status"].(string)
	}
	if len(lines) != 2 || status[full.Name] != "ACCEPTED" || status[change.Name] != "REJECTED" {
		t.Fatalf("JSON lines: %v, want %s ACCEPTED and %s REJECTED", status, full.Name, change.Name)
	}

	code, out, errs := runFilesCmd(base...)
	if code != 0 {
		t.Fatalf("files: exit %d: %s", code, errs)
	}
	t.Logf("esrflow files:\n%s", out)
	rows := strings.Split(strings.TrimSpace(out), "\n")
	if len(rows) != 3 || !strings.HasPrefix(rows[0], "REPORTED (UTC)") {
		t.Fatalf("table: want a header and 2 rows:\n%s", out)
	}
	row := func(name string) string {
		for _, r := range rows[1:] {
			if strings.Contains(r, name) {
				return r
			}
		}
		t.Fatalf("table has no row for %s:\n%s", name, out)
		return ""
	}
	if r := row(full.Name); !strings.Contains(r, " ACCEPTED ") || !strings.Contains(r, " FULL ") {
		t.Errorf("full file row: %q", r)
	}
	if r := row(change.Name); !strings.Contains(r, " REJECTED ") || !strings.Contains(r, "ESR-F006 line ") || !strings.Contains(r, "trailer-count") {
		t.Errorf("rejected file row, want REJECTED and its trailer reason: %q", r)
	}

	// --status keeps only that status.
	code, out, _ = runFilesCmd(append(base, "--status", "rejected")...)
	if rows := strings.Split(strings.TrimSpace(out), "\n"); code != 0 || len(rows) != 2 || !strings.Contains(rows[1], change.Name) {
		t.Errorf("--status rejected: exit %d:\n%s", code, out)
	}
	// --limit 1: the newest only.
	code, out, _ = runFilesCmd(append(base, "--limit", "1", "--format", "json")...)
	if code != 0 || strings.Count(out, "\n") != 1 {
		t.Errorf("--limit 1: exit %d:\n%s", code, out)
	}
	// Page by page: with one report per api call, the cursor still reaches
	// every report once, newest first, as one call does; --status goes to
	// the api, so it pages through that status only.
	_, whole, _ := runFilesCmd(append(base, "--format", "json")...)
	old := filesPageSize
	filesPageSize = 1
	code, paged, errs := runFilesCmd(append(base, "--format", "json", "--limit", "100000")...)
	if code != 0 || paged != whole || strings.Count(paged, "\n") != 2 {
		t.Errorf("paged listing: exit %d, stderr %q:\n%s\nwant\n%s", code, errs, paged, whole)
	}
	code, paged, _ = runFilesCmd(append(base, "--format", "json", "--status", "ACCEPTED")...)
	if code != 0 || strings.Count(paged, "\n") != 1 || !strings.Contains(paged, full.Name) {
		t.Errorf("paged --status ACCEPTED: exit %d:\n%s", code, paged)
	}
	filesPageSize = old
	// A wrong key is the api refusing: exit 1, with its reason.
	code, _, errs = runFilesCmd("--api", st.APIURL(), "--key", "wrong", "--tenant", "RXX")
	if code != 1 || !strings.Contains(errs, "401") {
		t.Errorf("wrong key: exit %d, stderr %q; want 1 and the api's 401", code, errs)
	}
	// Without --key/--key-file the operator key in --data is used.
	data := t.TempDir()
	if err := os.WriteFile(filepath.Join(data, operatorKeyFile), []byte(key+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if code, out, errs := runFilesCmd("--api", st.APIURL(), "--data", data, "--tenant", "RXX", "--format", "json"); code != 0 || strings.Count(out, "\n") != 2 {
		t.Errorf("key from --data: exit %d, %d lines, stderr %q", code, strings.Count(out, "\n"), errs)
	}
}

func TestFilesUsageErrors(t *testing.T) {
	for _, args := range [][]string{
		{},                           // no --tenant
		{"--tenant", "RXX", "extra"}, // an argument
		{"--tenant", "RXX", "--status", "waiting"},           // unknown status
		{"--tenant", "RXX", "--format", "xml"},               // unknown format
		{"--tenant", "RXX", "--limit", "0"},                  // limit out of range
		{"--tenant", "RXX", "--limit", "100001"},             // over the most listed
		{"--tenant", "RXX", "--key", "a", "--key-file", "b"}, // two keys
		{"--no-such-flag"},
	} {
		if code, _, errs := runFilesCmd(args...); code != 2 {
			t.Errorf("files %q: exit %d, want 2 (stderr %q)", args, code, errs)
		}
	}
	// No key anywhere, an api nobody runs: an error, not a usage error.
	if code, _, _ := runFilesCmd("--tenant", "RXX", "--data", t.TempDir()); code != 1 {
		t.Errorf("missing operator key: exit %d, want 1", code)
	}
	if code, _, _ := runFilesCmd("-h"); code != 0 {
		t.Errorf("-h: exit %d, want 0", code)
	}
}

func TestCut(t *testing.T) {
	if got := cut("Ynys Môn health board", 8); got != "Ynys Mô…" {
		t.Errorf("cut = %q", got)
	}
	if got := cut("short", 8); got != "short" {
		t.Errorf("cut = %q", got)
	}
	if got := oneLine("a\tb\n c"); got != "a b c" {
		t.Errorf("oneLine = %q", got)
	}
}
