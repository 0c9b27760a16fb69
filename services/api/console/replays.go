package console

import (
	"net/http"
	"net/url"

	"github.com/esrflow/esrflow/services/api/store"
)

// Replays: the tenant's replays of quarantined records, and each one's
// outcome row by row (accepted with the events it published, quarantined
// again with its new violations, or rejected with its batch).

func init() {
	addRoute("GET /console/t/{tenant}/replays", func(c *Console) pageHandler { return c.replayList })
	addRoute("GET /console/t/{tenant}/replays/{id}", func(c *Console) pageHandler { return c.replayDetail })
}

// replay is GET /v1/tenants/{t}/replays/{id} (the listing has the same
// fields without row_outcomes), with what the pages ask of it.
type replay struct{ store.ReplayDetail }

// OutcomeCounts are the outcome counts in a fixed order, each shown even
// when zero, so a glance down the column compares like with like.
func (r *replay) OutcomeCounts() []outcomeCount {
	var out []outcomeCount
	for _, o := range []string{"pending", "accepted", "failed_again", "rejected"} {
		out = append(out, outcomeCount{o, r.Outcomes[o]})
	}
	return out
}

type outcomeCount struct {
	Outcome string
	Count   int
}

func (c *Console) replayList(w http.ResponseWriter, r *http.Request, v *view) {
	v.Title = "Replays"
	var out struct {
		Replays []*replay `json:"replays"`
	}
	q := url.Values{"limit": {r.URL.Query().Get("limit")}}
	if err := v.client.get(r.Context(), withQuery(p("/v1/tenants/", v.Tenant, "/replays"), q), &out); err != nil {
		c.fail(w, r, v, err)
		return
	}
	v.Data = out.Replays
	c.render(w, http.StatusOK, "replays", v)
}

func (c *Console) replayDetail(w http.ResponseWriter, r *http.Request, v *view) {
	v.Title = "Replay"
	var rp replay
	if err := v.client.get(r.Context(), p("/v1/tenants/", v.Tenant, "/replays/", r.PathValue("id")), &rp); err != nil {
		c.fail(w, r, v, err)
		return
	}
	v.Title = "Replay " + rp.ReplayID
	v.Data = &rp
	c.render(w, http.StatusOK, "replay", v)
}
