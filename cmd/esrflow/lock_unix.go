//go:build unix

package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// lockFileName is the lock of a data folder, inside it.
const lockFileName = "up.lock"

// lockDataDir makes sure only one `esrflow up` runs on a data folder: two
// would share one broker's files, drop folder and database. It takes an
// exclusive flock(2) on <data>/up.lock without waiting. The kernel drops the
// lock when the process ends, however it ends (SIGKILL included), so a
// stale lock file never blocks a restart. The file keeps the pid of the
// holder, for the message a second `up` prints.
func lockDataDir(dir string) (release func(), err error) {
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, err
	}
	path := filepath.Join(dir, lockFileName)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o640)
	if err != nil {
		return nil, fmt.Errorf("locking data folder %s: %w", dir, err)
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		holder := ""
		if b, rerr := os.ReadFile(path); rerr == nil && strings.TrimSpace(string(b)) != "" {
			holder = " (pid " + strings.TrimSpace(string(b)) + ")"
		}
		_ = f.Close()
		if errors.Is(err, unix.EWOULDBLOCK) {
			return nil, fmt.Errorf("data folder %s is in use by another esrflow up%s: stop it first, or give this one another --data", dir, holder)
		}
		return nil, fmt.Errorf("locking data folder %s: %w", dir, err)
	}
	// Ours now: note our pid for the message above.
	if err := f.Truncate(0); err == nil {
		_, _ = f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
	}
	return func() { _ = f.Close() }, nil // closing the descriptor releases the lock
}
