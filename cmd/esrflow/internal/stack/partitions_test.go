package stack

import (
	"flag"
	"strings"
	"testing"

	"github.com/esrflow/esrflow/schemas"
)

func TestPartitionsFlag(t *testing.T) {
	counts := func(p Partitions, internal int32) map[string]int32 {
		out := map[string]int32{}
		for _, s := range InternalTopics(internal, p) {
			out[s.Name] = s.Partitions
		}
		return out
	}
	for _, c := range []struct {
		flag string
		want map[string]int32
	}{
		{"12", map[string]int32{schemas.TopicRaw: 12, schemas.TopicValidated: 12, schemas.TopicQuarantine: 12, schemas.TopicCommands: schemas.DefaultOpsPartitions}},
		{"raw=12, validated=8,ops=6", map[string]int32{schemas.TopicRaw: 12, schemas.TopicNormalised: 6, schemas.TopicValidated: 8, schemas.TopicFileReports: 6, schemas.TopicLineage: 6}},
	} {
		var p Partitions
		fs := flag.NewFlagSet("up", flag.ContinueOnError)
		fs.Var(&p, "partitions", "")
		if err := fs.Parse([]string{"--partitions", c.flag}); err != nil {
			t.Fatalf("%q: %v", c.flag, err)
		}
		got := counts(p, 6)
		for topic, want := range c.want {
			if got[topic] != want {
				t.Errorf("--partitions %s: %s has %d partitions, want %d", c.flag, topic, got[topic], want)
			}
		}
		if len(got) != 4+len(schemas.OpsTopics) {
			t.Errorf("--partitions %s: %d topics, want the 4 internal and %d ops topics", c.flag, len(got), len(schemas.OpsTopics))
		}
		back, err := ParsePartitions(p.String())
		if err != nil || back != p {
			t.Errorf("--partitions %s: String %q reads back as %+v, %v", c.flag, p.String(), back, err)
		}
	}
	for in, want := range map[string]string{"0": "at least 1", "raw=0": "at least 1", "raw": "NAME=COUNT", "events=3": "NAME=COUNT", "raw=x": "whole number"} {
		if _, err := ParsePartitions(in); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("ParsePartitions(%q) = %v, want an error containing %q", in, err, want)
		}
	}
}
