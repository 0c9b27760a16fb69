package publish

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"go.uber.org/zap"

	"github.com/esrflow/esrflow/platform/statestore"
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

// linkIndexCacheBytes bounds the link index store's block cache: lookups
// are one per person whose NHS Unique ID may link, a small share of rows.
const linkIndexCacheBytes = 8 << 20

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
	for _, id := range t.ids(prefixKey(t.code, keyNHS, nhs)) {
		f = f.or(t.person(id).linkFacts())
	}
	return f
}

// linkFacts is what one person says about their NHS Unique ID.
func (p *person) linkFacts() linkFacts {
	return linkFacts{Employed: p.employed(), TransferLeaving: p != nil && p.Termination != "" && transferReasons[p.LeavingReason]}
}

func (f linkFacts) or(g linkFacts) linkFacts {
	return linkFacts{Employed: f.Employed || g.Employed, TransferLeaving: f.TransferLeaving || g.TransferLeaving}
}

// putPerson stores a person (nil deletes), in the state and the changelog,
// and updates the link index when what it says about an NHS Unique ID
// changes.
func (w *work) putPerson(pid string, p *person) {
	t := w.t
	old := t.person(pid)
	if old != nil && p != nil && old.NHSUniqueID == p.NHSUniqueID && old.linkFacts() == p.linkFacts() {
		// What the tenant says about the NHS Unique ID is what its people
		// say together; this person says the same as before, so the index
		// does not change (most writes: no reads of the id's people).
		w.writePerson(pid, old, p)
		return
	}
	var ids []string
	if old != nil && old.NHSUniqueID != "" {
		ids = append(ids, old.NHSUniqueID)
	}
	if p != nil && p.NHSUniqueID != "" && (len(ids) == 0 || ids[0] != p.NHSUniqueID) {
		ids = append(ids, p.NHSUniqueID)
	}
	before := make([]linkFacts, len(ids))
	for i, id := range ids {
		before[i] = t.linkFacts(id)
	}
	w.writePerson(pid, old, p)
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

// linkIndex is every instance's view of the index topic, kept in a state
// store of its own (on disk, off the heap: nationally it names every
// member of staff) with a checkpoint per topic partition, so a restarted
// instance reads only what it missed.
type linkIndex struct {
	store  *statestore.Store
	mu     sync.RWMutex
	parts  []int32     // the topic's partitions, known once run has listed them
	caught atomic.Bool // read up to the end as of start
}

func newLinkIndex(store *statestore.Store) *linkIndex { return &linkIndex{store: store} }

// tenants returns the tenants the index names for an NHS Unique ID.
func (x *linkIndex) tenants(nhs string) map[string]linkFacts {
	x.mu.RLock()
	parts := x.parts
	x.mu.RUnlock()
	prefix := nhsDigest(nhs) + "/"
	out := map[string]linkFacts{}
	for _, p := range parts {
		err := x.store.Scan(p, []byte(prefix), func(k, v []byte) error {
			var f linkFacts
			if err := json.Unmarshal(v, &f); err != nil {
				return err
			}
			out[string(k[len(prefix):])] = f
			return nil
		})
		if err != nil {
			// A read error of the local store: the link is decided without
			// what the other tenants said, as if their change had not been
			// read yet (the index is eventually consistent anyway).
			return out
		}
	}
	return out
}

// valid reports whether an index record can be applied: a digest/tenant
// key and facts (or a tombstone).
func validLinkRecord(key, value []byte) error {
	if _, _, ok := strings.Cut(string(key), "/"); !ok {
		return fmt.Errorf("bad link index key %q", key)
	}
	if value != nil {
		var f linkFacts
		if err := json.Unmarshal(value, &f); err != nil {
			return err
		}
	}
	return nil
}

// run catches the store up with the index topic, each partition from its
// checkpoint (or from the start when there is none to trust), then follows
// the topic until ctx ends, committed records only. Transaction markers are
// kept so the end offset as of start (which counts them) can be recognised
// as reached. Partitions added to the topic later are not read until the
// instance restarts.
func (x *linkIndex) run(ctx context.Context, cfg Config, log *zap.Logger) error {
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(cfg.Brokers...),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()), kgo.KeepControlRecords(),
		kgo.ClientID("esrflow-publish-link-index")}, cfg.ClientOpts...)...)
	if err != nil {
		return err
	}
	defer cl.Close()
	var logs map[int32]statestore.Log
	for {
		logs, err = statestore.Logs(ctx, kadm.NewClient(cl), cfg.LinkIndex)
		if err == nil && len(logs) > 0 {
			break
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
	loaders := map[int32]*statestore.Loader{}
	offsets := map[int32]kgo.Offset{}
	remaining := map[int32]int64{} // partition -> end offset as of start
	var parts []int32
	for p, l := range logs {
		loader, full, why, err := x.store.Resume(p, l, time.Now())
		if err != nil {
			return fmt.Errorf("publish: link index: %w", err)
		}
		if full && why != "no checkpoint" {
			log.Info("reading the link index partition from its start", zap.Int32("partition", p), zap.String("reason", why))
		}
		loaders[p], offsets[p] = loader, kgo.NewOffset().At(loader.Next())
		if loader.Next() < l.End {
			remaining[p] = l.End
		}
		parts = append(parts, p)
	}
	defer func() {
		for _, l := range loaders {
			_ = l.Close()
		}
	}()
	slices.Sort(parts)
	x.mu.Lock()
	x.parts = parts
	x.mu.Unlock()
	x.caught.Store(len(remaining) == 0)
	cl.AddConsumePartitions(map[string]map[int32]kgo.Offset{cfg.LinkIndex: offsets})
	for {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			return ctx.Err()
		}
		for _, fe := range fs.Errors() {
			log.Warn("link index fetch error", zap.Error(fe.Err))
		}
		touched := map[int32]bool{}
		var aerr error
		fs.EachRecord(func(r *kgo.Record) {
			if end, ok := remaining[r.Partition]; ok && r.Offset+1 >= end {
				delete(remaining, r.Partition)
			}
			l := loaders[r.Partition]
			if l == nil || aerr != nil {
				return
			}
			apply := !r.Attrs.IsControl()
			if apply {
				if err := validLinkRecord(r.Key, r.Value); err != nil {
					log.Warn("skipping bad link index record", zap.Int64("offset", r.Offset), zap.Error(err))
					apply = false
				}
			}
			aerr = l.Apply(r.Offset, r.Key, r.Value, apply)
			touched[r.Partition] = true
		})
		if aerr != nil {
			return fmt.Errorf("publish: link index: %w", aerr)
		}
		// What was read is visible to lookups once flushed: after each poll.
		for p := range touched {
			if err := loaders[p].Flush(); err != nil {
				return fmt.Errorf("publish: link index: %w", err)
			}
		}
		if len(remaining) == 0 {
			x.caught.Store(true)
		}
	}
}
