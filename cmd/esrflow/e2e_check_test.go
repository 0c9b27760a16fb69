package main

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"regexp"
	"testing"
	"time"

	"go.uber.org/zap/zapcore"

	"github.com/esrflow/esrflow/cmd/esrflow/internal/stack"
	"github.com/esrflow/esrflow/esr/gen"
)

const zapWarn = zapcore.WarnLevel

// checkHeld checks that publish holds exactly the leavers whose due date
// falls after the last file, with their dates and sources.
func checkHeld(t *testing.T, st *stack.Stack, want []gen.TruthLine) {
	t.Helper()
	got := map[string]string{}
	for _, h := range st.Publish.ScheduledLeavers("RXX") {
		got[h.PersonID] = fmt.Sprintf("%s %s:%d", h.Due.Format(time.DateOnly), h.SourceFile, h.SourceLine)
	}
	if len(got) != len(want) {
		t.Errorf("publish holds %d leavers, truth expects %d", len(got), len(want))
	}
	for _, l := range want {
		if w := fmt.Sprintf("%s %s:%d", l.Due, l.File, l.Line); got[l.PersonID] != w {
			t.Errorf("held leaver %s: %q, want %q", l.PersonID, got[l.PersonID], w)
		}
	}
}

// apiPerson is the part of GET /v1/tenants/{t}/people/{id} the test checks.
type apiPerson struct {
	PersonID         string  `json:"person_id"`
	EmployeeNumber   string  `json:"employee_number"`
	EmploymentStatus string  `json:"employment_status"`
	LeavingDate      *string `json:"leaving_date"`
}

// checkAPI checks that the api, fed only by the published events, serves
// each person's state as of their last event, and a file's report.
func checkAPI(t *testing.T, st *stack.Stack, published []gen.TruthLine, reportFile string, fileBytes func(name string) []byte) {
	t.Helper()
	last := map[string]gen.TruthLine{}
	for _, l := range published {
		if l.Type == gen.TypeStarter || l.Type == gen.TypeLeaver {
			last[l.PersonID] = l // truth lines are in file order
		}
	}
	deadline := time.Now().Add(time.Minute)
	for id, l := range last {
		want := "EMPLOYED"
		if l.Type == gen.TypeLeaver {
			want = "LEFT"
		}
		var p apiPerson
		for {
			code := getJSON(t, st.APIURL()+"/v1/tenants/rxx/people/"+id, &p)
			if code == http.StatusOK && p.EmploymentStatus == want {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("api person %s: HTTP %d, %+v; want %s after %s on %s", id, code, p, want, l.Type, l.EffectiveDate)
			}
			time.Sleep(100 * time.Millisecond)
		}
		if p.EmployeeNumber != l.EmployeeNumber {
			t.Errorf("api person %s: employee number %q, want %q", id, p.EmployeeNumber, l.EmployeeNumber)
		}
		if l.Type == gen.TypeLeaver && (p.LeavingDate == nil || *p.LeavingDate != l.EffectiveDate) {
			t.Errorf("api person %s: leaving date %v, want %s", id, p.LeavingDate, l.EffectiveDate)
		}
	}
	var report map[string]any
	if code := getJSON(t, st.APIURL()+"/v1/tenants/RXX/files/"+reportFile, &report); code != http.StatusOK {
		t.Fatalf("api file report for %s: HTTP %d", reportFile, code)
	}
	if code := getJSON(t, st.APIURL()+"/v1/tenants/RXX/people/99999999", nil); code != http.StatusNotFound {
		t.Errorf("unknown person: HTTP %d, want 404", code)
	}
	checkLineage(t, st, published, fileBytes)
}

// checkLineage follows the first published event of each type back to its
// ESR row through the api's lineage (the file and line the truth names,
// the file's ACCEPTED report and rule set, the schema subject and the
// publish time), that what the pipeline recorded is all there (the SHA-256
// of the row's bytes in the generated file, the mapping and rule-set
// versions, every stage's time in order, nothing left unrecorded), finds it
// among the events of its file, and finds its person by employee number.
func checkLineage(t *testing.T, st *stack.Stack, published []gen.TruthLine, fileBytes func(name string) []byte) {
	t.Helper()
	seen := map[string]bool{}
	for _, l := range published {
		if seen[l.Type] || l.Tenant != "" && l.Tenant != "RXX" {
			continue
		}
		seen[l.Type] = true
		var evs struct {
			Events []struct {
				EventID    string `json:"event_id"`
				Type       string `json:"type"`
				RecordedAt string `json:"recorded_at"`
				Data       struct {
					Source struct {
						FileName   string `json:"file_name"`
						FileSHA256 string `json:"file_sha256"`
						Line       int    `json:"line"`
					} `json:"source"`
				} `json:"data"`
			} `json:"events"`
		}
		if code := getJSON(t, st.APIURL()+"/v1/tenants/RXX/people/"+l.PersonID+"/events", &evs); code != http.StatusOK {
			t.Fatalf("events of %s: HTTP %d", l.PersonID, code)
		}
		var id, sha, recorded string
		for _, e := range evs.Events {
			if e.Type == l.Type && e.Data.Source.FileName == l.File && e.Data.Source.Line == l.Line {
				id, sha, recorded = e.EventID, e.Data.Source.FileSHA256, e.RecordedAt
			}
		}
		if id == "" {
			t.Errorf("no %s event of %s from %s:%d in the api", l.Type, l.PersonID, l.File, l.Line)
			continue
		}
		var lin struct {
			Source struct {
				FileName   string `json:"file_name"`
				FileSHA256 string `json:"file_sha256"`
				Line       int    `json:"line"`
				RawSHA256  string `json:"raw_record_sha256"`
			} `json:"source"`
			File *struct {
				Name           string `json:"name"`
				Status         string `json:"status"`
				RuleSetVersion string `json:"rule_set_version"`
				MappingVersion string `json:"mapping_version"`
			} `json:"file"`
			NotRecorded []string `json:"not_recorded"`
			Schema      struct {
				Subject string `json:"subject"`
			} `json:"schema"`
			Stages []struct {
				Stage string  `json:"stage"`
				At    *string `json:"at"`
			} `json:"stages"`
		}
		if code := getJSON(t, st.APIURL()+"/v1/tenants/RXX/events/"+id+"/lineage", &lin); code != http.StatusOK {
			t.Fatalf("lineage of %s: HTTP %d", id, code)
		}
		if lin.Source.FileName != l.File || lin.Source.Line != l.Line || lin.Source.FileSHA256 != sha {
			t.Errorf("lineage of %s: source %+v, want %s:%d", id, lin.Source, l.File, l.Line)
		}
		if lin.File == nil || lin.File.Name != l.File || lin.File.Status != "ACCEPTED" || lin.File.RuleSetVersion == "" {
			t.Errorf("lineage of %s: file %+v, want %s ACCEPTED with its rule set", id, lin.File, l.File)
		}
		if want := "esr.rxx." + l.Type + ".v1-value"; lin.Schema.Subject != want {
			t.Errorf("lineage of %s: subject %q, want %q", id, lin.Schema.Subject, want)
		}
		if len(lin.Stages) != 5 || lin.Stages[3].Stage != "publish" || lin.Stages[3].At == nil || *lin.Stages[3].At != recorded {
			t.Errorf("lineage of %s: stages %+v, want publish at %s", id, lin.Stages, recorded)
		}
		// What the pipeline recorded: the hash of the row's bytes as in the
		// generated file (line l.Line, without its terminator), ...
		lines := bytes.Split(fileBytes(l.File), []byte("\n"))
		if l.Line < 1 || l.Line > len(lines) {
			t.Fatalf("%s has no line %d", l.File, l.Line)
		}
		sum := sha256.Sum256(bytes.TrimSuffix(lines[l.Line-1], []byte("\r")))
		if want := hex.EncodeToString(sum[:]); lin.Source.RawSHA256 != want {
			t.Errorf("lineage of %s: raw_record_sha256 %q, want %q (SHA-256 of %s line %d)", id, lin.Source.RawSHA256, want, l.File, l.Line)
		}
		// ... the mapping version, ...
		if lin.File != nil && !regexp.MustCompile(`^mp-[0-9a-f]{12}$`).MatchString(lin.File.MappingVersion) {
			t.Errorf("lineage of %s: mapping_version %q", id, lin.File.MappingVersion)
		}
		// ... every stage's time, in pipeline order (publish runs on
		// e2eClock here, the generated files' days, so its time is checked
		// above against recorded_at and left out of the order; ingest,
		// normalise, validate and the api run on the wall clock), ...
		var prev time.Time
		for i, s := range lin.Stages {
			if s.At == nil {
				t.Errorf("lineage of %s: stage %s has no time", id, s.Stage)
				continue
			}
			at, err := time.Parse(time.RFC3339Nano, *s.At)
			if err != nil {
				t.Errorf("lineage of %s: stage %s at %q: %v", id, s.Stage, *s.At, err)
			}
			if s.Stage == "publish" {
				continue
			}
			if i > 0 && at.Before(prev) {
				t.Errorf("lineage of %s: stage %s at %s, before the previous stage's %s", id, s.Stage, *s.At, prev)
			}
			prev = at
		}
		// ... and nothing left unrecorded.
		if len(lin.NotRecorded) != 0 {
			t.Errorf("lineage of %s: not_recorded %v, want none", id, lin.NotRecorded)
		}
		var fileEvs struct {
			Events []struct {
				EventID string `json:"event_id"`
			} `json:"events"`
		}
		found := false
		for cursor := ""; ; {
			var page struct {
				Events []struct {
					EventID string `json:"event_id"`
				} `json:"events"`
				NextCursor string `json:"next_cursor"`
			}
			if code := getJSON(t, st.APIURL()+"/v1/tenants/RXX/files/"+sha+"/events?limit=1000&cursor="+cursor, &page); code != http.StatusOK {
				t.Fatalf("events of file %s: HTTP %d", l.File, code)
			}
			fileEvs.Events = append(fileEvs.Events, page.Events...)
			if cursor = page.NextCursor; cursor == "" {
				break
			}
		}
		for _, e := range fileEvs.Events {
			found = found || e.EventID == id
		}
		if !found {
			t.Errorf("event %s is not among the %d events of its file %s", id, len(fileEvs.Events), l.File)
		}
		var people struct {
			People []struct {
				PersonID string `json:"person_id"`
			} `json:"people"`
		}
		code := getJSON(t, st.APIURL()+"/v1/tenants/RXX/people?employee_number="+l.EmployeeNumber, &people)
		match := false // (a rehire may share the number with an earlier person id)
		for _, p := range people.People {
			match = match || p.PersonID == l.PersonID
		}
		if code != http.StatusOK || !match {
			t.Errorf("people with employee number %s: HTTP %d %+v, want %s", l.EmployeeNumber, code, people.People, l.PersonID)
		}
	}
	if len(seen) != 3 {
		t.Errorf("lineage checked for %v, want every event type", seen)
	}
}
