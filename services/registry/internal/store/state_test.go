package store

import (
	"encoding/json"
	"testing"
)

func apply(t *testing.T, st *State, r Record) {
	t.Helper()
	v, err := r.EncodeValue()
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Apply(r.Key.Encode(), v); err != nil {
		t.Fatalf("apply %s: %v", r.Key.Encode(), err)
	}
}

func schemaRec(subject string, version, id int, deleted bool) Record {
	return Record{Key: SchemaKey(subject, version), Value: SchemaValue{Subject: subject, Version: version, ID: id, Schema: `"string"`, Deleted: deleted}}
}

// Keys must be byte-for-byte Confluent's, or compaction would keep two
// records for one key (and Confluent tooling would not recognise them).
func TestKeyBytesMatchConfluent(t *testing.T) {
	for _, tc := range []struct {
		key  Key
		want string
	}{
		{SchemaKey("s", 3), `{"keytype":"SCHEMA","subject":"s","version":3,"magic":1}`},
		{ConfigKey(""), `{"keytype":"CONFIG","subject":null,"magic":0}`},
		{ConfigKey("s"), `{"keytype":"CONFIG","subject":"s","magic":0}`},
		{ModeKey(""), `{"keytype":"MODE","subject":null,"magic":0}`},
		{DeleteSubjectKey("s"), `{"keytype":"DELETE_SUBJECT","subject":"s","magic":0}`},
	} {
		if got := string(tc.key.Encode()); got != tc.want {
			t.Errorf("key: got %s, want %s", got, tc.want)
		}
	}
	b, _ := json.Marshal(SchemaValue{Subject: "s", Version: 1, ID: 7, Schema: `"string"`})
	if string(b) != `{"subject":"s","version":1,"id":7,"schema":"\"string\"","deleted":false}` {
		t.Errorf("schema value: %s", b)
	}
}

// After compaction a SCHEMA record may come after the DELETE_SUBJECT record
// that covers it; it must still be seen as deleted.
func TestDeleteSubjectSurvivesReordering(t *testing.T) {
	st := NewState()
	apply(t, st, Record{Key: DeleteSubjectKey("s"), Value: DeleteSubjectValue{Subject: "s", Version: 2}})
	apply(t, st, schemaRec("s", 1, 1, false))
	apply(t, st, schemaRec("s", 2, 2, false))
	apply(t, st, schemaRec("s", 3, 3, false))
	if vs := st.Versions("s", false); len(vs) != 1 || vs[0].Version != 3 {
		t.Fatalf("live versions: %+v, want only 3", vs)
	}
	if st.HighestVersion("s") != 3 {
		t.Fatalf("highest version: %d", st.HighestVersion("s"))
	}
}

func TestHardDeleteReleasesUnusedIDs(t *testing.T) {
	st := NewState()
	apply(t, st, schemaRec("a", 1, 1, false))
	apply(t, st, schemaRec("b", 1, 1, false))
	apply(t, st, schemaRec("a", 2, 2, true))
	apply(t, st, Record{Key: SchemaKey("a", 2)})
	if _, ok := st.SchemaByID(2); ok {
		t.Fatal("id 2 resolves after its only version was hard-deleted")
	}
	apply(t, st, Record{Key: SchemaKey("a", 1)})
	if _, ok := st.SchemaByID(1); !ok {
		t.Fatal("id 1 gone while subject b still uses it")
	}
	if st.MaxID() != 2 {
		t.Fatalf("max id went down to %d", st.MaxID())
	}
	if subjects := st.Subjects(true); len(subjects) != 1 || subjects[0] != "b" {
		t.Fatalf("subjects: %v", subjects)
	}
}

func TestConfigModeAndWatermark(t *testing.T) {
	st := NewState()
	apply(t, st, Record{Key: ConfigKey(""), Value: ConfigValue{CompatibilityLevel: "full"}})
	apply(t, st, Record{Key: ModeKey("s"), Value: ModeValue{Mode: "READONLY"}})
	apply(t, st, Record{Key: IDWatermarkKey(), Value: IDWatermarkValue{MaxID: 41}})
	if c, ok := st.Config(""); !ok || c != "FULL" {
		t.Fatalf("global config: %q %v", c, ok)
	}
	if m, ok := st.Mode("s"); !ok || m != "READONLY" {
		t.Fatalf("subject mode: %q %v", m, ok)
	}
	apply(t, st, Record{Key: ConfigKey("")})
	if _, ok := st.Config(""); ok {
		t.Fatal("config tombstone ignored")
	}
	if st.MaxID() != 41 {
		t.Fatalf("watermark: %d", st.MaxID())
	}
	if err := st.Apply([]byte(`{"keytype":"WHAT","magic":0}`), []byte(`{}`)); err == nil {
		t.Fatal("unknown key type accepted")
	}
	if err := st.Apply([]byte(`{"keytype":"SCHEMA","subject":"x","version":1,"magic":1}`), []byte(`{"subject":"y","version":1,"id":1,"schema":"\"int\""}`)); err == nil {
		t.Fatal("schema value not matching its key accepted")
	}
}
