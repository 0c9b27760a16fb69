package api

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"go.uber.org/zap"

	"github.com/esrflow/esrflow/services/api/materialise"
)

// PipelineGroup is one consumer group whose lag the region overview reports
// (GET /v1/tenants, pipeline).
type PipelineGroup struct {
	// Stage names the group's stage in the answer: normalise, validate...
	Stage string
	// Group is the Kafka consumer group.
	Group string
	// Optional leaves the group out until it has committed an offset:
	// ingest's replay group commits only once an operator replays, and a
	// deployment that never did should not show it as a stage at all.
	Optional bool
}

// StageAPI is the stage whose group is always this api's own (Config.Group),
// whatever --overview.groups names for it: the api knows its group.
const StageAPI = "api"

// DefaultPipelineGroups are the stages' default groups, in pipeline order:
// ingest's replay group (services/ingest ReplayGroup), normalise's and
// validate's (their processors' Group), publish's (DefaultGroup; its --group
// overrides it) and the api's. The api module does not import the stages,
// so TestPipelineDefaultsAreTheStagesGroups checks them against their
// sources.
var DefaultPipelineGroups = []PipelineGroup{
	{Stage: "ingest", Group: "esrflow-ingest-replays", Optional: true},
	{Stage: "normalise", Group: "esrflow-normalise"},
	{Stage: "validate", Group: "esrflow-validate"},
	{Stage: "publish", Group: "esrflow-publish"},
	{Stage: StageAPI, Group: materialise.Group},
}

// ParsePipelineGroups reads --overview.groups: comma-separated
// stage=group items, a bare group standing for itself less its esrflow-
// prefix, a trailing ? marking the group optional (listed once it has
// committed an offset). An empty value lists no group.
func ParsePipelineGroups(s string) ([]PipelineGroup, error) {
	out := []PipelineGroup{}
	seen := map[string]bool{}
	for item := range strings.SplitSeq(s, ",") {
		item = strings.TrimSpace(item)
		if item == "" {
			continue
		}
		g := PipelineGroup{}
		if rest, ok := strings.CutSuffix(item, "?"); ok {
			item, g.Optional = rest, true
		}
		stage, group, ok := strings.Cut(item, "=")
		if !ok {
			stage, group = strings.TrimPrefix(item, "esrflow-"), item
		}
		g.Stage, g.Group = strings.TrimSpace(stage), strings.TrimSpace(group)
		if g.Stage == "" || g.Group == "" || strings.ContainsAny(g.Group, " ?=") {
			return nil, fmt.Errorf("overview.groups: %q: want stage=group, group, or either followed by ?", item)
		}
		if seen[g.Group] {
			return nil, fmt.Errorf("overview.groups: group %q is listed twice", g.Group)
		}
		seen[g.Group] = true
		out = append(out, g)
	}
	return out, nil
}

// FormatPipelineGroups is the --overview.groups form of gs.
func FormatPipelineGroups(gs []PipelineGroup) string {
	items := make([]string, len(gs))
	for i, g := range gs {
		items[i] = g.Stage + "=" + g.Group
		if g.Optional {
			items[i] += "?"
		}
	}
	return strings.Join(items, ",")
}

// pipelineGroupsFlag is --overview.groups: setting it replaces the list.
type pipelineGroupsFlag []PipelineGroup

func (f *pipelineGroupsFlag) String() string {
	if f == nil {
		return ""
	}
	return FormatPipelineGroups(*f)
}

func (f *pipelineGroupsFlag) Set(s string) error {
	gs, err := ParsePipelineGroups(s)
	if err != nil {
		return err
	}
	*f = gs
	return nil
}

// pipelineStatus is one stage's consumer group in the overview.
type pipelineStatus struct {
	Group string `json:"group"`
	Stage string `json:"stage"`
	// Lag sums, over the partitions the group has committed to or is
	// assigned, the read-committed end offset less the committed offset
	// (the whole partition when nothing is committed); transaction markers
	// count, as offsets do. nil when there is
	// nothing to measure from (no commit, no member) or it could not be
	// read.
	Lag     *int64 `json:"lag"`
	Members int    `json:"members"`
	// State is the group's state as the broker says it (Stable, Empty,
	// Dead for a group it does not know...); Unknown when unread.
	State string `json:"state"`
	Error string `json:"error,omitempty"`
	// cause is the error in full, for the log: the answer names a broker
	// that cannot be reached without its address.
	cause error
}

const (
	// pipelineTimeout bounds one read of the groups: the overview must
	// answer when Kafka does not.
	pipelineTimeout = 2 * time.Second
	// pipelineTTL is how long a read is served again: a console refreshed
	// by many users reads Kafka once per window, not once per page.
	pipelineTTL = 5 * time.Second
)

// pipelineReader reads the stages' consumer groups, at most once a
// pipelineTTL.
type pipelineReader struct {
	adm    *kadm.Client
	groups []PipelineGroup
	now    func() time.Time
	log    *zap.Logger

	// mu is held across a read, so requests arriving while the cache is
	// being refreshed wait for that one read rather than each making one.
	mu   sync.Mutex
	at   time.Time
	last []pipelineStatus
}

// newPipelineReader resolves the api's own group into groups.
func newPipelineReader(cl *kgo.Client, groups []PipelineGroup, apiGroup string, now func() time.Time, log *zap.Logger) *pipelineReader {
	gs := make([]PipelineGroup, len(groups))
	for i, g := range groups {
		if g.Stage == StageAPI {
			g.Group = apiGroup
		}
		gs[i] = g
	}
	return &pipelineReader{adm: kadm.NewClient(cl), groups: gs, now: now, log: log}
}

// get returns the groups' status, read at most pipelineTTL ago. It never
// fails: a group that could not be read carries its error.
func (p *pipelineReader) get(ctx context.Context) []pipelineStatus {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.last != nil && p.now().Sub(p.at) < pipelineTTL {
		return p.last
	}
	// Not the request's context: a caller who gives up must not leave the
	// next callers a cached "context canceled".
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), pipelineTimeout)
	defer cancel()
	p.last, p.at = p.read(ctx), p.now()
	var unread []string
	var cause error
	for _, s := range p.last {
		if s.cause != nil {
			unread, cause = append(unread, s.Group), cmpErr(cause, s.cause)
		}
	}
	if cause != nil { // once a window, not once a request
		p.log.Warn("consumer groups' lag unread", zap.Strings("groups", unread), zap.Error(cause))
	}
	return p.last
}

// read describes the groups, fetches their commits and lists the
// partitions' read-committed ends (the last stable offsets: the stages
// write in transactions, and a high watermark would count an open
// transaction's records, which no stage may read yet). A commit marker
// takes an offset no consumer is given, so a stage that has read
// everything may still lag by one per partition: only reading the log
// would tell, and the overview does not.
func (p *pipelineReader) read(ctx context.Context) []pipelineStatus {
	out := make([]pipelineStatus, 0, len(p.groups))
	if len(p.groups) == 0 {
		return out
	}
	names := make([]string, len(p.groups))
	for i, g := range p.groups {
		names[i] = g.Group
	}
	failed := func(g PipelineGroup, err error) pipelineStatus {
		return pipelineStatus{Group: g.Group, Stage: g.Stage, State: "Unknown", Error: pipelineError(err), cause: err}
	}
	described, derr := p.adm.DescribeGroups(ctx, names...)
	if se := (*kadm.ShardErrors)(nil); derr != nil && (!errors.As(derr, &se) || se.AllFailed) {
		for _, g := range p.groups {
			out = append(out, failed(g, derr))
		}
		return out
	}
	fetched := p.adm.FetchManyOffsets(ctx, names...)
	parts := described.AssignedPartitions()
	parts.MergeTopics(described.JoinTopics())
	parts.Merge(fetched.CommittedPartitions())
	var starts, ends kadm.ListedOffsets
	var lerr error
	if topics := parts.Topics(); len(topics) > 0 {
		// The start offsets only refine a partition with no commit (the
		// whole of what retention kept); without them it counts from 0.
		starts, _ = p.adm.ListStartOffsets(ctx, topics...)
		ends, lerr = p.adm.ListCommittedOffsets(ctx, topics...)
		// Partial failures leave partitions out of ends, which the lag
		// reports per partition below.
		if se := (*kadm.ShardErrors)(nil); errors.As(lerr, &se) && !se.AllFailed {
			lerr = nil
		}
	}
	for _, g := range p.groups {
		d, ok := described[g.Group]
		f := fetched[g.Group]
		// A group the broker does not know is Dead, whether it says so
		// (older brokers) or answers GROUP_ID_NOT_FOUND (KIP-1043's
		// DescribeGroups, kfake): nothing to read, nothing wrong.
		if ok && errors.Is(d.Err, kerr.GroupIDNotFound) {
			d = kadm.DescribedGroup{Group: g.Group, State: "Dead"}
		}
		if errors.Is(f.Err, kerr.GroupIDNotFound) {
			f = kadm.FetchOffsetsResponse{Group: g.Group}
		}
		switch {
		case !ok:
			out = append(out, failed(g, cmpErr(derr, errors.New("the broker did not describe the group"))))
			continue
		case d.Err != nil:
			out = append(out, failed(g, d.Err))
			continue
		case f.Err != nil:
			out = append(out, failed(g, f.Err))
			continue
		}
		commits := f.Fetched
		if g.Optional && !hasCommit(commits) {
			continue
		}
		s := pipelineStatus{Group: g.Group, Stage: g.Stage, Members: len(d.Members), State: d.State}
		lag := kadm.CalculateGroupLagWithStartOffsets(d, commits, starts, ends)
		if len(lag) > 0 && lerr != nil {
			s.Error, s.cause = pipelineError(lerr), lerr
		}
		var total int64
		for _, l := range lag.Sorted() {
			if l.Err != nil && s.Error == "" {
				s.Error, s.cause = fmt.Sprintf("%s[%d]: %s", l.Topic, l.Partition, pipelineError(l.Err)), l.Err
			}
			total += max(l.Lag, 0)
		}
		if len(lag) > 0 && s.Error == "" {
			s.Lag = &total
		}
		out = append(out, s)
	}
	return out
}

// hasCommit reports whether a group has committed any offset.
func hasCommit(commits kadm.OffsetResponses) bool {
	found := false
	commits.Each(func(o kadm.OffsetResponse) {
		if o.Err == nil && o.At >= 0 {
			found = true
		}
	})
	return found
}

func cmpErr(err, otherwise error) error {
	if err != nil {
		return err
	}
	return otherwise
}

// pipelineError is what the overview says of a failed read: Kafka's own
// error (an authorization refused, say) as Kafka says it, a broker that
// does not answer in words that do not name its address (the log has it).
func pipelineError(err error) string {
	var ke *kerr.Error
	var ne net.Error
	switch {
	case errors.As(err, &ke):
		return ke.Message + ": " + ke.Description
	case errors.Is(err, context.DeadlineExceeded):
		return fmt.Sprintf("Kafka did not answer within %s", pipelineTimeout)
	case errors.As(err, &ne):
		return "Kafka could not be reached"
	}
	return err.Error()
}
