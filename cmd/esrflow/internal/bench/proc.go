package bench

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// serviceProc is a pipeline service run as its own process (its built
// binary), as production runs it, so its memory and CPU are its own and a
// SIGKILL restart is a real one.
type serviceProc struct {
	name string
	bin  string
	args []string // without --http.addr, which each start picks afresh
	logs string   // the process's stdout and stderr go here (appended)

	cmd    *exec.Cmd
	addr   string
	exited chan struct{}
}

// ProcStats is what /proc says about a running process.
type ProcStats struct {
	PeakRSS uint64        // VmHWM, bytes
	RSS     uint64        // VmRSS, bytes
	CPU     time.Duration // utime + stime
}

// start runs the binary on a free port and returns at once.
func (p *serviceProc) start() error {
	port, err := freePort()
	if err != nil {
		return err
	}
	p.addr = "127.0.0.1:" + strconv.Itoa(port)
	out, err := os.OpenFile(p.logs, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o640)
	if err != nil {
		return err
	}
	cmd := exec.Command(p.bin, append([]string{"--http.addr", p.addr}, p.args...)...)
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		out.Close()
		return fmt.Errorf("starting %s: %w", p.name, err)
	}
	p.cmd = cmd
	p.exited = make(chan struct{})
	go func() {
		_ = cmd.Wait()
		out.Close()
		close(p.exited)
	}()
	return nil
}

// waitReady polls /readyz until it answers 200 and returns how long after
// since that was.
func (p *serviceProc) waitReady(ctx context.Context, since time.Time, timeout time.Duration) (time.Duration, error) {
	cl := &http.Client{Timeout: time.Second}
	deadline := time.Now().Add(timeout)
	for {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+p.addr+"/readyz", nil)
		if err != nil {
			return 0, err
		}
		if resp, err := cl.Do(req); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return time.Since(since), nil
			}
		}
		select {
		case <-p.exited:
			return 0, fmt.Errorf("%s exited before it was ready (log: %s)", p.name, p.logs)
		case <-ctx.Done():
			return 0, ctx.Err()
		case <-time.After(10 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return 0, fmt.Errorf("%s not ready after %s (log: %s)", p.name, timeout, p.logs)
		}
	}
}

// stats reads the process's memory and CPU from /proc; it must be called
// while the process runs (its figures go with it).
func (p *serviceProc) stats() (ProcStats, error) {
	select {
	case <-p.exited:
		return ProcStats{}, fmt.Errorf("%s has exited (log: %s)", p.name, p.logs)
	default:
	}
	return readProcStats(p.cmd.Process.Pid)
}

// kill ends the process with SIGKILL: no shutdown code runs, as in a crash.
func (p *serviceProc) kill() {
	_ = p.cmd.Process.Signal(syscall.SIGKILL)
	<-p.exited
}

// stop asks the process to shut down, and kills it if it does not.
func (p *serviceProc) stop() {
	if p.cmd == nil {
		return
	}
	_ = p.cmd.Process.Signal(os.Interrupt)
	select {
	case <-p.exited:
	case <-time.After(30 * time.Second):
		p.kill()
	}
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// clockTicks is the unit of utime and stime in /proc/<pid>/stat
// (sysconf(_SC_CLK_TCK)): 100 on every Linux architecture Go runs on, asked
// of getconf when it is there.
var clockTicks = func() int64 {
	out, err := exec.Command("getconf", "CLK_TCK").Output()
	if err == nil {
		if n, err := strconv.ParseInt(strings.TrimSpace(string(out)), 10, 64); err == nil && n > 0 {
			return n
		}
	}
	return 100
}()

// readProcStats reads VmHWM and VmRSS from /proc/<pid>/status and utime +
// stime from /proc/<pid>/stat (proc(5)).
func readProcStats(pid int) (ProcStats, error) {
	var st ProcStats
	status, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "status"))
	if err != nil {
		return st, err
	}
	for _, line := range strings.Split(string(status), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			st.PeakRSS = parseKB(rest)
		} else if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			st.RSS = parseKB(rest)
		}
	}
	stat, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "stat"))
	if err != nil {
		return st, err
	}
	// The command name (field 2) is in parentheses and may hold spaces:
	// the fields after it start after the last ')'. utime and stime are
	// fields 14 and 15, so 12th and 13th after it.
	i := strings.LastIndexByte(string(stat), ')')
	if i < 0 {
		return st, errors.New("unexpected /proc/<pid>/stat")
	}
	f := strings.Fields(string(stat[i+1:]))
	if len(f) < 13 {
		return st, errors.New("unexpected /proc/<pid>/stat")
	}
	ut, err1 := strconv.ParseInt(f[11], 10, 64)
	stt, err2 := strconv.ParseInt(f[12], 10, 64)
	if err := errors.Join(err1, err2); err != nil {
		return st, err
	}
	st.CPU = time.Duration(ut+stt) * time.Second / time.Duration(clockTicks)
	return st, nil
}

func parseKB(s string) uint64 {
	kb, err := strconv.ParseUint(strings.TrimSuffix(strings.TrimSpace(s), " kB"), 10, 64)
	if err != nil {
		return 0
	}
	return kb << 10
}
