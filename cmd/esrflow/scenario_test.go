package main

// The scenario suite: small hand-written GO v2 file sequences, each with the
// exact events it must publish after every step, run through the whole
// pipeline (ingest → normalise → validate → publish → api) over Kafka.
// docs/scenarios.md describes the file format and lists the scenarios.

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"go.uber.org/zap/zaptest"

	"github.com/esrflow/esrflow/cmd/esrflow/internal/observe"
	"github.com/esrflow/esrflow/cmd/esrflow/internal/stack"
	"github.com/esrflow/esrflow/esr/tenant"
	"github.com/esrflow/esrflow/schemas"
	"github.com/esrflow/esrflow/schemas/gen/internalv1"
	"github.com/esrflow/esrflow/services/api/auth"
)

const (
	// scenarioTick is publish's scheduler interval in scenario stacks.
	scenarioTick = 50 * time.Millisecond
	// stepTimeout bounds the wait for one step's outcome.
	stepTimeout = 60 * time.Second
	// readyTimeout bounds a stack's start.
	readyTimeout = 5 * time.Minute
)

// scenarioEpoch is where every scenario stack's clock starts: before every
// date the scenarios use, so only a scenario's own clock steps (on its own
// stack) or its later files make a held leaver due.
var scenarioEpoch = londonMorning("2024-01-01")

// londonMorning is 09:00 Europe/London on a day.
func londonMorning(d string) time.Time {
	loc, err := time.LoadLocation("Europe/London")
	if err != nil {
		panic(err)
	}
	t, err := time.ParseInLocation(time.DateOnly+" 15:04", d+" 09:00", loc)
	if err != nil {
		panic(err)
	}
	return t
}

// TestScenarios runs every testdata/scenarios/*.txtar. Scenarios that only
// drop files and decide batches share one stack (each has its own tenants
// and VPDs, so they cannot see each other) and run in parallel; a scenario
// that moves the clock or restarts publish gets a stack of its own, since a
// clock moved for one would make other scenarios' leavers due.
func TestScenarios(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end scenarios")
	}
	scs := loadScenarios(t)
	var shared []tenant.Tenant
	for _, sc := range scs {
		if !sc.ownStack() {
			shared = append(shared, sc.tenants...)
		}
	}
	var sharedEnv *scenarioEnv
	if len(shared) > 0 {
		sharedEnv = startScenarioEnv(t, shared)
	}
	// All scenarios run at once. They mostly wait on the pipeline, so they
	// are started from goroutines rather than with t.Parallel, which would
	// run only GOMAXPROCS of them at a time.
	var wg sync.WaitGroup
	for _, sc := range scs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			t.Run(sc.name, func(t *testing.T) {
				env := sharedEnv
				if sc.ownStack() {
					env = startScenarioEnv(t, sc.tenants)
				}
				runScenario(t, env, sc)
			})
		}()
	}
	wg.Wait()
}

func loadScenarios(t *testing.T) []*scenario {
	t.Helper()
	paths, err := filepath.Glob(filepath.Join("testdata", "scenarios", "*.txtar"))
	if err != nil {
		t.Fatal(err)
	}
	var out []*scenario
	codes, vpds := map[string]string{}, map[string]string{}
	for _, p := range paths {
		data, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		name := strings.TrimSuffix(filepath.Base(p), ".txtar")
		sc, err := parseScenario(name, data)
		if err != nil {
			t.Fatalf("%s: %v", p, err)
		}
		// Tenants and VPDs are unique across scenarios, so scenarios can
		// share a stack.
		for _, tn := range sc.tenants {
			if other, dup := codes[tn.Code]; dup {
				t.Fatalf("%s: tenant %s is also used by %s", p, tn.Code, other)
			}
			codes[tn.Code] = name
			for _, v := range tn.VPDs {
				if other, dup := vpds[v]; dup {
					t.Fatalf("%s: VPD %s is also used by %s", p, v, other)
				}
				vpds[v] = name
			}
		}
		out = append(out, sc)
	}
	if len(out) == 0 {
		t.Fatal("no scenarios in testdata/scenarios")
	}
	return out
}

// scenarioEnv is a running stack and what the steps use to drive and read
// it.
type scenarioEnv struct {
	st    *stack.Stack
	rd    *observe.Reader
	clock *atomic.Int64 // publish's clock, Unix nanoseconds
	key   string        // the operator's api key
	rep   *reportLog
}

func startScenarioEnv(t *testing.T, tenants []tenant.Tenant) *scenarioEnv {
	t.Helper()
	set, err := tenant.New(tenants...)
	if err != nil {
		t.Fatal(err)
	}
	raw := make([]byte, 32)
	if _, err := rand.Read(raw); err != nil {
		t.Fatal(err)
	}
	env := &scenarioEnv{clock: &atomic.Int64{}, key: hex.EncodeToString(raw)}
	env.clock.Store(scenarioEpoch.UnixNano())
	st, err := stack.Start(context.Background(), stack.Config{
		DataDir: t.TempDir(), Partitions: 3, Tenants: set,
		Settle: 20 * time.Millisecond, Poll: 50 * time.Millisecond,
		Log: zaptest.NewLogger(t, zaptest.Level(zapWarn)),
		Now: func() time.Time { return time.Unix(0, env.clock.Load()) }, TickInterval: scenarioTick,
		APIClients: []auth.Client{{Name: "scenario-operator", KeySHA256: auth.HashKey(env.key),
			Tenants: []string{auth.AllTenants}, Scopes: auth.Scopes}},
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(func() {
		cancel()
		if err := st.Close(); err != nil {
			t.Errorf("stack stopped with %v", err)
		}
	})
	env.st = st
	// Steps start on a ready stack: publish first makes every configured
	// tenant's topics and registers their schemas, which on a loaded
	// machine can take longer than a step may wait for the pipeline to move.
	for deadline := time.Now().Add(readyTimeout); st.Ready() != nil; time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("stack not ready after %s: %v", readyTimeout, st.Ready())
		}
	}
	if env.rd, err = observe.NewReader(st.Seeds(), st.RegistryURL()); err != nil {
		t.Fatal(err)
	}
	env.rep = followReports(ctx, t, st)
	return env
}

// reportLog collects every file report of a stack as it is committed.
type reportLog struct {
	mu      sync.Mutex
	reports []internalv1.FileReport
	err     error
}

func followReports(ctx context.Context, t *testing.T, st *stack.Stack) *reportLog {
	l := &reportLog{}
	go func() {
		err := st.FollowReportRecords(ctx, true, func(fr internalv1.FileReport) {
			l.mu.Lock()
			l.reports = append(l.reports, fr)
			l.mu.Unlock()
		})
		l.mu.Lock()
		l.err = err
		l.mu.Unlock()
	}()
	return l
}

// nth waits for the tenant's n-th file report (1-based). The shared stack
// reads every scenario's files in turn (some 35 at once at the start), so a
// report may queue behind many others: the wait gives up after stepTimeout
// with no report at all arriving, not after stepTimeout in total, so a busy
// machine is slower but a stalled pipeline still fails.
func (l *reportLog) nth(t *testing.T, tenantCode string, n int) internalv1.FileReport {
	t.Helper()
	deadline, seen := time.Now().Add(stepTimeout), 0
	for {
		l.mu.Lock()
		var mine []internalv1.FileReport
		for _, fr := range l.reports {
			if fr.Tenant == tenantCode {
				mine = append(mine, fr)
			}
		}
		if len(l.reports) > seen { // the pipeline moved: wait on
			seen, deadline = len(l.reports), time.Now().Add(stepTimeout)
		}
		err := l.err
		l.mu.Unlock()
		if len(mine) >= n {
			if len(mine) > n {
				t.Fatalf("%s has %d file reports, want %d: %+v", tenantCode, len(mine), n, mine[n:])
			}
			return mine[n-1]
		}
		if err != nil {
			t.Fatalf("following file reports: %v", err)
		}
		if time.Now().After(deadline) {
			t.Fatalf("no file report #%d for %s, and no report of any tenant for %s", n, tenantCode, stepTimeout)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// publishTicks is how many times publish's scheduler has looked at its
// clock (an idle look, or a committed tick transaction), so two more than
// before prove it has looked since (see checkEvents).
func (env *scenarioEnv) publishTicks(t *testing.T) float64 {
	t.Helper()
	mfs, err := env.st.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != "esrflow_stage_ticks_total" {
			continue
		}
		var n float64
		for _, m := range mf.GetMetric() {
			if label(m, "stage") == "publish" {
				n += m.GetCounter().GetValue()
			}
		}
		return n
	}
	return 0
}

func label(m *dto.Metric, name string) string {
	for _, l := range m.GetLabel() {
		if l.GetName() == name {
			return l.GetValue()
		}
	}
	return ""
}

// scenarioRun is one scenario being run.
type scenarioRun struct {
	t       *testing.T
	env     *scenarioEnv
	sc      *scenario
	want    []string       // canonical lines of every event expected so far
	reports map[string]int // file reports seen per tenant
}

func runScenario(t *testing.T, env *scenarioEnv, sc *scenario) {
	r := &scenarioRun{t: t, env: env, sc: sc, reports: map[string]int{}}
	t.Logf("%s", sc.desc)
	for _, s := range sc.steps {
		r.want = append(r.want, sc.events[s.n]...)
		if !t.Run(fmt.Sprintf("%d_%s", s.n, s.verb), func(t *testing.T) { r.t = t; r.do(s) }) {
			t.Fatalf("step %q failed; later steps depend on it", s.text)
		}
	}
	r.t = t
	r.checkAPIEvents()
}

func (r *scenarioRun) do(s step) {
	t := r.t
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), stepTimeout)
	defer cancel()
	switch s.verb {
	case "drop":
		r.drop(s)
	case "clock":
		r.env.clock.Store(londonMorning(s.args[0]).UnixNano())
	case "restart-publish":
		if err := r.env.st.RestartPublish(ctx); err != nil {
			t.Fatal(err)
		}
	case "held":
		r.held(s)
	case "release", "reject":
		r.decide(s)
	case "scheduled":
		r.scheduled(s)
	}
	r.checkEvents(s)
}

func (r *scenarioRun) tenantOfFile(name string) string {
	code, _ := r.sc.tenantOf(goName.FindStringSubmatch(name)[1])
	return code
}

// drop delivers a file and checks its report: ACCEPTED with nothing
// quarantined and no leavers held, unless the step says otherwise
// (quarantined=N, held=N, rejected=RULE, duplicate=FILE: a DUPLICATE
// report naming FILE as the accepted one, top=RULE: the rule that
// quarantined most of its rows).
func (r *scenarioRun) drop(s step) {
	t := r.t
	f := r.sc.files[s.args[0]]
	code := r.tenantOfFile(f.name)
	dropFile(t, r.env.st.DropDir(), code, f.name, f.data)
	r.reports[code]++
	fr := r.env.rep.nth(t, code, r.reports[code])
	if fr.File.Name != f.name {
		t.Fatalf("report for %s, want %s", fr.File.Name, f.name)
	}
	if top, ok := s.opts["top"]; ok && (len(fr.TopRules) == 0 || fr.TopRules[0].Rule != top) {
		t.Errorf("%s: top rules %+v, want %s first", f.name, fr.TopRules, top)
	}
	if of, ok := s.opts["duplicate"]; ok {
		if fr.Status != internalv1.FileStatusDuplicate || fr.DuplicateOf == nil || fr.DuplicateOf.Name != of {
			t.Fatalf("%s: %s %s (duplicate_of %+v), want DUPLICATE of %s", f.name, fr.Status, strPtr(fr.Reason), fr.DuplicateOf, of)
		}
		return
	}
	if rule, ok := s.opts["rejected"]; ok {
		if fr.Status != internalv1.FileStatusRejected || fr.Reason == nil || !strings.Contains(*fr.Reason, rule) {
			t.Fatalf("%s: %s %s, want REJECTED for %s", f.name, fr.Status, strPtr(fr.Reason), rule)
		}
		return
	}
	if fr.Status != internalv1.FileStatusAccepted {
		t.Fatalf("%s: %s: %s\n%s", f.name, fr.Status, strPtr(fr.Reason), f.numbered())
	}
	if got, want := fmt.Sprint(fr.Quarantined), cmpOr(s.opts["quarantined"], "0"); got != want {
		t.Errorf("%s: %s rows quarantined, want %s\n%s", f.name, got, want, f.numbered())
	}
	if got, want := fmt.Sprint(fr.LeaversHeld), cmpOr(s.opts["held"], "0"); got != want {
		t.Errorf("%s: report says %s leavers held, want %s", f.name, got, want)
	}
	var emitted int64
	for _, n := range fr.EventsEmitted {
		emitted += n
	}
	// clocked=N: N of the step's events are held leavers the clock
	// confirms once the file has ended; they belong to no file's report.
	clocked, _ := strconv.Atoi(cmpOr(s.opts["clocked"], "0"))
	if want := len(r.sc.events[s.n]) - clocked; s.opts["held"] == "" && emitted != int64(want) {
		t.Errorf("%s: report says %d events emitted (%v), the step expects %d", f.name, emitted, fr.EventsEmitted, want)
	}
}

func cmpOr(v, def string) string {
	if v == "" {
		return def
	}
	return v
}

// heldBatch is the api's view of a held batch (GET .../held-batches/{id}).
type heldBatch struct {
	BatchID string `json:"batch_id"`
	Status  string `json:"status"`
	Leavers int64  `json:"leavers"`
	Emitted int64  `json:"emitted"`
	Held    []struct {
		PersonID    string `json:"person_id"`
		EventID     string `json:"event_id"`
		LeavingDate string `json:"leaving_date"`
	} `json:"held"`
}

func batchID(f *goFile) string { return "hb-" + f.sha256[:16] }

// apiDo calls the api with the operator's key.
func (r *scenarioRun) apiDo(method, path string, body, into any) int {
	t := r.t
	t.Helper()
	var rd *bytes.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	} else {
		rd = bytes.NewReader(nil)
	}
	req, err := http.NewRequest(method, r.env.st.APIURL()+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+r.env.key)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if into != nil && resp.StatusCode/100 == 2 {
		if err := json.NewDecoder(resp.Body).Decode(into); err != nil {
			t.Fatalf("%s %s: %v", method, path, err)
		}
	}
	return resp.StatusCode
}

// waitBatch waits until the api shows the file's batch in a status.
func (r *scenarioRun) waitBatch(f *goFile, status string) heldBatch {
	t := r.t
	t.Helper()
	path := fmt.Sprintf("/v1/tenants/%s/held-batches/%s", r.tenantOfFile(f.name), batchID(f))
	deadline := time.Now().Add(stepTimeout)
	for {
		var b heldBatch
		code := r.apiDo(http.MethodGet, path, nil, &b)
		if code == http.StatusOK && b.Status == status {
			return b
		}
		if time.Now().After(deadline) {
			t.Fatalf("GET %s: HTTP %d, %+v; want status %s", path, code, b, status)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// held checks that the file's leavers are held as one batch: HELD in the
// api with leavers=N, and also in the tenant's list of held batches.
func (r *scenarioRun) held(s step) {
	t := r.t
	f := r.sc.files[s.args[0]]
	b := r.waitBatch(f, cmpOr(s.opts["status"], "HELD"))
	if want := s.opts["leavers"]; fmt.Sprint(b.Leavers) != want || len(b.Held) != int(b.Leavers) {
		t.Errorf("batch %s: %d leavers (%d listed), want %s", b.BatchID, b.Leavers, len(b.Held), want)
	}
	var list struct {
		HeldBatches []heldBatch `json:"held_batches"`
	}
	path := fmt.Sprintf("/v1/tenants/%s/held-batches", r.tenantOfFile(f.name))
	if code := r.apiDo(http.MethodGet, path, nil, &list); code != http.StatusOK {
		t.Fatalf("GET %s: HTTP %d", path, code)
	}
	found := false
	for _, lb := range list.HeldBatches {
		found = found || (lb.BatchID == b.BatchID && lb.Status == b.Status && lb.Leavers == b.Leavers)
	}
	if !found {
		t.Errorf("GET %s does not list %s %s with %d leavers: %+v", path, b.BatchID, b.Status, b.Leavers, list)
	}
}

// decide releases or rejects the file's batch through the api and waits
// until the api shows the decision. A release must publish exactly the
// batch's held leavers, with the event ids they were given when held.
func (r *scenarioRun) decide(s step) {
	t := r.t
	f := r.sc.files[s.args[0]]
	before := r.waitBatch(f, "HELD")
	path := fmt.Sprintf("/v1/tenants/%s/held-batches/%s/%s", r.tenantOfFile(f.name), batchID(f), s.verb)
	reason := cmpOr(s.opts["reason"], "scenario "+r.sc.name+" step "+fmt.Sprint(s.n))
	if code := r.apiDo(http.MethodPost, path, map[string]string{"reason": reason}, nil); code/100 != 2 {
		t.Fatalf("POST %s: HTTP %d", path, code)
	}
	status := map[string]string{"release": "RELEASED", "reject": "REJECTED"}[s.verb]
	after := r.waitBatch(f, status)
	if s.verb == "reject" && after.Emitted != 0 {
		t.Errorf("rejected batch %s says %d emitted", after.BatchID, after.Emitted)
	}
	if s.verb != "release" {
		return
	}
	// Every held leaver keeps the id it was given when held: those due by
	// the file's run date are published with it now, the others are
	// date-held with it.
	published := map[string]bool{}
	for _, e := range r.readEvents() {
		published[e.ID] = true
	}
	scheduled := map[string]string{}
	for _, h := range r.env.st.PublishService().ScheduledLeavers(r.tenantOfFile(f.name)) {
		scheduled[h.PersonID] = h.EventID
	}
	run := f.run[:4] + "-" + f.run[4:6] + "-" + f.run[6:]
	for _, h := range before.Held {
		switch {
		case h.LeavingDate <= run && !published[h.EventID]:
			t.Errorf("release of %s: held leaver %s (event %s) not published", after.BatchID, h.PersonID, h.EventID)
		case h.LeavingDate > run && scheduled[h.PersonID] != h.EventID:
			t.Errorf("release of %s: future leaver %s is scheduled as %q, want event %s", after.BatchID, h.PersonID, scheduled[h.PersonID], h.EventID)
		}
	}
	if len(before.Held) == 0 {
		t.Errorf("batch %s lists no held leavers", after.BatchID)
	}
}

// scheduled checks the tenant's date-held leavers in publish, exactly:
// the step lists them as <person id>=<due date>.
func (r *scenarioRun) scheduled(s step) {
	t := r.t
	got := map[string]string{}
	for _, h := range r.env.st.PublishService().ScheduledLeavers(s.args[0]) {
		got[h.PersonID] = h.Due.Format(time.DateOnly)
	}
	want := s.opts
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("%s holds leavers %v, want %v", s.args[0], got, want)
	}
}

// readEvents reads every committed event of the scenario's tenants.
func (r *scenarioRun) readEvents() []observe.Event {
	t := r.t
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), stepTimeout)
	defer cancel()
	var all []observe.Event
	for _, tn := range r.sc.tenants {
		evs, err := r.env.rd.Events(ctx, tn.Code)
		if err != nil {
			t.Fatalf("reading %s events: %v", tn.Code, err)
		}
		checkEnvelope(t, evs)
		all = append(all, evs...)
	}
	return all
}

// diff renders the published events and compares them, as multisets, with
// the expected lines; it also checks each event's id and what the line
// does not show.
func (r *scenarioRun) diff(events []observe.Event) (missing, extra, problems []string) {
	leavers := map[string]string{}
	for _, e := range events {
		if e.Type == schemas.LeaverConfirmed {
			leavers[e.ID] = fmt.Sprintf("%s:%d", e.File, e.Line)
		}
	}
	got := map[string]int{}
	for _, e := range events {
		line, probs := renderPublished(e, leavers)
		got[line]++
		for _, p := range probs {
			problems = append(problems, line+": "+p)
		}
		f, ok := r.sc.files[e.File]
		if !ok {
			problems = append(problems, line+": source file is not one of the scenario's")
			continue
		}
		if e.VPD != f.vpd {
			problems = append(problems, fmt.Sprintf("%s: vpd %s, the file's is %s", line, e.VPD, f.vpd))
		}
		var change, asg string
		switch e.Type {
		case schemas.StarterCreated:
			asg = e.AssignmentNumber
		case schemas.PositionUpdated:
			change, asg = e.Change, e.AssignmentNumber
		}
		if want := eventID(e.Tenant, e.Type, e.PersonID, change, asg, f.sha256, e.Line); e.ID != want {
			problems = append(problems, fmt.Sprintf("%s: event id %s, want %s", line, e.ID, want))
		}
	}
	want := map[string]int{}
	for _, l := range r.want {
		want[l]++
	}
	for l, n := range want {
		for i := got[l]; i < n; i++ {
			missing = append(missing, l)
		}
	}
	for l, n := range got {
		for i := want[l]; i < n; i++ {
			extra = append(extra, l)
		}
	}
	sort.Strings(missing)
	sort.Strings(extra)
	return missing, extra, problems
}

// checkEvents waits until the events published so far are exactly the
// expected ones, then lets publish's scheduler tick twice more and checks
// again, so an event that fires late or
// twice is caught.
func (r *scenarioRun) checkEvents(s step) {
	t := r.t
	t.Helper()
	deadline := time.Now().Add(stepTimeout)
	var missing, extra, problems []string
	for {
		missing, extra, problems = r.diff(r.readEvents())
		if len(missing)+len(extra) == 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if len(missing)+len(extra) == 0 {
		// The first tick counted may have read the clock before this step
		// set it; the second began after that one was counted (and, if it
		// fired anything, committed).
		from := r.env.publishTicks(t)
		for r.env.publishTicks(t) < from+2 {
			if time.Now().After(deadline) {
				t.Fatalf("publish's scheduler did not tick for %s", stepTimeout)
			}
			time.Sleep(scenarioTick / 2)
		}
		missing, extra, problems = r.diff(r.readEvents())
	}
	if len(missing)+len(extra)+len(problems) == 0 {
		return
	}
	var b strings.Builder
	fmt.Fprintf(&b, "after step %q: %d events expected so far; %d missing, %d unexpected\n", s.text, len(r.want), len(missing), len(extra))
	for _, l := range missing {
		fmt.Fprintf(&b, "  missing:    %s\n", l)
	}
	for _, l := range extra {
		fmt.Fprintf(&b, "  unexpected: %s\n", l)
	}
	for _, p := range problems {
		fmt.Fprintf(&b, "  wrong:      %s\n", p)
	}
	t.Fatal(b.String())
}

// checkAPIEvents checks that the api, fed by the published events, serves
// each of the scenario's tenants the same number of events.
func (r *scenarioRun) checkAPIEvents() {
	t := r.t
	byTenant := map[string]int{}
	for _, l := range r.want {
		byTenant[strings.Fields(l)[0]]++
	}
	for _, tn := range r.sc.tenants {
		path := fmt.Sprintf("/v1/tenants/%s/events?limit=1000", tn.Code)
		deadline := time.Now().Add(stepTimeout)
		for {
			var body struct {
				Events []json.RawMessage `json:"events"`
			}
			code := r.apiDo(http.MethodGet, path, nil, &body)
			if code == http.StatusOK && len(body.Events) == byTenant[tn.Code] {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("GET %s: HTTP %d, %d events; want %d", path, code, len(body.Events), byTenant[tn.Code])
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
}
