package statestore

import (
	"fmt"
	"time"
)

// Log is what a topic partition holds now, as a reader about to catch up
// sees it.
type Log struct {
	Topic   string
	TopicID string // empty when the broker does not give topic ids
	// First is the partition's log start offset, End the offset after its
	// last stable record.
	First, End int64
	// DeleteRetention is the topic's delete.retention.ms: how long
	// compaction keeps a tombstone.
	DeleteRetention time.Duration
}

// Resume decides where partition p's state catches up from: its
// checkpoint when it can be trusted, otherwise the log's start after
// dropping the partition's state (full is then true and why says why; a
// first start without a checkpoint has why "no checkpoint"). It returns the
// Loader to feed from there; the caller reads [Next, End) into it, or
// closes it at once when Next >= End, which records the refreshed
// checkpoint.
func (s *Store) Resume(p int32, log Log, now time.Time) (l *Loader, full bool, why string, err error) {
	cp, ok, err := s.Checkpoint(p)
	if err != nil {
		return nil, false, "", err
	}
	if why = untrusted(cp, ok, log, now); why != "" {
		if err := s.Reset(p); err != nil {
			return nil, false, "", fmt.Errorf("statestore: resetting partition %d: %w", p, err)
		}
		cp, full = Checkpoint{Next: log.First}, true
	}
	cp.Topic, cp.TopicID, cp.SavedMs = log.Topic, log.TopicID, now.UnixMilli()
	return s.Load(p, cp), full, why, nil
}

// untrusted says why a checkpoint cannot be caught up from ("" when it
// can): there is none, it is of another topic (recreated: a new id),
// records after it are gone (it is before the log's start, or after its
// end), or it is older than the topic's delete.retention.ms while there is
// something to read, so compaction may have removed a tombstone it never
// saw.
func untrusted(cp Checkpoint, ok bool, log Log, now time.Time) string {
	switch {
	case !ok:
		return "no checkpoint"
	case cp.Topic != log.Topic || (cp.TopicID != "" && log.TopicID != "" && cp.TopicID != log.TopicID):
		return "the checkpoint is of another topic (recreated?)"
	case cp.Next < log.First:
		return "the log no longer holds the records after the checkpoint"
	case cp.Next > log.End:
		return "the checkpoint is beyond the log's end"
	case cp.Next < log.End && now.Sub(time.UnixMilli(cp.SavedMs)) >= log.DeleteRetention:
		return "the checkpoint is older than the topic's delete.retention.ms"
	}
	return ""
}

// Next is the offset a Loader reads from (and has reached).
func (l *Loader) Next() int64 { return l.cp.Next }
