package ingest

import (
	"bytes"
	"io"
	"io/fs"
	"strings"
	"time"

	"github.com/esrflow/esrflow/esr/format"
)

// This file decides when a delivered file is complete enough to read. A
// half-written file must never be read: read early, a full file still being
// copied is rejected (no trailer) and the change files after it become the
// tenant's baseline.
//
// A file is complete when
//   - it was seen arrive by rename (an in-progress name, .part and the like,
//     replaced by the final name), or its size and modification time have
//     not changed for the settle period; and
//   - for an ESR GO file, its last non-blank line is the trailer (TRL in
//     GO v2, FTR in GO v1) with a record count. Only the file's tail is read
//     for this; whether the count matches is the parser's check when the
//     file is read (trailer-count), as it needs every line.
//
// An ESR file that never gets its trailer (a truncated delivery) is read
// once it has not changed for IncompleteAfter, so the parser rejects it
// (missing-trailer) instead of it being waited on forever.

// trailerTail is how much of a file's end is read to find its trailer: a
// trailer line is short, the rest allows for trailing blank lines.
const trailerTail = 8 << 10

// readiness of a file in one scan.
type readiness int

const (
	notComplete readiness = iota // still being written, or not settled
	complete                     // read it
	overdue                      // no trailer for IncompleteAfter: read it, the parser rejects it
)

// watcher remembers what each scan saw of each file. Durations are measured
// on the monotonic clock of the now passed in.
type watcher struct {
	settle          time.Duration
	incompleteAfter time.Duration
	seen            map[string]observation
	// parts: final paths whose in-progress name (.part ...) a scan saw,
	// with that scan's number. A final file appearing where its part was
	// has been renamed into place: complete without settling.
	parts map[string]uint64
}

type observation struct {
	size    int64
	mod     time.Time
	since   time.Time // when this size and mtime were first seen
	scan    uint64
	renamed bool // appeared by rename from an in-progress name
	// trailer: the tail was checked for this size and mtime (checked) and
	// ends with a trailer (hasTrailer).
	checked, hasTrailer bool
	waitLogged          bool // "waits for an earlier file" was logged
}

func newWatcher(settle, incompleteAfter time.Duration) *watcher {
	return &watcher{settle: settle, incompleteAfter: incompleteAfter, seen: map[string]observation{}, parts: map[string]uint64{}}
}

// sawPart records that scan saw path under an in-progress name.
func (w *watcher) sawPart(path string, scan uint64) { w.parts[path] = scan }

// observe records fi for path in scan number scan and returns the
// observation, with stable set when size and mtime have stayed the same for
// the settle period (or the file was renamed into place).
func (w *watcher) observe(path string, fi fs.FileInfo, scan uint64, now time.Time) (o observation, stable bool) {
	o, ok := w.seen[path]
	if !ok || o.size != fi.Size() || !o.mod.Equal(fi.ModTime()) {
		// Renamed into place: new here, and its in-progress name was seen
		// by an earlier scan but not by this one (sawPart would have
		// stamped this scan). A leftover part beside a file written in
		// place does not count.
		partScan, part := w.parts[path]
		o = observation{size: fi.Size(), mod: fi.ModTime(), since: now, renamed: !ok && part && partScan != scan}
	}
	o.scan = scan
	w.seen[path] = o
	return o, o.renamed || now.Sub(o.since) >= w.settle
}

// readiness decides whether f can be read in scan. trailer reads the
// file's tail; it is called once per size and mtime, and only when the file
// is otherwise stable, so a file is not reread every scan.
func (w *watcher) readiness(f candidate, scan uint64, now time.Time, trailer func() (bool, error)) (readiness, error) {
	o, stable := w.observe(f.path, f.info, scan, now)
	if !stable {
		return notComplete, nil
	}
	if !f.esr {
		// Not an ESR name: the parser rejects it (file-name) without
		// reading further, so there is no trailer to wait for.
		return complete, nil
	}
	if !o.checked {
		has, err := trailer()
		if err != nil {
			return notComplete, err
		}
		o.checked, o.hasTrailer = true, has
		w.seen[f.path] = o
	}
	switch {
	case o.hasTrailer:
		return complete, nil
	case now.Sub(o.since) >= w.incompleteAfter:
		return overdue, nil
	}
	return notComplete, nil
}

// abandoned reports whether the upload in progress part has not changed
// for IncompleteAfter: a client that gave up long ago must not hold back
// its feed forever.
func (w *watcher) abandoned(part candidate, scan uint64, now time.Time) bool {
	o, _ := w.observe(part.path, part.info, scan, now)
	return now.Sub(o.since) >= w.incompleteAfter
}

// markWaitLogged reports whether path's wait was logged already, and marks
// it logged.
func (w *watcher) markWaitLogged(path string) bool {
	o, ok := w.seen[path]
	if !ok {
		return true
	}
	was := o.waitLogged
	o.waitLogged = true
	w.seen[path] = o
	return was
}

func (w *watcher) forget(path string) { delete(w.seen, path) }

// settling is the earliest time at which a file seen in scan, and not yet
// stable, will have been unchanged for the settle period: the scan loop
// looks again then instead of a whole interval later, so a file is read
// one settle period after it is first seen rather than on the scan after.
// A file settled by now (waiting on its trailer or on an earlier file of
// its feed) does not count: looking again sooner cannot change its state.
func (w *watcher) settling(scan uint64, now time.Time) (time.Time, bool) {
	var first time.Time
	for _, o := range w.seen {
		if o.scan != scan || o.renamed {
			continue
		}
		at := o.since.Add(w.settle)
		if !at.After(now) {
			continue
		}
		if first.IsZero() || at.Before(first) {
			first = at
		}
	}
	return first, !first.IsZero()
}

// prune drops paths not seen in scan.
func (w *watcher) prune(scan uint64) {
	for p, o := range w.seen {
		if o.scan != scan {
			delete(w.seen, p)
		}
	}
	for p, s := range w.parts {
		if s != scan {
			delete(w.parts, p)
		}
	}
}

// hasTrailer reports whether the delivered file at path ends with the
// trailer of its dialect and a record count, reading only its tail.
func hasTrailer(drop, path string, dialect format.Dialect) (bool, error) {
	f, err := openDelivered(drop, path)
	if err != nil {
		return false, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return false, err
	}
	off := max(fi.Size()-trailerTail, 0)
	buf := make([]byte, fi.Size()-off)
	if _, err := f.ReadAt(buf, off); err != nil && err != io.EOF {
		return false, err
	}
	return endsWithTrailer(buf, dialect), nil
}

// endsWithTrailer reports whether the last non-blank line of tail is a
// trailer with a count: TRL~<n> (GO v2) or FTR<d><file name><d><n> (GO v1,
// <d> its delimiter). Both are ASCII, so the file's encoding (UTF-8 or
// Windows-1252) does not matter.
func endsWithTrailer(tail []byte, dialect format.Dialect) bool {
	tail = bytes.TrimRight(tail, " \t\r\n")
	if i := bytes.LastIndexByte(tail, '\n'); i >= 0 {
		tail = tail[i+1:]
	}
	line := strings.TrimSpace(string(tail))
	tag, countAt := "TRL", 1
	if dialect == format.DialectGOv1 {
		tag, countAt = "FTR", 2
	}
	if len(line) <= len(tag) || !strings.HasPrefix(line, tag) {
		return false
	}
	d := line[len(tag)]
	if d != '~' && d != ',' && d != '|' {
		return false
	}
	fields := strings.Split(line, string(d))
	if len(fields) <= countAt {
		return false
	}
	n := strings.TrimSpace(fields[countAt])
	if n == "" {
		return false
	}
	for _, c := range n {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}
