package stack

import (
	"strings"
	"testing"

	"github.com/esrflow/esrflow/schemas/gen/internalv1"
)

// A dropped file's name is the sender's text: a newline (or a terminal
// escape) in it must not start a line of up's console of its own, so it
// cannot forge another file's progress line.
func TestProgressLineEscapesNames(t *testing.T) {
	forged := "x.DAT\nRXX GO_412_EXP_GOC_20240402_00000002.DAT: 9 rows: 9 accepted, 0 quarantined, 0 corrections, 0 ignored; events: none\x1b[2K"
	reason := forged + ": file-name: not an ESR file name"
	for _, fr := range []internalv1.FileReport{
		{Tenant: "RXX", File: internalv1.FileInfo{Name: forged}, Status: internalv1.FileStatusRejected, Reason: &reason},
		{Tenant: "RXX", File: internalv1.FileInfo{Name: forged}, Status: internalv1.FileStatusAccepted, EventsEmitted: map[string]int64{}},
		{Tenant: "R\rZZ", File: internalv1.FileInfo{Name: "ok.DAT"}, Status: internalv1.FileStatusRejected, Reason: &reason},
		{Tenant: "RXX", File: internalv1.FileInfo{Name: forged}, Status: internalv1.FileStatusDuplicate, Reason: &reason,
			DuplicateOf: &internalv1.DuplicateOf{Name: forged}},
	} {
		line := SummariseReport(fr)
		if strings.ContainsAny(line, "\n\r\x1b") {
			t.Errorf("progress line carries a control character: %q", line)
		}
		if fr.File.Name == forged && !strings.Contains(line, `"x.DAT\nRXX GO_412`) {
			t.Errorf("the name is not shown quoted and escaped: %q", line)
		}
	}
	// An ordinary name is shown as it is.
	ok := SummariseReport(internalv1.FileReport{Tenant: "RXX", File: internalv1.FileInfo{Name: "GO_412_EXP_GOC_20240402_00000002.DAT"},
		Status: internalv1.FileStatusAccepted, EventsEmitted: map[string]int64{"leaver-confirmed": 2}})
	if want := "RXX GO_412_EXP_GOC_20240402_00000002.DAT: 0 rows"; !strings.HasPrefix(ok, want) {
		t.Errorf("ordinary line %q, want prefix %q", ok, want)
	}
	dup := SummariseReport(internalv1.FileReport{Tenant: "RXX", File: internalv1.FileInfo{Name: "GO_412_EXP_GOC_20240402_00000003.DAT"},
		Status: internalv1.FileStatusDuplicate, DuplicateOf: &internalv1.DuplicateOf{Name: "GO_412_EXP_GOC_20240402_00000002.DAT"}})
	if want := "RXX GO_412_EXP_GOC_20240402_00000003.DAT: DUPLICATE of GO_412_EXP_GOC_20240402_00000002.DAT: nothing new"; dup != want {
		t.Errorf("duplicate line %q, want %q", dup, want)
	}
}
