package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sr"

	"github.com/esrflow/esrflow/cmd/esrflow/internal/observe"
	"github.com/esrflow/esrflow/cmd/esrflow/internal/stack"
	"github.com/esrflow/esrflow/esr/format"
	"github.com/esrflow/esrflow/esr/format/gov2"
	"github.com/esrflow/esrflow/esr/gen"
	"github.com/esrflow/esrflow/platform/avrox"
	"github.com/esrflow/esrflow/schemas"
	"github.com/esrflow/esrflow/schemas/gen/internalv1"
)

// replayable is a generated trust whose change file has one starter's only
// ASA row broken, so the row is quarantined and the starter not published.
type replayable struct {
	trust
	change  gen.FileInfo
	data    []byte // the change file as delivered, the ASA broken
	line    int    // the ASA's line
	fields  []string
	starter gen.TruthLine
}

// breakStarter finds a starter of the trust's change file whose person has
// exactly one ASA row there, and breaks that row with mutate (its columns,
// the record type first).
func breakStarter(t *testing.T, mutate func(cols []string)) replayable {
	t.Helper()
	return breakStarterFrom(t, time.Time{}, mutate)
}

// breakStarterFrom is breakStarter with the full file's run date (zero:
// gen.DefaultStart).
func breakStarterFrom(t *testing.T, start time.Time, mutate func(cols []string)) replayable {
	t.Helper()
	for seed := uint64(1); seed < 20; seed++ {
		tr := generate(t, gen.Config{Tenant: "RXX", VPD: "412", Staff: 60, Days: 1, Seed: seed, Start: start})
		change := tr.res.Files[1]
		lines := strings.Split(string(tr.sink.Bytes(change.Name)), "\n")
		for _, l := range tr.truth {
			if l.Kind != gen.KindEvent || l.Type != "starter-created" || l.File != change.Name || l.Scheduled {
				continue
			}
			var asa []int
			for i, text := range lines {
				f := strings.Split(strings.TrimRight(text, "\r"), string(gov2.Delimiter))
				if f[0] == gov2.TypeAssignment && len(f) > 1 && f[1] == l.PersonID {
					asa = append(asa, i+1)
				}
			}
			others := 0
			for _, o := range tr.truth {
				if o.Kind == gen.KindEvent && o.File == change.Name && o.PersonID == l.PersonID {
					others++
				}
			}
			if len(asa) != 1 || asa[0] != l.Line || others != 1 {
				continue
			}
			text := strings.TrimRight(lines[l.Line-1], "\r")
			f := strings.Split(text, string(gov2.Delimiter))
			fields := slices.Clone(f)
			format.BlankSpecial(gov2.Spec(gov2.TypeAssignment), fields) // as ingest sends it
			mutate(f)
			broken := slices.Clone(lines)
			broken[l.Line-1] = strings.Replace(lines[l.Line-1], text, strings.Join(f, string(gov2.Delimiter)), 1)
			return replayable{trust: tr, change: change, data: []byte(strings.Join(broken, "\n")), line: l.Line,
				fields: fields[1:], starter: l}
		}
	}
	t.Fatal("no generated change file has a starter with a single ASA row")
	return replayable{}
}

// deliver drops the trust's full file and its broken change file on a
// running stack, waits for both reports, and checks the published events
// are the truth without the broken starter. It returns a reader of the
// stack's topics and the truth's published events (the starter included).
func (r replayable) deliver(t *testing.T, st *stack.Stack) (*observe.Reader, []gen.TruthLine) {
	t.Helper()
	rd, err := observe.NewReader(st.Seeds(), st.RegistryURL())
	if err != nil {
		t.Fatal(err)
	}
	full := r.res.Files[0]
	dropFile(t, st.DropDir(), "RXX", full.Name, r.sink.Bytes(full.Name))
	waitReports(t, rd, 1, 2*time.Minute)
	dropFile(t, st.DropDir(), "RXX", r.change.Name, r.data)
	waitReports(t, rd, 2, 2*time.Minute)

	published, _ := r.expectedEvents()
	without := slices.DeleteFunc(slices.Clone(published), func(l gen.TruthLine) bool { return eventKey(l) == eventKey(r.starter) })
	if len(without) != len(published)-1 {
		t.Fatalf("the truth's published events do not hold the starter %+v", r.starter)
	}
	events, err := rd.Events(context.Background(), "RXX")
	if err != nil {
		t.Fatal(err)
	}
	if missing, extra := compareEvents(t, events, without); missing+extra > 0 {
		t.Fatal("before the replay, the events are not the truth without the starter")
	}
	return rd, published
}

// requestReplay produces a replay request as the api does.
func requestReplay(t *testing.T, seeds []string, registryURL string, req internalv1.ReplayRequest) {
	t.Helper()
	ctx := context.Background()
	srcl, err := sr.NewClient(sr.URLs(registryURL))
	if err != nil {
		t.Fatal(err)
	}
	_, text, err := schemas.Latest(schemas.ReplayRequest)
	if err != nil {
		t.Fatal(err)
	}
	w, err := avrox.New(srcl, internalv1.NewAPI()).Register(ctx, schemas.Subject(schemas.TopicReplays), text)
	if err != nil {
		t.Fatal(err)
	}
	v, err := w.Encode(nil, &req)
	if err != nil {
		t.Fatal(err)
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(seeds...))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	if err := cl.ProduceSync(ctx, &kgo.Record{Topic: schemas.TopicReplays, Key: []byte(req.Tenant), Value: v}).FirstErr(); err != nil {
		t.Fatal(err)
	}
}

// TestReplayPublishesWhatTheQuarantinedRowImplies: a starter's only ASA row
// arrives broken and is quarantined, so the starter is not published; the
// row replayed as first parsed (here: as a fixed mapping would read it —
// the test stands in for the api and the mapping change by sending the
// unbroken fields) goes through normalise and validate again and publishes
// exactly the starter the truth has, sourced from the change file's line,
// once: a second replay publishes nothing.
//
// TestReplayAfterARuleChangeThroughTheAPI makes the same journey as an
// operator does: a real rule change, then POST .../quarantine/replay.
func TestReplayPublishesWhatTheQuarantinedRowImplies(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end run")
	}
	r := breakStarter(t, func(cols []string) { cols[1] = "" }) // no person id
	st := startStack(t, t.TempDir())
	rd, published := r.deliver(t, st)
	ctx := context.Background()
	q, err := rd.Quarantine(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.ContainsFunc(q, func(x internalv1.QuarantineRecord) bool {
		return x.Lineage.FileName == r.change.Name && x.Lineage.Line == int64(r.line)
	}) {
		t.Fatalf("the broken ASA (line %d) was not quarantined: %+v", r.line, q)
	}

	sum := sha256.Sum256(r.data)
	row := internalv1.ReplayRow{
		Lineage: internalv1.Lineage{Tenant: "RXX", FileName: r.change.Name, FileSha256: hex.EncodeToString(sum[:]), Line: int64(r.line)},
		Vpd:     "412",
		File: internalv1.FileInfo{Name: r.change.Name, Sha256: hex.EncodeToString(sum[:]), Dialect: "go-v2",
			Kind: internalv1.FileKindChange, Sequence: int64(r.change.Seq), RunDate: replayDay(t, r.change.RunDate), Size: int64(len(r.data))},
		Raw: internalv1.RawRow{RecordType: gov2.TypeAssignment, Fields: r.fields},
	}
	replay := func(id string, n int) []internalv1.FileReport {
		requestReplay(t, st.Seeds(), st.RegistryURL(), internalv1.ReplayRequest{ReplayID: id, Tenant: "RXX",
			RequestedBy: "rxx-ops", Reason: "mapping fixed", RequestedAt: time.Now().UTC().Truncate(time.Millisecond),
			Rows: []internalv1.ReplayRow{row}})
		reps := waitReports(t, rd, n, 2*time.Minute)
		last := reps[len(reps)-1]
		if last.ReplayID == nil || *last.ReplayID != id || last.File.Name != "REPLAY_"+id || last.RowsRead != 1 {
			t.Fatalf("replay %s: report %+v", id, last)
		}
		return reps
	}

	reps := replay("rp-e2e-1", 3)
	if last := reps[len(reps)-1]; last.EventsEmitted["starter-created"] != 1 || last.Quarantined != 0 {
		t.Errorf("replay report: %+v", last)
	}
	events, err := rd.Events(ctx, "RXX")
	if err != nil {
		t.Fatal(err)
	}
	compareEvents(t, events, published)

	replay("rp-e2e-2", 4)
	again, err := rd.Events(ctx, "RXX")
	if err != nil {
		t.Fatal(err)
	}
	if len(again) != len(events) {
		t.Errorf("a second replay of the same row published %d events", len(again)-len(events))
	}
	raw, err := rd.RawFiles(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"rp-e2e-1", "rp-e2e-2"} {
		if f := raw["RXX/REPLAY_"+id]; f == nil || f.Starts != 1 || f.Ends != 1 || f.Records != 1 {
			t.Errorf("replay %s on raw: %+v", id, f)
		}
	}
}

func replayDay(t *testing.T, s string) time.Time {
	t.Helper()
	d, err := time.Parse(time.DateOnly, s)
	if err != nil {
		t.Fatal(err)
	}
	return d
}
