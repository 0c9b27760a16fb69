package main

import (
	"bytes"
	"context"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/esrflow/esrflow/esr/gen"
	"github.com/esrflow/esrflow/esr/tenant"
)

// TestGenNational: esrflow gen --national --fraction F writes the 205
// trusts of gen.National(F) in their folders with one truth for the region,
// with transfers only between trusts of one ICS, prints a line per trust,
// the totals and the trusts in --tenants form, and refuses --region beside
// it and a fraction out of range.
func TestGenNational(t *testing.T) {
	dir := t.TempDir()
	var out bytes.Buffer
	args := []string{"--out", dir, "--national", "--fraction", "0.002", "--days", "2", "--start", "2024-04-01"}
	if err := runGen(context.Background(), args, &out, io.Discard); err != nil {
		t.Fatal(err)
	}
	trusts, err := gen.National(0.002)
	if err != nil {
		t.Fatal(err)
	}
	staff, ics := 0, map[string]string{}
	for _, tr := range trusts {
		staff += tr.Staff
		ics[tr.Tenant] = tr.Group
		files, err := filepath.Glob(filepath.Join(dir, tr.Tenant, "GO_"+tr.VPD+"_EXP_GO*.DAT"))
		if err != nil || len(files) != 3 {
			t.Fatalf("%s: files %v (%v), want a full and two change files", tr.Tenant, files, err)
		}
		if !strings.Contains(out.String(), tr.Tenant+" vpd "+tr.VPD+": staff ") {
			t.Errorf("no line for %s in the summary", tr.Tenant)
		}
	}
	lines, err := os.ReadFile(filepath.Join(dir, gen.TruthFile))
	if err != nil {
		t.Fatal(err)
	}
	truth, err := gen.ReadTruth(bytes.NewReader(lines))
	if err != nil {
		t.Fatal(err)
	}
	fileLines, transfers := 0, 0
	for _, l := range truth {
		if l.Kind == gen.KindFile {
			fileLines++
		}
		if l.TransferFromTenant != "" {
			transfers++
			if ics[l.TransferFromTenant] != ics[l.Tenant] {
				t.Errorf("%s (%s) took a transfer from %s (%s)", l.Tenant, ics[l.Tenant], l.TransferFromTenant, ics[l.TransferFromTenant])
			}
		}
	}
	// one transfer per ICS planned on day 1 (none on the last day); a tiny
	// trust may have nobody free to send
	if fileLines != 3*len(trusts) || transfers < gen.NationalGroups/2 || transfers > gen.NationalGroups {
		t.Errorf("truth: %d file lines for %d trusts, %d transfers in %d ICSs", fileLines, len(trusts), transfers, gen.NationalGroups)
	}
	want := "wrote 205 trusts, " + strconv.Itoa(staff) + " staff, 615 files"
	if !strings.Contains(out.String(), want) {
		t.Errorf("summary lacks %q", want)
	}
	// the last line is the trusts in esrflow up's --tenants form
	short := strings.TrimPrefix(lastLine(out.String()), "tenants: ")
	parsed, err := tenant.Parse(short)
	if err != nil {
		t.Fatalf("tenants line %.80q: %v", short, err)
	}
	if codes := parsed.Codes(); len(codes) != len(trusts) {
		t.Errorf("tenants line: %d tenants, want %d", len(codes), len(trusts))
	}
	if tn, ok := parsed.Get(trusts[7].Tenant); !ok || len(tn.VPDs) != 1 || tn.VPDs[0] != trusts[7].VPD {
		t.Errorf("tenants line: %s is %+v, want VPD %s", trusts[7].Tenant, tn, trusts[7].VPD)
	}

	for _, bad := range [][]string{
		{"--national", "--region", "RXX=412:10"},
		{"--national", "--fraction", "0"},
		{"--national", "--fraction", "1.5"},
	} {
		if err := runGen(context.Background(), append([]string{"--out", t.TempDir(), "-q"}, bad...), io.Discard, io.Discard); err == nil {
			t.Errorf("%v: no error", bad)
		}
	}
}

func lastLine(s string) string {
	s = strings.TrimSpace(s)
	return s[strings.LastIndexByte(s, '\n')+1:]
}

// TestParseRegionGroups: TENANT=VPD:STAFF@GROUP puts a trust in a group;
// without @ there is none; a malformed entry is refused.
func TestParseRegionGroups(t *testing.T) {
	got, err := parseRegion("RXX=412:100@ICS1, RYY=413:50@ICS1,RZZ=414:70")
	if err != nil {
		t.Fatal(err)
	}
	want := []gen.Trust{{Tenant: "RXX", VPD: "412", Staff: 100, Group: "ICS1"}, {Tenant: "RYY", VPD: "413", Staff: 50, Group: "ICS1"},
		{Tenant: "RZZ", VPD: "414", Staff: 70}}
	if len(got) != len(want) {
		t.Fatalf("got %+v", got)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("trust %d: %+v, want %+v", i, got[i], want[i])
		}
	}
	for _, bad := range []string{"RXX=412:x@G", "RXX=412", "RXX:412=10"} {
		if _, err := parseRegion(bad); err == nil {
			t.Errorf("%q: no error", bad)
		}
	}
}
