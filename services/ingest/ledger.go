package ingest

import (
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"time"
)

// entry is the ledger value of one accepted file, JSON in the compacted
// ledger topic under the key <TENANT>/<sha256>. It carries no row data.
type entry struct {
	Tenant     string    `json:"tenant"`
	SHA256     string    `json:"sha256"`
	Name       string    `json:"name"` // the original file name; the archive keeps only the hash
	VPD        string    `json:"vpd"`
	Dialect    string    `json:"dialect"`
	Kind       string    `json:"kind"` // FULL or CHANGE
	Sequence   int64     `json:"sequence"`
	RunDate    string    `json:"run_date"` // YYYY-MM-DD
	Size       int64     `json:"size"`
	Lines      int64     `json:"lines"`
	Rows       int64     `json:"rows"`
	AcceptedAt time.Time `json:"accepted_at"`
}

func ledgerKey(tenant, sha string) string { return tenant + "/" + sha }

// ledger is the in-memory view of the ledger topic: every accepted file per
// tenant and hash, and the last accepted sequence per tenant and VPD.
type ledger struct {
	byKey   map[string]entry
	lastSeq map[string]entry // tenant/vpd -> last accepted file
	last    map[string]time.Time
}

func newLedger() *ledger {
	return &ledger{byKey: map[string]entry{}, lastSeq: map[string]entry{}, last: map[string]time.Time{}}
}

func (l *ledger) size() int { return len(l.byKey) }

// restore applies one ledger record, in topic order.
func (l *ledger) restore(key, value []byte) error {
	if value == nil { // a tombstone: an operator removed the entry
		delete(l.byKey, string(key))
		return nil
	}
	var e entry
	if err := json.Unmarshal(value, &e); err != nil {
		return fmt.Errorf("ledger key %q: %w", key, err)
	}
	if want := ledgerKey(e.Tenant, e.SHA256); want != string(key) {
		return fmt.Errorf("ledger key %q does not match its value (%s)", key, want)
	}
	l.add(e)
	return nil
}

// add records an accepted file. The file's sequence becomes the last for its
// tenant and VPD: a change file only gets here when it was after the last, and
// a full file re-bases the sequence.
func (l *ledger) add(e entry) {
	l.byKey[ledgerKey(e.Tenant, e.SHA256)] = e
	l.lastSeq[e.Tenant+"/"+e.VPD] = e
	if e.AcceptedAt.After(l.last[e.Tenant]) {
		l.last[e.Tenant] = e.AcceptedAt
	}
}

func (l *ledger) accepted(tenant, sha string) (entry, bool) {
	e, ok := l.byKey[ledgerKey(tenant, sha)]
	return e, ok
}

// lastFor returns the last accepted file of a tenant's VPD.
func (l *ledger) lastFor(tenant, vpd string) (entry, bool) {
	e, ok := l.lastSeq[tenant+"/"+vpd]
	return e, ok
}

type tenantTime struct {
	tenant string
	at     time.Time
}

func (l *ledger) lastAcceptedByTenant() []tenantTime {
	out := make([]tenantTime, 0, len(l.last))
	for t, at := range l.last {
		out = append(out, tenantTime{t, at})
	}
	sort.Slice(out, func(i, j int) bool { return strings.Compare(out[i].tenant, out[j].tenant) < 0 })
	return out
}
