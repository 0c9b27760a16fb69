package console

import (
	"cmp"
	"net/http"
	"net/url"
	"strings"

	"github.com/esrflow/esrflow/services/api/store"
)

// The files screen: a tenant's file reports, each file's report with its
// counts, rules, events, quarantined rows and the operators' decisions, the
// events a file caused, the raw lines around a line, and the release or
// discard of a held file.
func init() {
	addRoute("GET /console/t/{tenant}/files", func(c *Console) pageHandler { return c.filesList })
	addRoute("GET /console/t/{tenant}/files/{sha256}", func(c *Console) pageHandler { return c.fileDetail })
	addRoute("GET /console/t/{tenant}/files/{sha256}/events", func(c *Console) pageHandler { return c.fileEventsPage })
	addRoute("GET /console/t/{tenant}/files/{sha256}/lines", func(c *Console) pageHandler { return c.fileLinesPage })
	addRoute("POST /console/t/{tenant}/files/{sha256}/release", func(c *Console) pageHandler { return c.fileDecision("release", "file-released") })
	addRoute("POST /console/t/{tenant}/files/{sha256}/discard", func(c *Console) pageHandler { return c.fileDecision("discard", "file-discarded") })
}

// fileStatuses are the statuses the list can be filtered by, as the api
// takes them (GET …/files?status=).
var fileStatuses = []string{"ACCEPTED", "REJECTED", "DUPLICATE", "HELD", "RELEASED", "DISCARDED"}

// fileReport is a file report as GET …/files and …/files/{sha256} give it
// (esr.ops.file-reports.v1, with what the api adds).
type fileReport struct {
	Tenant string `json:"tenant"`
	File   struct {
		Name     string `json:"name"`
		SHA256   string `json:"sha256"`
		Dialect  string `json:"dialect"`
		Kind     string `json:"kind"`
		Sequence int64  `json:"sequence"`
		RunDate  string `json:"run_date"`
		Size     int64  `json:"size"`
	} `json:"file"`
	Status           string           `json:"status"`
	Reason           *string          `json:"reason"`
	RowsRead         int64            `json:"rows_read"`
	EntitiesAccepted int64            `json:"entities_accepted"`
	Quarantined      int64            `json:"quarantined"`
	Corrections      int64            `json:"corrections"`
	Ignored          int64            `json:"ignored"`
	EventsEmitted    map[string]int64 `json:"events_emitted"`
	LeaversHeld      int64            `json:"leavers_held"`
	ReportedAt       string           `json:"reported_at"`
	RuleSetVersion   string           `json:"rule_set_version"`
	Warnings         int64            `json:"warnings"`
	TopRules         []struct {
		Rule  string `json:"rule"`
		Count int64  `json:"count"`
	} `json:"top_rules"`
	ReplayID    *string `json:"replay_id"`
	DuplicateOf *struct {
		Name       string `json:"name"`
		SHA256     string `json:"sha256"`
		AcceptedAt string `json:"accepted_at"`
	} `json:"duplicate_of"`
	Hold *struct {
		Feed                    string  `json:"feed"`
		LastSequence            int64   `json:"last_sequence"`
		LastFile                *string `json:"last_file"`
		LastRunDate             *string `json:"last_run_date"`
		AwaitingSequences       []int64 `json:"awaiting_sequences"`
		AwaitingPreviousRunDate *string `json:"awaiting_previous_run_date"`
		RefreshRequest          *string `json:"refresh_request"`
	} `json:"hold"`
	Decision *struct {
		DecisionID string `json:"decision_id"`
		Actor      string `json:"actor"`
		Reason     string `json:"reason"`
		DecidedAt  string `json:"decided_at"`
	} `json:"decision"`
	// PendingDecision is set in the listing on a file whose release or
	// discard ingest has not carried out yet.
	PendingDecision *store.AuditEntry `json:"pending_decision"`
	// Duplicates, History and Decisions come with the report by SHA-256.
	Duplicates []fileReport       `json:"duplicates"`
	History    []fileReport       `json:"history"`
	Decisions  []store.AuditEntry `json:"decisions"`
}

// EventsTotal is the number of events the file caused, of every type.
func (f *fileReport) EventsTotal() int64 {
	var n int64
	for _, c := range f.EventsEmitted {
		n += c
	}
	return n
}

// Accounted is the rows the stages accounted for: every row read is an
// accepted entity, a correction, an ignored row or a quarantined one
// (docs/normalise-validate.md, FILE_END).
func (f *fileReport) Accounted() int64 {
	return f.EntitiesAccepted + f.Corrections + f.Ignored + f.Quarantined
}

// Withheld is, for a file rejected over its error budget, the good rows
// neither published nor quarantined (docs/validation.md): rows read less
// the ignored and quarantined ones.
func (f *fileReport) Withheld() int64 { return f.RowsRead - f.Ignored - f.Quarantined }

// Reconciles says whether the report's counts add up: for a file read and
// accepted, rows read = accepted + corrections + ignored + quarantined; for
// a rejected one nothing is accepted and the rest are withheld, never fewer
// than none. A file never read (held, discarded, a duplicate) has no rows.
func (f *fileReport) Reconciles() bool {
	if f.Status == "REJECTED" {
		return f.EntitiesAccepted == 0 && f.Corrections == 0 && f.Withheld() >= 0
	}
	return f.RowsRead == f.Accounted()
}

// Pending is the release or discard on its way (REQUESTED, ingest has not
// reported it), if any: a second one would be refused.
func (f *fileReport) Pending() *store.AuditEntry {
	if f.PendingDecision != nil {
		return f.PendingDecision
	}
	for i := range f.Decisions {
		if f.Decisions[i].Status == "REQUESTED" {
			return &f.Decisions[i]
		}
	}
	return nil
}

type fileList struct {
	Files      []fileReport `json:"files"`
	NextCursor string       `json:"next_cursor"`
}

type filesPage struct {
	Files    []fileReport
	Statuses []string
	// Status and Limit are the filter as asked (kept on the next page).
	Status, Limit string
	// Cursor is this page's (a later page), Next the next page's.
	Cursor, Next string
}

// filesList is a tenant's files, newest first, filtered by status and
// paged by the api's cursor.
func (c *Console) filesList(w http.ResponseWriter, r *http.Request, v *view) {
	v.Title = "Files"
	q := r.URL.Query()
	data := filesPage{Statuses: fileStatuses, Status: strings.ToUpper(q.Get("status")), Limit: q.Get("limit"), Cursor: q.Get("cursor")}
	api := url.Values{"status": {data.Status}, "limit": {data.Limit}, "cursor": {data.Cursor}}
	var list fileList
	if err := v.client.get(r.Context(), withQuery(p("/v1/tenants/", v.Tenant, "/files"), api), &list); err != nil {
		c.fail(w, r, v, err)
		return
	}
	data.Files, data.Next = list.Files, list.NextCursor
	v.Data = data
	c.render(w, http.StatusOK, "files", v)
}

type filePage struct {
	Report *fileReport
	// Quarantined is the first page of the file's quarantined rows;
	// MoreQuarantined says the quarantine screen has the rest.
	Quarantined     []*quarantineItem
	MoreQuarantined bool
	// QuarantineRefused is the api's answer when the key may not read the
	// quarantine (no quarantine:read): the report is shown without it.
	QuarantineRefused *apiError
}

// fileDetail is one file's report: its counts and whether they reconcile,
// the rules that quarantined rows, the events by type, why it was held,
// rejected or a duplicate, its history, the decisions on it, its
// quarantined rows, and for a held file the release and discard forms.
func (c *Console) fileDetail(w http.ResponseWriter, r *http.Request, v *view) {
	var rep fileReport
	if err := v.client.get(r.Context(), p("/v1/tenants/", v.Tenant, "/files/", r.PathValue("sha256")), &rep); err != nil {
		c.fail(w, r, v, err)
		return
	}
	v.Title = "File " + rep.File.Name
	data := filePage{Report: &rep}
	// The report may have been found by name: its rows are the SHA-256's.
	var q struct {
		Quarantine []*quarantineItem `json:"quarantine"`
		NextCursor string            `json:"next_cursor"`
	}
	err := v.client.get(r.Context(), p("/v1/tenants/", v.Tenant, "/files/", rep.File.SHA256, "/quarantine"), &q)
	switch {
	case statusOf(err) == http.StatusForbidden:
		data.QuarantineRefused = err.(*apiError)
	case err != nil:
		c.fail(w, r, v, err)
		return
	default:
		data.Quarantined, data.MoreQuarantined = q.Quarantine, q.NextCursor != ""
	}
	v.Data = data
	c.render(w, http.StatusOK, "file", v)
}

// fileDecision posts a release or discard of a held file with the form's
// reason; the api checks the scope, the reason and that the file is held.
func (c *Console) fileDecision(action, done string) pageHandler {
	return func(w http.ResponseWriter, r *http.Request, v *view) {
		v.Title = "File " + action
		sha := r.PathValue("sha256")
		body := struct {
			Reason string `json:"reason"`
		}{r.PostForm.Get("reason")}
		if err := v.client.post(r.Context(), p("/v1/tenants/", v.Tenant, "/files/", sha, "/"+action), body, nil); err != nil {
			c.fail(w, r, v, err)
			return
		}
		http.Redirect(w, r, p("/console/t/", v.Tenant, "/files/", sha)+"?done="+done, http.StatusSeeOther)
	}
}

type fileEventsPage struct {
	SHA256 string
	// Name is the file's name, when the key may read its report.
	Name   string
	Events []store.Event
	Limit  string
	Next   string
}

// fileEventsPage is the events a file caused, in line order, paged.
func (c *Console) fileEventsPage(w http.ResponseWriter, r *http.Request, v *view) {
	sha := r.PathValue("sha256")
	q := r.URL.Query()
	data := fileEventsPage{SHA256: sha, Limit: q.Get("limit")}
	var list struct {
		Events     []store.Event `json:"events"`
		NextCursor string        `json:"next_cursor"`
	}
	api := url.Values{"limit": {data.Limit}, "cursor": {q.Get("cursor")}}
	if err := v.client.get(r.Context(), withQuery(p("/v1/tenants/", v.Tenant, "/files/", sha, "/events"), api), &list); err != nil {
		c.fail(w, r, v, err)
		return
	}
	data.Events, data.Next = list.Events, list.NextCursor
	// The name only labels the page: a key without files:read still sees
	// the events it may read.
	var rep fileReport
	if v.client.get(r.Context(), p("/v1/tenants/", v.Tenant, "/files/", sha), &rep) == nil {
		data.Name = rep.File.Name
	}
	v.Title = "Events of file " + cmp.Or(data.Name, shorten(sha, 12))
	v.Data = data
	c.render(w, http.StatusOK, "file-events", v)
}

// fileLinesAnswer is GET …/files/{sha256}/lines: raw lines of the archived
// file, each column named and personal ones redacted by the api.
type fileLinesAnswer struct {
	File struct {
		Name    string `json:"name"`
		SHA256  string `json:"sha256"`
		Dialect string `json:"dialect"`
	} `json:"file"`
	Line      int64 `json:"line"`
	Context   int64 `json:"context"`
	EndOfFile bool  `json:"end_of_file"`
	Lines     []struct {
		Line       int64   `json:"line"`
		RecordType string  `json:"record_type"`
		RawSHA256  *string `json:"raw_sha256"`
		TooLong    bool    `json:"too_long"`
		Fields     []struct {
			Name     string  `json:"name"`
			Value    *string `json:"value"`
			Redacted bool    `json:"redacted"`
		} `json:"fields"`
	} `json:"lines"`
}

type fileLinesPage struct {
	SHA256 string
	Line   string
	// Lines is nil when the api could not give them (Error says why).
	Lines *fileLinesAnswer
}

// fileLinesPage is the raw lines around ?line= (the api's ?context= lines
// either side), the asked line marked. A file no longer archived (404) or
// an api without an archive (501) is the api's message on the page.
func (c *Console) fileLinesPage(w http.ResponseWriter, r *http.Request, v *view) {
	sha := r.PathValue("sha256")
	q := r.URL.Query()
	data := fileLinesPage{SHA256: sha, Line: q.Get("line")}
	v.Title = "Lines of file " + shorten(sha, 12)
	var ans fileLinesAnswer
	api := url.Values{"line": {data.Line}, "context": {q.Get("context")}}
	err := v.client.get(r.Context(), withQuery(p("/v1/tenants/", v.Tenant, "/files/", sha, "/lines"), api), &ans)
	switch st := statusOf(err); {
	case err == nil:
		data.Lines = &ans
		v.Title = "Lines of " + ans.File.Name
	case st == http.StatusNotFound || st == http.StatusNotImplemented || st == http.StatusBadRequest:
		// The page stays: the user can go back to the file.
		v.Error = err.(*apiError)
		v.Data = data
		c.render(w, st, "file-lines", v)
		return
	default:
		c.fail(w, r, v, err)
		return
	}
	v.Data = data
	c.render(w, http.StatusOK, "file-lines", v)
}
