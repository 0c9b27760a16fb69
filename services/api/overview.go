package api

import (
	"context"
	"net/http"
	"slices"
	"time"
	_ "time/tzdata" // Europe/London must resolve on hosts without a zoneinfo database

	"github.com/esrflow/esrflow/services/api/auth"
	"github.com/esrflow/esrflow/services/api/store"
)

// london is the zone whose date "today" is in the region overview: the
// NHS's working day, whatever zone the api's host runs in.
var london = func() *time.Location {
	l, err := time.LoadLocation("Europe/London")
	if err != nil {
		panic(err) // embedded by time/tzdata: cannot fail
	}
	return l
}()

// openScopes are what an anonymous caller acts with in the open mode:
// every read guard lets through without a key, which leaves out the
// scopes that change things and people:sensitive (never held, so answers
// are minimised).
func openScopes() []string {
	return slices.DeleteFunc(slices.Clone(auth.Scopes), func(s string) bool {
		return writes([]string{s}) || s == auth.ScopePeopleSensitive
	})
}

func (s *Service) getWhoami(w http.ResponseWriter, r *http.Request) {
	c := clientOf(r)
	if c == nil { // guard let it through without a key: the open mode
		writeJSON(w, http.StatusOK, auth.Identity{Name: auth.Anonymous, Tenants: []string{auth.AllTenants}, Scopes: []string{},
			EffectiveScopes: openScopes(), Open: true})
		return
	}
	out := auth.Identity{Name: c.Name(), Tenants: c.Tenants(), Scopes: c.Scopes(), EffectiveScopes: c.EffectiveScopes()}
	if c.AllTenants() {
		out.Tenants = []string{auth.AllTenants}
	}
	if ms := c.ExpiresMS(); ms != 0 {
		out.ExpiresAt = store.Ptr(store.MillisRFC3339(ms))
	}
	writeJSON(w, http.StatusOK, out)
}

// regionOverview is GET /v1/tenants: counts only, no personal data.
type regionOverview struct {
	Tenants          []tenantOverview `json:"tenants"`
	FreshnessSeconds int64            `json:"freshness_seconds"`
	Consumer         consumerStatus   `json:"consumer"`
	// Pipeline is every stage's consumer group, cached for a few seconds
	// (pipelineTTL): how far behind its input each stage is.
	Pipeline []pipelineStatus `json:"pipeline"`
}

type tenantOverview struct {
	Tenant                 string              `json:"tenant"`
	LastAcceptedFile       *store.AcceptedFile `json:"last_accepted_file"`
	LastAcceptedAgeSeconds *int64              `json:"last_accepted_age_seconds"`
	// Stale: no accepted file, or the last is older than the freshness.
	Stale       bool      `json:"stale"`
	FilesHeld   int64     `json:"files_held"`
	HeldBatches int64     `json:"held_batches"`
	Today       dayTotals `json:"today"`
}

type dayTotals struct {
	// Date is today in Europe/London, the day the totals are of.
	Date        string `json:"date"`
	Files       int64  `json:"files"`
	Rejected    int64  `json:"rejected"`
	RowsRead    int64  `json:"rows_read"`
	Quarantined int64  `json:"quarantined"`
	// QuarantineRate is Quarantined / RowsRead; 0 when no rows were read.
	QuarantineRate float64 `json:"quarantine_rate"`
}

// consumerStatus is the api's own materialiser: how far behind the topics
// the answer above may be.
type consumerStatus struct {
	Lag            int64 `json:"lag"`
	StalledSeconds int64 `json:"stalled_seconds"`
	Ready          bool  `json:"ready"`
}

func (s *Service) getTenants(w http.ResponseWriter, r *http.Request) {
	// The stages' groups are read from Kafka (or the cache) while the
	// database answers: a broker that does not answer costs its timeout
	// once, not on top of the queries.
	pipeline := make(chan []pipelineStatus, 1)
	go func() { pipeline <- s.pipeline.get(r.Context()) }()
	tenants, err := s.visibleTenants(r.Context(), clientOf(r))
	if err != nil {
		s.internal(w, r, err)
		return
	}
	now := s.cfg.Now()
	y, m, d := now.In(london).Date()
	from := time.Date(y, m, d, 0, 0, 0, 0, london)
	until := from.AddDate(0, 0, 1) // not 24h: a clock change day is 23 or 25
	out := regionOverview{Tenants: make([]tenantOverview, 0, len(tenants)), FreshnessSeconds: int64(s.cfg.Freshness / time.Second)}
	for _, t := range tenants {
		sum, err := s.store.TenantSummary(r.Context(), t, from, until)
		if err != nil {
			s.internal(w, r, err)
			return
		}
		o := tenantOverview{Tenant: t, LastAcceptedFile: sum.LastAccepted, Stale: true, FilesHeld: sum.FilesHeld, HeldBatches: sum.HeldBatches,
			Today: dayTotals{Date: from.Format(time.DateOnly), Files: sum.Day.Files, Rejected: sum.Day.Rejected,
				RowsRead: sum.Day.RowsRead, Quarantined: sum.Day.Quarantined}}
		if sum.Day.RowsRead > 0 {
			o.Today.QuarantineRate = float64(sum.Day.Quarantined) / float64(sum.Day.RowsRead)
		}
		if a := sum.LastAccepted; a != nil {
			// A report stamped ahead of this clock is no older than now.
			age := max(now.Sub(time.UnixMilli(a.ReportedAtMS)), 0)
			o.LastAcceptedAgeSeconds = store.Ptr(int64(age / time.Second))
			o.Stale = age > s.cfg.Freshness
		}
		out.Tenants = append(out.Tenants, o)
	}
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	out.Consumer = consumerStatus{Lag: s.mat.Lag(), StalledSeconds: int64(s.mat.Stalled() / time.Second),
		Ready: s.mat.Ready(ctx, s.cfg.StallTimeout) == nil}
	out.Pipeline = <-pipeline
	writeJSON(w, http.StatusOK, out)
}

// visibleTenants are the tenants the overview lists for c, sorted: a key
// for some tenants sees exactly those, known here or not yet; a key for
// every tenant (and the anonymous caller of the open mode) every tenant the
// database knows and every tenant of --tenants.file.
func (s *Service) visibleTenants(ctx context.Context, c *auth.Caller) ([]string, error) {
	if c != nil && !c.AllTenants() {
		return c.Tenants(), nil
	}
	known, err := s.store.KnownTenants(ctx)
	if err != nil {
		return nil, err
	}
	if s.cfg.Tenants != nil {
		for _, t := range s.cfg.Tenants.Codes() {
			if !slices.Contains(known, t) {
				known = append(known, t)
			}
		}
		slices.Sort(known)
	}
	return known, nil
}
