package console

import (
	"net/http"
	"net/url"

	"github.com/esrflow/esrflow/services/api/store"
)

// The access log screen (admin): every request to the api and the console,
// newest first, filtered and paged as GET /v1/access-log does.
func init() {
	addRoute("GET /console/access-log", func(c *Console) pageHandler { return c.accessLog })
}

type accessLogPage struct {
	// Client, Tenant, Status, Since, Limit and Cursor are the filters,
	// the page size and the position, as given.
	Client, Tenant, Status, Since, Limit, Cursor string
	Limits                                       []string
	// Tenants is the key's tenants when it is not for every tenant: the
	// api then wants one of them named, so the form offers only those.
	Tenants []string
	Rows    []store.AccessLogEntry
	Next    string
	// Listed is false when the api refused the listing (the page shows
	// its reason above the form).
	Listed bool
}

// accessLog lists the access log. A key without admin gets the api's 403
// page; an admin key for some tenants must name one of them, and the api's
// refusal is shown above a form that offers just those.
func (c *Console) accessLog(w http.ResponseWriter, r *http.Request, v *view) {
	v.Title = "Access log"
	q := r.URL.Query()
	data := accessLogPage{Client: q.Get("client"), Tenant: q.Get("tenant"), Status: q.Get("status"), Since: q.Get("since"),
		Limit: q.Get("limit"), Cursor: q.Get("cursor"), Limits: pageSizes}
	if data.Limit == "" {
		data.Limit = "100"
	}
	if !v.User.AllTenants() {
		data.Tenants = v.User.Tenants
	}
	var list struct {
		AccessLog  []store.AccessLogEntry `json:"access_log"`
		NextCursor string                 `json:"next_cursor"`
	}
	api := url.Values{"client": {data.Client}, "tenant": {data.Tenant}, "status": {data.Status}, "since": {data.Since}, "limit": {data.Limit}, "cursor": {data.Cursor}}
	err := v.client.get(r.Context(), withQuery("/v1/access-log", api), &list)
	switch {
	case err == nil:
		data.Rows, data.Next, data.Listed = list.AccessLog, list.NextCursor, true
	case v.User.Admin() && (statusOf(err) == http.StatusForbidden || statusOf(err) == http.StatusBadRequest):
		// The key may read the log, the request was wrong (no tenant or
		// another one, a bad status or date): keep the form to fix it.
		v.Error = err.(*apiError)
	default:
		c.fail(w, r, v, err)
		return
	}
	v.Data = data
	status := http.StatusOK
	if v.Error != nil {
		status = v.Error.Status
	}
	c.render(w, status, "access-log", v)
}
