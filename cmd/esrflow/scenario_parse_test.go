package main

// Parsing the scenario files (testdata/scenarios/*.txtar, described in
// docs/scenarios.md): the step script, the GO v2 files completed with their
// header, trailer and padding, and the expected events in their one-line
// form, which is also how published events are rendered for comparison.

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"golang.org/x/tools/txtar"
	"gopkg.in/yaml.v3"

	"github.com/esrflow/esrflow/cmd/esrflow/internal/observe"
	"github.com/esrflow/esrflow/esr/format/gov2"
	"github.com/esrflow/esrflow/esr/tenant"
	"github.com/esrflow/esrflow/schemas"
	"github.com/esrflow/esrflow/schemas/gen/eventsv1"
)

// scenario is one parsed testdata/scenarios/<name>.txtar.
type scenario struct {
	name    string
	desc    string
	tenants []tenant.Tenant
	files   map[string]*goFile // by file name
	steps   []step
	// events[n] are the events step n newly publishes, in canonical form.
	events map[int][]string
}

// goFile is a GO v2 file as dropped: the scenario's rows with HDR and TRL
// added and short rows padded.
type goFile struct {
	name, vpd, kind string // kind: F or C
	run             string // run date YYYYMMDD
	data            []byte
	sha256          string
}

// step is one line of the script: "<n> <verb> <args...> [key=value...]".
type step struct {
	n    int
	verb string
	args []string
	opts map[string]string
	text string
}

// ownStack reports whether the scenario moves the clock or restarts
// publish: both would disturb other scenarios, so it gets a stack of its own.
func (sc *scenario) ownStack() bool {
	return slices.ContainsFunc(sc.steps, func(s step) bool { return s.verb == "clock" || s.verb == "restart-publish" })
}

// tenantOf returns the code of the scenario tenant owning a VPD.
func (sc *scenario) tenantOf(vpd string) (string, bool) {
	for _, t := range sc.tenants {
		if slices.Contains(t.VPDs, vpd) {
			return t.Code, true
		}
	}
	return "", false
}

var (
	goName   = regexp.MustCompile(`^GO_(\d{3,4})_[A-Z]{3}_GO([FC])_(\d{8})_\d{8}\.DAT$`)
	stepLine = regexp.MustCompile(`^(\d+)\s+(\S+)(.*)$`)
	// verbs lists each step and how many positional arguments it takes.
	verbs = map[string]int{"drop": 1, "clock": 1, "restart-publish": 0, "held": 1, "release": 1, "reject": 1, "scheduled": 1}
)

func parseScenario(name string, data []byte) (*scenario, error) {
	ar := txtar.Parse(data)
	sc := &scenario{name: name, files: map[string]*goFile{}, events: map[int][]string{}}
	var desc []string
	for i, line := range strings.Split(string(ar.Comment), "\n") {
		line = strings.TrimSpace(line)
		m := stepLine.FindStringSubmatch(line)
		if _, known := verbs[at(m, 2)]; m != nil && len(sc.steps) == 0 && !known {
			m = nil // a description line that starts with a number
		}
		if m == nil {
			if len(sc.steps) > 0 && line != "" && !strings.HasPrefix(line, "#") {
				return nil, fmt.Errorf("comment line %d: %q is not a step (<n> <verb> ...)", i+1, line)
			}
			if len(sc.steps) == 0 {
				desc = append(desc, line)
			}
			continue
		}
		s, err := parseStep(m)
		if err != nil {
			return nil, fmt.Errorf("comment line %d: %w", i+1, err)
		}
		if s.n != len(sc.steps)+1 {
			return nil, fmt.Errorf("comment line %d: step %d, want %d (steps are numbered 1, 2, ...)", i+1, s.n, len(sc.steps)+1)
		}
		sc.steps = append(sc.steps, s)
	}
	sc.desc = strings.TrimSpace(strings.Join(desc, " "))
	if sc.desc == "" || len(sc.steps) == 0 {
		return nil, fmt.Errorf("the comment needs a description and at least one step")
	}

	raw := map[string][]byte{}
	for _, f := range ar.Files {
		switch {
		case f.Name == "tenants.yaml":
			var ts []tenant.Tenant
			dec := yaml.NewDecoder(bytes.NewReader(f.Data))
			dec.KnownFields(true)
			if err := dec.Decode(&ts); err != nil {
				return nil, fmt.Errorf("tenants.yaml: %w", err)
			}
			if _, err := tenant.New(ts...); err != nil {
				return nil, fmt.Errorf("tenants.yaml: %w", err)
			}
			sc.tenants = ts
		case strings.HasSuffix(f.Name, ".events"):
			n, err := strconv.Atoi(strings.TrimSuffix(f.Name, ".events"))
			if err != nil || n < 1 || n > len(sc.steps) {
				return nil, fmt.Errorf("%s: want <step number>.events for one of the %d steps", f.Name, len(sc.steps))
			}
			for i, line := range strings.Split(string(f.Data), "\n") {
				line = strings.TrimSpace(line)
				if line == "" || strings.HasPrefix(line, "#") {
					continue
				}
				c, err := canonical(line)
				if err != nil {
					return nil, fmt.Errorf("%s:%d: %w", f.Name, i+1, err)
				}
				sc.events[n] = append(sc.events[n], c)
			}
		case goName.MatchString(f.Name):
			raw[f.Name] = f.Data
		default:
			return nil, fmt.Errorf("unexpected file %q (want tenants.yaml, GO v2 .DAT files and <n>.events)", f.Name)
		}
	}
	if len(sc.tenants) == 0 {
		return nil, fmt.Errorf("no tenants.yaml")
	}

	// Build each file at its first drop, so its header's previous run date
	// is the run date of the VPD's file dropped before it.
	prevRun := map[string]string{}
	for _, s := range sc.steps {
		if got, want := len(s.args), verbs[s.verb]; got != want {
			return nil, fmt.Errorf("step %d: %s takes %d argument(s), has %d", s.n, s.verb, want, got)
		}
		switch s.verb {
		case "drop", "held", "release", "reject":
			name := s.args[0]
			if _, ok := raw[name]; !ok {
				return nil, fmt.Errorf("step %d: no file %s in the scenario", s.n, name)
			}
			m := goName.FindStringSubmatch(name)
			if _, ok := sc.tenantOf(m[1]); !ok {
				return nil, fmt.Errorf("step %d: VPD %s of %s belongs to no tenant of tenants.yaml", s.n, m[1], name)
			}
			if s.verb != "drop" || sc.files[name] != nil {
				continue
			}
			f, err := buildFile(name, raw[name], prevRun[m[1]])
			if err != nil {
				return nil, err
			}
			sc.files[name] = f
			prevRun[m[1]] = f.run
		case "clock":
			if _, err := time.Parse(time.DateOnly, s.args[0]); err != nil {
				return nil, fmt.Errorf("step %d: clock wants YYYY-MM-DD: %w", s.n, err)
			}
		}
	}
	for name := range raw {
		if sc.files[name] == nil {
			return nil, fmt.Errorf("%s is never dropped", name)
		}
	}
	return sc, nil
}

func at(ss []string, i int) string {
	if i < len(ss) {
		return ss[i]
	}
	return ""
}

func parseStep(m []string) (step, error) {
	n, _ := strconv.Atoi(m[1])
	s := step{n: n, verb: m[2], opts: map[string]string{}, text: strings.TrimSpace(m[0])}
	if _, ok := verbs[s.verb]; !ok {
		return s, fmt.Errorf("unknown step %q", s.verb)
	}
	toks, err := tokens(m[3])
	if err != nil {
		return s, err
	}
	for _, tok := range toks {
		if k, v, ok := strings.Cut(tok, "="); ok {
			s.opts[k] = v
		} else {
			s.args = append(s.args, tok)
		}
	}
	return s, nil
}

// columns is each GO v2 record type's column count, the type included.
func columns(recordType string) int {
	if spec := gov2.Spec(recordType); spec != nil {
		return len(spec.Columns)
	}
	return 0
}

// buildFile completes a scenario's GO v2 file. Lines starting with # and
// blank lines are the scenario's comments and are dropped. Unless the file
// brings its own, a HDR is added (creation 02:00 on the run date; previous
// run: prev, or the day before) and a TRL with the line count. A row with
// fewer columns than its record type has is padded with empty columns.
func buildFile(name string, src []byte, prev string) (*goFile, error) {
	m := goName.FindStringSubmatch(name)
	f := &goFile{name: name, vpd: m[1], kind: m[2], run: m[3]}
	run, err := time.Parse("20060102", f.run)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	if prev == "" {
		prev = run.AddDate(0, 0, -1).Format("20060102")
	}
	var rows []string
	sc := bufio.NewScanner(bytes.NewReader(src))
	sc.Buffer(make([]byte, 64*1024), 1<<20)
	for sc.Scan() {
		line := strings.TrimRight(sc.Text(), " \t\r")
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		cols := strings.Split(line, "~")
		if n := columns(cols[0]); n > len(cols) {
			line += strings.Repeat("~", n-len(cols))
		} else if n == 0 && cols[0] != "HDR" && cols[0] != "TRL" {
			return nil, fmt.Errorf("%s: unknown record type %q", name, cols[0])
		} else if n > 0 && n < len(cols) {
			return nil, fmt.Errorf("%s: %s row with %d columns, the type has %d: %.40s", name, cols[0], len(cols), n, line)
		}
		rows = append(rows, line)
	}
	if len(rows) == 0 || !strings.HasPrefix(rows[0], "HDR~") {
		hdr := fmt.Sprintf("HDR~%s~%s 020000~%s~%s 000000~%s 000000~01", name, f.run, f.vpd, prev, f.run)
		rows = append([]string{hdr}, rows...)
	}
	if !strings.HasPrefix(rows[len(rows)-1], "TRL~") {
		rows = append(rows, fmt.Sprintf("TRL~%d", len(rows)+1))
	}
	f.data = []byte(strings.Join(rows, "\n") + "\n")
	sum := sha256.Sum256(f.data)
	f.sha256 = hex.EncodeToString(sum[:])
	return f, nil
}

// numbered is a built file with line numbers, for failure messages.
func (f *goFile) numbered() string {
	var b strings.Builder
	for i, l := range strings.Split(strings.TrimSuffix(string(f.data), "\n"), "\n") {
		if len(l) > 110 {
			l = l[:110] + "…"
		}
		fmt.Fprintf(&b, "%4d  %s\n", i+1, l)
	}
	return b.String()
}

// --- the one-line event form ---

// eventKeys is the order of an event line's fields after "<TENANT> <type>".
// Values holding spaces are Go-quoted; a flag (scheduled, rehire) is a bare
// word. A field whose value is empty, false or 0 is left out, so a line
// that omits it says it is empty.
var eventKeys = []string{"person", "emp", "date", "src", "asg", "post", "change", "before", "after",
	"reason", "lwd", "late", "final_end", "scheduled", "rehire", "from", "to", "reversal", "reverses", "new"}

var eventTypeKeys = map[string][]string{
	schemas.StarterCreated:  {"person", "emp", "date", "src", "asg", "post", "scheduled", "rehire", "from"},
	schemas.LeaverConfirmed: {"person", "emp", "date", "src", "reason", "lwd", "late", "final_end", "to"},
	schemas.PositionUpdated: {"person", "emp", "date", "src", "asg", "change", "before", "after"},
	// reverses= names the reversed leaver by its source (FILE:LINE); the
	// harness checks reversed_event_id against that leaver's id.
	schemas.LeaverReversed: {"person", "emp", "date", "src", "reason", "reversal", "reverses", "new"},
}

var flagKeys = map[string]bool{"scheduled": true, "rehire": true}

// tokens splits a line on blanks, keeping Go-quoted values whole.
func tokens(s string) ([]string, error) {
	var out []string
	for {
		s = strings.TrimLeft(s, " \t")
		if s == "" {
			return out, nil
		}
		end := 0
		for end < len(s) && s[end] != ' ' && s[end] != '\t' {
			if s[end] == '"' {
				q, err := strconv.QuotedPrefix(s[end:])
				if err != nil {
					return nil, fmt.Errorf("bad quoting in %q", s)
				}
				end += len(q)
				continue
			}
			end++
		}
		tok := s[:end]
		if k, v, ok := strings.Cut(tok, "="); ok && strings.HasPrefix(v, `"`) {
			u, err := strconv.Unquote(v)
			if err != nil {
				return nil, fmt.Errorf("bad quoting in %q", tok)
			}
			tok = k + "=" + u
		}
		out = append(out, tok)
		s = s[end:]
	}
}

// render writes an event line in canonical order.
func render(tenantCode, typ string, fields map[string]string) string {
	var b strings.Builder
	b.WriteString(tenantCode + " " + typ)
	for _, k := range eventKeys {
		v := fields[k]
		switch {
		case v == "" || v == "false" || (k == "late" && v == "0"):
		case flagKeys[k]:
			b.WriteString(" " + k)
		case strings.ContainsAny(v, " \t\"") || strings.Contains(v, "="):
			b.WriteString(" " + k + "=" + strconv.Quote(v))
		default:
			b.WriteString(" " + k + "=" + v)
		}
	}
	return b.String()
}

// canonical parses an expected event line and renders it canonically, so
// the order of its fields does not matter. Unknown fields are errors.
func canonical(line string) (string, error) {
	toks, err := tokens(line)
	if err != nil {
		return "", err
	}
	if len(toks) < 2 {
		return "", fmt.Errorf("want <TENANT> <event type> field=value ...: %q", line)
	}
	allowed, ok := eventTypeKeys[toks[1]]
	if !ok {
		return "", fmt.Errorf("unknown event type %q", toks[1])
	}
	fields := map[string]string{}
	for _, tok := range toks[2:] {
		k, v, hasValue := strings.Cut(tok, "=")
		if !hasValue && flagKeys[k] {
			v = "true"
		}
		if !slices.Contains(allowed, k) || (!hasValue && !flagKeys[k]) {
			return "", fmt.Errorf("%s: field %q is not one of %v", toks[1], tok, allowed)
		}
		if _, dup := fields[k]; dup {
			return "", fmt.Errorf("field %s twice", k)
		}
		fields[k] = v
	}
	for _, k := range []string{"person", "emp", "date", "src"} {
		if fields[k] == "" {
			return "", fmt.Errorf("%s: %s is required", toks[1], k)
		}
	}
	return render(toks[0], toks[1], fields), nil
}

func day(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.DateOnly)
}

func dayPtr(t *time.Time) string {
	if t == nil {
		return ""
	}
	return day(*t)
}

func strPtr(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

// snapshot renders a position snapshot as
// number|title|organisation|grade|staff group|job role|occupation|location.
func snapshot(s *eventsv1.PositionSnapshot) string {
	if s == nil {
		return ""
	}
	return strings.Join([]string{s.PositionNumber, s.PositionTitle, s.Organisation, s.Grade, s.StaffGroup, s.JobRole,
		s.OccupationCode, s.Location}, "|")
}

// renderPublished renders a published event in the one-line form, and
// returns what the line does not show but every event must satisfy.
// leavers maps each published leaver's event id to its source (FILE:LINE),
// so a leaver-reversed names the leaver it reverses.
func renderPublished(e observe.Event, leavers map[string]string) (line string, problems []string) {
	f := map[string]string{"person": e.PersonID, "emp": e.EmployeeNumber, "date": e.EffectiveDate,
		"src": fmt.Sprintf("%s:%d", e.File, e.Line)}
	switch v := e.Value.(type) {
	case eventsv1.StarterCreated:
		f["asg"], f["post"] = v.AssignmentNumber, v.PositionNumber+"|"+v.PositionTitle+"|"+v.Organisation
		f["scheduled"], f["rehire"] = strconv.FormatBool(v.Scheduled), strconv.FormatBool(v.Rehire)
		f["from"] = strPtr(v.TransferFromTenant)
		if day(v.StartDate) != e.EffectiveDate {
			problems = append(problems, fmt.Sprintf("start_date %s != effective_date", day(v.StartDate)))
		}
	case eventsv1.LeaverConfirmed:
		f["reason"], f["lwd"], f["late"] = v.LeavingReason, dayPtr(v.LastWorkingDay), strconv.Itoa(v.DaysLate)
		f["final_end"], f["to"] = dayPtr(v.FinalAssignmentEndDate), strPtr(v.TransferToTenant)
		if day(v.LeavingDate) != e.EffectiveDate {
			problems = append(problems, fmt.Sprintf("leaving_date %s != effective_date", day(v.LeavingDate)))
		}
	case eventsv1.PositionUpdated:
		f["asg"], f["change"] = v.AssignmentNumber, string(v.Change)
		f["before"], f["after"] = snapshot(v.Before), snapshot(v.After)
	case eventsv1.LeaverReversed:
		f["reason"], f["reversal"], f["new"] = v.LeavingReason, v.Reversal, dayPtr(v.NewLeavingDate)
		f["reverses"] = leavers[v.ReversedEventID]
		if f["reverses"] == "" {
			f["reverses"] = "unknown:" + v.ReversedEventID
		}
		if day(v.ReversedLeavingDate) != e.EffectiveDate {
			problems = append(problems, fmt.Sprintf("reversed_leaving_date %s != effective_date", day(v.ReversedLeavingDate)))
		}
	default:
		problems = append(problems, fmt.Sprintf("undecoded event value %T", e.Value))
	}
	return render(e.Tenant, e.Type, f), problems
}

// eventID is the id docs/publish.md specifies: a UUID (version 5 bits,
// RFC 4122 variant) from the SHA-256 of the cause's fields, each followed by
// a 0 byte.
func eventID(tenantCode, typ, personID, change, asg, fileSHA string, line int) string {
	h := sha256.New()
	for _, f := range []string{"esrflow/event/v1", tenantCode, typ, personID, change, asg, fileSHA, strconv.Itoa(line)} {
		h.Write([]byte(f))
		h.Write([]byte{0})
	}
	b := h.Sum(nil)[:16]
	b[6] = b[6]&0x0f | 0x50
	b[8] = b[8]&0x3f | 0x80
	x := hex.EncodeToString(b)
	return x[:8] + "-" + x[8:12] + "-" + x[12:16] + "-" + x[16:20] + "-" + x[20:]
}
