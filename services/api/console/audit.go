package console

import (
	"net/http"
	"net/url"

	"github.com/esrflow/esrflow/services/api/store"
)

// The audit screen: a tenant's decisions (held batches released or
// rejected, held files released or discarded, replays), newest first, as
// the api's audit log records them.
func init() {
	addRoute("GET /console/t/{tenant}/audit", func(c *Console) pageHandler { return c.auditLog })
}

type auditPage struct {
	// BatchID, FileSHA256 and Limit are the filters, as given.
	BatchID, FileSHA256, Limit string
	Limits                     []string
	Rows                       []store.AuditEntry
}

// pageSizes are the page sizes the audit and access log pages offer; the
// api's default is 100.
var pageSizes = []string{"50", "100", "500"}

// auditLog lists the tenant's decisions, filtered by batch or file.
func (c *Console) auditLog(w http.ResponseWriter, r *http.Request, v *view) {
	v.Title = "Audit"
	q := r.URL.Query()
	data := auditPage{BatchID: q.Get("batch_id"), FileSHA256: q.Get("file_sha256"), Limit: q.Get("limit"), Limits: pageSizes}
	if data.Limit == "" {
		data.Limit = "100"
	}
	var list struct {
		Audit []store.AuditEntry `json:"audit"`
	}
	api := url.Values{"batch_id": {data.BatchID}, "file_sha256": {data.FileSHA256}, "limit": {data.Limit}}
	if err := v.client.get(r.Context(), withQuery(p("/v1/tenants/", v.Tenant, "/audit"), api), &list); err != nil {
		c.fail(w, r, v, err)
		return
	}
	data.Rows = list.Audit
	v.Data = data
	c.render(w, http.StatusOK, "audit", v)
}
