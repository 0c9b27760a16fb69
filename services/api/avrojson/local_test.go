package avrojson_test

import (
	"bytes"
	"encoding/json"
	"testing"
	"time"

	"github.com/hamba/avro/v2"

	"github.com/esrflow/esrflow/services/api/avrojson"
)

// TestLocalTimestampsKeepTheirWallClock: a local-timestamp is a wall clock
// with no zone, printed as written whatever the process time zone, also in
// the hour a DST change skips. hamba alone reads it through time.Local.
func TestLocalTimestampsKeepTheirWallClock(t *testing.T) {
	london, err := time.LoadLocation("Europe/London")
	if err != nil {
		t.Skip("no tz database:", err)
	}
	saved := time.Local
	time.Local = london
	defer func() { time.Local = saved }()

	wall := time.Date(2024, 3, 31, 1, 30, 0, 0, time.UTC) // 01:30 does not exist in London that day
	s := avro.MustParse(`{"type":"record","name":"LT","namespace":"t","fields":[
		{"name":"a","type":{"type":"long","logicalType":"local-timestamp-millis"}},
		{"name":"b","type":["null",{"type":"long","logicalType":"local-timestamp-micros"}]},
		{"name":"c","type":["null","string",{"type":"long","logicalType":"local-timestamp-millis"}]}]}`)
	var buf bytes.Buffer
	w := avro.NewWriter(&buf, 64)
	w.WriteLong(wall.UnixMilli())
	w.WriteInt(1)
	w.WriteLong(wall.UnixMicro() + 5)
	w.WriteInt(2)
	w.WriteLong(wall.UnixMilli())
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	v, err := avrojson.Decode(s, buf.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	got, _ := json.Marshal(v)
	want := `{"a":"2024-03-31T01:30:00","b":"2024-03-31T01:30:00.000005","c":"2024-03-31T01:30:00"}`
	if string(got) != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
}

// TestUnionOfLongAndLocalTimestamp: such a union keeps hamba's own reading
// of the local-timestamp (its branches would clash as plain longs); in UTC
// that reading is exact.
func TestUnionOfLongAndLocalTimestamp(t *testing.T) {
	saved := time.Local
	time.Local = time.UTC
	defer func() { time.Local = saved }()

	s := avro.MustParse(`["null","long",{"type":"long","logicalType":"local-timestamp-millis"}]`)
	for _, c := range []struct {
		branch int32
		want   string
	}{{1, `1711848600000`}, {2, `"2024-03-31T01:30:00"`}} {
		var buf bytes.Buffer
		w := avro.NewWriter(&buf, 64)
		w.WriteInt(c.branch)
		w.WriteLong(1711848600000)
		if err := w.Flush(); err != nil {
			t.Fatal(err)
		}
		v, err := avrojson.Decode(s, buf.Bytes())
		if err != nil {
			t.Fatal(err)
		}
		if got, _ := json.Marshal(v); string(got) != c.want {
			t.Errorf("branch %d: got %s, want %s", c.branch, got, c.want)
		}
	}
}
