package ingest

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strconv"
	"strings"
	"time"

	"go.uber.org/zap"
)

// DefaultSweepInterval is how often archived originals are checked against
// the retention, after the sweep at start.
const DefaultSweepInterval = time.Hour

// Retention is how long archived originals are kept; 0 keeps them forever.
// As a flag it takes days ("30d") as well as Go durations ("720h"): a
// retention is a policy in days, and time.ParseDuration has no day unit.
type Retention time.Duration

// String prints whole days as "Nd", else the Go duration; 0 is "0".
func (r Retention) String() string {
	d := time.Duration(r)
	switch {
	case d == 0:
		return "0"
	case d%(24*time.Hour) == 0:
		return strconv.FormatInt(int64(d/(24*time.Hour)), 10) + "d"
	}
	return d.String()
}

// Set parses "30d", "720h" or "0".
func (r *Retention) Set(v string) error {
	v = strings.TrimSpace(v)
	var d time.Duration
	if days, ok := strings.CutSuffix(v, "d"); ok {
		n, err := strconv.ParseUint(days, 10, 32)
		if err != nil {
			return fmt.Errorf("retention %q: want whole days (30d) or a duration (720h)", v)
		}
		d = time.Duration(n) * 24 * time.Hour
	} else {
		var err error
		if d, err = time.ParseDuration(v); err != nil {
			return fmt.Errorf("retention %q: want whole days (30d) or a duration (720h)", v)
		}
	}
	if d < 0 {
		return fmt.Errorf("retention %q is negative", v)
	}
	*r = Retention(d)
	return nil
}

// isSHA256Name: the archive keeps originals only under 64 lower-case hex
// digits; anything else in a tenant's folder (a .tmp of an interrupted
// copy, a file an operator put there) is not the sweeper's.
func isSHA256Name(name string) bool {
	if len(name) != 64 {
		return false
	}
	for _, c := range name {
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

// sweepArchive deletes archived originals whose archive time (the file's
// mtime, set when archived) is more than the retention before now. It
// works through os.Root, so nothing outside <archive>/<TENANT>/ can be
// reached, and it considers only regular files and real directories: a
// symlink is never followed (nor removed: it is not an original). It
// returns how many files it deleted.
func (s *Service) sweepArchive(now time.Time) (int, error) {
	keep := time.Duration(s.cfg.Retention)
	if keep <= 0 {
		return 0, nil
	}
	root, err := os.OpenRoot(s.cfg.Archive)
	if err != nil {
		return 0, err
	}
	defer root.Close()
	tenants, err := readDir(root, ".")
	if err != nil {
		return 0, err
	}
	deleted := 0
	var errs []error
	for _, t := range tenants {
		if !t.Type().IsDir() {
			continue
		}
		n, err := s.sweepTenant(root, t.Name(), now, keep)
		deleted += n
		if err != nil {
			errs = append(errs, err)
		}
	}
	return deleted, errors.Join(errs...)
}

func (s *Service) sweepTenant(archive *os.Root, tenant string, now time.Time, keep time.Duration) (int, error) {
	dir, err := archive.OpenRoot(tenant)
	if err != nil {
		return 0, err
	}
	defer dir.Close()
	entries, err := readDir(dir, ".")
	if err != nil {
		return 0, err
	}
	deleted := 0
	for _, e := range entries {
		if !e.Type().IsRegular() || !isSHA256Name(e.Name()) {
			continue
		}
		if _, held := s.holds.get(tenant, e.Name()); held {
			continue // a held file's only copy: kept until it is read or discarded
		}
		// Lstat through the root: the entry itself, never a target.
		info, err := dir.Lstat(e.Name())
		if err != nil || !info.Mode().IsRegular() {
			continue
		}
		age := now.Sub(info.ModTime())
		if age <= keep {
			continue
		}
		if err := dir.Remove(e.Name()); err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				continue
			}
			return deleted, fmt.Errorf("archive %s: %w", tenant, err)
		}
		deleted++
		s.metrics.archiveDeleted.WithLabelValues(tenant).Inc()
		// The hash prefix identifies the original for an operator holding
		// the report; no name, no content.
		s.log.Info("archived original deleted (retention)", zap.String("tenant", tenant),
			zap.String("sha256_prefix", e.Name()[:12]), zap.Duration("age", age.Round(time.Second)))
	}
	return deleted, nil
}

func readDir(root *os.Root, name string) ([]fs.DirEntry, error) {
	f, err := root.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return f.ReadDir(-1)
}

// maybeSweep runs the sweep when it is due (at start, then every
// SweepInterval by the service's clock). A failed sweep is logged and
// retried at the next interval: retention must never stop ingest.
func (s *Service) maybeSweep() {
	if s.cfg.Retention <= 0 {
		return
	}
	now := s.cfg.Now()
	if !s.nextSweep.IsZero() && now.Before(s.nextSweep) {
		return
	}
	s.nextSweep = now.Add(s.cfg.SweepInterval)
	n, err := s.sweepArchive(now)
	if err != nil {
		s.log.Warn("archive retention sweep", zap.Error(err))
	}
	if n > 0 {
		s.log.Info("archive retention sweep", zap.Int("deleted", n), zap.Stringer("retention", s.cfg.Retention))
	}
}
