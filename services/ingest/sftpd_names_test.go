package ingest

import (
	"testing"

	"github.com/esrflow/esrflow/services/ingest/sftpd"
)

// The built-in SFTP server writes an upload under sftpd.TempName until the
// client closes it: ingest must skip that name silently, or it could read
// half an upload.
func TestSFTPTempNamesAreInProgress(t *testing.T) {
	for _, name := range []string{"GO_412_20240102_00000002.DAT", "staff.csv", "x"} {
		tmp := sftpd.TempName(name)
		if !inProgress(tmp) {
			t.Errorf("%s: ingest would read the upload in progress %s", name, tmp)
		}
	}
}
