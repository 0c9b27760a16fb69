package publish

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"

	"github.com/esrflow/esrflow/platform/kafka/stage"
	"github.com/esrflow/esrflow/platform/logx"
	"github.com/esrflow/esrflow/platform/statestore"
	"github.com/esrflow/esrflow/schemas/gen/internalv1"
)

// The changelog (esr.publish.changelog.v1) holds all of publish's state,
// one compacted key per item, written in the transaction of the input
// record that changed it; the stage's state store (on disk) holds the same
// keys, so the people of a tenant are never all on the heap:
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
// and the indexes over people, kept in step with them (layout 3):
//
//	<TENANT>/n/<nhs>/<pid>      a person with the NHS Unique ID
//	~n/<nhs>/<TENANT>/<pid>     the same, across the partition's tenants (3)
//	<TENANT>/m/<digest>/<pid>   a person with the NI number + date of birth digest
//	<TENANT>/a/<asg>            the person holding an assignment id
//	<TENANT>/q/<pos>/<asg>      an assignment naming a position
//	<TENANT>/c                  counts kept as people change ({"employed": n})
//	<TENANT>/v                  the layout, "3" once the indexes exist
//
// Tenant codes are ODS codes (letters and digits, no "/"), so the first
// "/" ends the tenant, and "~n" (after every code) is no tenant.
// Index keys hold "1": a present key, never an empty value a reader could
// take for a tombstone.
const (
	keyTenant       = "t"
	keyGroup        = "g"
	keyPerson       = "p"
	keyHeld         = "h"
	keyBatch        = "b"
	keyOrganisation = "o"
	keyLocation     = "l"
	keyNHS          = "n"
	keyMatch        = "m"
	keyOwner        = "a"
	keyHolder       = "q"
	keyCounts       = "c"
	keyLayout       = "v"
	// holdersPrefix starts the partition-wide NHS Unique ID index: which
	// of the partition's tenants hold a person with an NHS Unique ID is
	// one seek, not one per tenant (transfer links ask for every
	// starter and leaver).
	holdersPrefix = "~n"
)

// layoutIndexed is the value of <TENANT>/v once the index keys exist;
// layoutTenantIndexes the value when only the tenant's own indexes did
// (layout 2, before the partition-wide NHS Unique ID index).
const (
	layoutIndexed       = "3"
	layoutTenantIndexes = "2"
)

// holderKey is the partition-wide index key of person pid of tenant with
// NHS Unique ID nhs; holdersOf the prefix of the keys for nhs.
func holderKey(nhs, tenant, pid string) []byte { return stateKey(holdersPrefix, nhs, tenant, pid) }

func holdersOf(nhs string) []byte { return prefixKey(holdersPrefix, nhs) }

// isTenantCode tells a tenant's first key segment from the partition-wide
// index's.
func isTenantCode(s string) bool { return s != "" && s[0] != '~' }

var present = []byte("1")

func stateKey(tenant, kind string, id ...string) []byte {
	k := tenant + "/" + kind
	for _, s := range id {
		k += "/" + s
	}
	return []byte(k)
}

// prefixKey is stateKey with a trailing "/": the keys under it.
func prefixKey(tenant, kind string, id ...string) []byte {
	return append(stateKey(tenant, kind, id...), '/')
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

// tenantState is what publish holds of a tenant in memory: everything but
// its people and their indexes, which are read from the state store
// through the transaction (rd) as they are needed.
type tenantState struct {
	code      string
	partition int32
	hdr       tenantHeader
	group     *group
	// groupDirty: group changed since it was last written (Finish).
	groupDirty bool
	last       *lastPerson
	held       map[string]*event
	batches    map[string]*internalv1.HeldBatch
	orgs       map[int64]string
	locs       map[int64]string
	// indexed: the state has layout 2 (its index keys exist). A tenant
	// restored from a changelog written before them is indexed in its
	// partition's next transaction.
	indexed bool
	rd      *stateReader
}

// counts are the tenant's running counts (<TENANT>/c), kept as people
// change so that no file has to count the whole tenant.
type counts struct {
	Employed int64 `json:"employed"`
}

// stateReader reads the state store through the transaction being
// processed. Reads cannot fail in the rules' call paths, so the first error
// is kept and fails the record's processing.
type stateReader struct {
	tx  *stage.Tx
	err error
}

func (r *stateReader) fail(err error) {
	if r.err == nil {
		r.err = err
	}
}

func newTenantState(code string, partition int32, rd *stateReader) *tenantState {
	return &tenantState{code: code, partition: partition, held: map[string]*event{},
		batches: map[string]*internalv1.HeldBatch{}, orgs: map[int64]string{}, locs: map[int64]string{}, rd: rd}
}

// get reads a key of the tenant's state as the transaction sees it.
func (t *tenantState) get(key []byte) ([]byte, bool) {
	if t.rd.tx == nil {
		t.rd.fail(fmt.Errorf("publish: state of %s read outside a transaction", t.code))
		return nil, false
	}
	v, ok, err := t.rd.tx.GetIn(t.partition, key)
	if err != nil {
		t.rd.fail(err)
	}
	return v, ok
}

// scan calls fn for every key of the tenant's state under prefix (less
// the prefix), as the transaction sees it; an error fails the record.
func (t *tenantState) scan(prefix []byte, fn func(rest string, v []byte) error) {
	if t.rd.tx == nil {
		t.rd.fail(fmt.Errorf("publish: state of %s read outside a transaction", t.code))
		return
	}
	if err := t.rd.tx.ScanIn(t.partition, prefix, func(k, v []byte) error {
		return fn(string(k[len(prefix):]), v)
	}); err != nil {
		t.rd.fail(err)
	}
}

// ids lists the last segment of the keys under prefix.
func (t *tenantState) ids(prefix []byte) []string {
	var out []string
	t.scan(prefix, func(id string, _ []byte) error {
		out = append(out, id)
		return nil
	})
	return out
}

// person reads a person (nil when there is none): a fresh copy the caller
// may change.
func (t *tenantState) person(pid string) *person {
	if c := t.last; c != nil && c.pid == pid {
		return c.p.clone()
	}
	v, ok := t.get(stateKey(t.code, keyPerson, pid))
	if !ok {
		t.last = &lastPerson{pid: pid}
		return nil
	}
	p := &person{}
	if err := json.Unmarshal(v, p); err != nil {
		t.rd.fail(fmt.Errorf("publish: person %s of %s: %w", pid, t.code, err))
		return nil
	}
	t.last = &lastPerson{pid: pid, p: p}
	return p.clone()
}

// lastPerson is the person a tenant last read or wrote, as the state holds
// it (p nil: none). A person group reads its person when it opens, again
// before it closes, and again before writing it: this decodes it once.
// Every person write goes through writePerson, which keeps it current; an
// aborted transaction rebuilds the tenant and so drops it.
type lastPerson struct {
	pid string
	p   *person
}

// counts reads the tenant's running counts.
func (t *tenantState) counts() counts {
	var c counts
	if v, ok := t.get(stateKey(t.code, keyCounts)); ok {
		if err := json.Unmarshal(v, &c); err != nil {
			t.rd.fail(fmt.Errorf("publish: counts of %s: %w", t.code, err))
		}
	}
	return c
}

// employedCount is the guard's population: people with a live assignment.
func (t *tenantState) employedCount() int64 { return t.counts().Employed }

// eachPerson calls fn for every person of the tenant, in person id order
// (a full file's omissions: work in proportion to the tenant, once per full
// file).
func (t *tenantState) eachPerson(fn func(pid string, p *person)) {
	t.scan(prefixKey(t.code, keyPerson), func(pid string, v []byte) error {
		p := &person{}
		if err := json.Unmarshal(v, p); err != nil {
			return fmt.Errorf("publish: person %s of %s: %w", pid, t.code, err)
		}
		fn(pid, p)
		return nil
	})
}

// snapshotOf is the position-relevant view of an assignment's attributes,
// organisation and location named.
func (t *tenantState) snapshotOf(a attrs) snapshot {
	return snapshot{PositionNumber: a.PositionNumber, PositionTitle: a.PositionTitle, Organisation: t.orgs[a.OrganisationID],
		Grade: a.GradeCode, StaffGroup: a.StaffGroup, JobRole: a.JobRole, OccupationCode: a.OccupationCode, Location: t.locs[a.LocationID]}
}

// writePerson stores person pid (nil deletes it), old being what the state
// held, with its index keys and the running counts in step. Only what
// changed is written.
func (w *work) writePerson(pid string, old, p *person) {
	t := w.t
	if p == nil {
		w.tx.SetState(stateKey(t.code, keyPerson, pid), nil)
	} else {
		w.tx.SetState(stateKey(t.code, keyPerson, pid), mustJSON(p))
	}
	t.last = &lastPerson{pid: pid, p: p.clone()}
	w.indexPerson(pid, old, p)
}

// indexPerson moves person pid's index keys and counts from old to p.
func (w *work) indexPerson(pid string, old, p *person) {
	t := w.t
	set := func(key []byte, on bool) {
		if on {
			w.tx.SetState(key, present)
		} else {
			w.tx.SetState(key, nil)
		}
	}
	var oldNHS, newNHS, oldMatch, newMatch string
	var oldAsg, newAsg map[string]*assignment
	if old != nil {
		oldNHS, oldMatch, oldAsg = old.NHSUniqueID, old.Match, old.Assignments
	}
	if p != nil {
		newNHS, newMatch, newAsg = p.NHSUniqueID, p.Match, p.Assignments
	}
	for _, ix := range []struct{ kind, before, after string }{{keyNHS, oldNHS, newNHS}, {keyMatch, oldMatch, newMatch}} {
		if ix.before == ix.after {
			continue
		}
		if ix.before != "" {
			set(stateKey(t.code, ix.kind, ix.before, pid), false)
			if ix.kind == keyNHS {
				set(holderKey(ix.before, t.code, pid), false)
			}
		}
		if ix.after != "" {
			set(stateKey(t.code, ix.kind, ix.after, pid), true)
			if ix.kind == keyNHS {
				set(holderKey(ix.after, t.code, pid), true)
			}
		}
	}
	for id, a := range oldAsg {
		na, still := newAsg[id]
		if !still {
			if owner, _ := t.get(stateKey(t.code, keyOwner, id)); string(owner) == pid {
				w.tx.SetState(stateKey(t.code, keyOwner, id), nil)
			}
		}
		if a.PositionID != 0 && (!still || na.PositionID != a.PositionID) {
			set(stateKey(t.code, keyHolder, strconv.FormatInt(a.PositionID, 10), id), false)
		}
	}
	for id, a := range newAsg {
		oa, had := oldAsg[id]
		if !had {
			w.tx.SetState(stateKey(t.code, keyOwner, id), []byte(pid))
		}
		if a.PositionID != 0 && (!had || oa.PositionID != a.PositionID) {
			set(stateKey(t.code, keyHolder, strconv.FormatInt(a.PositionID, 10), id), true)
		}
	}
	if d := b2i(p.employed()) - b2i(old.employed()); d != 0 {
		c := t.counts()
		c.Employed += d
		w.tx.SetState(stateKey(t.code, keyCounts), mustJSON(c))
	}
}

func b2i(b bool) int64 {
	if b {
		return 1
	}
	return 0
}

// ensureIndexed gives a tenant restored from a changelog written before
// the index keys (layout 1) its indexes and counts, and one written before
// the partition-wide NHS Unique ID index (layout 2) its keys there, once,
// in the current transaction; a new tenant just gets its layout mark.
func (w *work) ensureIndexed() {
	t := w.t
	if t.indexed {
		return
	}
	v, _ := t.get(stateKey(t.code, keyLayout))
	switch string(v) {
	case layoutIndexed:
		t.indexed = true
		return
	case layoutTenantIndexes:
		var keys [][]byte // collected first: the transaction is written to afterwards
		t.scan(prefixKey(t.code, keyNHS), func(nhsPid string, _ []byte) error {
			if nhs, pid, ok := strings.Cut(nhsPid, "/"); ok {
				keys = append(keys, holderKey(nhs, t.code, pid))
			}
			return nil
		})
		for _, k := range keys {
			w.tx.SetState(k, present)
		}
		w.tx.SetState(stateKey(t.code, keyLayout), []byte(layoutIndexed))
		t.indexed = true
		return
	}
	// The people's ids first: the transaction is written to afterwards.
	var pids []string
	t.eachPerson(func(pid string, _ *person) { pids = append(pids, pid) })
	for _, pid := range pids {
		w.indexPerson(pid, nil, t.person(pid))
	}
	people := int64(len(pids))
	w.tx.SetState(stateKey(t.code, keyLayout), []byte(layoutIndexed))
	t.indexed = true
	if people > 0 {
		w.p.log.Info("indexed a tenant's people (state written before layout 2)", logx.Tenant(t.code), logx.Count("people", people))
	}
}

// load reads a tenant's in-memory part from the committed store, after its
// partition was restored.
func (t *tenantState) load(store *statestore.Store) error {
	one := func(kind string, into any) error {
		v, ok, err := store.Get(t.partition, stateKey(t.code, kind))
		if err != nil || !ok {
			return err
		}
		return json.Unmarshal(v, into)
	}
	if err := one(keyTenant, &t.hdr); err != nil {
		return err
	}
	var g group
	if v, ok, err := store.Get(t.partition, stateKey(t.code, keyGroup)); err != nil {
		return err
	} else if ok {
		if err := json.Unmarshal(v, &g); err != nil {
			return err
		}
		t.group = &g
	}
	if v, ok, err := store.Get(t.partition, stateKey(t.code, keyLayout)); err != nil {
		return err
	} else {
		t.indexed = ok && string(v) == layoutIndexed
	}
	each := func(kind string, fn func(id string, v []byte) error) error {
		prefix := prefixKey(t.code, kind)
		return store.Scan(t.partition, prefix, func(k, v []byte) error { return fn(string(k[len(prefix):]), v) })
	}
	if err := each(keyHeld, func(id string, v []byte) error {
		e := &event{}
		t.held[id] = e
		return json.Unmarshal(v, e)
	}); err != nil {
		return err
	}
	if err := each(keyBatch, func(id string, v []byte) error {
		b := &internalv1.HeldBatch{}
		t.batches[id] = b
		return json.Unmarshal(v, b)
	}); err != nil {
		return err
	}
	for _, m := range []struct {
		kind string
		into map[int64]string
	}{{keyOrganisation, t.orgs}, {keyLocation, t.locs}} {
		if err := each(m.kind, func(id string, v []byte) error {
			n, err := strconv.ParseInt(id, 10, 64)
			if err != nil {
				return fmt.Errorf("bad id %q", id)
			}
			m.into[n] = string(v)
			return nil
		}); err != nil {
			return err
		}
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
