package sftpd

import (
	"strings"
	"testing"
)

// A client-chosen name reaches the log as it is only when it is an ESR
// file name; any other name is its length and a hash, never its text.
func TestLogNameKeepsOnlyESRNames(t *testing.T) {
	esr := "/inbound/GO_412_EXP_GOC_20261202_00000003.DAT"
	if f := logName("path", esr); f.String != esr {
		t.Errorf("ESR name logged as %q", f.String)
	}
	for _, name := range []string{"/inbound/Jane Doe AB123456C.csv", "payroll\\njane.doe@example.nhs.uk", "../../etc/passwd"} {
		f := logName("path", name)
		if strings.Contains(f.String, "Jane") || strings.Contains(f.String, "AB123456C") || strings.Contains(f.String, "jane") ||
			strings.Contains(f.String, "passwd") || !strings.Contains(f.String, "sha256") {
			t.Errorf("logName(%q) = %q", name, f.String)
		}
	}
}
