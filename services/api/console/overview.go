package console

import (
	"net/http"
)

// regionOverview is GET /v1/tenants.
type regionOverview struct {
	Tenants          []tenantOverview `json:"tenants"`
	FreshnessSeconds int64            `json:"freshness_seconds"`
	Consumer         struct {
		Lag            int64   `json:"lag"`
		StalledSeconds float64 `json:"stalled_seconds"`
		Ready          bool    `json:"ready"`
	} `json:"consumer"`
	Pipeline []struct {
		Group   string `json:"group"`
		Stage   string `json:"stage"`
		Lag     *int64 `json:"lag"`
		Members int    `json:"members"`
		State   string `json:"state"`
		Error   string `json:"error"`
	} `json:"pipeline"`
}

type tenantOverview struct {
	Tenant           string `json:"tenant"`
	LastAcceptedFile *struct {
		Name       string `json:"name"`
		SHA256     string `json:"sha256"`
		RunDate    string `json:"run_date"`
		ReportedAt string `json:"reported_at"`
	} `json:"last_accepted_file"`
	LastAcceptedAgeSeconds *int64 `json:"last_accepted_age_seconds"`
	Stale                  bool   `json:"stale"`
	FilesHeld              int64  `json:"files_held"`
	HeldBatches            int64  `json:"held_batches"`
	Today                  struct {
		Files          int64   `json:"files"`
		Rejected       int64   `json:"rejected"`
		RowsRead       int64   `json:"rows_read"`
		Quarantined    int64   `json:"quarantined"`
		QuarantineRate float64 `json:"quarantine_rate"`
	} `json:"today"`
}

type overviewPage struct {
	Region *regionOverview
	// Refused is the api's answer when the key may not read the overview
	// (it lacks files:read): the page then lists the key's tenants only.
	Refused *apiError
	Tenants []string
}

// overview is the region overview: every tenant the key may see, with its
// last accepted file and age (stale past the freshness window), files held
// for a sequence, held leaver batches and today's quarantine rate, the api
// consumer's lag, and each stage's consumer group.
func (c *Console) overview(w http.ResponseWriter, r *http.Request, v *view) {
	v.Title = "Region overview"
	var region regionOverview
	data := overviewPage{}
	if err := v.client.get(r.Context(), "/v1/tenants", &region); err != nil {
		if statusOf(err) != http.StatusForbidden {
			c.fail(w, r, v, err)
			return
		}
		data.Refused = err.(*apiError)
		if !v.User.AllTenants() {
			data.Tenants = v.User.Tenants
		}
	} else {
		data.Region = &region
	}
	v.Data = data
	c.render(w, http.StatusOK, "overview", v)
}
