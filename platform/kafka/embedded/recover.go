package embedded

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Crash recovery of the data folder (docs/embedded-broker.md).
//
// When the process running kfake is killed in the middle of a transaction,
// kfake's next start finds the transaction's records with no commit or
// abort marker and treats them as aborted, but only in memory: it writes
// no abort marker. Two things then go wrong:
//
//   - in that run, a read-committed client is told the producer's
//     transaction starting at the first open offset was aborted, and skips
//     that producer's batches until it meets an abort marker, which never
//     comes: the producer's next, committed transaction is skipped too, up
//     to the end of the fetch response (a committed file read without its
//     first rows);
//   - after the next crash, kfake rebuilds the partition from its segment
//     files, meets the producer's later commit marker first and takes the
//     open records for part of that committed transaction: an aborted
//     transaction becomes visible (a file read twice, events published
//     twice).
//
// Every esrflow stage keeps one transactional id across restarts, so the
// same producer id always writes again after a crash. Start therefore
// writes the missing abort markers, through the protocol's
// WriteTxnMarkers, before any client can produce: the log then says on
// disk what kfake decided in memory.

// Recovery is what Start found in the data folder and repaired.
type Recovery struct {
	// OpenTransactions is how many (partition, producer) transactions were
	// left open by a crash and have been aborted with a marker.
	OpenTransactions int
	// Unindexed is how many segments ended with batches the crash left
	// without an index entry, cut off before kfake loaded them.
	Unindexed int
	// RolledBack lists the commit markers cut off because the crash came
	// while kfake was writing a transaction's markers (a torn commit): the
	// transaction is then aborted whole, like one the crash left open.
	RolledBack []string
	// PartialCommits lists torn commits that could not be rolled back
	// (a marker was not its partition's last batch, which kfake's single
	// writer should make impossible): their partitions without a marker
	// are aborted, so the transaction stays partly committed.
	PartialCommits []string
}

type pidEpoch struct {
	pid   int64
	epoch int16
}

// Record batch header offsets (Kafka message format v2).
const (
	batchHeaderLen  = 61
	attrOffset      = 21
	pidOffset       = 43
	epochOffset     = 51
	attrTransaction = 0x10
	attrControl     = 0x20
)

// partitionScan is what scanPartitions learnt of one partition.
type partitionScan struct {
	topic     string
	partition int32
	// open maps a producer id to the epoch of its transactional batches
	// after its last marker: a transaction the crash left open.
	open map[int64]int16
	// last is the partition's last batch; lastSeg the segment file
	// holding it and lastPos where it starts.
	lastSeg     string
	lastPos     int64
	lastControl bool
	lastPID     int64
	lastEpoch   int16
}

// scanPartitions reads every partition's segment files under dir
// (kfake's layout: partitions/<topic>-<partition>/<base offset>.dat, each
// a sequence of Kafka record batches) and returns, per partition, the
// transactions left open and its last batch, and for each (producer id,
// epoch) the partitions holding its commit marker.
func scanPartitions(dir string) ([]*partitionScan, map[pidEpoch][]*partitionScan, error) {
	root := filepath.Join(dir, "partitions")
	pdirs, err := os.ReadDir(root)
	if os.IsNotExist(err) {
		return nil, nil, nil
	}
	if err != nil {
		return nil, nil, err
	}
	var out []*partitionScan
	committed := map[pidEpoch][]*partitionScan{}
	for _, pd := range pdirs {
		if !pd.IsDir() {
			continue
		}
		name := pd.Name()
		i := strings.LastIndexByte(name, '-')
		if i < 0 {
			continue
		}
		topic, err := url.PathUnescape(name[:i])
		if err != nil {
			continue
		}
		part, err := strconv.ParseInt(name[i+1:], 10, 32)
		if err != nil {
			continue
		}
		segs, err := os.ReadDir(filepath.Join(root, name))
		if err != nil {
			return nil, nil, err
		}
		var bases []int64
		for _, s := range segs {
			if b, ok := strings.CutSuffix(s.Name(), ".dat"); ok {
				if n, err := strconv.ParseInt(b, 10, 64); err == nil {
					bases = append(bases, n)
				}
			}
		}
		slices.Sort(bases)
		ps := &partitionScan{topic: topic, partition: int32(part), open: map[int64]int16{}}
		for _, base := range bases {
			path := filepath.Join(root, name, strconv.FormatInt(base, 10)+".dat")
			raw, err := os.ReadFile(path)
			if err != nil {
				return nil, nil, err
			}
			for pos := 0; pos+batchHeaderLen <= len(raw); {
				size := 12 + int(int32(binary.BigEndian.Uint32(raw[pos+8:pos+12])))
				if size < batchHeaderLen || pos+size > len(raw) {
					break // a torn batch at the end: kfake truncates it on load
				}
				b := raw[pos : pos+size]
				attrs := binary.BigEndian.Uint16(b[attrOffset:])
				pid := int64(binary.BigEndian.Uint64(b[pidOffset:]))
				epoch := int16(binary.BigEndian.Uint16(b[epochOffset:]))
				control := attrs&attrControl != 0
				switch {
				case control:
					delete(ps.open, pid)
					if isCommitMarker(b) {
						committed[pidEpoch{pid, epoch}] = append(committed[pidEpoch{pid, epoch}], ps)
					}
				case attrs&attrTransaction != 0:
					if _, ok := ps.open[pid]; !ok {
						ps.open[pid] = epoch
					}
				}
				ps.lastSeg, ps.lastPos, ps.lastControl, ps.lastPID, ps.lastEpoch = path, int64(pos), control, pid, epoch
				pos += size
			}
		}
		out = append(out, ps)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].topic != out[j].topic {
			return out[i].topic < out[j].topic
		}
		return out[i].partition < out[j].partition
	})
	return out, committed, nil
}

// isCommitMarker reports whether a control batch is a commit marker.
func isCommitMarker(raw []byte) bool {
	var rb kmsg.RecordBatch
	if err := rb.ReadFrom(raw); err != nil {
		return false
	}
	var rec kmsg.Record
	if err := rec.ReadFrom(rb.Records); err != nil {
		return false
	}
	var key kmsg.ControlRecordKey
	if err := key.ReadFrom(rec.Key); err != nil {
		return false
	}
	return key.Type == kmsg.ControlRecordKeyTypeCommit
}

// kfake's index files hold one fixed-size entry per batch of their
// segment, written just after the batch; among other things the entry
// says whether the batch is transactional, and kfake's load believes it.
const indexEntrySize = 15

// dropUnindexedBatches runs before kfake loads dir. kfake appends a batch
// to its segment file and then its entry to the index file; a crash
// between the two leaves a batch without an entry, which kfake's load
// takes for a non-transactional batch (visible to read-committed
// consumers even though its transaction never committed), and every
// entry kfake appends after that belongs to the batch before its own.
// The batches without an entry are the last ones the crashed process
// wrote and were never acknowledged (kfake answers after both writes), so
// they are cut off, as if the crash had come just before them.
func dropUnindexedBatches(dir string, rec *Recovery) error {
	root := filepath.Join(dir, "partitions")
	pdirs, err := os.ReadDir(root)
	if os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		return err
	}
	for _, pd := range pdirs {
		if !pd.IsDir() {
			continue
		}
		segs, err := os.ReadDir(filepath.Join(root, pd.Name()))
		if err != nil {
			return err
		}
		// Only the last segment is written to: a segment is sealed once
		// its successor exists.
		last := int64(-1)
		for _, s := range segs {
			if b, ok := strings.CutSuffix(s.Name(), ".dat"); ok {
				if n, err := strconv.ParseInt(b, 10, 64); err == nil && n > last {
					last = n
				}
			}
		}
		if last >= 0 {
			base := strconv.FormatInt(last, 10)
			path := filepath.Join(root, pd.Name(), base+".dat")
			idx, err := os.Stat(filepath.Join(root, pd.Name(), base+".idx"))
			if err != nil {
				continue // no index at all: leave the segment to kfake
			}
			entries := int(idx.Size() / indexEntrySize)
			raw, err := os.ReadFile(path)
			if err != nil {
				return err
			}
			n := 0
			for pos := 0; pos+batchHeaderLen <= len(raw); n++ {
				size := 12 + int(int32(binary.BigEndian.Uint32(raw[pos+8:pos+12])))
				if size < batchHeaderLen || pos+size > len(raw) {
					break
				}
				if n == entries {
					if err := cutSegment(path, int64(pos)); err != nil {
						return fmt.Errorf("cutting unindexed batches off %s: %w", path, err)
					}
					rec.Unindexed++
					break
				}
				pos += size
			}
		}
	}
	return nil
}

// openTxn is a transaction of one producer left open on one partition.
type openTxn struct {
	topic     string
	partition int32
	pid       int64
	epoch     int16
}

// rollBackTornCommits runs before kfake loads dir. A commit is torn when
// the crash came while kfake was writing its markers: some partitions of
// the transaction have the commit marker, the others only its records
// (and kfake writes the consumed offsets after every marker, so none of
// them is stored). Each marker written is then its partition's last batch
// (kfake does all its I/O on one goroutine, and nothing ran after the
// crash), and no client has read past it. Cutting those markers off the
// segment files puts the log back where a crash just before the commit
// leaves it; kfake's own load handles that state (it drops index entries
// beyond the segment's end), and the transaction is then aborted whole
// by recoverTransactions.
func rollBackTornCommits(dir string) (Recovery, []openTxn, error) {
	var rec Recovery
	if err := dropUnindexedBatches(dir, &rec); err != nil {
		return rec, nil, err
	}
	parts, committed, err := scanPartitions(dir)
	if err != nil {
		return rec, nil, err
	}
	var open []openTxn
	torn := map[pidEpoch]bool{}
	for _, ps := range parts {
		pids := make([]int64, 0, len(ps.open))
		for pid := range ps.open {
			pids = append(pids, pid)
		}
		slices.Sort(pids)
		for _, pid := range pids {
			epoch := ps.open[pid]
			open = append(open, openTxn{ps.topic, ps.partition, pid, epoch})
			if len(committed[pidEpoch{pid, epoch}]) > 0 {
				torn[pidEpoch{pid, epoch}] = true
			}
		}
	}
	tornKeys := make([]pidEpoch, 0, len(torn))
	for k := range torn {
		tornKeys = append(tornKeys, k)
	}
	sort.Slice(tornKeys, func(i, j int) bool { return tornKeys[i].pid < tornKeys[j].pid })
	for _, k := range tornKeys {
		for _, ps := range committed[k] {
			where := fmt.Sprintf("producer %d epoch %d: %s-%d", k.pid, k.epoch, ps.topic, ps.partition)
			if !ps.lastControl || ps.lastPID != k.pid || ps.lastEpoch != k.epoch {
				// Not the partition's last batch: cannot be a commit cut
				// short by the crash. Leave it; its other partitions are
				// aborted below, and up says so.
				rec.PartialCommits = append(rec.PartialCommits, where)
				continue
			}
			if err := cutSegment(ps.lastSeg, ps.lastPos); err != nil {
				return rec, nil, fmt.Errorf("rolling back the torn commit of %s: %w", where, err)
			}
			rec.RolledBack = append(rec.RolledBack, where)
			open = append(open, openTxn{ps.topic, ps.partition, k.pid, k.epoch})
		}
	}
	return rec, open, nil
}

// cutSegment truncates a segment file at pos; a segment left empty is
// removed with its index, as if it had never been created.
func cutSegment(path string, pos int64) error {
	if pos > 0 {
		return os.Truncate(path, pos)
	}
	if err := os.Remove(path); err != nil {
		return err
	}
	idx := strings.TrimSuffix(path, ".dat") + ".idx"
	if err := os.Remove(idx); err != nil && !os.IsNotExist(err) {
		return err
	}
	return nil
}

// recoverTransactions aborts, with a marker, every transaction a crash
// left open (as rollBackTornCommits found them). It runs after kfake has
// loaded the folder and before any client of the stack is started.
func recoverTransactions(ctx context.Context, seeds []string, open []openTxn, rec *Recovery) error {
	if len(open) == 0 {
		return nil
	}
	req := kmsg.NewPtrWriteTxnMarkersRequest()
	for _, o := range open {
		m := kmsg.NewWriteTxnMarkersRequestMarker()
		m.ProducerID, m.ProducerEpoch, m.Committed = o.pid, o.epoch, false
		t := kmsg.NewWriteTxnMarkersRequestMarkerTopic()
		t.Topic, t.Partitions = o.topic, []int32{o.partition}
		m.Topics = append(m.Topics, t)
		req.Markers = append(req.Markers, m)
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(seeds...))
	if err != nil {
		return err
	}
	defer cl.Close()
	resp, err := req.RequestWith(ctx, cl)
	if err != nil {
		return fmt.Errorf("writing abort markers: %w", err)
	}
	for _, m := range resp.Markers {
		for _, t := range m.Topics {
			for _, p := range t.Partitions {
				err := kerr.ErrorForCode(p.ErrorCode)
				switch {
				case errors.Is(err, kerr.UnknownTopicOrPartition):
					// Files of a topic kfake no longer knows: nothing
					// reads them.
				case err != nil:
					return fmt.Errorf("writing the abort marker of producer %d on %s-%d: %w", m.ProducerID, t.Topic, p.Partition, err)
				default:
					rec.OpenTransactions++
				}
			}
		}
	}
	return nil
}
