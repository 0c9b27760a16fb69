package stage

import (
	"context"
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"go.uber.org/zap"

	"github.com/esrflow/esrflow/platform/statestore"
)

// catchUp brings the Store's state of partitions ps to the changelog's last
// stable offset: from each partition's checkpoint when it can be trusted,
// otherwise from the changelog's start after dropping what the store held.
// Either way the result is the committed changelog's state: applying a
// record is overwriting a key, so records the store already reflects may be
// read again without harm.
func (r *Runner) catchUp(ctx context.Context, restorer *kgo.Client, ps []int32) error {
	start := time.Now()
	logs, err := statestore.Logs(ctx, kadm.NewClient(restorer), r.cfg.Changelog)
	if err != nil {
		return fmt.Errorf("stage %s: %w", r.cfg.Name, err)
	}
	loaders := map[int32]*statestore.Loader{}
	want := map[int32]int64{} // partition -> last offset to read
	offsets := map[int32]kgo.Offset{}
	var full, caughtUp int
	for _, p := range ps {
		log, ok := logs[p]
		if !ok {
			return fmt.Errorf("stage %s: changelog partition %d is not listed", r.cfg.Name, p)
		}
		r.changelogID = log.TopicID
		l, fromStart, why, err := r.cfg.Store.Resume(p, log, time.Now())
		if err != nil {
			return fmt.Errorf("stage %s: %w", r.cfg.Name, err)
		}
		if fromStart {
			if why != "no checkpoint" { // a first start is not news
				r.log.Info("restoring partition in full", zap.Int32("partition", p), zap.String("reason", why))
			}
			full++
			r.m.restores.WithLabelValues("full").Inc()
		} else {
			caughtUp++
			r.m.restores.WithLabelValues("checkpoint").Inc()
		}
		if l.Next() >= log.End {
			if err := l.Close(); err != nil { // records the refreshed checkpoint
				return fmt.Errorf("stage %s: %w", r.cfg.Name, err)
			}
			continue
		}
		loaders[p] = l
		want[p] = log.End - 1
		offsets[p] = kgo.NewOffset().At(l.Next())
	}
	var applied int
	err = r.readChangelog(ctx, restorer, offsets, want, func(rec *kgo.Record) error {
		control := rec.Attrs.IsControl()
		l := loaders[rec.Partition]
		if err := l.Apply(rec.Offset, rec.Key, rec.Value, !control); err != nil {
			return err
		}
		if !control {
			applied++
		}
		if rec.Offset >= want[rec.Partition] {
			delete(loaders, rec.Partition)
			return l.Close()
		}
		return nil
	})
	if err != nil {
		return err
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
