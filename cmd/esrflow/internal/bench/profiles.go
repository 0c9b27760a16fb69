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
// RSS rises), and a CPU profile of the first window of the throughput
// phase: what holds a service's peak and where its time goes, from the run
// the figures come from.
type profiler struct {
	dir   string
	procs []*serviceProc
	cl    *http.Client

	mu   sync.Mutex
	errs []error
}

// heapEvery is how often RSS is sampled; a heap profile is taken when RSS
// passes the last profile's by heapStep.
const (
	heapEvery = time.Second
	heapStep  = 1.02
)

func newProfiler(dir string, procs []*serviceProc) (*profiler, error) {
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, err
	}
	return &profiler{dir: dir, procs: procs, cl: &http.Client{Timeout: 2 * time.Minute}}, nil
}

// watch samples until ctx ends.
func (pr *profiler) watch(ctx context.Context) {
	highest := make([]uint64, len(pr.procs))
	t := time.NewTicker(heapEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		for i, p := range pr.procs {
			st, err := p.stats()
			if err != nil || float64(st.RSS) < float64(highest[i])*heapStep {
				continue
			}
			highest[i] = st.RSS
			pr.fetch(ctx, p, "heap", "heap.pb.gz")
		}
	}
}

// cpu takes every service's CPU profile over the next window, at once.
func (pr *profiler) cpu(ctx context.Context, window time.Duration) {
	var wg sync.WaitGroup
	for _, p := range pr.procs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			pr.fetch(ctx, p, fmt.Sprintf("profile?seconds=%d", int(window.Seconds())), "cpu.pb.gz")
		}()
	}
	wg.Wait()
}

// fetch saves one profile of p as <dir>/<service>.<name>.
func (pr *profiler) fetch(ctx context.Context, p *serviceProc, path, name string) {
	err := func() error {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+p.addr+"/debug/pprof/"+path, nil)
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
	if err != nil && ctx.Err() == nil {
		pr.mu.Lock()
		pr.errs = append(pr.errs, fmt.Errorf("%s profile of %s: %w", name, p.name, err))
		pr.mu.Unlock()
	}
}

// err is the first profile that could not be taken.
func (pr *profiler) err() error {
	pr.mu.Lock()
	defer pr.mu.Unlock()
	if len(pr.errs) > 0 {
		return pr.errs[0]
	}
	return nil
}

// profiling is a running profiler: heap profiles from its start, a CPU
// profile when asked.
type profiling struct {
	pr        *profiler
	ctx       context.Context
	cancel    context.CancelFunc
	cpuWG     sync.WaitGroup
	watchDone chan struct{}
}

// startProfiles starts taking cfg.Profiles' heap profiles of procs.
func startProfiles(ctx context.Context, cfg NationalConfig, procs []*serviceProc) (*profiling, error) {
	pr, err := newProfiler(cfg.Profiles, procs)
	if err != nil {
		return nil, err
	}
	p := &profiling{pr: pr, watchDone: make(chan struct{})}
	p.ctx, p.cancel = context.WithCancel(ctx)
	go func() {
		defer close(p.watchDone)
		pr.watch(p.ctx)
	}()
	return p, nil
}

// cpu starts the services' CPU profiles over the next window (0: none).
func (p *profiling) cpu(window time.Duration) {
	if p == nil || window <= 0 {
		return
	}
	p.cpuWG.Add(1)
	go func() {
		defer p.cpuWG.Done()
		p.pr.cpu(p.ctx, window)
	}()
}

// stop waits for a CPU profile under way, stops the heap profiles, and
// says whether every profile was taken.
func (p *profiling) stop() error {
	if p == nil {
		return nil
	}
	p.cpuWG.Wait()
	p.cancel()
	<-p.watchDone
	return p.pr.err()
}
