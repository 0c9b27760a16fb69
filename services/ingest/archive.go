package ingest

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"syscall"
)

// pending is a handled file whose archiving failed; the next pass retries
// only the archiving.
type pending struct {
	tenant string
	sha    string
}

// archivePath is where an original is kept: <archive>/<TENANT>/<sha256>.
func (s *Service) archivePath(tenant, sha string) string {
	return filepath.Join(s.cfg.Archive, tenant, sha)
}

func (s *Service) archived(tenant, sha string) bool {
	_, err := os.Stat(s.archivePath(tenant, sha))
	return err == nil
}

// archive moves a handled file to the archive under its content hash and
// removes it from the drop folder. The archive is content-addressed, so an
// existing copy is the same bytes and the drop copy is simply removed.
func (s *Service) archive(tenant, sha, src string) error {
	if src == s.archivePath(tenant, sha) {
		return nil // a held file, read from the archive: already there
	}
	if err := s.moveToArchive(tenant, sha, src); err != nil {
		s.pendingArchive[src] = pending{tenant: tenant, sha: sha}
		return fmt.Errorf("archiving: %w", err)
	}
	delete(s.pendingArchive, src)
	return nil
}

func (s *Service) moveToArchive(tenant, sha, src string) error {
	dir := filepath.Join(s.cfg.Archive, tenant)
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return err
	}
	dst := filepath.Join(dir, sha)
	// The archive time is the file's mtime: the retention sweep ages
	// originals by it. A rename keeps the upload's mtime, so it is set
	// here; the same bytes delivered again restart the copy's retention.
	now := s.cfg.Now()
	if _, err := os.Lstat(dst); err == nil {
		if err := os.Chtimes(dst, now, now); err != nil {
			return err
		}
		return os.Remove(src)
	}
	err := os.Rename(src, dst)
	if errors.Is(err, syscall.EXDEV) {
		err = copyThenRemove(s.cfg.Drop, src, dst)
	}
	if err != nil {
		return err
	}
	if err := os.Chtimes(dst, now, now); err != nil {
		return err
	}
	return syncDir(dir)
}

// copyThenRemove archives across file systems: copy to a temporary name,
// fsync, rename into place, then remove the original (opened inside the
// drop folder only, see openDelivered).
func copyThenRemove(drop, src, dst string) error {
	in, err := openDelivered(drop, src)
	if err != nil {
		return err
	}
	defer in.Close()
	tmp := dst + ".tmp"
	out, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o640)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		os.Remove(tmp)
		return err
	}
	if err := out.Sync(); err != nil {
		out.Close()
		os.Remove(tmp)
		return err
	}
	if err := out.Close(); err != nil {
		os.Remove(tmp)
		return err
	}
	if err := os.Rename(tmp, dst); err != nil {
		return err
	}
	return os.Remove(src)
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	if err := d.Sync(); err != nil && !errors.Is(err, syscall.EINVAL) {
		return err
	}
	return nil
}
