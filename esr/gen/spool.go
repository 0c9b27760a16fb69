package gen

import (
	"bufio"
	"cmp"
	"encoding/binary"
	"errors"
	"io"
	"os"
	"slices"
)

// A region's truth.jsonl is sorted by day, then tenant, then line, and a held
// leaver recorded on one day can still be withdrawn or re-dated weeks later.
// Holding the region's truth in memory until the end grows with trusts x
// staff, so in a region each trust streams its truth, one file's records at
// a time (sorted by line), to a spool on disk; a withdrawn or re-dated held
// leaver is struck out in place; at the end the spools are merged into
// truth.jsonl. Memory stays at one file's records per trust plus a read
// buffer per trust during the merge.

// Spool record: a fixed header, then the JSON line (no newline).
//
//	[0]    live ('+') or struck out ('-')
//	[1:5]  file index (little endian)
//	[5:7]  stat bits (statBits), counted into the trust's Stats at the merge
//	[7:11] length of the JSON
const spoolHeader = 11

type truthSpool struct {
	f   *os.File
	bw  *bufio.Writer
	off int64 // bytes written so far
	b   []byte
}

func newTruthSpool() (*truthSpool, error) {
	f, err := os.CreateTemp("", "esrflow-gen-truth-*")
	if err != nil {
		return nil, err
	}
	return &truthSpool{f: f, bw: bufio.NewWriterSize(f, 16<<10)}, nil
}

// done releases the write buffer once the trust's last file is flushed: a
// region keeps one spool per trust until the merge.
func (sp *truthSpool) done() { sp.bw, sp.b = nil, nil }

// close removes the spool file.
func (sp *truthSpool) close() {
	sp.f.Close()
	os.Remove(sp.f.Name())
}

// flushTruth moves the records of the file just written from memory to the
// spool, sorted by line, and turns the in-memory references of held leavers
// into spool offsets so a later withdrawal or re-date can strike them out.
func (s *sim) flushTruth() error {
	sp := s.spool
	recs := slices.DeleteFunc(s.truth, func(r truthRec) bool { return r.dead })
	slices.SortStableFunc(recs, func(a, b truthRec) int { return cmp.Compare(a.t.Line, b.t.Line) })
	for i := range recs {
		r := &recs[i]
		if p := r.owner; p != nil && p.pendingIdx >= 0 {
			p.pendingIdx, p.pendingOff = -1, sp.off
		}
		sp.b = append(sp.b[:0], '+')
		sp.b = binary.LittleEndian.AppendUint32(sp.b, uint32(r.file))
		sp.b = binary.LittleEndian.AppendUint16(sp.b, statBits(&r.t))
		sp.b = binary.LittleEndian.AppendUint32(sp.b, 0)
		sp.b = r.t.AppendJSON(sp.b)
		binary.LittleEndian.PutUint32(sp.b[7:11], uint32(len(sp.b)-spoolHeader))
		if _, err := sp.bw.Write(sp.b); err != nil {
			return err
		}
		sp.off += int64(len(sp.b))
	}
	clear(s.truth)
	s.truth = s.truth[:0]
	// Flushed, so a strike-out before the next file lands on disk.
	return sp.bw.Flush()
}

// killPending strikes out p's held leaver event (withdrawn or re-dated),
// wherever it is now.
func (s *sim) killPending(p *person) {
	switch {
	case p.pendingIdx >= 0:
		s.truth[p.pendingIdx].dead = true
	case p.pendingOff >= 0 && s.spool != nil:
		if _, err := s.spool.f.WriteAt([]byte{'-'}, p.pendingOff); err != nil && s.spoolErr == nil {
			s.spoolErr = err
		}
	}
	p.pendingIdx, p.pendingOff = -1, -1
}

// Stat bits of a truth line: what finishTruth and the merge count.
const (
	sbEvent uint16 = 1 << iota
	sbStarter
	sbScheduled
	sbRehire
	sbXferFrom
	sbLeaver
	sbHeld
	sbLate
	sbXferTo
	sbPosition
	sbAttributes
	sbAdded
	sbEnded
)

func statBits(t *TruthLine) uint16 {
	if t.Kind != KindEvent {
		return 0
	}
	b := sbEvent
	set := func(ok bool, bit uint16) {
		if ok {
			b |= bit
		}
	}
	switch t.Type {
	case TypeStarter:
		b |= sbStarter
		set(t.Scheduled, sbScheduled)
		set(t.Rehire, sbRehire)
		set(t.TransferFromTenant != "", sbXferFrom)
	case TypeLeaver:
		b |= sbLeaver
		set(t.Due != "", sbHeld)
		set(t.DaysLate > 0, sbLate)
		set(t.TransferToTenant != "", sbXferTo)
	case TypePosition:
		b |= sbPosition
		set(t.Change == ChangeAttributes, sbAttributes)
		set(t.Change == ChangeAdded, sbAdded)
		set(t.Change == ChangeEnded, sbEnded)
	}
	return b
}

// countStats adds one truth line (by its stat bits) of file to st.
func countStats(st *Stats, b uint16, file int) {
	if b&sbEvent == 0 {
		return
	}
	inc := func(bit uint16, n *int) {
		if b&bit != 0 {
			*n++
		}
	}
	st.Events++
	inc(sbStarter, &st.Starters)
	inc(sbScheduled, &st.ScheduledStarters)
	inc(sbRehire, &st.Rehires)
	inc(sbXferFrom, &st.TransfersIn)
	inc(sbLeaver, &st.Leavers)
	inc(sbHeld, &st.HeldLeavers)
	inc(sbLate, &st.LateLeavers)
	inc(sbXferTo, &st.TransfersOut)
	inc(sbPosition, &st.PositionUpdates)
	inc(sbAttributes, &st.AttributeChanges)
	inc(sbAdded, &st.AssignmentsAdded)
	inc(sbEnded, &st.AssignmentsEnded)
	if file == 0 {
		inc(sbStarter, &st.BaselineStarters)
		inc(sbLeaver, &st.BaselineLeavers)
	}
}

// spoolReader reads one trust's spool back, one record ahead.
type spoolReader struct {
	r     *bufio.Reader
	stats *Stats
	hdr   [spoolHeader]byte
	file  int  // file index of the record ahead
	ok    bool // a record is ahead
	err   error
}

func newSpoolReader(sp *truthSpool, stats *Stats) *spoolReader {
	r := &spoolReader{r: bufio.NewReaderSize(io.NewSectionReader(sp.f, 0, sp.off), 32<<10), stats: stats}
	r.next()
	return r
}

func (r *spoolReader) next() {
	_, err := io.ReadFull(r.r, r.hdr[:])
	switch {
	case errors.Is(err, io.EOF):
		r.ok = false
		return
	case err != nil:
		r.ok, r.err = false, err
		return
	}
	r.ok, r.file = true, int(binary.LittleEndian.Uint32(r.hdr[1:5]))
}

// copyTo writes the record ahead to w if it is live (counting it into the
// trust's stats), then reads the next header.
func (r *spoolReader) copyTo(w *bufio.Writer) error {
	n := int64(binary.LittleEndian.Uint32(r.hdr[7:11]))
	if r.hdr[0] == '+' {
		countStats(r.stats, binary.LittleEndian.Uint16(r.hdr[5:7]), r.file)
		if _, err := io.CopyN(w, r.r, n); err != nil {
			return err
		}
		if err := w.WriteByte('\n'); err != nil {
			return err
		}
	} else if _, err := r.r.Discard(int(n)); err != nil {
		return err
	}
	r.next()
	return r.err
}

// mergeSpools writes truth.jsonl from the trusts' spools: by file index,
// then tenant, then line (each spool is already in file, line order).
func mergeSpools(out Sink, sims []*sim) error {
	order := slices.Clone(sims)
	slices.SortFunc(order, func(a, b *sim) int { return cmp.Compare(a.cfg.Tenant, b.cfg.Tenant) })
	readers := make([]*spoolReader, len(order))
	for i, s := range order {
		readers[i] = newSpoolReader(s.spool, &s.res.Stats)
		if readers[i].err != nil {
			return readers[i].err
		}
	}
	wc, err := out.Create(TruthFile)
	if err != nil {
		return err
	}
	bw := bufio.NewWriterSize(wc, 64<<10)
	for {
		// the smallest file index ahead in any spool
		day := -1
		for _, r := range readers {
			if r.ok && (day < 0 || r.file < day) {
				day = r.file
			}
		}
		if day < 0 {
			break
		}
		for _, r := range readers {
			for r.ok && r.file == day {
				if err := r.copyTo(bw); err != nil {
					wc.Close()
					return err
				}
			}
		}
	}
	if err := bw.Flush(); err != nil {
		wc.Close()
		return err
	}
	return wc.Close()
}
