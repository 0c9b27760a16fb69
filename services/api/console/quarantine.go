package console

import (
	"bytes"
	"cmp"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/url"
	"slices"

	"github.com/esrflow/esrflow/services/api/store"
)

// Quarantine triage: the tenant's quarantined records by rule and file, one
// record's violations and raw fields, and replaying selected records (or
// every record a filter matches) after a mapping or rule fix. The replays
// themselves are in replays.go.

func init() {
	addRoute("GET /console/t/{tenant}/quarantine", func(c *Console) pageHandler { return c.quarantineList })
	addRoute("GET /console/t/{tenant}/quarantine/{id}", func(c *Console) pageHandler { return c.quarantineRecord })
	addRoute("POST /console/t/{tenant}/quarantine/replay", func(c *Console) pageHandler { return c.quarantineReplay })
}

// quarantineFilters are the listing's filters, as the api names them; a
// filtered replay sends the same ones.
var quarantineFilters = []string{"rule", "file", "status", "stage", "record_type", "entity_kind"}

// quarantineItem is one record of GET /v1/tenants/{t}/quarantine[/{id}]
// (and …/files/{sha256}/quarantine), with what the pages ask of it.
type quarantineItem struct{ store.QuarantineItem }

// Replayable mirrors the api's rule (docs/api.md, Replays) so the page
// offers a checkbox only where a replay can succeed; the api checks again.
func (q *quarantineItem) Replayable() bool {
	return (q.Stage == "NORMALISE" || q.Stage == "VALIDATE") && (q.Status == "open" || q.Status == "failed_again")
}

// Rules are the record's rule codes, each once, in the api's order.
func (q *quarantineItem) Rules() []string {
	var out []string
	for _, v := range q.Violations {
		if !slices.Contains(out, v.Rule) {
			out = append(out, v.Rule)
		}
	}
	return out
}

// CanonicalJSON is the canonical entity indented for reading; "" when the
// api left it out.
func (q *quarantineItem) CanonicalJSON() string {
	if len(q.Canonical) == 0 || string(q.Canonical) == "null" {
		return ""
	}
	var b bytes.Buffer
	if json.Indent(&b, q.Canonical, "", "  ") != nil {
		return string(q.Canonical)
	}
	return b.String()
}

type quarantineListPage struct {
	Filters url.Values
	Items   []*quarantineItem
	ByRule  []ruleCount
	// Replayable counts the page's rows that can be selected.
	Replayable int
	// Next is the next page's query ("" on the last page).
	Next string
	// IdempotencyKey is fresh per render: submitting the same form twice
	// sends the same key, and the api answers the replay it already has.
	IdempotencyKey string
	Statuses       []string
	Stages         []string
	EntityKinds    []string
}

type ruleCount struct {
	Rule  string
	Count int
	// Link is this listing filtered by the rule (other filters kept).
	Link string
}

// Filtered says whether any filter is set: replaying "every row matching
// the filter" is offered only then, so an empty form cannot select the
// tenant's whole quarantine by accident.
func (p quarantineListPage) Filtered() bool {
	for _, k := range quarantineFilters {
		if p.Filters.Get(k) != "" {
			return true
		}
	}
	return false
}

func (c *Console) quarantineList(w http.ResponseWriter, r *http.Request, v *view) {
	v.Title = "Quarantine"
	in := r.URL.Query()
	filters := url.Values{}
	for _, k := range quarantineFilters {
		filters.Set(k, in.Get(k))
	}
	q := url.Values{}
	for k := range filters {
		q.Set(k, filters.Get(k))
	}
	q.Set("cursor", in.Get("cursor"))
	q.Set("limit", in.Get("limit"))
	var out struct {
		Quarantine []*quarantineItem `json:"quarantine"`
		NextCursor string            `json:"next_cursor"`
	}
	if err := v.client.get(r.Context(), withQuery(p("/v1/tenants/", v.Tenant, "/quarantine"), q), &out); err != nil {
		c.fail(w, r, v, err)
		return
	}
	data := quarantineListPage{Filters: filters, Items: out.Quarantine, IdempotencyKey: newIdempotencyKey(),
		Statuses:    []string{"open", "replaying", "resolved", "failed_again"},
		Stages:      []string{"INGEST", "NORMALISE", "VALIDATE", "PUBLISH"},
		EntityKinds: []string{"person", "assignment", "position", "organisation", "location"}}
	counts := map[string]int{}
	for _, it := range out.Quarantine {
		for _, rule := range it.Rules() {
			counts[rule]++
		}
		if it.Replayable() {
			data.Replayable++
		}
	}
	listing := p("/console/t/", v.Tenant, "/quarantine")
	for rule, n := range counts {
		f := cloneValues(filters)
		f.Set("rule", rule)
		data.ByRule = append(data.ByRule, ruleCount{Rule: rule, Count: n, Link: withQuery(listing, f)})
	}
	slices.SortFunc(data.ByRule, func(a, b ruleCount) int {
		return cmp.Or(cmp.Compare(b.Count, a.Count), cmp.Compare(a.Rule, b.Rule))
	})
	if out.NextCursor != "" {
		next := cloneValues(filters)
		next.Set("limit", in.Get("limit"))
		next.Set("cursor", out.NextCursor)
		data.Next = withQuery(listing, next)
	}
	v.Data = data
	c.render(w, http.StatusOK, "quarantine", v)
}

type quarantineRecordPage struct {
	Item           *quarantineItem
	IdempotencyKey string
}

func (c *Console) quarantineRecord(w http.ResponseWriter, r *http.Request, v *view) {
	v.Title = "Quarantined record"
	var it quarantineItem
	if err := v.client.get(r.Context(), p("/v1/tenants/", v.Tenant, "/quarantine/", r.PathValue("id")), &it); err != nil {
		c.fail(w, r, v, err)
		return
	}
	v.Title = "Quarantined record " + it.ID
	v.Data = quarantineRecordPage{Item: &it, IdempotencyKey: newIdempotencyKey()}
	c.render(w, http.StatusOK, "quarantine-record", v)
}

// quarantineReplay sends the checked records (id, many) or, with
// select=filter, every replayable record the posted filter matches to the
// api's replay, and shows the replay. Everything is checked by the api: a
// missing reason, no record checked, a record that cannot be replayed.
func (c *Console) quarantineReplay(w http.ResponseWriter, r *http.Request, v *view) {
	v.Title = "Replay"
	f := r.PostForm
	body := map[string]any{"reason": f.Get("reason"), "idempotency_key": f.Get("idempotency_key")}
	if f.Get("select") == "filter" {
		filter := map[string]string{}
		for _, k := range quarantineFilters {
			if f.Get(k) != "" {
				filter[k] = f.Get(k)
			}
		}
		body["filter"] = filter
	} else {
		ids := f["id"]
		if ids == nil { // none checked: the api's "1 to 500" answer says so
			ids = []string{}
		}
		body["ids"] = ids
	}
	var out struct {
		ReplayID string `json:"replay_id"`
	}
	if err := v.client.post(r.Context(), p("/v1/tenants/", v.Tenant, "/quarantine/replay"), body, &out); err != nil {
		c.fail(w, r, v, err)
		return
	}
	http.Redirect(w, r, p("/console/t/", v.Tenant, "/replays/", out.ReplayID)+"?done=replayed", http.StatusSeeOther)
}

// newIdempotencyKey is a replay form's key: random, so two renders of the
// form are two requests, and one form posted twice is one.
func newIdempotencyKey() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b) // crypto/rand.Read never fails since Go 1.24
	return "console-" + base64.RawURLEncoding.EncodeToString(b)
}

func cloneValues(v url.Values) url.Values {
	out := url.Values{}
	for k, vs := range v {
		out[k] = slices.Clone(vs)
	}
	return out
}
