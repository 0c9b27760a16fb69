package publish

import (
	"cmp"
	"fmt"
	"slices"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"go.uber.org/zap"

	"github.com/esrflow/esrflow/esr/tenant"
	"github.com/esrflow/esrflow/platform/logx"
	"github.com/esrflow/esrflow/schemas"
	"github.com/esrflow/esrflow/schemas/gen/internalv1"
)

// This file is the leaver guard. A wrong leaver locks a nurse out of a
// ward, and a truncated file must never fan out as mass access removal, so
// a file's leavers are not emitted as its rows are read: they are held as
// pending and decided at the file's end. Under the tenant's thresholds they
// are emitted then; over them, the whole set is held in a batch until an
// operator releases or rejects it through the api.

// missingReason is the leaving reason of a person a full file omitted (feed
// mode "leave"). It is not an ESR reason, so consumers can tell it apart.
const missingReason = "Missing from full file"

// holdPending keeps a leaver decided by the open file until the file ends.
// before is the person as they were before the file touched them, restored
// if an operator rejects the file's leavers.
func (w *work) holdPending(e *event, before *person) {
	e.ID = idOf(e)
	e.Pending, e.Batch, e.PreFile = true, "", before
	w.setHeld(e)
}

// tenantConfig is the tenant's configuration (defaults when publish runs
// without a tenants file or does not know the tenant).
func (p *processor) tenantConfig(code string) tenant.Tenant {
	if p.cfg.Tenants != nil {
		if t, ok := p.cfg.Tenants.Get(code); ok {
			return t
		}
	}
	return tenant.Tenant{Code: code}
}

// pendingBatches counts the tenant's batches awaiting an operator.
func (t *tenantState) pendingBatches() int {
	n := 0
	for _, b := range t.batches {
		if b.Status == internalv1.HeldBatchStatusHeld {
			n++
		}
	}
	return n
}

// omissions applies the tenant's feed mode to the people a full file did not
// list: ignore them, remove them (correct), or make the employed ones leavers
// on the file's run date (leave).
func (w *work) omissions() {
	t, o := w.t, w.t.hdr.Open
	mode := w.p.tenantConfig(t.code).Missing(o.Dialect)
	if mode == tenant.MissingIgnore {
		return
	}
	var missing []string
	t.eachPerson(func(pid string, p *person) {
		if p.Seen != t.hdr.Files {
			missing = append(missing, pid)
		}
	})
	slices.Sort(missing)
	n := int64(0)
	for _, pid := range missing {
		B := t.person(pid)
		switch mode {
		case tenant.MissingCorrect:
			w.putPerson(pid, nil)
			if h := t.held[pid]; h != nil && h.Batch == "" {
				w.dropHeld(pid)
			}
			n++
		case tenant.MissingLeave:
			if !B.employed() || B.Left != nil || (t.held[pid] != nil && t.held[pid].Batch != "") {
				// (Not employed, already a published leaver, or awaiting an
				// operator: no second leaver.)
				continue
			}
			A := B.clone()
			A.Termination, A.LeavingReason = o.Run, missingReason
			for _, a := range A.Assignments {
				if a.live() {
					a.Status, a.End = "TERM_ASSIGN", o.Run
				}
			}
			w.dropHeld(pid) // a date-held leaving is superseded by this one
			w.holdPending(&event{Type: eventLeaver, Tenant: t.code, VPD: o.VPD, PersonID: pid, EmployeeNumber: A.EmployeeNumber,
				Effective: o.Run, FileName: o.Name, FileSha256: o.Sha256, LeavingReason: missingReason}, B)
			w.putPerson(pid, A)
			n++
		}
	}
	if n > 0 {
		w.p.log.Info("full file omitted people", logx.Tenant(t.code), logx.File(o.Name), zap.String("missing", mode), logx.Count("people", n))
	}
}

// decideLeavers runs the guard over the open file's pending leavers and
// returns how many it held for an operator.
func (w *work) decideLeavers() (int64, error) {
	t, o := w.t, w.t.hdr.Open
	var pending []*event
	for _, e := range t.held {
		if e.Pending {
			pending = append(pending, e)
		}
	}
	if len(pending) == 0 {
		return 0, nil
	}
	slices.SortFunc(pending, func(a, b *event) int {
		return cmp.Or(cmp.Compare(a.Line, b.Line), cmp.Compare(a.PersonID, b.PersonID))
	})
	g := w.p.tenantConfig(t.code).Guard()
	if tripped := g.Trips(len(pending), int(o.Active)); tripped != "" {
		return int64(len(pending)), w.holdBatch(pending, g, tripped)
	}
	for _, e := range pending {
		e.Pending, e.PreFile = false, nil
		if e.Due != "" { // future-dated: now waits for its date
			w.setHeld(e)
			continue
		}
		if err := w.emit(e, true); err != nil {
			return 0, err
		}
		via := viaFile
		if o.Replay != "" {
			via = viaReplay
		}
		w.notePublishedLeaver(via, o.Run, "")
		w.dropHeld(e.PersonID)
	}
	w.p.metrics.scheduled.WithLabelValues(t.code).Set(float64(t.dateHeld()))
	return 0, nil
}

// batchID names the batch of a file's leavers.
func batchID(fileSha256 string) string { return "hb-" + fileSha256[:min(16, len(fileSha256))] }

// holdBatch puts a file's leavers in a batch for an operator and announces
// it on esr.ops.held-batches.v1.
func (w *work) holdBatch(pending []*event, g tenant.Guard, tripped string) error {
	t, o := w.t, w.t.hdr.Open
	b := &internalv1.HeldBatch{BatchID: batchID(o.Sha256), Tenant: t.code, Vpd: o.VPD, FileName: o.Name, FileSha256: o.Sha256,
		RunDate: date(o.Run), Status: internalv1.HeldBatchStatusHeld, Leavers: int64(len(pending)), ActivePopulation: o.Active,
		MaxLeavers: int64(g.MaxLeavers), MaxPercent: g.MaxPercent, Tripped: tripped, HeldAt: w.p.now(),
		Held: make([]internalv1.HeldLeaverRef, 0, len(pending))}
	for _, e := range pending {
		e.Pending, e.Batch = false, b.BatchID
		w.setHeld(e)
		b.Held = append(b.Held, internalv1.HeldLeaverRef{PersonID: e.PersonID, EmployeeNumber: e.EmployeeNumber,
			LeavingDate: date(e.Effective), EventID: e.ID, Line: e.Line})
	}
	w.p.log.Warn("leaver guard held a file's leavers for an operator", logx.Tenant(t.code), logx.File(o.Name),
		zap.String("batch", b.BatchID), logx.Count("leavers", b.Leavers), logx.Count("employed", o.Active), zap.String("tripped", tripped))
	return w.saveBatch(b)
}

// saveBatch stores a batch and writes it to the ops topic.
func (w *work) saveBatch(b *internalv1.HeldBatch) error {
	t := w.t
	t.batches[b.BatchID] = b
	w.tx.SetState(stateKey(t.code, keyBatch, b.BatchID), mustJSON(b))
	w.p.metrics.heldBatches.WithLabelValues(t.code).Set(float64(t.pendingBatches()))
	wr, err := w.writerLocked(schemas.TopicHeldBatches, schemas.HeldBatch)
	if err != nil {
		return err
	}
	v, err := wr.Encode(nil, b)
	if err != nil {
		return err
	}
	w.tx.Produce(&kgo.Record{Topic: schemas.TopicHeldBatches, Key: []byte(t.code), Value: v, Headers: []kgo.RecordHeader{
		{Key: hdrContentType, Value: []byte("application/avro")},
		{Key: hdrTraceparent, Value: []byte(traceparent(b.FileSha256, b.BatchID+"/"+string(b.Status)))},
	}})
	return nil
}

// command applies an operator's decision on a held batch. It arrives in
// band on the tenant's input, so it is ordered with the tenant's files and
// applied exactly once with the state it changes; a command for an unknown
// or already decided batch changes nothing.
func (w *work) command(c *internalv1.OperatorCommand) error {
	t := w.t
	b := t.batches[c.BatchID]
	if b == nil || b.Status != internalv1.HeldBatchStatusHeld {
		status := "unknown"
		if b != nil {
			status = string(b.Status)
		}
		w.p.log.Warn("operator command ignored", logx.Tenant(t.code), zap.String("batch", c.BatchID),
			zap.String("action", string(c.Action)), zap.String("command", c.CommandID), zap.String("batch_status", status))
		w.p.metrics.commands.WithLabelValues(t.code, string(c.Action), "ignored").Inc()
		return nil
	}
	var held []*event
	for _, e := range t.held {
		if e.Batch == b.BatchID {
			held = append(held, e)
		}
	}
	slices.SortFunc(held, func(a, b *event) int {
		return cmp.Or(cmp.Compare(a.Line, b.Line), cmp.Compare(a.PersonID, b.PersonID))
	})
	d := *b
	now := w.p.now()
	d.DecidedAt, d.DecidedBy, d.Reason, d.CommandID = &now, c.Actor, c.Reason, c.CommandID
	switch c.Action {
	case internalv1.OperatorActionRelease:
		d.Status = internalv1.HeldBatchStatusReleased
		// A future-dated leaver whose date has come (by a later file, or
		// the clock as far as it may confirm) is confirmed now; the others
		// wait for their date.
		upTo := max(t.hdr.LastRun, w.p.clockConfirmsUpTo(t, w.p.today()))
		for _, e := range held {
			e.Batch, e.PreFile = "", nil
			if e.Due != "" && e.Due > upTo {
				w.setHeld(e)
				continue
			}
			fired := *e
			fired.Due = ""
			if err := w.emit(&fired, false); err != nil {
				return err
			}
			// From the held file's run date: the wait for the operator is
			// latency; a future-dated one from its day, if later.
			w.notePublishedLeaver(viaRelease, isoDate(b.RunDate), e.Due)
			w.dropHeld(e.PersonID)
			w.p.metrics.fired.WithLabelValues(t.code, triggerRelease).Inc()
			d.Emitted++
		}
	case internalv1.OperatorActionReject:
		d.Status = internalv1.HeldBatchStatusRejected
		// The file's leaving is undone: each person is as before the file,
		// so a corrected file that lists them employed is no starter.
		for _, e := range held {
			w.dropHeld(e.PersonID)
			if e.PreFile != nil {
				w.putPerson(e.PersonID, e.PreFile)
			}
		}
	default:
		return fmt.Errorf("publish: unknown operator action %q", c.Action)
	}
	w.p.metrics.commands.WithLabelValues(t.code, string(c.Action), "applied").Inc()
	w.p.metrics.scheduled.WithLabelValues(t.code).Set(float64(t.dateHeld()))
	w.p.log.Info("operator decided a held batch", logx.Tenant(t.code), zap.String("batch", d.BatchID),
		zap.String("status", string(d.Status)), zap.String("actor", d.DecidedBy), logx.Count("emitted", d.Emitted),
		zap.Duration("held_for", now.Sub(d.HeldAt).Truncate(time.Second)))
	return w.saveBatch(&d)
}
