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

// candidate is a delivered file in a tenant folder, or (part) the
// in-progress name of one still being uploaded.
type candidate struct {
	path string
	name string
	seq  int64
	info fs.FileInfo
	// esr: the name is an ESR GO name; feed is then its VPD, interface
	// (sub-file) and dialect, the chain its sequence numbers count, and
	// full says it is a full file (GOF).
	esr     bool
	feed    string
	full    bool
	dialect format.Dialect
	// part: an upload in progress (.part, .tmp, .filepart, or a dot name)
	// whose final name (final) is an ESR name. Never read; it holds back
	// the later files of its feed, until it has not changed for
	// IncompleteAfter (an upload abandoned long ago).
	part  bool
	final string
	// run orders a tenant's CSV staff lists (no sequence) by the run
	// date their names give, ISO; "" for every other name.
	run string
}

// describeName fills in what c's name says of its feed and order.
func (c *candidate) describeName(name string) {
	fn, err := format.ParseFileName(name)
	if err != nil {
		return
	}
	c.esr, c.seq, c.dialect = true, fn.Sequence, fn.Dialect
	c.full = fn.Kind == format.ExtractFull
	c.feed = fn.VPD + "/" + fn.SubFile + "/" + string(fn.Dialect)
}

// finalName is the name an upload in progress will get: without a leading
// dot and an in-progress suffix, or (rsync's .<name>.<random>) without its
// last extension. ok is false when that is no ESR name.
func finalName(name string) (string, bool) {
	return finalNameIf(name, func(n string) bool {
		_, err := format.ParseFileName(n)
		return err == nil
	})
}

// finalNameIf is finalName for the names is accepts.
func finalNameIf(name string, is func(string) bool) (string, bool) {
	base := strings.TrimPrefix(name, ".")
	lower := strings.ToLower(base)
	for _, s := range inProgressSuffixes {
		if strings.HasSuffix(lower, s) {
			base = base[:len(base)-len(s)]
			break
		}
	}
	if is(base) {
		return base, true
	}
	if i := strings.LastIndexByte(base, '.'); i > 0 && strings.HasPrefix(name, ".") && is(base[:i]) {
		return base[:i], true
	}
	return "", false
}

// describeCSV fills in what c's name says when it is one of the tenant's
// CSV lists: its feed and run date.
func (s *Service) describeCSV(folder string, c *candidate, name string) bool {
	t, ok := s.cfg.Tenants.Get(folder)
	if !ok || c.esr {
		return false
	}
	m, ok, err := t.MatchCSV(name)
	if !ok || err != nil {
		return false
	}
	c.run, c.feed = m.RunDate.Format(time.DateOnly), "csv/"+m.List.Name
	return true
}

// feedOrder is the order a tenant's files are read in: by sequence number,
// a full file before a change file of the same sequence, then by name (an
// upload's final name), a delivered file before an upload in progress of
// the same name (a leftover part does not hold back its own file).
// A tenant's CSV staff lists (no sequence) come next, by run date.
// Names that are not ESR names sort first (sequence 0) and are rejected
// straight away.
func feedOrder(a, b candidate) int {
	return cmp.Or(cmp.Compare(a.seq, b.seq), -compareBool(a.full, b.full), strings.Compare(a.run, b.run),
		strings.Compare(a.orderName(), b.orderName()), compareBool(a.part, b.part), strings.Compare(a.name, b.name))
}

// inFeed says whether the file is read in its feed's order: an ESR file,
// or one of the tenant's CSV lists (run date order).
func (c candidate) inFeed() bool { return c.esr || c.run != "" }

func (c candidate) orderName() string {
	if c.part {
		return c.final
	}
	return c.name
}

func compareBool(a, b bool) int {
	switch {
	case a == b:
		return 0
	case a:
		return 1
	}
	return -1
}

// listTenant returns the files of one tenant folder in feed order
// (feedOrder), with the uploads in progress that have ESR final names as
// parts.
func (s *Service) listTenant(folder string) ([]candidate, error) {
	// The folder's time before it is read: if it is empty and that time is
	// old enough, later scans can tell it is still empty from it alone.
	before, statErr := os.Lstat(filepath.Join(s.cfg.Drop, folder))
	ents, err := readDirIn(s.cfg.Drop, folder)
	if err != nil {
		return nil, err
	}
	delete(s.quiet, folder)
	if len(ents) == 0 && statErr == nil && before.IsDir() && time.Since(before.ModTime()) > quietAfter {
		s.quiet[folder] = quietFolder{modified: before.ModTime(), listed: time.Now()}
	}
	dir := filepath.Join(s.cfg.Drop, folder)
	var out []candidate
	for _, e := range ents {
		if kind, skip := ignoredKind(e, false); skip {
			if kind != "" {
				s.reportIgnored(folder, e.Name(), kind)
			}
			if kind == "" || kind == ignoredDotName {
				final, ok := finalName(e.Name())
				if !ok {
					// (An upload of one of the tenant's CSV lists.)
					final, ok = finalNameIf(e.Name(), func(n string) bool { return s.describeCSV(folder, &candidate{}, n) })
				}
				fi, err := e.Info()
				if ok && err == nil {
					c := candidate{path: filepath.Join(dir, e.Name()), name: e.Name(), info: fi, part: true, final: final}
					c.describeName(final)
					s.describeCSV(folder, &c, final)
					s.watcher.sawPart(filepath.Join(dir, final), s.scans)
					out = append(out, c)
				}
			}
			continue
		}
		fi, err := e.Info()
		if err != nil {
			continue // vanished between ReadDir and Info
		}
		c := candidate{path: filepath.Join(dir, e.Name()), name: e.Name(), info: fi}
		c.describeName(e.Name())
		s.describeCSV(folder, &c, e.Name())
		out = append(out, c)
	}
	slices.SortFunc(out, feedOrder)
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
// handled in feed order; a file not yet complete (or an upload in progress
// under a temporary name) holds back the later files of its feed, so a
// feed's files are read in sequence and a full file still being copied is
// read before the change files after it. Feeds and tenants are independent.
// A file that cannot be read is skipped for this pass; an error is returned
// only when a file's outcome in Kafka is unknown.
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
		if s.stillEmpty(e) {
			continue
		}
		if err := s.scanTenant(ctx, c, e.Name()); err != nil {
			return err
		}
	}
	return nil
}

// quietAfter is how old an empty tenant folder's modification time must
// be before scans trust it: a file created or renamed into the folder
// changes the time, but on a file system with coarse timestamps only once
// the clock has moved past the time's resolution (2 s on FAT; 1 s on some
// network file systems).
const quietAfter = 3 * time.Second

// relistAfter bounds how long an empty folder goes unread on the strength
// of its time alone: a file system whose clock or timestamps misled the
// check delays a file by this much at most, and never loses it.
const relistAfter = time.Minute

// quietFolder is an empty tenant folder's modification time when it was
// last read, and when that was.
type quietFolder struct{ modified, listed time.Time }

// stillEmpty reports whether a tenant folder that the last listing found
// empty, with a modification time old enough to trust, has the same time
// now: nothing has been added, so it is not read again. With 200 tenants
// and a scan every half second, reading every folder was most of ingest's
// CPU at rest.
func (s *Service) stillEmpty(e fs.DirEntry) bool {
	was, ok := s.quiet[e.Name()]
	if !ok || !e.IsDir() || time.Since(was.listed) > relistAfter {
		return false
	}
	fi, err := e.Info()
	return err == nil && fi.ModTime().Equal(was.modified)
}

// scanTenant handles the complete files of one tenant folder.
func (s *Service) scanTenant(ctx context.Context, c *conn, folder string) error {
	files, err := s.listTenant(folder)
	if err != nil {
		s.log.Warn("reading tenant folder", logx.Tenant(folder), zap.Error(err))
		return nil
	}
	// waiting: feed -> the earliest file of it not read in this pass.
	waiting := map[string]string{}
	left := 0 // files not read in this pass
	defer func() { s.metrics.waiting.WithLabelValues(folder).Set(float64(left)) }()
	for _, f := range files {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		// Read the clock per file: handling a big file takes a while,
		// and a stale now would shorten the next file's settle period.
		now := time.Now()
		if f.part {
			if s.watcher.abandoned(f, s.scans, now) {
				if !s.watcher.markWaitLogged(f.path) {
					s.log.Warn("upload in progress unchanged for --incomplete-after; no longer holding back its feed",
						logx.Tenant(folder), logx.File(f.name), zap.Duration("incomplete_after", s.cfg.IncompleteAfter))
				}
				continue
			}
			left++
			if _, ok := waiting[f.feed]; !ok {
				waiting[f.feed] = f.name
			}
			continue
		}
		// Every file is observed each pass, waiting or not, so its
		// settle period runs while earlier files are still copied.
		r, err := s.watcher.readiness(f, s.scans, now, func() (bool, error) {
			return hasTrailer(s.cfg.Drop, f.path, f.dialect)
		})
		if err != nil {
			s.log.Warn("file not checked; will retry", logx.Tenant(folder), logx.File(f.name), zap.Error(err))
		}
		if earlier, ok := waiting[f.feed]; ok && f.inFeed() {
			left++
			if r != notComplete && !s.watcher.markWaitLogged(f.path) {
				s.log.Info("file waits for an earlier file of its feed still being delivered",
					logx.Tenant(folder), logx.File(f.name), zap.String("awaiting", earlier))
			}
			continue
		}
		if r == notComplete {
			left++
			if f.inFeed() {
				waiting[f.feed] = f.name
			}
			continue
		}
		if r == overdue {
			s.log.Warn("file has had no trailer for --incomplete-after; reading it as it is",
				logx.Tenant(folder), logx.File(f.name), zap.Duration("incomplete_after", s.cfg.IncompleteAfter))
		}
		err = s.handle(ctx, c, folder, f)
		var fatal *fatalError
		if errors.As(err, &fatal) {
			return err
		}
		s.watcher.forget(f.path)
		if err == nil {
			// The file may be the one held files were waiting for.
			if err := s.drainHeld(ctx, c); err != nil {
				return err
			}
		}
		if err != nil {
			// Not read this time (vanished, permissions, changed
			// while read): leave it and its feed's later files for
			// the next pass.
			s.log.Warn("file not ingested; will retry", logx.Tenant(folder), logx.File(f.name), zap.Error(err))
			left++
			if f.inFeed() {
				waiting[f.feed] = f.name
			}
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
