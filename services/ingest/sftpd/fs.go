package sftpd

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"github.com/esrflow/esrflow/esr/format"
	"io"
	"io/fs"
	"os"
	"path"
	"strings"
	"sync"
	"time"

	"github.com/pkg/sftp"
	"go.uber.org/zap"
)

// An account sees a small virtual tree, resolved here and never by the
// operating system:
//
//	/inbound   its tenant's drop folder (<drop>/<TENANT>): write new files
//	/outbound  its tenant's outbound folder: read (refresh requests)
//
// Every path is cleaned against "/" first, so ".." cannot climb out of
// the tree, and any path that is not one of the two folders or a plain
// name directly inside one is refused. The folders are opened as os.Root,
// which refuses to follow a symlink out of the folder even if one is
// planted there by something else; on top of that symlinks are never
// created, read or followed.
const (
	dirInbound  = "inbound"
	dirOutbound = "outbound"
)

// Refusal reasons, the reason label of esrflow_sftp_refusals_total.
const (
	refuseOutside     = "outside"     // a path outside /inbound and /outbound
	refuseSubfolder   = "subfolder"   // a path below a file name
	refuseReadOnly    = "read-only"   // writing to /outbound or /
	refuseWriteOnly   = "write-only"  // reading a delivered file back from /inbound
	refuseName        = "name"        // a dot name (ingest would never read it)
	refuseExists      = "exists"      // a file of that name awaits ingest
	refuseSymlink     = "symlink"     // creating, reading or following a symlink
	refuseUnsupported = "unsupported" // mkdir, rmdir, links, removing a delivered file
	refuseIncomplete  = "incomplete"  // the connection ended before the upload closed
)

// tempPrefix and tempSuffix frame an upload's name while it is written:
// ".<name>.<random>.part". Ingest ignores dot names and .part names (its
// inProgress rule), so it never sees a half-written upload.
const (
	tempPrefix = "."
	tempSuffix = ".part"
)

// TempName is the name an upload of name is written under: a dot name
// ending .part with a random middle, so two uploads of one name never
// share a file.
func TempName(name string) string {
	rnd := make([]byte, 6)
	_, _ = rand.Read(rnd)
	return tempPrefix + name + "." + hex.EncodeToString(rnd) + tempSuffix
}

// inProgressSuffixes are the names a client gives a file it will rename
// when done (WinSCP's .filepart, others' .part and .tmp); ingest ignores
// the same suffixes. Only such a file may be renamed or removed.
var inProgressSuffixes = []string{".part", ".tmp", ".filepart"}

func inProgress(name string) bool {
	lower := strings.ToLower(name)
	for _, s := range inProgressSuffixes {
		if strings.HasSuffix(lower, s) {
			return true
		}
	}
	return false
}

// refusal is an operation the account may not do: logged, counted, and
// answered "permission denied" (the client learns nothing about the
// server's folders).
type refusal struct{ reason string }

func (r refusal) Error() string { return "refused: " + r.reason }

// session is one logged-in account's view of the filesystem.
type session struct {
	srv      *Server
	user     string
	tenant   string
	inbound  *os.Root
	outbound *os.Root
}

// target is a resolved path: area is "" for "/", or dirInbound or
// dirOutbound; name is "" for the folder itself.
type target struct{ area, name string }

func (s *session) resolve(p string) (target, error) {
	clean := path.Clean("/" + p)
	if clean == "/" {
		return target{}, nil
	}
	parts := strings.Split(strings.TrimPrefix(clean, "/"), "/")
	switch {
	case parts[0] != dirInbound && parts[0] != dirOutbound:
		return target{}, refusal{refuseOutside}
	case len(parts) > 2:
		return target{}, refusal{refuseSubfolder}
	case len(parts) == 1:
		return target{area: parts[0]}, nil
	}
	return target{area: parts[0], name: parts[1]}, nil
}

func (s *session) root(area string) *os.Root {
	if area == dirInbound {
		return s.inbound
	}
	return s.outbound
}

// refuse logs and counts a refusal and returns what the client is told.
func (s *session) refuse(op, p string, err error) error {
	var r refusal
	if !errors.As(err, &r) {
		if errors.Is(err, fs.ErrNotExist) {
			return sftp.ErrSSHFxNoSuchFile
		}
		s.srv.log.Warn("sftp operation failed", zap.String("tenant", s.tenant), zap.String("user", s.user),
			zap.String("op", op), logName("path", p), zap.Error(err))
		return sftp.ErrSSHFxFailure
	}
	s.srv.metrics.refusals.WithLabelValues(s.tenant, r.reason).Inc()
	s.srv.log.Warn("sftp refused", zap.String("tenant", s.tenant), zap.String("user", s.user),
		zap.String("op", op), logName("path", p), zap.String("reason", r.reason))
	return sftp.ErrSSHFxPermissionDenied
}

// lstatPlain returns a file's info, refusing symlinks and anything that
// is not a regular file.
func lstatPlain(root *os.Root, name string) (fs.FileInfo, error) {
	fi, err := root.Lstat(name)
	if err != nil {
		return nil, err
	}
	if fi.Mode()&fs.ModeSymlink != 0 {
		return nil, refusal{refuseSymlink}
	}
	return fi, nil
}

// Fileread serves downloads, from /outbound only.
func (s *session) Fileread(r *sftp.Request) (io.ReaderAt, error) {
	t, err := s.resolve(r.Filepath)
	if err == nil {
		switch {
		case t.area == dirInbound && t.name != "":
			err = refusal{refuseWriteOnly}
		case t.area != dirOutbound || t.name == "":
			err = refusal{refuseOutside}
		}
	}
	if err != nil {
		return nil, s.refuse("read", r.Filepath, err)
	}
	fi, err := lstatPlain(s.outbound, t.name)
	if err == nil && !fi.Mode().IsRegular() {
		err = refusal{refuseUnsupported}
	}
	if err != nil {
		return nil, s.refuse("read", r.Filepath, err)
	}
	f, err := s.outbound.Open(t.name)
	if err != nil {
		return nil, s.refuse("read", r.Filepath, err)
	}
	return f, nil
}

// Filewrite starts an upload to /inbound under a temporary name.
func (s *session) Filewrite(r *sftp.Request) (io.WriterAt, error) {
	t, err := s.resolve(r.Filepath)
	if err == nil {
		err = s.checkNewName(t)
	}
	if err != nil {
		return nil, s.refuse("write", r.Filepath, err)
	}
	tmp := TempName(t.name)
	f, err := s.inbound.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o640)
	if err != nil {
		return nil, s.refuse("write", r.Filepath, err)
	}
	return &upload{s: s, f: f, tmp: tmp, name: t.name, start: time.Now()}, nil
}

// checkNewName accepts a plain, visible name in /inbound that is not taken.
func (s *session) checkNewName(t target) error {
	switch {
	case t.area != dirInbound:
		return refusal{refuseReadOnly}
	case t.name == "":
		return refusal{refuseReadOnly}
	case strings.HasPrefix(t.name, "."):
		return refusal{refuseName}
	}
	if _, err := s.inbound.Lstat(t.name); err == nil {
		return refusal{refuseExists}
	} else if !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	return nil
}

// upload is an open upload: written to its temporary name, renamed to its
// name when the client closes the handle, removed if the connection ends
// first. Ingest therefore only ever sees whole uploads.
type upload struct {
	s     *session
	f     *os.File
	tmp   string
	name  string
	start time.Time

	mu     sync.Mutex
	size   int64
	failed error
}

func (u *upload) WriteAt(p []byte, off int64) (int, error) {
	n, err := u.f.WriteAt(p, off)
	u.mu.Lock()
	if end := off + int64(n); end > u.size {
		u.size = end
	}
	u.mu.Unlock()
	return n, err
}

// TransferError is pkg/sftp telling us the connection ended with the file
// open: Close then discards it.
func (u *upload) TransferError(err error) {
	u.mu.Lock()
	u.failed = err
	u.mu.Unlock()
}

func (u *upload) Close() error {
	u.mu.Lock()
	failed, size := u.failed, u.size
	u.mu.Unlock()
	err := u.f.Sync()
	if cerr := u.f.Close(); err == nil {
		err = cerr
	}
	if failed == nil && err == nil {
		// Taken meanwhile by another upload of the same name: the first
		// to close wins, the other is refused rather than replacing a
		// file ingest may be reading.
		if _, serr := u.s.inbound.Lstat(u.name); serr == nil {
			err = refusal{refuseExists}
		} else {
			err = u.s.inbound.Rename(u.tmp, u.name)
		}
	}
	if failed != nil {
		err = refusal{refuseIncomplete}
	}
	if err != nil {
		_ = u.s.inbound.Remove(u.tmp)
		return u.s.refuse("upload", u.name, err)
	}
	s := u.s
	s.srv.metrics.uploads.WithLabelValues(s.tenant).Inc()
	s.srv.metrics.uploadBytes.WithLabelValues(s.tenant).Add(float64(size))
	s.srv.log.Info("sftp upload", zap.String("tenant", s.tenant), zap.String("user", s.user),
		logName("file", u.name), zap.Int64("bytes", size), zap.Duration("took", time.Since(u.start)))
	return nil
}

// Filecmd: renames of a client's in-progress name, removing such a file,
// and setstat (accepted and ignored: permissions and times are the
// server's). Everything else is refused.
func (s *session) Filecmd(r *sftp.Request) error {
	t, err := s.resolve(r.Filepath)
	if err != nil {
		return s.refuse(strings.ToLower(r.Method), r.Filepath, err)
	}
	switch r.Method {
	case "Setstat":
		return nil
	case "Rename":
		return s.rename(r, t)
	case "Remove":
		if t.area != dirInbound || t.name == "" || !inProgress(t.name) || strings.HasPrefix(t.name, ".") {
			return s.refuse("remove", r.Filepath, refusal{refuseUnsupported})
		}
		if _, err := lstatPlain(s.inbound, t.name); err != nil {
			return s.refuse("remove", r.Filepath, err)
		}
		if err := s.inbound.Remove(t.name); err != nil {
			return s.refuse("remove", r.Filepath, err)
		}
		return nil
	case "Symlink", "Link":
		return s.refuse(strings.ToLower(r.Method), r.Filepath, refusal{refuseSymlink})
	}
	return s.refuse(strings.ToLower(r.Method), r.Filepath, refusal{refuseUnsupported})
}

// PosixRename is Rename (refusing to replace a file either way).
func (s *session) PosixRename(r *sftp.Request) error { return s.Filecmd(r) }

func (s *session) rename(r *sftp.Request, from target) error {
	to, err := s.resolve(r.Target)
	if err == nil && (from.area != dirInbound || from.name == "" || !inProgress(from.name) || strings.HasPrefix(from.name, ".")) {
		err = refusal{refuseUnsupported}
	}
	if err == nil {
		err = s.checkNewName(to)
	}
	if err == nil {
		_, err = lstatPlain(s.inbound, from.name)
	}
	if err == nil {
		err = s.inbound.Rename(from.name, to.name)
	}
	if err != nil {
		return s.refuse("rename", r.Filepath, err)
	}
	if !inProgress(to.name) {
		s.srv.metrics.uploads.WithLabelValues(s.tenant).Inc()
		s.srv.log.Info("sftp upload", zap.String("tenant", s.tenant), zap.String("user", s.user),
			logName("file", to.name), logName("renamed_from", from.name))
	}
	return nil
}

// Filelist lists and stats within the tree.
func (s *session) Filelist(r *sftp.Request) (sftp.ListerAt, error) {
	t, err := s.resolve(r.Filepath)
	if err != nil {
		return nil, s.refuse(strings.ToLower(r.Method), r.Filepath, err)
	}
	switch r.Method {
	case "List":
		if t.name != "" {
			return nil, s.refuse("list", r.Filepath, refusal{refuseSubfolder})
		}
		if t.area == "" {
			return lister{dirInfo(dirInbound), dirInfo(dirOutbound)}, nil
		}
		infos, err := s.list(s.root(t.area))
		if err != nil {
			return nil, s.refuse("list", r.Filepath, err)
		}
		return lister(infos), nil
	case "Stat":
		if t.name == "" {
			name := t.area
			if name == "" {
				name = "/"
			}
			return lister{dirInfo(name)}, nil
		}
		fi, err := lstatPlain(s.root(t.area), t.name)
		if err != nil {
			return nil, s.refuse("stat", r.Filepath, err)
		}
		return lister{fi}, nil
	}
	return nil, s.refuse(strings.ToLower(r.Method), r.Filepath, refusal{refuseSymlink})
}

// Lstat is Stat: symlinks are refused, not described.
func (s *session) Lstat(r *sftp.Request) (sftp.ListerAt, error) {
	r.Method = "Stat"
	return s.Filelist(r)
}

// Readlink is always refused: there are no links to read.
func (s *session) Readlink(p string) (string, error) {
	return "", s.refuse("readlink", p, refusal{refuseSymlink})
}

// list returns a folder's visible files: no dot names (uploads in
// progress), no symlinks, no sub-folders.
func (s *session) list(root *os.Root) ([]fs.FileInfo, error) {
	d, err := root.Open(".")
	if err != nil {
		return nil, err
	}
	defer d.Close()
	entries, err := d.ReadDir(-1)
	if err != nil {
		return nil, err
	}
	var out []fs.FileInfo
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), ".") || !e.Type().IsRegular() {
			continue
		}
		if fi, err := e.Info(); err == nil {
			out = append(out, fi)
		}
	}
	return out, nil
}

type lister []fs.FileInfo

func (l lister) ListAt(ls []fs.FileInfo, off int64) (int, error) {
	if off >= int64(len(l)) {
		return 0, io.EOF
	}
	n := copy(ls, l[off:])
	if n < len(ls) {
		return n, io.EOF
	}
	return n, nil
}

// dirInfo describes a folder of the virtual tree.
type dirInfo string

func (d dirInfo) Name() string       { return string(d) }
func (d dirInfo) Size() int64        { return 0 }
func (d dirInfo) Mode() fs.FileMode  { return fs.ModeDir | 0o750 }
func (d dirInfo) ModTime() time.Time { return time.Time{} }
func (d dirInfo) IsDir() bool        { return true }
func (d dirInfo) Sys() any           { return nil }

// logName is a client-chosen path or file name as the log may hold it. A
// client picks these names freely, so they may carry anything, personal
// data included: an ESR file name (whose grammar holds none) is logged as
// it is, any other only as its length and a SHA-256 prefix, enough to tell
// names apart and to match one an operator has in hand.
func logName(key, name string) zap.Field {
	if _, err := format.ParseFileName(path.Base(name)); err == nil && len(name) <= 255 && strings.IndexFunc(name, func(r rune) bool { return r < 0x20 || r >= 0x7f }) < 0 {
		return zap.String(key, name)
	}
	sum := sha256.Sum256([]byte(name))
	return zap.String(key, fmt.Sprintf("(a name of %d bytes, sha256 %s…)", len(name), hex.EncodeToString(sum[:6])))
}
