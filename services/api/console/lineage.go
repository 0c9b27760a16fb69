package console

import (
	"net/http"
	"net/url"
	"strings"

	"github.com/esrflow/esrflow/services/api/store"
)

// The lineage screen: find an event or a person of a tenant, browse the
// tenant's event feed, and follow one event back to the file, line and raw
// record it came from and the stages it passed.
func init() {
	addRoute("GET /console/t/{tenant}/lineage", func(c *Console) pageHandler { return c.lineageSearch })
	addRoute("GET /console/t/{tenant}/events/{event_id}", func(c *Console) pageHandler { return c.eventLineage })
}

// eventType is a type the feed can be filtered by (GET …/events?type=),
// with the words the filter shows for it.
type eventType struct{ Value, Label string }

var eventTypes = []eventType{
	{"starter-created", "starters"}, {"leaver-confirmed", "leavers"},
	{"position-updated", "position changes"}, {"leaver-reversed", "reversed leavers"},
}

// latestEvents is how many events the search page shows.
const latestEvents = "50"

type lineageSearchPage struct {
	Types []eventType
	// Type and Since are the listing's filters, as given.
	Type, Since string
	// Day and Week are the dates a day and a week ago (London): quick
	// filters that make the walk to the feed's end short.
	Day, Week string
	// Events are the latest events matching, newest first.
	Events []store.Event
	// Refused is the api's answer when the key may not read the feed
	// (no events:read): the search form still works for people.
	Refused *apiError
}

// lineageSearch is the search form (an event id or a person id, each taking
// the user to its page) above the tenant's latest events.
func (c *Console) lineageSearch(w http.ResponseWriter, r *http.Request, v *view) {
	q := r.URL.Query()
	// The form is a GET, so an id typed in lands on its page's own address,
	// which can be bookmarked and shared like any other.
	for _, s := range []struct{ param, page, what string }{{"event", "/events/", "event"}, {"person", "/people/", "person"}} {
		id := strings.TrimSpace(q.Get(s.param))
		switch id {
		case "":
			continue
		case ".", "..":
			// No id, and as a path segment (even escaped) the browser
			// would resolve it to another page.
			c.fail(w, r, v, &apiError{Status: http.StatusNotFound, Detail: "no " + s.what + " has the id " + id})
			return
		}
		http.Redirect(w, r, p("/console/t/", v.Tenant, s.page, id), http.StatusSeeOther)
		return
	}
	v.Title = "Lineage"
	now := c.now().In(london)
	data := lineageSearchPage{Types: eventTypes, Type: q.Get("type"), Since: q.Get("since"),
		Day: now.AddDate(0, 0, -1).Format("2006-01-02"), Week: now.AddDate(0, 0, -7).Format("2006-01-02")}
	var latest struct {
		Events []store.Event `json:"events"`
	}
	api := url.Values{"order": {"newest"}, "limit": {latestEvents}, "type": {data.Type}, "since": {data.Since}}
	if err := v.client.get(r.Context(), withQuery(p("/v1/tenants/", v.Tenant, "/events"), api), &latest); err != nil {
		// A refused feed (no events:read) still leaves the person search;
		// anything else (another tenant, a bad filter) is the api's answer.
		if statusOf(err) != http.StatusForbidden || !v.User.Grants(v.Tenant) {
			c.fail(w, r, v, err)
			return
		}
		data.Refused = err.(*apiError)
	}
	data.Events = latest.Events
	v.Data = data
	c.render(w, http.StatusOK, "lineage", v)
}

// eventLineage is one event's lineage: the record it came from (file,
// line, the raw record's hash), the file's reports, the schema and Kafka
// position it was written at, and the stages it passed, in order. What
// no record carries is said so, as the api lists it, never guessed.
func (c *Console) eventLineage(w http.ResponseWriter, r *http.Request, v *view) {
	v.Title = "Event lineage"
	var doc store.Lineage
	if err := v.client.get(r.Context(), p("/v1/tenants/", v.Tenant, "/events/", r.PathValue("event_id"), "/lineage"), &doc); err != nil {
		c.fail(w, r, v, err)
		return
	}
	v.Data = doc
	c.render(w, http.StatusOK, "event", v)
}
