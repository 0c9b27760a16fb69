package stack

import (
	"context"
	"fmt"
	"sort"
	"strings"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sr"

	"github.com/esrflow/esrflow/cmd/esrflow/internal/observe"
	"github.com/esrflow/esrflow/platform/avrox"
	"github.com/esrflow/esrflow/schemas"
	"github.com/esrflow/esrflow/schemas/gen/internalv1"
)

// FollowReports calls fn with a one-line summary of every file report
// committed from now on, until ctx ends.
func (s *Stack) FollowReports(ctx context.Context, fn func(string)) error {
	return s.FollowReportRecords(ctx, false, func(fr internalv1.FileReport) { fn(SummariseReport(fr)) })
}

// FollowReportRecords calls fn with every file report committed from now
// on (or since the beginning), until ctx ends.
func (s *Stack) FollowReportRecords(ctx context.Context, fromStart bool, fn func(internalv1.FileReport)) error {
	at := kgo.NewOffset().AtEnd()
	if fromStart {
		at = kgo.NewOffset().AtStart()
	}
	reader, _, err := schemas.Latest(schemas.FileReport)
	if err != nil {
		return err
	}
	srCl, err := sr.NewClient(sr.URLs(s.regURL))
	if err != nil {
		return err
	}
	serde := avrox.New(srCl, internalv1.NewAPI())
	cl, err := kgo.NewClient(kgo.SeedBrokers(s.Seeds()...), kgo.ConsumeTopics(schemas.TopicFileReports),
		kgo.ConsumeResetOffset(at), kgo.FetchIsolationLevel(kgo.ReadCommitted()))
	if err != nil {
		return err
	}
	defer cl.Close()
	for {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			return nil
		}
		var derr error
		fs.EachRecord(func(rec *kgo.Record) {
			var fr internalv1.FileReport
			if _, err := serde.Decode(ctx, rec.Value, reader, &fr); err != nil {
				derr = err
				return
			}
			fn(fr)
		})
		if derr != nil {
			return derr
		}
	}
}

// SummariseReport is a file report as one human-readable line.
func SummariseReport(fr internalv1.FileReport) string {
	if fr.Status == internalv1.FileStatusDuplicate {
		of := "an accepted file"
		if fr.DuplicateOf != nil {
			of = observe.Printable(fr.DuplicateOf.Name)
		}
		return fmt.Sprintf("%s %s: DUPLICATE of %s: nothing new", observe.Printable(fr.Tenant), observe.Printable(fr.File.Name), of)
	}
	if fr.Status == internalv1.FileStatusRejected {
		reason := ""
		if fr.Reason != nil {
			reason = *fr.Reason
		}
		return fmt.Sprintf("%s %s: REJECTED: %s", observe.Printable(fr.Tenant), observe.Printable(fr.File.Name), observe.Escaped(reason))
	}
	names := make([]string, 0, len(fr.EventsEmitted))
	for n := range fr.EventsEmitted {
		names = append(names, n)
	}
	sort.Strings(names)
	var ev []string
	for _, n := range names {
		ev = append(ev, fmt.Sprintf("%d %s", fr.EventsEmitted[n], n))
	}
	events := "none"
	if len(ev) > 0 {
		events = strings.Join(ev, ", ")
	}
	return fmt.Sprintf("%s %s: %d rows: %d accepted, %d quarantined, %d corrections, %d ignored; events: %s",
		observe.Printable(fr.Tenant), observe.Printable(fr.File.Name), fr.RowsRead, fr.EntitiesAccepted, fr.Quarantined, fr.Corrections, fr.Ignored, events)
}
