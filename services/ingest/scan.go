package ingest

import (
	"cmp"
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"go.uber.org/zap"

	"github.com/esrflow/esrflow/esr/format"
	"github.com/esrflow/esrflow/platform/logx"
)

// inProgressSuffixes are the names SFTP and copy tools give a file while they
// write it; such files are never read.
var inProgressSuffixes = []string{".part", ".tmp", ".filepart"}

// inProgress reports whether name is what an upload is called while it is
// written (.part, .tmp, .filepart; esrflow ingest's .<name>.part too).
func inProgress(name string) bool {
	lower := strings.ToLower(name)
	for _, s := range inProgressSuffixes {
		if strings.HasSuffix(lower, s) {
			return true
		}
	}
	return false
}

// Kinds of drop-folder entries that are never ingested, the kind label of
// esrflow_ingest_ignored_entries_total.
const (
	ignoredSymlink   = "symlink"    // never followed, in or out of the drop
	ignoredFIFO      = "fifo"       // a named pipe: reading it would block
	ignoredDirectory = "directory"  // a folder inside a tenant folder
	ignoredDotName   = "dot-name"   // a name starting with '.', not an upload in progress
	ignoredSpecial   = "special"    // a socket or a device
	ignoredLoose     = "loose-file" // a file directly in the drop folder, outside any tenant folder
)

// ignoredKind returns why a drop-folder entry is never ingested, or "" when
// it is a tenant folder (top level) or a delivered file (in a tenant
// folder). Uploads in progress return skip without a kind: they are
// expected and not reported.
func ignoredKind(e fs.DirEntry, topLevel bool) (kind string, skip bool) {
	name, typ := e.Name(), e.Type()
	switch {
	case !topLevel && inProgress(name):
		return "", true
	case strings.HasPrefix(name, "."):
		return ignoredDotName, true
	case typ&fs.ModeSymlink != 0:
		return ignoredSymlink, true
	case typ&fs.ModeNamedPipe != 0:
		return ignoredFIFO, true
	case typ.IsDir():
		if topLevel {
			return "", false
		}
		return ignoredDirectory, true
	case !typ.IsRegular():
		return ignoredSpecial, true
	case topLevel:
		return ignoredLoose, true
	}
	return "", false
}

// reportIgnored logs and counts an ignored entry the first time a scan
// meets it; later scans stay quiet while it stays. One that goes away and
// comes back is reported again.
func (s *Service) reportIgnored(folder, name, kind string) {
	key := kind + "\x00" + folder + "/" + name
	_, seen := s.ignored[key]
	s.ignored[key] = s.scans
	if seen {
		return
	}
	s.metrics.ignored.WithLabelValues(folder, kind).Inc()
	s.log.Warn("drop folder entry ignored: "+ignoredWhy[kind], logx.Tenant(folder), logx.File(name), zap.String("kind", kind))
}

var ignoredWhy = map[string]string{
	ignoredSymlink:   "a symlink is never followed; deliver the file itself",
	ignoredFIFO:      "a named pipe is never read",
	ignoredDirectory: "folders inside a tenant folder are not read",
	ignoredDotName:   "names starting with '.' are never read; rename it when it is complete",
	ignoredSpecial:   "not a regular file",
	ignoredLoose:     "files directly in the drop folder belong to no tenant; move it into <drop>/<TENANT>/",
}

// pruneIgnored forgets entries not met in this scan.
func (s *Service) pruneIgnored() {
	for k, scan := range s.ignored {
		if scan != s.scans {
			delete(s.ignored, k)
		}
	}
}

// errNotRegular: the entry is not, or is no longer, a regular file of the
// drop folder.
var errNotRegular = errors.New("not a regular file of the drop folder (a symlink, or replaced while opened)")

// openDelivered opens a delivered file for reading without ever leaving the
// drop folder: the path is resolved inside it (os.Root: a folder swapped for
// a symlink that points out is refused), the entry itself must be a regular
// file, not a symlink, and what was opened must be that same file. The open
// does not block, so a named pipe swapped in cannot hang the scan.
func openDelivered(drop, path string) (*os.File, error) {
	rel, err := filepath.Rel(drop, path)
	if err != nil {
		return nil, err
	}
	root, err := os.OpenRoot(drop)
	if err != nil {
		return nil, err
	}
	defer root.Close()
	li, err := root.Lstat(rel)
	if err != nil {
		return nil, err
	}
	if !li.Mode().IsRegular() {
		return nil, errNotRegular
	}
	f, err := root.OpenFile(rel, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return nil, err
	}
	fi, err := f.Stat()
	if err != nil || !fi.Mode().IsRegular() || !os.SameFile(li, fi) {
		_ = f.Close()
		if err == nil {
			err = errNotRegular
		}
		return nil, err
	}
	return f, nil
}

// watcher decides when a file is complete: its size and modification time
// have not changed for the settle period, measured on the monotonic clock.
type watcher struct {
	settle time.Duration
	seen   map[string]observation
}

type observation struct {
	size  int64
	mod   time.Time
	since time.Time // when this size and mtime were first seen
	scan  uint64
}

func newWatcher(settle time.Duration) *watcher {
	return &watcher{settle: settle, seen: map[string]observation{}}
}

// complete records fi for path in scan number scan and reports whether it
// has been stable for the settle period.
func (w *watcher) complete(path string, fi fs.FileInfo, scan uint64, now time.Time) bool {
	o, ok := w.seen[path]
	if !ok || o.size != fi.Size() || !o.mod.Equal(fi.ModTime()) {
		w.seen[path] = observation{size: fi.Size(), mod: fi.ModTime(), since: now, scan: scan}
		return false
	}
	o.scan = scan
	w.seen[path] = o
	return now.Sub(o.since) >= w.settle
}

func (w *watcher) forget(path string) { delete(w.seen, path) }

// prune drops paths not seen in scan.
func (w *watcher) prune(scan uint64) {
	for p, o := range w.seen {
		if o.scan != scan {
			delete(w.seen, p)
		}
	}
}

// candidate is a delivered file in a tenant folder.
type candidate struct {
	path string
	name string
	seq  int64
	info fs.FileInfo
}

// listTenant returns the delivered files of one tenant folder in processing
// order: file sequence from the name, then name. Names that are not ESR names
// sort first (sequence 0) and are rejected straight away.
func (s *Service) listTenant(folder string) ([]candidate, error) {
	ents, err := readDirIn(s.cfg.Drop, folder)
	if err != nil {
		return nil, err
	}
	dir := filepath.Join(s.cfg.Drop, folder)
	var out []candidate
	for _, e := range ents {
		if kind, skip := ignoredKind(e, false); skip {
			if kind != "" {
				s.reportIgnored(folder, e.Name(), kind)
			}
			continue
		}
		fi, err := e.Info()
		if err != nil {
			continue // vanished between ReadDir and Info
		}
		c := candidate{path: filepath.Join(dir, e.Name()), name: e.Name(), info: fi}
		if fn, err := format.ParseFileName(e.Name()); err == nil {
			c.seq = fn.Sequence
		}
		out = append(out, c)
	}
	slices.SortFunc(out, func(a, b candidate) int {
		return cmp.Or(cmp.Compare(a.seq, b.seq), strings.Compare(a.name, b.name))
	})
	return out, nil
}

// readDirIn lists folder, a tenant folder inside drop, resolved without
// leaving drop (a tenant folder swapped for a symlink pointing out fails).
func readDirIn(drop, folder string) ([]fs.DirEntry, error) {
	root, err := os.OpenRoot(drop)
	if err != nil {
		return nil, err
	}
	defer root.Close()
	d, err := root.Open(folder)
	if err != nil {
		return nil, err
	}
	defer d.Close()
	ents, err := d.ReadDir(-1)
	slices.SortFunc(ents, func(a, b fs.DirEntry) int { return strings.Compare(a.Name(), b.Name()) })
	return ents, err
}

// prepareDrop creates the drop folder and a folder per configured tenant.
func (s *Service) prepareDrop() error {
	for _, code := range s.cfg.Tenants.Codes() {
		if err := os.MkdirAll(filepath.Join(s.cfg.Drop, code), 0o750); err != nil {
			return err
		}
	}
	return os.MkdirAll(s.cfg.Drop, 0o750)
}

// scan makes one pass over the drop folder. Each tenant's complete files are
// handled in order; a file not yet complete holds back the tenant's later
// files, so sequences are seen in order. A file that cannot be read is
// skipped for this pass; an error is returned only when a file's outcome in
// Kafka is unknown.
func (s *Service) scan(ctx context.Context, c *conn) error {
	s.scans++
	defer s.watcher.prune(s.scans)
	defer s.pruneIgnored()
	ents, err := os.ReadDir(s.cfg.Drop)
	if err != nil {
		s.log.Warn("reading drop folder", zap.String("drop", s.cfg.Drop), zap.Error(err))
		return nil
	}
	for _, e := range ents {
		if kind, skip := ignoredKind(e, true); skip {
			s.reportIgnored("", e.Name(), kind)
			continue
		}
		folder := e.Name()
		files, err := s.listTenant(folder)
		if err != nil {
			s.log.Warn("reading tenant folder", logx.Tenant(folder), zap.Error(err))
			continue
		}
		for _, f := range files {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			if !s.watcher.complete(f.path, f.info, s.scans, time.Now()) {
				break
			}
			err := s.handle(ctx, c, folder, f)
			var fatal *fatalError
			if errors.As(err, &fatal) {
				return err
			}
			if err != nil {
				// Not read this time (vanished, permissions, changed
				// while read): leave it and the tenant's later files for
				// the next pass.
				s.log.Warn("file not ingested; will retry", logx.Tenant(folder), logx.File(f.name), zap.Error(err))
				s.watcher.forget(f.path)
				break
			}
			s.watcher.forget(f.path)
		}
	}
	return nil
}

// fatalError marks a failure that leaves a file's outcome in Kafka unknown.
type fatalError struct{ err error }

func (e *fatalError) Error() string { return e.err.Error() }
func (e *fatalError) Unwrap() error { return e.err }

func fatal(err error) error {
	if err == nil {
		return nil
	}
	return &fatalError{err}
}
