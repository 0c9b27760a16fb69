package embedded

import (
	"context"
	"encoding/binary"
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
	// PartialCommits lists transactions whose commit reached some of their
	// partitions but not all (a kill in the middle of kfake's commit): the
	// partitions without a commit marker are aborted like any open
	// transaction. kfake cannot complete them; see docs/embedded-broker.md.
	PartialCommits []string
}

// openTxn is a transaction of one producer left open on one partition.
type openTxn struct {
	topic     string
	partition int32
	pid       int64
	epoch     int16
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

// scanOpenTransactions reads every partition's segment files under dir
// (kfake's layout: partitions/<topic>-<partition>/<base offset>.dat, each
// a sequence of Kafka record batches) and returns the transactions that
// have data but neither a commit nor an abort marker, and the
// (producer id, epoch) pairs with a commit marker somewhere.
func scanOpenTransactions(dir string) ([]openTxn, map[pidEpoch]bool, error) {
	root := filepath.Join(dir, "partitions")
	pdirs, err := os.ReadDir(root)
	if os.IsNotExist(err) {
		return nil, nil, nil
	}
	if err != nil {
		return nil, nil, err
	}
	var open []openTxn
	committed := map[pidEpoch]bool{}
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
		openHere := map[int64]int16{} // producer id → epoch of its open batches
		for _, base := range bases {
			raw, err := os.ReadFile(filepath.Join(root, name, strconv.FormatInt(base, 10)+".dat"))
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
				switch {
				case attrs&attrControl != 0:
					delete(openHere, pid)
					if isCommitMarker(b) {
						committed[pidEpoch{pid, epoch}] = true
					}
				case attrs&attrTransaction != 0:
					if _, ok := openHere[pid]; !ok {
						openHere[pid] = epoch
					}
				}
				pos += size
			}
		}
		for pid, epoch := range openHere {
			open = append(open, openTxn{topic: topic, partition: int32(part), pid: pid, epoch: epoch})
		}
	}
	sort.Slice(open, func(i, j int) bool {
		a, b := open[i], open[j]
		if a.topic != b.topic {
			return a.topic < b.topic
		}
		if a.partition != b.partition {
			return a.partition < b.partition
		}
		return a.pid < b.pid
	})
	return open, committed, nil
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

// recoverTransactions aborts, with a marker, every transaction a crash
// left open in dir. It runs after kfake has loaded dir and before any
// client of the stack is started.
func recoverTransactions(ctx context.Context, dir string, seeds []string) (Recovery, error) {
	var rec Recovery
	open, committed, err := scanOpenTransactions(dir)
	if err != nil || len(open) == 0 {
		return rec, err
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(seeds...))
	if err != nil {
		return rec, err
	}
	defer cl.Close()
	req := kmsg.NewPtrWriteTxnMarkersRequest()
	for _, o := range open {
		if committed[pidEpoch{o.pid, o.epoch}] {
			rec.PartialCommits = append(rec.PartialCommits, fmt.Sprintf("producer %d epoch %d: %s-%d", o.pid, o.epoch, o.topic, o.partition))
		}
		m := kmsg.NewWriteTxnMarkersRequestMarker()
		m.ProducerID, m.ProducerEpoch, m.Committed = o.pid, o.epoch, false
		t := kmsg.NewWriteTxnMarkersRequestMarkerTopic()
		t.Topic, t.Partitions = o.topic, []int32{o.partition}
		m.Topics = append(m.Topics, t)
		req.Markers = append(req.Markers, m)
	}
	resp, err := req.RequestWith(ctx, cl)
	if err != nil {
		return rec, fmt.Errorf("writing abort markers: %w", err)
	}
	for _, m := range resp.Markers {
		for _, t := range m.Topics {
			for _, p := range t.Partitions {
				if err := kerr.ErrorForCode(p.ErrorCode); err != nil {
					return rec, fmt.Errorf("writing the abort marker of producer %d on %s-%d: %w", m.ProducerID, t.Topic, p.Partition, err)
				}
				rec.OpenTransactions++
			}
		}
	}
	return rec, nil
}
