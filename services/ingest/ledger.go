package ingest

import (
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/esrflow/esrflow/esr/format"
	"github.com/esrflow/esrflow/schemas/gen/internalv1"
)

// entry is the ledger value of one accepted file, JSON in the compacted
// ledger topic under the key <TENANT>/<sha256>. It carries no row data.
type entry struct {
	Tenant string `json:"tenant"`
	SHA256 string `json:"sha256"`
	Name   string `json:"name"` // the original file name; the archive keeps only the hash
	VPD    string `json:"vpd"`
	// Interface is the name's sub-file (EXP for GO v2, ASG for GO v1): with
	// the VPD it names the feed whose sequence chain the file extends.
	// Entries written before it existed derive it from Name (feedOf).
	Interface  string    `json:"interface,omitempty"`
	Dialect    string    `json:"dialect"`
	Kind       string    `json:"kind"` // FULL or CHANGE
	Sequence   int64     `json:"sequence"`
	RunDate    string    `json:"run_date"` // YYYY-MM-DD
	Size       int64     `json:"size"`
	Lines      int64     `json:"lines"`
	Rows       int64     `json:"rows"`
	Ignored    int64     `json:"ignored,omitempty"` // FILE_END's ignored_rows: Rows + Ignored are the file's data rows
	AcceptedAt time.Time `json:"accepted_at"`
}

func ledgerKey(tenant, sha string) string { return tenant + "/" + sha }

// ledger is the in-memory view of the ledger topic: every accepted file per
// tenant and hash, the last accepted file per tenant and VPD (run dates
// never go backwards across a VPD's feeds), and per feed (tenant, VPD and
// interface: the sequence chain) its last accepted file and last full file.
type ledger struct {
	byKey    map[string]entry
	lastSeq  map[string]entry // tenant/vpd -> last accepted file
	lastFeed map[string]entry // tenant/vpd/interface -> last accepted file
	lastFull map[string]entry // tenant/vpd/interface -> last accepted full file
	last     map[string]time.Time
}

func newLedger() *ledger {
	return &ledger{byKey: map[string]entry{}, lastSeq: map[string]entry{}, lastFeed: map[string]entry{},
		lastFull: map[string]entry{}, last: map[string]time.Time{}}
}

// feedKey names a tenant's feed: <TENANT>/<VPD>/<interface>.
func feedKey(tenant, vpd, iface string) string { return tenant + "/" + vpd + "/" + iface }

// feedInterface is the entry's feed interface: its own, or the one its name says
// (entries written before the field existed).
func (e entry) feedInterface() string {
	if e.Interface != "" {
		return e.Interface
	}
	if fn, err := format.ParseFileName(e.Name); err == nil {
		return fn.SubFile
	}
	return ""
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
	fk := feedKey(e.Tenant, e.VPD, e.feedInterface())
	l.lastFeed[fk] = e
	if e.Kind == string(internalv1.FileKindFull) {
		l.lastFull[fk] = e
	}
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

// lastInFeed returns the last accepted file of a feed (tenant, VPD and
// interface): the link the feed's next change file must follow.
func (l *ledger) lastInFeed(tenant, vpd, iface string) (entry, bool) {
	e, ok := l.lastFeed[feedKey(tenant, vpd, iface)]
	return e, ok
}

// lastFullInFeed returns the feed's last accepted full file.
func (l *ledger) lastFullInFeed(tenant, vpd, iface string) (entry, bool) {
	e, ok := l.lastFull[feedKey(tenant, vpd, iface)]
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
