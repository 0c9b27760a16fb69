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
	"time"

	"go.uber.org/zap"

	"github.com/esrflow/esrflow/esr/format"
	"github.com/esrflow/esrflow/platform/logx"
)

// inProgressSuffixes are the names SFTP and copy tools give a file while they
// write it; such files are never read.
var inProgressSuffixes = []string{".part", ".tmp", ".filepart"}

// skipName reports whether a drop-folder entry is never a delivered file:
// dotfiles and in-progress names.
func skipName(name string) bool {
	if strings.HasPrefix(name, ".") {
		return true
	}
	lower := strings.ToLower(name)
	for _, s := range inProgressSuffixes {
		if strings.HasSuffix(lower, s) {
			return true
		}
	}
	return false
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
func listTenant(dir string) ([]candidate, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var out []candidate
	for _, e := range ents {
		if skipName(e.Name()) || !e.Type().IsRegular() {
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
	ents, err := os.ReadDir(s.cfg.Drop)
	if err != nil {
		s.log.Warn("reading drop folder", zap.String("drop", s.cfg.Drop), zap.Error(err))
		return nil
	}
	for _, e := range ents {
		if !e.IsDir() || strings.HasPrefix(e.Name(), ".") {
			continue
		}
		folder := e.Name()
		files, err := listTenant(filepath.Join(s.cfg.Drop, folder))
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
