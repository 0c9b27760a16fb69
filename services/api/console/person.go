package console

import (
	"net/http"

	"github.com/esrflow/esrflow/services/api/store"
)

// The person screen: a person's current state and the timeline of the
// events that made it, each leading to its source line and its lineage.
func init() {
	addRoute("GET /console/t/{tenant}/people/{person_id}", func(c *Console) pageHandler { return c.personTimeline })
}

type personPage struct {
	Person store.Person
	// Events are the person's events oldest first, as the api lists them
	// (recorded_at, then event id): a timeline reads top to bottom.
	Events []store.Event
}

// personTimeline shows a person's current state (with their current
// assignments, which the person's answer carries) and their events.
func (c *Console) personTimeline(w http.ResponseWriter, r *http.Request, v *view) {
	v.Title = "Person"
	id := r.PathValue("person_id")
	var data personPage
	if err := v.client.get(r.Context(), p("/v1/tenants/", v.Tenant, "/people/", id), &data.Person); err != nil {
		c.fail(w, r, v, err)
		return
	}
	var list struct {
		Events []store.Event `json:"events"`
	}
	if err := v.client.get(r.Context(), p("/v1/tenants/", v.Tenant, "/people/", id, "/events"), &list); err != nil {
		c.fail(w, r, v, err)
		return
	}
	data.Events = list.Events
	v.Title = "Person " + data.Person.PersonID
	v.Data = data
	c.render(w, http.StatusOK, "person", v)
}
