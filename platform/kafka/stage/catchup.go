package stage

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"go.uber.org/zap"

	"github.com/esrflow/esrflow/platform/statestore"
)

// defaultDeleteRetention is Kafka's delete.retention.ms default, used when
// the changelog's own setting cannot be read.
const defaultDeleteRetention = 24 * time.Hour

// catchUp brings the Store's state of partitions ps to the changelog's last
// stable offset: from each partition's checkpoint when it can be trusted,
// otherwise from the changelog's start after dropping what the store held.
// Either way the result is the committed changelog's state: applying a
// record is overwriting a key, so records the store already reflects may be
// read again without harm.
func (r *Runner) catchUp(ctx context.Context, restorer *kgo.Client, ps []int32) error {
	start := time.Now()
	adm := kadm.NewClient(restorer)
	td, err := adm.ListTopics(ctx, r.cfg.Changelog)
	if err != nil {
		return fmt.Errorf("stage %s: describing changelog: %w", r.cfg.Name, err)
	}
	if d, ok := td[r.cfg.Changelog]; ok && d.ID != (kadm.TopicID{}) {
		r.changelogID = d.ID.String()
	}
	firsts, err := adm.ListStartOffsets(ctx, r.cfg.Changelog)
	if err != nil {
		return fmt.Errorf("stage %s: listing changelog start offsets: %w", r.cfg.Name, err)
	}
	ends, err := adm.ListCommittedOffsets(ctx, r.cfg.Changelog)
	if err != nil {
		return fmt.Errorf("stage %s: listing changelog offsets: %w", r.cfg.Name, err)
	}
	retention := r.deleteRetention(ctx, adm)

	store := r.cfg.Store
	loaders := map[int32]*statestore.Loader{}
	want := map[int32]int64{} // partition -> last offset to read
	offsets := map[int32]kgo.Offset{}
	var full, caughtUp int
	for _, p := range ps {
		first, end, err := offsetRange(firsts, ends, r.cfg.Changelog, p)
		if err != nil {
			return fmt.Errorf("stage %s: %w", r.cfg.Name, err)
		}
		cp, ok, err := store.Checkpoint(p)
		if err != nil {
			return fmt.Errorf("stage %s: %w", r.cfg.Name, err)
		}
		if why := r.untrusted(cp, ok, first, end, retention); why != "" {
			if ok { // a first start without a checkpoint is not news
				r.log.Info("restoring partition in full", zap.Int32("partition", p), zap.String("reason", why))
			}
			if err := store.Reset(p); err != nil {
				return fmt.Errorf("stage %s: resetting partition %d: %w", r.cfg.Name, p, err)
			}
			cp = statestore.Checkpoint{Next: first}
			full++
			r.m.restores.WithLabelValues("full").Inc()
		} else {
			caughtUp++
			r.m.restores.WithLabelValues("checkpoint").Inc()
		}
		cp.Topic, cp.TopicID, cp.SavedMs = r.cfg.Changelog, r.changelogID, time.Now().UnixMilli()
		l := store.Load(p, cp)
		if cp.Next >= end {
			if err := l.Close(); err != nil { // records the refreshed checkpoint
				return fmt.Errorf("stage %s: %w", r.cfg.Name, err)
			}
			continue
		}
		loaders[p] = l
		want[p] = end - 1
		offsets[p] = kgo.NewOffset().At(cp.Next)
	}
	var applied int
	if len(want) > 0 {
		restorer.AddConsumePartitions(map[string]map[int32]kgo.Offset{r.cfg.Changelog: offsets})
		defer restorer.RemoveConsumePartitions(map[string][]int32{r.cfg.Changelog: ps})
	}
	for len(want) > 0 {
		fetches := restorer.PollFetches(ctx)
		if ctx.Err() != nil {
			return ctx.Err()
		}
		for _, fe := range fetches.Errors() {
			return fmt.Errorf("stage %s: catching up changelog partition %d: %w", r.cfg.Name, fe.Partition, fe.Err)
		}
		var err error
		fetches.EachRecord(func(rec *kgo.Record) {
			last, ok := want[rec.Partition]
			if err != nil || !ok || rec.Offset > last {
				return
			}
			control := rec.Attrs.IsControl()
			if aerr := loaders[rec.Partition].Apply(rec.Offset, rec.Key, rec.Value, !control); aerr != nil {
				err = fmt.Errorf("stage %s: changelog partition %d offset %d: %w", r.cfg.Name, rec.Partition, rec.Offset, aerr)
				return
			}
			if !control {
				applied++
			}
			if rec.Offset >= last {
				delete(want, rec.Partition)
				err = loaders[rec.Partition].Close()
				delete(loaders, rec.Partition)
			}
		})
		if err != nil {
			return err
		}
	}
	r.m.restoreRecords.Add(float64(applied))
	if r.stored != nil {
		for _, p := range ps {
			if err := r.stored.Restored(p); err != nil {
				return fmt.Errorf("stage %s: partition %d restored: %w", r.cfg.Name, p, err)
			}
		}
	}
	r.m.restoreSeconds.Observe(time.Since(start).Seconds())
	r.log.Info("state caught up", zap.Int("records", applied), zap.Int("partitions", len(ps)),
		zap.Int("from_checkpoint", caughtUp), zap.Int("in_full", full), zap.Duration("took", time.Since(start)))
	return nil
}

// untrusted says why a checkpoint cannot be caught up from ("" when it
// can): there is none, it is of another changelog (recreated), records
// after it are gone (it is before the changelog's start, or after its end),
// or it is older than the changelog's delete.retention.ms while there is
// something to read, so compaction may have removed a tombstone it never
// saw.
func (r *Runner) untrusted(cp statestore.Checkpoint, ok bool, first, end int64, retention time.Duration) string {
	switch {
	case !ok:
		return "no checkpoint"
	case cp.Topic != r.cfg.Changelog || (cp.TopicID != "" && r.changelogID != "" && cp.TopicID != r.changelogID):
		return "the checkpoint is of another changelog (recreated?)"
	case cp.Next < first:
		return "the changelog no longer holds the records after the checkpoint"
	case cp.Next > end:
		return "the checkpoint is beyond the changelog's end"
	case cp.Next < end && time.Since(time.UnixMilli(cp.SavedMs)) >= retention:
		return "the checkpoint is older than the changelog's delete.retention.ms"
	}
	return ""
}

func offsetRange(firsts, ends kadm.ListedOffsets, topic string, p int32) (first, end int64, err error) {
	f, ok := firsts.Lookup(topic, p)
	if !ok || f.Err != nil {
		return 0, 0, fmt.Errorf("changelog partition %d has no start offset: %v", p, f.Err)
	}
	e, ok := ends.Lookup(topic, p)
	if !ok || e.Err != nil {
		return 0, 0, fmt.Errorf("changelog partition %d has no end offset: %v", p, e.Err)
	}
	return f.Offset, e.Offset, nil
}

// deleteRetention reads the changelog's delete.retention.ms.
func (r *Runner) deleteRetention(ctx context.Context, adm *kadm.Client) time.Duration {
	rcs, err := adm.DescribeTopicConfigs(ctx, r.cfg.Changelog)
	if err != nil {
		return defaultDeleteRetention
	}
	rc, err := rcs.On(r.cfg.Changelog, nil)
	if err != nil || rc.Err != nil {
		return defaultDeleteRetention
	}
	for _, c := range rc.Configs {
		if c.Key == "delete.retention.ms" && c.Value != nil {
			if ms, err := strconv.ParseInt(*c.Value, 10, 64); err == nil && ms > 0 {
				return time.Duration(ms) * time.Millisecond
			}
		}
	}
	return defaultDeleteRetention
}
