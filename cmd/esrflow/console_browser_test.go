package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/esrflow/esrflow/cmd/esrflow/internal/observe"
	"github.com/esrflow/esrflow/cmd/esrflow/internal/stack"
	"github.com/esrflow/esrflow/esr/gen"
	"github.com/esrflow/esrflow/esr/tenant"
	"github.com/esrflow/esrflow/services/api/auth"
)

// chromiumPath is Debian's Chromium, which .ci/run installs.
const chromiumPath = "/usr/bin/chromium"

// The console test's keys: the region's operator (every tenant, every
// scope), an operator of RXX only, and a reader of RXX (no operate).
const (
	consoleOps    = "console-e2e-ops-key"
	consoleRXXOp  = "console-e2e-rxx-operator-key"
	consoleReader = "console-e2e-rxx-reader-key"
	consoleAdmin  = "console-e2e-platform-key"
)

// chrome starts headless Chromium for the test (a fresh profile) and
// returns a tab's context. Without Chromium the test skips, and fails in
// CI, where .ci/run installs it.
func chrome(t *testing.T) context.Context {
	t.Helper()
	if _, err := exec.LookPath(chromiumPath); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("CI: %s not found: .ci/run installs Debian's chromium", chromiumPath)
		}
		t.Skipf("%s not found (Debian's chromium package): skipping the browser test", chromiumPath)
	}
	opts := append(slices.Clone(chromedp.DefaultExecAllocatorOptions[:]),
		chromedp.ExecPath(chromiumPath),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.NoSandbox, // CI runs as root
		chromedp.DisableGPU,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.WindowSize(1280, 900),
	)
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(actx)
	t.Cleanup(func() { cancel(); cancelAlloc() })
	if err := chromedp.Do(ctx); err != nil { // start the browser now
		t.Fatalf("starting %s: %v", chromiumPath, err)
	}
	return ctx
}

// tab is a browser tab on the console, signed in or not.
type tab struct {
	t    *testing.T
	ctx  context.Context
	base string
	// seen is the text of every page the tab showed, for isolation checks.
	seen []string
	// status is the HTTP status of the page last loaded.
	status int
}

func newTab(t *testing.T, browser context.Context, base string) *tab {
	// Each tab is its own browser context: its own cookies.
	ctx, cancel := chromedp.NewContext(browser, chromedp.WithNewBrowserContext())
	t.Cleanup(cancel)
	// Open the tab on ctx itself: a tab first opened under a child
	// context (run's deadline) would close when that context ends.
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("opening a tab: %v", err)
	}
	return &tab{t: t, ctx: ctx, base: base}
}

// run runs steps with a deadline, failing the test on error.
func (b *tab) run(what string, steps ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 30*time.Second)
	defer cancel()
	if err := chromedp.Do(ctx, steps...); err != nil {
		b.t.Fatalf("%s: %v", what, err)
	}
}

// read runs an action that returns a value, with a deadline.
func read[T any](b *tab, what string, a chromedp.Action[T]) T {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 30*time.Second)
	defer cancel()
	v, err := chromedp.Run(ctx, a)
	if err != nil {
		b.t.Fatalf("%s: %v", what, err)
	}
	return v
}

// css is a CSS selector (a plain string would be a DOM search).
type css = chromedp.CSS

// open navigates to a console path and returns the page's main text.
func (b *tab) open(path string) string {
	b.t.Helper()
	b.navigate("open "+path, chromedp.Navigate(b.base+path))
	return b.main()
}

// navigate runs steps that lead to another page (a link, a form) and
// waits until it has loaded; it records the page's HTTP status.
func (b *tab) navigate(what string, steps ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 30*time.Second)
	defer cancel()
	resp, err := chromedp.RunResponse(ctx, steps...)
	if err != nil {
		b.t.Fatalf("%s: %v", what, err)
	}
	b.status = int(resp.Status)
	b.run(what, chromedp.WaitVisible(css("main h1")))
}

// main returns the text of the page's <main>, and records the whole page's.
func (b *tab) main() string {
	b.t.Helper()
	main := read(b, "read the page", chromedp.Text(css("main")))
	b.seen = append(b.seen, read(b, "read the page", chromedp.Text(css("body"))))
	return main
}

// submit fills a form's fields (selector → value) and submits it with its
// button, as a person would, then returns the page it lands on.
func (b *tab) submit(form string, fields map[string]string) string {
	b.t.Helper()
	var acts []chromedp.Action[chromedp.Void]
	for sel, v := range fields {
		acts = append(acts, chromedp.SendKeys(css(form+" "+sel), v))
	}
	b.run("fill "+form, acts...)
	b.navigate("submit "+form, chromedp.Click(css(form+` button[type=submit]`)))
	return b.main()
}

// click follows the link sel and returns the page it leads to.
func (b *tab) click(sel string) string {
	b.t.Helper()
	b.navigate("click "+sel, chromedp.Click(css(sel)))
	return b.main()
}

// until reloads path until its main text holds want.
func (b *tab) until(path, want string) string {
	b.t.Helper()
	deadline := time.Now().Add(90 * time.Second)
	for {
		text := b.open(path)
		if strings.Contains(text, want) {
			return text
		}
		if time.Now().After(deadline) {
			b.t.Fatalf("%s never showed %q; last:\n%s", path, want, text)
		}
		time.Sleep(300 * time.Millisecond)
	}
}

// signIn signs in with the keyboard alone: the key typed into the
// focused field, Enter to submit.
func (b *tab) signIn(key string) string {
	b.t.Helper()
	b.open("/console/")
	if f := read(b, "focus", chromedp.Evaluate[string](`document.activeElement.id`)); f != "key" {
		b.t.Errorf("the sign-in page focuses %q, want the key field", f)
	}
	b.navigate("sign in", chromedp.KeyEvent(key+"\r"))
	return b.main()
}

// capture checks the page with axe-core (no serious or critical WCAG 2.1
// A/AA violation: labels, contrast, landmarks, names) and, when
// UPDATE_SCREENSHOTS=1, writes it to docs/console/<name>.png (how the
// committed screenshots are made).
func (b *tab) capture(name string) {
	b.t.Helper()
	b.accessible(name)
	if os.Getenv("UPDATE_SCREENSHOTS") != "1" {
		return
	}
	png := read(b, "screenshot "+name, chromedp.FullScreenshot(100))
	if err := os.WriteFile(filepath.Join("..", "..", "docs", "console", name+".png"), png, 0o644); err != nil {
		b.t.Fatal(err)
	}
}

// axePath is axe-core as `make test-deps` installs it (npm ci).
var axePath = filepath.Join("testdata", "axe", "node_modules", "axe-core", "axe.min.js")

// axeViolation is the part of an axe-core result the test reports.
type axeViolation struct {
	ID     string   `json:"id"`
	Impact string   `json:"impact"`
	Help   string   `json:"help"`
	Nodes  []string `json:"nodes"`
}

// accessible runs axe-core in the page (injected through the DevTools
// protocol, which the console's Content-Security-Policy does not govern)
// and fails on any serious or critical violation.
func (b *tab) accessible(name string) {
	b.t.Helper()
	src, err := os.ReadFile(axePath)
	if err != nil {
		if os.Getenv("CI") == "true" {
			b.t.Fatalf("CI: %v: `make test-deps` installs axe-core", err)
		}
		b.t.Logf("skipping the accessibility check of %s: %v (`make test-deps` installs axe-core)", name, err)
		return
	}
	read(b, "inject axe-core", chromedp.Evaluate[bool](string(src)+";true"))
	const run = `axe.run(document, {runOnly: {type: "tag", values: ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]}})
		.then(r => r.violations.filter(v => v.impact === "serious" || v.impact === "critical")
		.map(v => ({id: v.id, impact: v.impact, help: v.help, nodes: v.nodes.slice(0, 3).map(n => n.target.join(" "))})))`
	for _, v := range read(b, "axe-core on "+name, chromedp.Evaluate[[]axeViolation](run, chromedp.EvalAwaitPromise)) {
		b.t.Errorf("%s: %s (%s): %s at %q", name, v.ID, v.Impact, v.Help, v.Nodes)
	}
}

// TestConsoleInABrowser drives the operations console in headless Chromium
// on a whole stack with a region of two trusts: RXX, whose change file has
// a quarantined starter row (an FTE of 1.8), and R07, whose truncated full
// file holds four leavers (scenario 07). The region's operator signs in,
// sees both trusts in the overview, opens RXX's change file and its
// quarantined row, replays it and sees its outcome, releases R07's held
// batch with a reason and sees its four leaver events appear (on the topic
// too), and follows one of RXX's events to its file and line. Then a key
// for RXX alone never sees R07, a key without operate cannot act, and a
// form posted from another site is refused.
func TestConsoleInABrowser(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end run in a browser")
	}
	browser := chrome(t)

	// On the wall clock, RXX's files dated to end today, as a live feed's.
	today := time.Now().In(londonTZ(t))
	r := breakStarterFrom(t, gen.StartEndingOn(today, 1), func(cols []string) { cols[25] = "1.8" }) // GO v2 ASA column 25: fte
	data, err := os.ReadFile(filepath.Join("testdata", "scenarios", "07-truncated-full-file-release.txtar"))
	if err != nil {
		t.Fatal(err)
	}
	sc, err := parseScenario("07", data)
	if err != nil {
		t.Fatal(err)
	}
	tenants, err := tenant.New(append([]tenant.Tenant{{Code: "RXX", VPDs: []string{"412"}}}, sc.tenants...)...)
	if err != nil {
		t.Fatal(err)
	}
	cfg := e2eStackConfig(t, t.TempDir(), tenants)
	cfg.Now = nil // the wall clock
	// The region's operator may do everything but read personal values:
	// the pages it sees are masked.
	// (admin would imply people:sensitive: the access log is read by the
	// platform team's key.)
	opsScopes := slices.DeleteFunc(slices.Clone(auth.Scopes), func(s string) bool {
		return s == auth.ScopePeopleSensitive || s == auth.ScopeAdmin
	})
	cfg.APIClients = []auth.Client{
		{Name: "region-ops", KeySHA256: auth.HashKey(consoleOps), Tenants: []string{auth.AllTenants}, Scopes: opsScopes},
		{Name: "platform", KeySHA256: auth.HashKey(consoleAdmin), Tenants: []string{auth.AllTenants}, Scopes: []string{auth.ScopeAdmin}},
		{Name: "rxx-operator", KeySHA256: auth.HashKey(consoleRXXOp), Tenants: []string{"RXX"}, Scopes: auth.Scopes},
		{Name: "rxx-reader", KeySHA256: auth.HashKey(consoleReader), Tenants: []string{"RXX"},
			Scopes: []string{auth.ScopeReadFiles, auth.ScopeQuarantineRead, auth.ScopeReadBatches, auth.ScopeReadEvents, auth.ScopeReadPeople}},
	}
	st := startStackConfig(t, cfg)
	rd, _ := r.deliver(t, st)
	full, truncated := sc.files["GO_907_EXP_GOF_20240301_00000001.DAT"], sc.files["GO_907_EXP_GOF_20240304_00000002.DAT"]
	dropFile(t, st.DropDir(), "R07", full.name, full.data)
	waitReports(t, rd, 3, 2*time.Minute)
	dropFile(t, st.DropDir(), "R07", truncated.name, truncated.data)
	waitReports(t, rd, 4, 2*time.Minute)
	batch := "hb-" + truncated.sha256[:16]
	changeSum := sha256.Sum256(r.data) // the change file as delivered, broken
	changeSHA := hex.EncodeToString(changeSum[:])

	ops := newTab(t, browser, st.APIURL())
	ops.open("/console/")
	ops.capture("sign-in")
	text := ops.signIn(consoleOps)
	if !strings.Contains(text, "Region overview") {
		t.Fatalf("after sign-in:\n%s", text)
	}
	// The first Tab reaches the skip link, which leads past the menu.
	ops.run("tab", chromedp.KeyEvent("\t"))
	if f := read(ops, "focus", chromedp.Evaluate[string](`document.activeElement.textContent`)); f != "Skip to content" {
		t.Errorf("the first Tab focuses %q, want the skip link", f)
	}
	// The overview: both trusts, R07 with its held batch.
	text = ops.until("/console/overview", "1 held")
	var rows []string
	rows = read(ops, "overview rows", chromedp.Evaluate[[]string](`[...document.querySelectorAll("#tenants tbody th[scope=row]")].map(e => e.textContent.trim())`))
	if !slices.Equal(rows, []string{"R07", "RXX"}) {
		t.Errorf("overview tenants = %q, want R07 and RXX", rows)
	}
	ops.capture("overview")

	// RXX's change file: its quarantined row, and the raw lines around it.
	ops.open("/console/t/RXX/files")
	ops.capture("files")
	text = ops.click(fmt.Sprintf(`a[href="/console/t/RXX/files/%s"]`, changeSHA))
	if !strings.Contains(text, r.change.Name) || !strings.Contains(text, "ESR-V019") {
		t.Errorf("file page of %s does not show its quarantined row (ESR-V019):\n%s", r.change.Name, text)
	}
	ops.capture("file")
	linesPath := fmt.Sprintf("/console/t/RXX/files/%s/lines?line=%d", changeSHA, r.line)
	text = ops.open(linesPath)
	hit := read(ops, "the quarantined line", chromedp.Text(css(`tr.hit`)))
	if !strings.Contains(hit, fmt.Sprint(r.line)) || !strings.Contains(hit, "1.8") {
		t.Errorf("raw lines: the highlighted line is %q, want line %d with its FTE 1.8", hit, r.line)
	}
	// Personal columns are masked for a key without people:sensitive: no
	// last name of the window's person rows is on the page.
	persons := 0
	for i, l := range strings.Split(string(r.data), "\n") {
		f := strings.Split(strings.TrimRight(l, "\r"), "~")
		if n := i + 1; n >= r.line-3 && n <= r.line+3 && f[0] == "PRA" && len(f) > 6 && f[6] != "" {
			persons++
			if strings.Contains(text, f[6]) {
				t.Errorf("raw lines show line %d's last name to a key without people:sensitive", n)
			}
		}
	}
	if persons == 0 || !strings.Contains(text, "last_name=redacted") {
		t.Errorf("raw lines: %d person rows around line %d, and no last_name=redacted: the masking check proves nothing", persons, r.line)
	}
	ops.capture("lines")

	// Quarantine triage: select the row, replay it with a reason, see its
	// outcome (the rule is unchanged, so it fails again, with its rule).
	ops.open("/console/t/RXX/quarantine?rule=ESR-V019")
	ops.capture("quarantine")
	ops.run("select the row", chromedp.Click(css(`form[action="/console/t/RXX/quarantine/replay"] input[name=id]`)))
	text = ops.submit(`form[action="/console/t/RXX/quarantine/replay"]`, map[string]string{`textarea[name=reason]`: "Checking the FTE rule"})
	if !strings.Contains(text, "Replay requested") {
		t.Fatalf("after replay:\n%s", text)
	}
	replayURL := read(ops, "replay url", chromedp.Location())
	replayPath := strings.TrimPrefix(strings.SplitN(replayURL, "?", 2)[0], st.APIURL())
	text = ops.until(replayPath, "failed_again")
	if !strings.Contains(text, "ESR-V019") || !strings.Contains(text, "Checking the FTE rule") {
		t.Errorf("replay outcome page:\n%s", text)
	}
	ops.capture("replay")

	// The held batch: release with a reason, see the leavers published.
	text = ops.open("/console/t/R07/held-batches/" + batch)
	for _, p := range []string{"20700007", "20700008", "20700009", "20700010"} {
		if !strings.Contains(text, p) {
			t.Errorf("held batch page does not list person %s:\n%s", p, text)
		}
	}
	ops.capture("held-batch")
	text = ops.submit(`form[action="/console/t/R07/held-batches/`+batch+`/release"]`, map[string]string{`textarea[name=reason]`: "Confirmed with HR: ward closure"})
	if !strings.Contains(text, "Release requested") {
		t.Fatalf("after release:\n%s", text)
	}
	text = ops.until("/console/t/R07/held-batches/"+batch, "RELEASED")
	if !strings.Contains(text, "Confirmed with HR: ward closure") || !strings.Contains(text, "region-ops") {
		t.Errorf("released batch page lacks the reason or the actor:\n%s", text)
	}
	text = ops.until("/console/t/R07/lineage", "leaver-confirmed")
	if n := strings.Count(text, "leaver-confirmed"); n != 4 {
		t.Errorf("R07's latest events show %d leaver-confirmed, want 4:\n%s", n, text)
	}
	events, err := rd.Events(context.Background(), "R07")
	if err != nil {
		t.Fatal(err)
	}
	var leavers []string
	for _, e := range events {
		if e.Type == "leaver-confirmed" {
			leavers = append(leavers, e.PersonID)
		}
	}
	slices.Sort(leavers)
	if !slices.Equal(leavers, []string{"20700007", "20700008", "20700009", "20700010"}) {
		t.Errorf("R07 leaver-confirmed on the topic: %q, want the four released", leavers)
	}

	// Lineage: one of RXX's events back to its file and line.
	var starter observe.Event
	rxx, err := rd.Events(context.Background(), "RXX")
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range rxx {
		if e.Type == "starter-created" && e.File == r.change.Name {
			starter = e
			break
		}
	}
	if starter.ID == "" {
		t.Fatalf("no starter from %s on RXX's topic", r.change.Name)
	}
	ops.open("/console/t/RXX/lineage")
	text = ops.submit(`form[action="/console/t/RXX/lineage"]`, map[string]string{`input[name=event]`: starter.ID})
	if !strings.Contains(text, r.change.Name) || !strings.Contains(text, starter.PersonID) {
		t.Errorf("lineage of %s:\n%s", starter.ID, text)
	}
	ops.capture("lineage")
	text = ops.click(fmt.Sprintf(`a[href="/console/t/RXX/files/%s/lines?line=%d"]`, changeSHA, starter.Line))
	hit = read(ops, "the event's line", chromedp.Text(css(`tr.hit`)))
	line := strings.TrimSuffix(strings.Split(string(r.data), "\n")[starter.Line-1], "\r")
	sum := sha256.Sum256([]byte(line))
	if !strings.Contains(text, hex.EncodeToString(sum[:])) || !strings.HasPrefix(strings.TrimSpace(hit), fmt.Sprint(starter.Line)) {
		t.Errorf("the event's line %d: highlighted %q; the page should show the line's SHA-256 %x", starter.Line, hit, sum)
	}
	ops.open("/console/t/RXX/people/" + starter.PersonID)
	ops.capture("person")
	ops.open("/console/t/R07/audit")
	ops.capture("audit")
	admin := newTab(t, browser, st.APIURL())
	admin.signIn(consoleAdmin)
	text = admin.open("/console/access-log?client=region-ops")
	if !strings.Contains(text, "/console/t/R07/held-batches/"+batch+"/release") {
		t.Errorf("the access log does not show region-ops's release through the console:\n%s", text)
	}
	admin.capture("access-log")
	ops.run("narrow", chromedp.EmulateViewport(390, 844))
	ops.open("/console/overview")
	ops.capture("overview-narrow")

	consoleIsolation(t, browser, st, r.change.Name, batch, truncated.name)
	consoleScopes(t, browser, st)
	consoleCSRF(t, browser, st, ops)
}

// consoleIsolation: a key for RXX alone sees only RXX in the overview, and
// every R07 page it tries answers the api's 403 with nothing of R07's.
func consoleIsolation(t *testing.T, browser context.Context, st *stack.Stack, rxxFile, r07Batch, r07File string) {
	b := newTab(t, browser, st.APIURL())
	b.signIn(consoleRXXOp)
	var rows []string
	b.open("/console/overview")
	rows = read(b, "overview rows", chromedp.Evaluate[[]string](`[...document.querySelectorAll("#tenants tbody th[scope=row]")].map(e => e.textContent.trim())`))
	if !slices.Equal(rows, []string{"RXX"}) {
		t.Errorf("overview for the RXX key = %q, want RXX only", rows)
	}
	b.open("/console/t/RXX/files")
	for _, path := range []string{"/console/t/R07/files", "/console/t/R07/held-batches", "/console/t/R07/held-batches/" + r07Batch,
		"/console/t/R07/quarantine", "/console/t/R07/lineage", "/console/t/R07/audit"} {
		if text := b.open(path); !strings.Contains(text, "403") {
			t.Errorf("%s as the RXX key: want the api's 403, got\n%s", path, text)
		}
	}
	b.open("/console/t/RXX/held-batches/" + r07Batch) // another tenant's id under RXX
	for _, page := range b.seen {
		// R07's refused pages are checked too: the api's 403 names the
		// tenant from the path, never its batch, file or people.
		for _, leak := range []string{r07Batch, r07File, "20700007", "20700010"} {
			if strings.Contains(page, leak) {
				t.Errorf("a page shown to the RXX key holds %q:\n%s", leak, page)
			}
		}
	}
	if !slices.ContainsFunc(b.seen, func(p string) bool { return strings.Contains(p, rxxFile) }) {
		t.Error("the RXX key never saw its own file: the isolation check proves nothing")
	}
}

// consoleScopes: a key without operate is offered no action, and a replay
// it forces through (a form built in the page, with its CSRF token) is the
// api's 403; nothing is replayed.
func consoleScopes(t *testing.T, browser context.Context, st *stack.Stack) {
	b := newTab(t, browser, st.APIURL())
	b.signIn(consoleReader)
	b.open("/console/t/RXX/quarantine")
	var forms int
	forms = read(b, "count action forms", chromedp.Evaluate[int](`document.querySelectorAll("form[method=post]:not([action='/console/sign-out'])").length`))
	if forms != 0 {
		t.Errorf("the reader is offered %d action form(s) on the quarantine page", forms)
	}
	var before int
	countReplays := func() int {
		var out struct {
			Replays []any `json:"replays"`
		}
		if code := callJSON(t, http.MethodGet, consoleOps, st.APIURL()+"/v1/tenants/RXX/replays", "", &out); code != http.StatusOK {
			t.Fatalf("replays: HTTP %d", code)
		}
		return len(out.Replays)
	}
	before = countReplays()
	var id string
	id = read(b, "a quarantined id", chromedp.Evaluate[string](`(document.querySelector("a[href*='/quarantine/q-']")||{href:""}).href.split("/").pop()`))
	if id == "" {
		t.Fatal("the reader's quarantine page lists no record")
	}
	read(b, "forge a replay", chromedp.Evaluate[bool](fmt.Sprintf(`(() => {
		const f = document.createElement("form"); f.method = "post"; f.action = "/console/t/RXX/quarantine/replay";
		const csrf = document.querySelector("input[name=csrf]").value;
		for (const [k, v] of [["csrf", csrf], ["id", %q], ["reason", "forced"]]) {
			const i = document.createElement("input"); i.type = "hidden"; i.name = k; i.value = v; f.appendChild(i); }
		document.body.appendChild(f); f.submit(); return true; })()`, id)))
	b.run("the answer", chromedp.Sleep(200*time.Millisecond), chromedp.WaitVisible(css("main h1")))
	if text := b.main(); !strings.Contains(text, "403") || !strings.Contains(text, "lacks the operate scope") {
		t.Errorf("a replay forced by the reader: want the api's 403, got\n%s", text)
	}
	if after := countReplays(); after != before {
		t.Errorf("replays %d → %d after the reader's refused replay", before, after)
	}
}

// consoleCSRF: a page on another site that posts a release form to the
// console (the operator signed in, in the same browser) is refused.
func consoleCSRF(t *testing.T, browser context.Context, st *stack.Stack, ops *tab) {
	audit := func() int {
		var out struct {
			Audit []any `json:"audit"`
		}
		if code := callJSON(t, http.MethodGet, consoleOps, st.APIURL()+"/v1/tenants/RXX/audit", "", &out); code != http.StatusOK {
			t.Fatalf("audit: HTTP %d", code)
		}
		return len(out.Audit)
	}
	before := audit()
	evil := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprintf(w, `<!doctype html><title>prize</title><form method="post" action="%s/console/t/RXX/quarantine/replay">
<input name="id" value="q-00000000000000000000"><input name="reason" value="forged"></form>
<script>document.forms[0].submit()</script>`, st.APIURL())
	}))
	t.Cleanup(evil.Close)
	// evil is 127.0.0.1 on another port: another origin, the same site.
	ops.run("visit the other site", chromedp.Navigate(evil.URL), chromedp.Sleep(time.Second), chromedp.WaitVisible(css("body")))
	text := read(ops, "read the answer", chromedp.Text(css("body")))
	if !strings.Contains(text, "403") || !strings.Contains(text, "cross-origin") {
		t.Errorf("a form posted from another origin: want 403 cross-origin, got\n%s", text)
	}
	if after := audit(); after != before {
		t.Errorf("audit rows %d → %d after a forged post", before, after)
	}
}
