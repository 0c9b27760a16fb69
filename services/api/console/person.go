package console

import (
	"net/http"
)

// The person screen: a person's current state and the timeline of the
// events that made it, each leading to its source line and its lineage.
func init() {
	addRoute("GET /console/t/{tenant}/people/{person_id}", func(c *Console) pageHandler { return c.personTimeline })
}

// personDoc is GET …/people/{person_id}. Only the members named here are
// shown: the api has already minimised the answer for a key without
// people:sensitive, and decoding into fixed fields means a member added to
// the api later is not shown until someone decides it should be.
type personDoc struct {
	PersonID         string  `json:"person_id"`
	VPD              string  `json:"vpd"`
	EmployeeNumber   string  `json:"employee_number"`
	EmploymentStatus string  `json:"employment_status"`
	StartDate        *string `json:"start_date"`
	Scheduled        bool    `json:"scheduled"`
	Rehire           bool    `json:"rehire"`
	LeavingDate      *string `json:"leaving_date"`
	LeavingReason    *string `json:"leaving_reason"`
	LastWorkingDay   *string `json:"last_working_day"`
	Assignments      []struct {
		AssignmentNumber string `json:"assignment_number"`
		PositionNumber   string `json:"position_number"`
		PositionTitle    string `json:"position_title"`
		Organisation     string `json:"organisation"`
		Grade            string `json:"grade"`
		StaffGroup       string `json:"staff_group"`
		JobRole          string `json:"job_role"`
		Location         string `json:"location"`
	} `json:"assignments"`
	LastEventID string `json:"last_event_id"`
	UpdatedAt   string `json:"updated_at"`
}

// timelineEvent is one of GET …/people/{person_id}/events: the event's
// own source (file and line) is in its data.
type timelineEvent struct {
	EventID       string `json:"event_id"`
	Type          string `json:"type"`
	EffectiveDate string `json:"effective_date"`
	RecordedAt    string `json:"recorded_at"`
	Data          struct {
		Source struct {
			FileName   string `json:"file_name"`
			FileSHA256 string `json:"file_sha256"`
			Line       int64  `json:"line"`
		} `json:"source"`
	} `json:"data"`
}

type personPage struct {
	Person personDoc
	// Events are the person's events oldest first, as the api lists them
	// (recorded_at, then event id): a timeline reads top to bottom.
	Events []timelineEvent
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
		Events []timelineEvent `json:"events"`
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
