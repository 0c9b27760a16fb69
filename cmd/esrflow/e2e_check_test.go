package main

import (
	"fmt"
	"net/http"
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
func checkAPI(t *testing.T, st *stack.Stack, published []gen.TruthLine, reportFile string) {
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
}
