package ingest

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"go.uber.org/zap"

	"github.com/esrflow/esrflow/esr/format"
	"github.com/esrflow/esrflow/platform/logx"
	"github.com/esrflow/esrflow/schemas/gen/internalv1"
)

// This file holds back a change file that arrives ahead of a missing one.
// A feed (tenant, VPD and interface) is a chain: each change file must
// follow the feed's last accepted file, by sequence (last+1) and, in GO v2,
// by run window (the header's previous-run date is the last accepted run
// date). A file ahead of a gap is neither rejected nor read: it is HELD,
// kept in the archive by hash, a refresh request naming what is missing is
// written to the tenant's outbound folder, and when the missing file
// arrives the held ones follow it in order. A later full file restarts the
// chain and supersedes the held change files before it. An operator can
// release a held file out of order or discard it (intake.go).
//
// The held state lives in the compacted topic esr.ingest.holds.v1 (key
// hold/<TENANT>/<sha256>, a tombstone once the file is read or dropped),
// written in the same transaction as the file's report, so a restarted
// instance rebuilds it and neither reports nor reads a file twice.

// TopicHolds is the compacted topic of held files and applied intake
// decisions.
const TopicHolds = "esr.ingest.holds.v1"

// Rules of a hold.
const (
	// RuleSequenceGap: a change file's sequence is more than one after the
	// feed's last accepted file: a file is missing before it.
	RuleSequenceGap = "sequence-gap"
	// RuleRunWindow: a GO v2 change file's previous-run date is not the run
	// date of the feed's last accepted file.
	RuleRunWindow = "run-window"
)

// maxAwaiting bounds the missing sequence numbers a hold lists.
const maxAwaiting = 1000

// RefreshFormat is the format field of a refresh request.
const RefreshFormat = "esrflow.refresh-request/1"

// holdEntry is the holds-topic value of one held file (JSON, no row data).
type holdEntry struct {
	Tenant      string `json:"tenant"`
	SHA256      string `json:"sha256"`
	Name        string `json:"name"`
	VPD         string `json:"vpd"`
	Interface   string `json:"interface"`
	Dialect     string `json:"dialect"`
	Kind        string `json:"kind"`
	Sequence    int64  `json:"sequence"`
	RunDate     string `json:"run_date"`
	PreviousRun string `json:"previous_run_date,omitempty"`
	Size        int64  `json:"size"`

	Rule           string    `json:"rule"`
	Reason         string    `json:"reason"`
	LastSequence   int64     `json:"last_sequence"`
	LastFile       string    `json:"last_file,omitempty"`
	LastRunDate    string    `json:"last_run_date,omitempty"`
	Awaiting       []int64   `json:"awaiting_sequences"`
	AwaitingPrev   string    `json:"awaiting_previous_run_date,omitempty"`
	RefreshRequest string    `json:"refresh_request,omitempty"`
	HeldAt         time.Time `json:"held_at"`
	// Released: an operator released the file; it is read at the next
	// chance, out of order.
	Released *internalv1.IntakeDecisionRef `json:"released,omitempty"`
}

// decisionEntry records an intake decision ingest has carried out (or
// ignored), so it is applied once, across restarts too.
type decisionEntry struct {
	ID        string    `json:"decision_id"`
	Tenant    string    `json:"tenant"`
	SHA256    string    `json:"sha256"`
	Action    string    `json:"action"`
	Outcome   string    `json:"outcome"` // applied or ignored
	AppliedAt time.Time `json:"applied_at"`
}

func holdKey(tenant, sha string) string { return "hold/" + tenant + "/" + sha }
func decisionKey(id string) string      { return "decision/" + id }

func (h holdEntry) feed() string { return h.VPD + "/" + h.Interface }

func (h holdEntry) fileInfo() internalv1.FileInfo {
	run, _ := time.Parse(time.DateOnly, h.RunDate)
	return internalv1.FileInfo{Name: h.Name, Sha256: h.SHA256, Dialect: h.Dialect, Kind: internalv1.FileKind(h.Kind),
		Sequence: h.Sequence, RunDate: run, Size: h.Size}
}

// fileHold is the report's view of the hold.
func (h holdEntry) fileHold() *internalv1.FileHold {
	fh := &internalv1.FileHold{Feed: h.feed(), LastSequence: h.LastSequence, AwaitingSequences: slices.Clone(h.Awaiting)}
	if fh.AwaitingSequences == nil {
		fh.AwaitingSequences = []int64{}
	}
	if h.LastFile != "" {
		fh.LastFile = &h.LastFile
	}
	fh.LastRunDate = datePtr(h.LastRunDate)
	fh.AwaitingPreviousRunDate = datePtr(h.AwaitingPrev)
	if h.RefreshRequest != "" {
		fh.RefreshRequest = &h.RefreshRequest
	}
	return fh
}

func datePtr(s string) *time.Time {
	if s == "" {
		return nil
	}
	d, err := time.Parse(time.DateOnly, s)
	if err != nil {
		return nil
	}
	return &d
}

// holds is the in-memory view of esr.ingest.holds.v1.
type holds struct {
	byKey     map[string]holdEntry // tenant/sha
	decisions map[string]decisionEntry
}

func newHolds() *holds {
	return &holds{byKey: map[string]holdEntry{}, decisions: map[string]decisionEntry{}}
}

// restore applies one holds-topic record, in topic order.
func (h *holds) restore(key, value []byte) error {
	k := string(key)
	switch {
	case strings.HasPrefix(k, "hold/"):
		id := strings.TrimPrefix(k, "hold/")
		if value == nil {
			delete(h.byKey, id)
			return nil
		}
		var e holdEntry
		if err := json.Unmarshal(value, &e); err != nil {
			return fmt.Errorf("holds key %q: %w", key, err)
		}
		if holdKey(e.Tenant, e.SHA256) != k {
			return fmt.Errorf("holds key %q does not match its value", key)
		}
		h.byKey[id] = e
	case strings.HasPrefix(k, "decision/"):
		if value == nil {
			delete(h.decisions, strings.TrimPrefix(k, "decision/"))
			return nil
		}
		var d decisionEntry
		if err := json.Unmarshal(value, &d); err != nil {
			return fmt.Errorf("holds key %q: %w", key, err)
		}
		h.decisions[d.ID] = d
	default:
		return fmt.Errorf("holds key %q: unknown kind", key)
	}
	return nil
}

func (h *holds) get(tenant, sha string) (holdEntry, bool) {
	e, ok := h.byKey[tenant+"/"+sha]
	return e, ok
}

func (h *holds) put(e holdEntry)           { h.byKey[e.Tenant+"/"+e.SHA256] = e }
func (h *holds) remove(tenant, sha string) { delete(h.byKey, tenant+"/"+sha) }

// count returns the files held for a tenant.
func (h *holds) count(tenant string) int {
	n := 0
	for _, e := range h.byKey {
		if e.Tenant == tenant {
			n++
		}
	}
	return n
}

// inFeed returns the feed's held files in chain order (sequence, then name).
func (h *holds) inFeed(tenant, vpd, iface string) []holdEntry {
	var out []holdEntry
	for _, e := range h.byKey {
		if e.Tenant == tenant && e.VPD == vpd && e.Interface == iface {
			out = append(out, e)
		}
	}
	slices.SortFunc(out, func(a, b holdEntry) int {
		return cmp.Or(cmp.Compare(a.Sequence, b.Sequence), strings.Compare(a.Name, b.Name))
	})
	return out
}

// feeds returns every feed with a held file, sorted.
func (h *holds) feeds() [][3]string {
	seen := map[[3]string]bool{}
	var out [][3]string
	for _, e := range h.byKey {
		k := [3]string{e.Tenant, e.VPD, e.Interface}
		if !seen[k] {
			seen[k] = true
			out = append(out, k)
		}
	}
	slices.SortFunc(out, func(a, b [3]string) int {
		return strings.Compare(a[0]+"/"+a[1]+"/"+a[2], b[0]+"/"+b[1]+"/"+b[2])
	})
	return out
}

// sequenced reports whether a dialect numbers its files: GO v2 and GO v1
// do; csv reports have no sequence and are never held.
func sequenced(dialect string) bool {
	return dialect == dialectName(format.DialectGOv2) || dialect == dialectName(format.DialectGOv1)
}

// chainFacts is what the chain checks need of a change file.
type chainFacts struct {
	tenant, vpd, iface, name, sha string
	seq                           int64
	prevRun                       *time.Time // GO v2 header; nil when the dialect has none
}

// holdInfo says why a file cannot follow its feed's last file yet.
type holdInfo struct {
	rule         string
	reason       string
	awaiting     []int64
	awaitingPrev string // YYYY-MM-DD
}

// awaits checks a change file against the last accepted file of its feed
// (whose sequence is below the file's): nil when it is the next link, else
// why it is held. Sequences in between that are themselves held are not
// missing; the file then waits for them.
func (s *Service) awaits(f chainFacts, last entry) *holdInfo {
	feed := f.vpd + "/" + f.iface
	if f.seq > last.Sequence+1 {
		held := map[int64]bool{}
		for _, e := range s.holds.inFeed(f.tenant, f.vpd, f.iface) {
			if e.SHA256 != f.sha && e.Sequence > last.Sequence && e.Sequence < f.seq {
				held[e.Sequence] = true
			}
		}
		// A jump of millions (a renumbered feed) must neither list nor
		// walk millions on every scan: the missing count is arithmetic,
		// and only the first maxAwaiting missing numbers are built.
		missing := f.seq - last.Sequence - 1 - int64(len(held))
		awaiting := []int64{}
		for q := last.Sequence + 1; q < f.seq && len(awaiting) < maxAwaiting; q++ {
			if !held[q] {
				awaiting = append(awaiting, q)
			}
		}
		msg := "sequence " + strconv.FormatInt(f.seq, 10) + " does not follow " + strconv.FormatInt(last.Sequence, 10) +
			", the last accepted for feed " + feed + " (" + last.Name + "): "
		switch {
		case missing == 0:
			msg += "waiting for the held files before it"
		case missing <= 10:
			msg += "waiting for sequence " + joinSeqs(awaiting)
		default:
			msg += "waiting for " + strconv.FormatInt(missing, 10) + " missing sequences from " +
				strconv.FormatInt(awaiting[0], 10)
		}
		return &holdInfo{rule: RuleSequenceGap, awaiting: awaiting,
			reason: withCode(RuleSequenceGap, reasonText(f.name, 0, RuleSequenceGap, msg))}
	}
	if f.prevRun == nil {
		return nil
	}
	if prev := f.prevRun.Format(time.DateOnly); prev != last.RunDate {
		e := &format.Error{File: f.name, Line: 1, RecordType: "HDR", Column: 4, Field: "previous_run_at", Rule: RuleRunWindow,
			Msg: "previous run date " + prev + " is not " + last.RunDate + ", the run date of " + last.Name +
				", the last file accepted for feed " + feed}
		return &holdInfo{rule: RuleRunWindow, awaiting: []int64{}, awaitingPrev: last.RunDate,
			reason: withCode(RuleRunWindow, e.Error())}
	}
	return nil
}

func joinSeqs(q []int64) string {
	parts := make([]string, len(q))
	for i, n := range q {
		parts[i] = strconv.FormatInt(n, 10)
	}
	return strings.Join(parts, ", ")
}

// sameHold reports whether a stored hold still says what a new check says.
func sameHold(e holdEntry, h *holdInfo, last entry) bool {
	return h != nil && e.Rule == h.rule && slices.Equal(e.Awaiting, h.awaiting) && e.AwaitingPrev == h.awaitingPrev &&
		e.LastSequence == last.Sequence && e.LastRunDate == last.RunDate
}

// hold commits a HELD report and the hold entry for a delivered change
// file, writes the refresh request and keeps the original in the archive.
func (s *Service) hold(ctx context.Context, c *conn, d *delivery, last entry, h *holdInfo) error {
	e := holdEntry{Tenant: d.tenant, SHA256: d.info.Sha256, Name: d.info.Name, VPD: d.vpd, Interface: d.fn.SubFile,
		Dialect: d.info.Dialect, Kind: string(d.info.Kind), Sequence: d.info.Sequence,
		RunDate: d.info.RunDate.Format(time.DateOnly), Size: d.info.Size,
		Rule: h.rule, Reason: h.reason, LastSequence: last.Sequence, LastFile: last.Name, LastRunDate: last.RunDate,
		Awaiting: h.awaiting, AwaitingPrev: h.awaitingPrev, HeldAt: s.cfg.Now().UTC()}
	if d.prevRun != nil {
		e.PreviousRun = d.prevRun.Format(time.DateOnly)
	}
	if d.held != nil {
		e.HeldAt = d.held.HeldAt
	}
	// The request is written before the report names it: a crash between
	// the two leaves a request for a file that really is missing, never a
	// report naming a request that does not exist.
	if name, err := s.writeRefresh(e); err != nil {
		s.log.Error("refresh request not written", logx.Tenant(e.Tenant), logx.File(e.Name), zap.Error(err))
	} else if name != "" {
		e.RefreshRequest = name
	}
	value, err := json.Marshal(e)
	if err != nil {
		return fatal(err)
	}
	report := internalv1.FileReport{Tenant: d.tenant, Vpd: d.vpd, File: d.info, Status: internalv1.FileStatusHeld,
		Reason: &e.Reason, EventsEmitted: map[string]int64{}, ReportedAt: s.cfg.Now().UTC().Truncate(time.Millisecond),
		Hold: e.fileHold()}
	if err := s.writeReport(ctx, c, &report, &kgo.Record{Topic: TopicHolds, Key: []byte(holdKey(e.Tenant, e.SHA256)), Value: value}); err != nil {
		return err
	}
	again := d.held != nil
	s.holds.put(e)
	s.setHeld(e.Tenant)
	if !again {
		s.metrics.files.WithLabelValues(d.tenant, statusHeld).Inc()
		if h.rule == RuleSequenceGap {
			s.metrics.gaps.WithLabelValues(d.tenant).Inc()
		}
	}
	s.log.Warn("file held: an earlier file of its feed is missing", logx.Tenant(e.Tenant), logx.File(e.Name),
		zap.String("sha256", e.SHA256), zap.String("feed", e.feed()), zap.Int64("sequence", e.Sequence),
		zap.Int64("last_sequence", e.LastSequence), zap.Int64s("awaiting_sequences", e.Awaiting),
		zap.String("awaiting_previous_run_date", e.AwaitingPrev), logx.Rule(h.rule),
		zap.String("refresh_request", e.RefreshRequest), zap.Bool("again", again))
	if d.root == s.cfg.Archive {
		return nil
	}
	return s.archive(d.tenant, d.info.Sha256, d.path)
}

func (s *Service) setHeld(tenant string) {
	s.metrics.held.WithLabelValues(tenant).Set(float64(s.holds.count(tenant)))
}

// refreshRequest is the file ingest leaves in <outbound>/<TENANT>/ when a
// feed has a gap: what is missing, for the trust (or its ESR contact) to
// send again. docs/ingest.md describes it.
type refreshRequest struct {
	Format       string           `json:"format"`
	Tenant       string           `json:"tenant"`
	VPD          string           `json:"vpd"`
	Interface    string           `json:"interface"`
	Rule         string           `json:"rule"`
	LastAccepted refreshFile      `json:"last_accepted"`
	Missing      []refreshMissing `json:"missing"`
	AwaitingPrev string           `json:"awaiting_previous_run_date,omitempty"`
	Held         []refreshFile    `json:"held"`
	RequestedAt  time.Time        `json:"requested_at"`
}

type refreshFile struct {
	File        string `json:"file"`
	Sequence    int64  `json:"sequence"`
	RunDate     string `json:"run_date"`
	PreviousRun string `json:"previous_run_date,omitempty"`
	SHA256      string `json:"sha256,omitempty"`
}

// refreshMissing is one missing file: its sequence (0 when only its run is
// known, a run-window hold) and its run date when a held file's header
// names it (the previous run of the file after it).
type refreshMissing struct {
	Sequence int64  `json:"sequence,omitempty"`
	RunDate  string `json:"run_date,omitempty"`
}

// RefreshName is the refresh request's name for a held file:
// REFRESH_<held file name without .DAT>.json.
func RefreshName(held string) string {
	return "REFRESH_" + strings.TrimSuffix(held, ".DAT") + ".json"
}

// writeRefresh writes the refresh request for e (and the feed's other held
// files) to <outbound>/<TENANT>/, atomically: a dot name, synced, renamed.
// It returns "" when no outbound folder is configured.
func (s *Service) writeRefresh(e holdEntry) (string, error) {
	if s.cfg.Outbound == "" {
		return "", nil
	}
	req := refreshRequest{Format: RefreshFormat, Tenant: e.Tenant, VPD: e.VPD, Interface: e.Interface, Rule: e.Rule,
		LastAccepted: refreshFile{File: e.LastFile, Sequence: e.LastSequence, RunDate: e.LastRunDate},
		Missing:      []refreshMissing{}, AwaitingPrev: e.AwaitingPrev, RequestedAt: s.cfg.Now().UTC().Truncate(time.Second)}
	held := []holdEntry{e}
	for _, o := range s.holds.inFeed(e.Tenant, e.VPD, e.Interface) {
		if o.SHA256 != e.SHA256 {
			held = append(held, o)
		}
	}
	slices.SortFunc(held, func(a, b holdEntry) int { return cmp.Compare(a.Sequence, b.Sequence) })
	prevOf := map[int64]string{} // sequence -> the previous run its next held file names
	for _, h := range held {
		req.Held = append(req.Held, refreshFile{File: h.Name, Sequence: h.Sequence, RunDate: h.RunDate, PreviousRun: h.PreviousRun, SHA256: h.SHA256})
		if h.PreviousRun != "" {
			prevOf[h.Sequence-1] = h.PreviousRun
		}
	}
	for _, q := range e.Awaiting {
		req.Missing = append(req.Missing, refreshMissing{Sequence: q, RunDate: prevOf[q]})
	}
	if e.Rule == RuleRunWindow && e.PreviousRun > e.LastRunDate {
		// The held file continues from a run the feed never received.
		req.Missing = append(req.Missing, refreshMissing{RunDate: e.PreviousRun})
	}
	data, err := json.MarshalIndent(req, "", "  ")
	if err != nil {
		return "", err
	}
	dir := filepath.Join(s.cfg.Outbound, e.Tenant)
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return "", err
	}
	name := RefreshName(e.Name)
	if err := writeAtomic(dir, name, append(data, '\n')); err != nil {
		return "", err
	}
	s.metrics.refreshRequests.WithLabelValues(e.Tenant).Inc()
	return name, nil
}

// writeAtomic writes dir/name through a synced dot name and a rename, so a
// reader (an SFTP client listing /outbound) never sees half a file.
func writeAtomic(dir, name string, data []byte) error {
	tmp, err := os.CreateTemp(dir, "."+name+".*.tmp")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Chmod(0o640); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp.Name(), filepath.Join(dir, name)); err != nil {
		return err
	}
	return syncDir(dir)
}

// drainHeld moves every feed with held files on as far as it can go.
func (s *Service) drainHeld(ctx context.Context, c *conn) error {
	for _, f := range s.holds.feeds() {
		if err := s.drainFeed(ctx, c, f[0], f[1], f[2]); err != nil {
			return err
		}
	}
	return nil
}

// drainFeed reads a feed's held files that can go now, in order: first
// those an operator released; then it discards held change files a later
// full file superseded; then, while the first held file is no longer held
// for the reason its report gave, it is read again (accepted, rejected,
// or held anew with the new reason). It stops at a file still held as
// reported. An error is returned only when fatal; others are logged and
// the feed is tried again on the next scan.
func (s *Service) drainFeed(ctx context.Context, c *conn, tenant, vpd, iface string) error {
	for ctx.Err() == nil {
		held := s.holds.inFeed(tenant, vpd, iface)
		if len(held) == 0 {
			return nil
		}
		next, supersededBy, read := s.nextHeld(held)
		var err error
		switch {
		case supersededBy != nil:
			err = s.supersede(ctx, c, next, *supersededBy)
		case read:
			err = s.readHeld(ctx, c, next)
		default:
			return nil
		}
		var fe *fatalError
		if errors.As(err, &fe) {
			return err
		}
		if err != nil {
			s.log.Warn("held file not handled; will retry", logx.Tenant(tenant), logx.File(next.Name), zap.Error(err))
			return nil
		}
		if now, still := s.holds.get(tenant, next.SHA256); still && now.Released == nil && read {
			return nil // held again, with its new reason
		}
	}
	return ctx.Err()
}

// nextHeld picks what to do next with a feed's held files (in chain
// order): read a released one; discard one a full file superseded; read
// the first when it is no longer held as reported; or nothing.
func (s *Service) nextHeld(held []holdEntry) (next holdEntry, supersededBy *entry, read bool) {
	for _, h := range held {
		if h.Released != nil {
			return h, nil, true
		}
	}
	first := held[0]
	if full, ok := s.ledger.lastFullInFeed(first.Tenant, first.VPD, first.Interface); ok {
		for _, h := range held {
			if h.Kind == string(internalv1.FileKindChange) && h.Sequence < full.Sequence {
				return h, &full, false
			}
		}
	}
	last, ok := s.ledger.lastInFeed(first.Tenant, first.VPD, first.Interface)
	if !ok || first.Sequence <= last.Sequence {
		return first, nil, true // the first of its feed now, or behind the chain: read (and judged) again
	}
	f := chainFacts{tenant: first.Tenant, vpd: first.VPD, iface: first.Interface, name: first.Name, sha: first.SHA256, seq: first.Sequence}
	if first.PreviousRun != "" {
		f.prevRun = datePtr(first.PreviousRun)
	}
	if sameHold(first, s.awaits(f, last), last) {
		return first, nil, false
	}
	return first, nil, true
}

// readHeld reads a held file from the archive, through the same checks as
// a delivered one; a released file skips the chain checks.
func (s *Service) readHeld(ctx context.Context, c *conn, h holdEntry) error {
	t, ok := s.cfg.Tenants.Get(h.Tenant)
	if !ok {
		return fmt.Errorf("tenant %s of a held file is no longer configured", h.Tenant)
	}
	dd := Describe(h.Name, h.SHA256, h.Size)
	d := &delivery{tenant: t.Code, vpd: dd.VPD, root: s.cfg.Archive, path: s.archivePath(h.Tenant, h.SHA256),
		info: dd.Info, fn: dd.Name, fnErr: dd.NameErr, held: &h}
	s.log.Info("reading held file", logx.Tenant(h.Tenant), logx.File(h.Name), zap.String("feed", h.feed()),
		zap.Int64("sequence", h.Sequence), zap.Bool("released", h.Released != nil))
	return s.ingest(ctx, c, d, t)
}

// supersede discards a held change file that a later full file of its
// feed made moot.
func (s *Service) supersede(ctx context.Context, c *conn, h holdEntry, full entry) error {
	reason := withCode(RuleSequenceGap, reasonText(h.Name, 0, RuleSequenceGap,
		"superseded by full file "+full.Name+" (sequence "+strconv.FormatInt(full.Sequence, 10)+"); discarded unread"))
	return s.discardHeld(ctx, c, h, reason, nil, "superseded")
}

// discardHeld commits a DISCARDED report and the hold's tombstone (and the
// decision, when an operator decided). The original stays in the archive.
func (s *Service) discardHeld(ctx context.Context, c *conn, h holdEntry, reason string, dec *internalv1.IntakeDecision, why string) error {
	report := internalv1.FileReport{Tenant: h.Tenant, Vpd: h.VPD, File: h.fileInfo(), Status: internalv1.FileStatusDiscarded,
		Reason: &reason, EventsEmitted: map[string]int64{}, ReportedAt: s.cfg.Now().UTC().Truncate(time.Millisecond),
		Hold: h.fileHold()}
	recs := []*kgo.Record{{Topic: TopicHolds, Key: []byte(holdKey(h.Tenant, h.SHA256))}}
	if dec != nil {
		report.Decision = decisionRef(dec)
		r, err := s.decisionRecord(dec, "applied")
		if err != nil {
			return err
		}
		recs = append(recs, r)
	}
	if err := s.writeReport(ctx, c, &report, recs...); err != nil {
		return err
	}
	s.holds.remove(h.Tenant, h.SHA256)
	if dec != nil {
		s.holds.decisions[dec.DecisionID] = decisionEntry{ID: dec.DecisionID, Tenant: h.Tenant, SHA256: h.SHA256, Action: string(dec.Action), Outcome: "applied"}
	}
	s.setHeld(h.Tenant)
	s.metrics.files.WithLabelValues(h.Tenant, statusDiscarded).Inc()
	s.log.Warn("held file discarded", logx.Tenant(h.Tenant), logx.File(h.Name), zap.String("sha256", h.SHA256),
		zap.String("feed", h.feed()), zap.Int64("sequence", h.Sequence), zap.String("why", why))
	return nil
}

func decisionRef(d *internalv1.IntakeDecision) *internalv1.IntakeDecisionRef {
	return &internalv1.IntakeDecisionRef{DecisionID: d.DecisionID, Actor: d.Actor, Reason: d.Reason,
		DecidedAt: d.RequestedAt.UTC().Truncate(time.Millisecond)}
}

func (s *Service) decisionRecord(d *internalv1.IntakeDecision, outcome string) (*kgo.Record, error) {
	v, err := json.Marshal(decisionEntry{ID: d.DecisionID, Tenant: d.Tenant, SHA256: d.Sha256, Action: string(d.Action),
		Outcome: outcome, AppliedAt: s.cfg.Now().UTC()})
	if err != nil {
		return nil, fatal(err)
	}
	return &kgo.Record{Topic: TopicHolds, Key: []byte(decisionKey(d.DecisionID)), Value: v}, nil
}

// heldTombstone is the record that ends a hold, written with the held
// file's outcome.
func heldTombstone(h *holdEntry) *kgo.Record {
	return &kgo.Record{Topic: TopicHolds, Key: []byte(holdKey(h.Tenant, h.SHA256))}
}

func jsonValue(v any) ([]byte, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, fatal(err)
	}
	return b, nil
}
