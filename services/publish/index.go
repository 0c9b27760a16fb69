package publish

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"go.uber.org/zap"
)

// This file shares what transfer links need across publish instances.
// Tenants are spread over the input's partitions, so tenant A's leaver and
// tenant B's starter may be decided by different instances. Each instance
// writes, in the transaction that changes a person, a record of what a link
// needs about that person's NHS Unique ID in its tenant (employed; leaving
// for a transfer reason) to a compacted topic, and every instance reads the
// whole topic. Local state stays authoritative for the tenants an instance
// holds; the index answers for the others. It is eventually consistent: a
// link is made when the other tenant's change has been committed and read,
// which the usual TUPE (termination known days ahead) leaves ample time for.

// DefaultLinkIndex is the compacted topic of the transfer-link index.
const DefaultLinkIndex = "esr.publish.link-index.v1"

// linkFacts is what the index holds per NHS Unique ID and tenant.
type linkFacts struct {
	Employed        bool `json:"employed,omitempty"`
	TransferLeaving bool `json:"transfer_leaving,omitempty"`
}

// nhsDigest is the index's key for an NHS Unique ID. A 7-digit id is easily
// guessed from its hash, so this is a join key, not protection: the topic
// is internal, like the changelog that holds the id itself.
func nhsDigest(nhs string) string {
	sum := sha256.Sum256([]byte("esrflow/nhs/v1\x00" + nhs))
	return hex.EncodeToString(sum[:16])
}

// linkFacts aggregates the tenant's people with an NHS Unique ID (a rehire
// leaves two person ids with one NHS Unique ID).
func (t *tenantState) linkFacts(nhs string) linkFacts {
	var f linkFacts
	for id := range t.nhs[nhs] {
		p := t.persons[id]
		f.Employed = f.Employed || p.employed()
		f.TransferLeaving = f.TransferLeaving || (p.Termination != "" && transferReasons[p.LeavingReason])
	}
	return f
}

// putPerson stores a person (nil deletes), in memory and in the changelog,
// and updates the link index when what it says about an NHS Unique ID
// changes.
func (w *work) putPerson(pid string, p *person) {
	t := w.t
	var ids []string
	if old := t.persons[pid]; old != nil && old.NHSUniqueID != "" {
		ids = append(ids, old.NHSUniqueID)
	}
	if p != nil && p.NHSUniqueID != "" && (len(ids) == 0 || ids[0] != p.NHSUniqueID) {
		ids = append(ids, p.NHSUniqueID)
	}
	before := make([]linkFacts, len(ids))
	for i, id := range ids {
		before[i] = t.linkFacts(id)
	}
	t.setPerson(pid, p)
	if p == nil {
		w.tx.SetState(stateKey(t.code, keyPerson, pid), nil)
	} else {
		w.tx.SetState(stateKey(t.code, keyPerson, pid), mustJSON(p))
	}
	for i, id := range ids {
		after := t.linkFacts(id)
		if after == before[i] {
			continue
		}
		rec := &kgo.Record{Topic: w.p.cfg.LinkIndex, Key: []byte(nhsDigest(id) + "/" + t.code)}
		if after != (linkFacts{}) {
			rec.Value = mustJSON(after)
		}
		w.tx.Produce(rec)
	}
}

// linkIndex is every instance's view of the index topic.
type linkIndex struct {
	mu     sync.RWMutex
	facts  map[string]map[string]linkFacts // digest -> tenant -> facts
	caught atomic.Bool                     // read up to the end as of start
}

func newLinkIndex() *linkIndex { return &linkIndex{facts: map[string]map[string]linkFacts{}} }

// tenants returns the tenants the index names for an NHS Unique ID.
func (x *linkIndex) tenants(nhs string) map[string]linkFacts {
	x.mu.RLock()
	defer x.mu.RUnlock()
	out := map[string]linkFacts{}
	for code, f := range x.facts[nhsDigest(nhs)] {
		out[code] = f
	}
	return out
}

func (x *linkIndex) apply(key, value []byte) error {
	digest, code, ok := strings.Cut(string(key), "/")
	if !ok {
		return fmt.Errorf("bad link index key %q", key)
	}
	x.mu.Lock()
	defer x.mu.Unlock()
	if value == nil {
		delete(x.facts[digest], code)
		if len(x.facts[digest]) == 0 {
			delete(x.facts, digest)
		}
		return nil
	}
	var f linkFacts
	if err := json.Unmarshal(value, &f); err != nil {
		return err
	}
	if x.facts[digest] == nil {
		x.facts[digest] = map[string]linkFacts{}
	}
	x.facts[digest][code] = f
	return nil
}

// run reads the index topic from its start until ctx ends, committed
// records only. Transaction markers are kept so the end offset as of start
// (which counts them) can be recognised as reached.
func (x *linkIndex) run(ctx context.Context, cfg Config, log *zap.Logger) error {
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(cfg.Brokers...), kgo.ConsumeTopics(cfg.LinkIndex),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		kgo.KeepControlRecords(), kgo.ClientID("esrflow-publish-link-index")}, cfg.ClientOpts...)...)
	if err != nil {
		return err
	}
	defer cl.Close()
	var ends kadm.ListedOffsets
	for {
		ends, err = kadm.NewClient(cl).ListEndOffsets(ctx, cfg.LinkIndex)
		if err == nil && ends.Error() == nil {
			break
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
	remaining := map[int32]int64{}
	ends.Each(func(o kadm.ListedOffset) {
		if o.Offset > 0 {
			remaining[o.Partition] = o.Offset
		}
	})
	x.caught.Store(len(remaining) == 0)
	for {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			return ctx.Err()
		}
		for _, fe := range fs.Errors() {
			log.Warn("link index fetch error", zap.Error(fe.Err))
		}
		fs.EachRecord(func(r *kgo.Record) {
			if end, ok := remaining[r.Partition]; ok && r.Offset+1 >= end {
				delete(remaining, r.Partition)
			}
			if r.Attrs.IsControl() {
				return
			}
			if err := x.apply(r.Key, r.Value); err != nil {
				log.Warn("skipping bad link index record", zap.Int64("offset", r.Offset), zap.Error(err))
			}
		})
		if len(remaining) == 0 {
			x.caught.Store(true)
		}
	}
}
