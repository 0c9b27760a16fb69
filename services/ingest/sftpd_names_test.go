package ingest

import (
	"testing"

	"github.com/esrflow/esrflow/services/ingest/sftpd"
)

// The built-in SFTP server writes an upload under sftpd.TempName until the
// client closes it: ingest must skip that name silently, or it could read
// half an upload, and must know the final name of an ESR file's upload, so
// that the upload holds back the later files of its feed.
func TestSFTPTempNamesAreInProgress(t *testing.T) {
	for _, name := range []string{"GO_412_EXP_GOF_20240401_00000001.DAT", "staff.csv", "x"} {
		tmp := sftpd.TempName(name)
		if !inProgress(tmp) {
			t.Errorf("%s: ingest would read the upload in progress %s", name, tmp)
		}
	}
	esrName := "GO_412_EXP_GOC_20240402_00000002.DAT"
	if final, ok := finalName(sftpd.TempName(esrName)); !ok || final != esrName {
		t.Errorf("finalName(%s) = %q, %v; want %s", sftpd.TempName(esrName), final, ok, esrName)
	}
}
