package publish

import (
	"encoding/json"
	"fmt"
	"strings"

	"github.com/esrflow/esrflow/schemas/gen/internalv1"
)

// The changelog (esr.publish.changelog.v1) holds all of publish's state,
// one compacted key per item, JSON values, written in the transaction of the
// input record that changed it:
//
//	<TENANT>/t          tenantState: seen before, and the open file (counts so far)
//	<TENANT>/g          the open person group (A so far and its ASA rows)
//	<TENANT>/p/<pid>    a person (B for the next group)
//	<TENANT>/h/<pid>    a held leaver: the whole event; date-held (future-dated),
//	                    pending (decided at the file's end) or in a guard batch
//	<TENANT>/b/<batch>  a leaver-guard batch (internalv1.HeldBatch)
//	<TENANT>/o/<id>     an organisation name
//	<TENANT>/l/<id>     a location description
//
// Tenant codes are ODS codes (no "/"), so the first "/" ends the tenant.
const (
	keyTenant       = "t"
	keyGroup        = "g"
	keyPerson       = "p"
	keyHeld         = "h"
	keyBatch        = "b"
	keyOrganisation = "o"
	keyLocation     = "l"
)

func stateKey(tenant, kind string, id ...string) []byte {
	k := tenant + "/" + kind
	for _, s := range id {
		k += "/" + s
	}
	return []byte(k)
}

// openFile is the file being processed for a tenant.
type openFile struct {
	Name     string `json:"name"`
	Sha256   string `json:"sha256"`
	VPD      string `json:"vpd"`
	Run      string `json:"run"`
	Baseline bool   `json:"baseline,omitempty"`
	Full     bool   `json:"full,omitempty"`    // a full file (GOF): omissions mean something
	Dialect  string `json:"dialect,omitempty"` // go-v2, go-v1, csv: picks the feed's missing mode
	// Replay is the replay id of a replay batch (quarantined rows sent
	// again, their lineage the files they were first read from): never the
	// baseline, and not the feed speaking (no new run date or file time).
	Replay  string           `json:"replay,omitempty"`
	Active  int64            `json:"active"`            // people employed when the file started (the guard's population)
	Emitted map[string]int64 `json:"emitted,omitempty"` // events emitted per event name, held leavers that fired included
	Warned  int64            `json:"warned,omitempty"`  // accepted entities validate flagged with a warning
	// PostChanges are the file's position rows whose post differs from what
	// its holders hold, applied at FILE_END (see positions.go).
	PostChanges []postChange `json:"post_changes,omitempty"`
}

// tenantHeader is the value of <TENANT>/t.
type tenantHeader struct {
	// Files counts the files started for the tenant; the first is the baseline.
	Files int64     `json:"files"`
	Open  *openFile `json:"open,omitempty"`
	// LastRun is the latest run date of a file of the tenant.
	LastRun string `json:"last_run,omitempty"`
	// LastFileMs is when (publish's clock, Unix milliseconds) a file of
	// the tenant last started or ended: how long its feed has been silent.
	LastFileMs int64 `json:"last_file_ms,omitempty"`
}

// tenantState is one tenant's state in memory.
type tenantState struct {
	code      string
	partition int32
	hdr       tenantHeader
	group     *group
	persons   map[string]*person
	held      map[string]*event
	batches   map[string]*internalv1.HeldBatch
	orgs      map[int64]string
	locs      map[int64]string
	// derived indexes, rebuilt from persons
	nhs      map[string]map[string]bool // NHS Unique ID -> person ids
	match    map[string]map[string]bool // NI number + date of birth digest -> person ids
	asgOwner map[string]string          // assignment id -> person id
	holders  map[int64]map[string]bool  // position id -> ids of assignments that name it
}

func newTenantState(code string, partition int32) *tenantState {
	return &tenantState{code: code, partition: partition, persons: map[string]*person{}, held: map[string]*event{},
		batches: map[string]*internalv1.HeldBatch{}, orgs: map[int64]string{}, locs: map[int64]string{},
		nhs: map[string]map[string]bool{}, match: map[string]map[string]bool{}, asgOwner: map[string]string{},
		holders: map[int64]map[string]bool{}}
}

// snapshotOf is the position-relevant view of an assignment's attributes,
// organisation and location named.
func (t *tenantState) snapshotOf(a attrs) snapshot {
	return snapshot{PositionNumber: a.PositionNumber, PositionTitle: a.PositionTitle, Organisation: t.orgs[a.OrganisationID],
		Grade: a.GradeCode, StaffGroup: a.StaffGroup, JobRole: a.JobRole, OccupationCode: a.OccupationCode, Location: t.locs[a.LocationID]}
}

// index adds (add) or removes pid under key in idx.
func index(idx map[string]map[string]bool, key, pid string, add bool) {
	if key == "" {
		return
	}
	if !add {
		if ids := idx[key]; ids != nil {
			delete(ids, pid)
			if len(ids) == 0 {
				delete(idx, key)
			}
		}
		return
	}
	if idx[key] == nil {
		idx[key] = map[string]bool{}
	}
	idx[key][pid] = true
}

// setPerson stores p (nil deletes pid) and keeps the indexes in step.
func (t *tenantState) setPerson(pid string, p *person) {
	if old := t.persons[pid]; old != nil {
		index(t.nhs, old.NHSUniqueID, pid, false)
		index(t.match, old.Match, pid, false)
		for id, a := range old.Assignments {
			if t.asgOwner[id] == pid {
				delete(t.asgOwner, id)
			}
			if h := t.holders[a.PositionID]; h != nil {
				delete(h, id)
				if len(h) == 0 {
					delete(t.holders, a.PositionID)
				}
			}
		}
	}
	if p == nil {
		delete(t.persons, pid)
		return
	}
	t.persons[pid] = p
	index(t.nhs, p.NHSUniqueID, pid, true)
	index(t.match, p.Match, pid, true)
	for id, a := range p.Assignments {
		t.asgOwner[id] = pid
		if a.PositionID != 0 {
			if t.holders[a.PositionID] == nil {
				t.holders[a.PositionID] = map[string]bool{}
			}
			t.holders[a.PositionID][id] = true
		}
	}
}

// restore applies one changelog record (value nil = deleted).
func (t *tenantState) restore(rest string, value []byte) error {
	kind, id, _ := strings.Cut(rest, "/")
	switch kind {
	case keyTenant:
		t.hdr = tenantHeader{}
		if value != nil {
			return json.Unmarshal(value, &t.hdr)
		}
	case keyGroup:
		t.group = nil
		if value != nil {
			t.group = &group{}
			return json.Unmarshal(value, t.group)
		}
	case keyPerson:
		if value == nil {
			t.setPerson(id, nil)
			return nil
		}
		p := &person{}
		if err := json.Unmarshal(value, p); err != nil {
			return err
		}
		t.setPerson(id, p)
	case keyHeld:
		if value == nil {
			delete(t.held, id)
			return nil
		}
		e := &event{}
		if err := json.Unmarshal(value, e); err != nil {
			return err
		}
		t.held[id] = e
	case keyBatch:
		if value == nil {
			delete(t.batches, id)
			return nil
		}
		b := &internalv1.HeldBatch{}
		if err := json.Unmarshal(value, b); err != nil {
			return err
		}
		t.batches[id] = b
	case keyOrganisation, keyLocation:
		var n int64
		if _, err := fmt.Sscan(id, &n); err != nil {
			return fmt.Errorf("bad id %q", id)
		}
		m := t.orgs
		if kind == keyLocation {
			m = t.locs
		}
		if value == nil {
			delete(m, n)
		} else {
			m[n] = string(value)
		}
	default:
		return fmt.Errorf("unknown state key kind %q", kind)
	}
	return nil
}

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err) // plain structs of strings, ints and maps: cannot fail
	}
	return b
}
