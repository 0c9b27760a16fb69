package bench

import (
	"context"
	"regexp"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/esrflow/esrflow/cmd/esrflow/internal/observe"
	"github.com/esrflow/esrflow/schemas"
)

// RawTopic is what a run left on esr.raw.v1: the committed records (control
// records included), their key and value bytes, and the rows FILE_ENDs
// counted instead of writing (types the tenant's mapping ignores).
type RawTopic struct {
	Records, Ignored int
	Bytes            int64
}

// readRaw measures esr.raw.v1 after a run.
func readRaw(ctx context.Context, seeds []string, registry string) (RawTopic, error) {
	var out RawTopic
	rd, err := observe.NewReader(seeds, registry)
	if err != nil {
		return out, err
	}
	err = rd.Records(ctx, "^"+regexp.QuoteMeta(schemas.TopicRaw)+"$", func(r *kgo.Record) error {
		out.Records++
		out.Bytes += int64(len(r.Key) + len(r.Value))
		return nil
	})
	if err != nil {
		return out, err
	}
	files, err := rd.RawFiles(ctx)
	if err != nil {
		return out, err
	}
	for _, f := range files {
		out.Ignored += f.Ignored
	}
	return out, nil
}
