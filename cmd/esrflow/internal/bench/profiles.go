package bench

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"time"
)

// profiler keeps, for each separately run service, the heap profile taken
// when its resident memory was highest (its /debug/pprof/heap, sampled as
// RSS rises), and on request a CPU profile of a window: what holds a
// service's peak and where its time goes, from the run the figures come
// from.
type profiler struct {
	dir   string
	procs []*serviceProc
	cl    *http.Client

	ctx       context.Context
	cancel    context.CancelFunc
	cpuWG     sync.WaitGroup
	watchDone chan struct{}

	mu   sync.Mutex
	errs []error
}

// heapEvery is how often RSS is sampled; a heap profile is taken when RSS
// passes the last profile's by heapStep.
const (
	heapEvery = time.Second
	heapStep  = 1.02
)

// startProfiles starts taking heap profiles of procs into cfg.Profiles.
func startProfiles(ctx context.Context, cfg NationalConfig, procs []*serviceProc) (*profiler, error) {
	if err := os.MkdirAll(cfg.Profiles, 0o750); err != nil {
		return nil, err
	}
	pr := &profiler{dir: cfg.Profiles, procs: procs, cl: &http.Client{Timeout: 2 * time.Minute}, watchDone: make(chan struct{})}
	pr.ctx, pr.cancel = context.WithCancel(ctx)
	go func() {
		defer close(pr.watchDone)
		pr.watch()
	}()
	return pr, nil
}

// watch samples until the profiler is stopped.
func (pr *profiler) watch() {
	highest := make([]uint64, len(pr.procs))
	t := time.NewTicker(heapEvery)
	defer t.Stop()
	for {
		select {
		case <-pr.ctx.Done():
			return
		case <-t.C:
		}
		for i, p := range pr.procs {
			st, err := p.stats()
			if err != nil || float64(st.RSS) < float64(highest[i])*heapStep {
				continue
			}
			highest[i] = st.RSS
			pr.fetch(p, "heap", "heap.pb.gz")
		}
	}
}

// cpu starts every service's CPU profile over the next window, at once
// (0: none; at least a second, the profiles' unit).
func (pr *profiler) cpu(window time.Duration) {
	if pr == nil || window <= 0 {
		return
	}
	path := fmt.Sprintf("profile?seconds=%d", max(1, int(window.Seconds())))
	for _, p := range pr.procs {
		pr.cpuWG.Add(1)
		go func() {
			defer pr.cpuWG.Done()
			pr.fetch(p, path, "cpu.pb.gz")
		}()
	}
}

// stop waits for CPU profiles under way, stops the heap profiles, and says
// whether every profile was taken.
func (pr *profiler) stop() error {
	if pr == nil {
		return nil
	}
	pr.cpuWG.Wait()
	pr.cancel()
	<-pr.watchDone
	pr.mu.Lock()
	defer pr.mu.Unlock()
	if len(pr.errs) > 0 {
		return pr.errs[0]
	}
	return nil
}

// fetch saves one profile of p as <dir>/<service>.<name>.
func (pr *profiler) fetch(p *serviceProc, path, name string) {
	err := func() error {
		req, err := http.NewRequestWithContext(pr.ctx, http.MethodGet, "http://"+p.addr+"/debug/pprof/"+path, nil)
		if err != nil {
			return err
		}
		resp, err := pr.cl.Do(req)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("%s", resp.Status)
		}
		b, err := io.ReadAll(resp.Body)
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(pr.dir, p.name+"."+name), b, 0o640)
	}()
	if err != nil && pr.ctx.Err() == nil {
		pr.mu.Lock()
		pr.errs = append(pr.errs, fmt.Errorf("%s profile of %s: %w", name, p.name, err))
		pr.mu.Unlock()
	}
}
