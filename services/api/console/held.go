package console

import (
	"net/http"
	"net/url"

	"github.com/esrflow/esrflow/services/api/store"
)

// Held leaver batches: the batches publish's leaver guard held, the
// threshold that tripped, the people held (as the api shows them to the
// key), the decision and its audit trail, and releasing or rejecting a
// held batch with a reason.

func init() {
	addRoute("GET /console/t/{tenant}/held-batches", func(c *Console) pageHandler { return c.heldBatchList })
	addRoute("GET /console/t/{tenant}/held-batches/{id}", func(c *Console) pageHandler { return c.heldBatchDetail })
	addRoute("POST /console/t/{tenant}/held-batches/{id}/release", func(c *Console) pageHandler { return c.decideBatch("release", "released") })
	addRoute("POST /console/t/{tenant}/held-batches/{id}/reject", func(c *Console) pageHandler { return c.decideBatch("reject", "rejected") })
}

type heldBatchListPage struct {
	Status   string
	Statuses []string
	Batches  []*store.HeldBatchDetail
}

func (c *Console) heldBatchList(w http.ResponseWriter, r *http.Request, v *view) {
	v.Title = "Held leaver batches"
	status := r.URL.Query().Get("status")
	var out struct {
		Batches []*store.HeldBatchDetail `json:"held_batches"`
	}
	q := url.Values{"status": {status}, "limit": {r.URL.Query().Get("limit")}}
	if err := v.client.get(r.Context(), withQuery(p("/v1/tenants/", v.Tenant, "/held-batches"), q), &out); err != nil {
		c.fail(w, r, v, err)
		return
	}
	v.Data = heldBatchListPage{Status: status, Statuses: []string{"HELD", "RELEASED", "REJECTED"}, Batches: out.Batches}
	c.render(w, http.StatusOK, "held-batches", v)
}

type heldBatchPage struct {
	Batch *store.HeldBatchDetail
	Audit []store.AuditEntry
	// AuditRefused is the api's answer when the key may not read the
	// audit: the rest of the page stands without it.
	AuditRefused *apiError
	// Pending is a decision requested and not yet carried out by publish:
	// no second one is offered (the api would refuse it, 409).
	Pending *store.AuditEntry
}

func (c *Console) heldBatchDetail(w http.ResponseWriter, r *http.Request, v *view) {
	v.Title = "Held leaver batch"
	var b store.HeldBatchDetail
	if err := v.client.get(r.Context(), p("/v1/tenants/", v.Tenant, "/held-batches/", r.PathValue("id")), &b); err != nil {
		c.fail(w, r, v, err)
		return
	}
	v.Title = "Held leaver batch " + b.BatchID
	data := heldBatchPage{Batch: &b}
	var audit struct {
		Audit []store.AuditEntry `json:"audit"`
	}
	q := url.Values{"batch_id": {b.BatchID}}
	if err := v.client.get(r.Context(), withQuery(p("/v1/tenants/", v.Tenant, "/audit"), q), &audit); err != nil {
		if statusOf(err) != http.StatusForbidden {
			c.fail(w, r, v, err)
			return
		}
		data.AuditRefused = err.(*apiError)
	}
	data.Audit = audit.Audit
	for i, a := range audit.Audit {
		if a.Status == "REQUESTED" {
			data.Pending = &audit.Audit[i]
			break
		}
	}
	v.Data = data
	c.render(w, http.StatusOK, "held-batch", v)
}

// decideBatch posts the operator's decision (action release or reject,
// with the form's reason) to the api, which checks the scope, the reason
// and that the batch is still held, records it and sends the command.
func (c *Console) decideBatch(action, done string) pageHandler {
	return func(w http.ResponseWriter, r *http.Request, v *view) {
		v.Title = "Held leaver batch"
		id := r.PathValue("id")
		body := map[string]string{"reason": r.PostForm.Get("reason")}
		if err := v.client.post(r.Context(), p("/v1/tenants/", v.Tenant, "/held-batches/", id, "/"+action), body, nil); err != nil {
			c.fail(w, r, v, err)
			return
		}
		http.Redirect(w, r, p("/console/t/", v.Tenant, "/held-batches/", id)+"?done="+done, http.StatusSeeOther)
	}
}
