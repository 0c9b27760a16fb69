package store

import (
	"encoding/json"
	"fmt"
	"slices"
	"sort"
	"strings"
)

// Version is one version of one subject.
type Version struct {
	Subject string
	Version int
	ID      int
	Deleted bool
}

// Schema is a schema as registered under an id. Every version that uses the
// id carries the same text, so the first one seen is kept.
type Schema struct {
	ID         int
	Type       string // "" means AVRO, as in Confluent's records
	Text       string
	References []Reference
}

type subjectState struct {
	versions map[int]*Version
	// deletedUpTo is the version watermark of the last DELETE_SUBJECT record.
	// It is kept as state rather than applied once because compaction may move
	// a SCHEMA record after the DELETE_SUBJECT record that covers it.
	deletedUpTo int
}

// State is the registry's in-memory view of the topic. It is not safe for
// concurrent use; Store guards it.
type State struct {
	subjects map[string]*subjectState
	schemas  map[int]*Schema
	refcount map[int]int // versions (soft-deleted included) using each id
	configs  map[string]string
	modes    map[string]string
	maxID    int
}

// NewState returns an empty state.
func NewState() *State {
	return &State{
		subjects: map[string]*subjectState{},
		schemas:  map[int]*Schema{},
		refcount: map[int]int{},
		configs:  map[string]string{},
		modes:    map[string]string{},
	}
}

// Apply applies one record from the topic. A nil value is a tombstone.
func (s *State) Apply(key, value []byte) error {
	var k Key
	if err := json.Unmarshal(key, &k); err != nil {
		return fmt.Errorf("decoding key: %w", err)
	}
	switch k.KeyType {
	case KeySchema:
		if k.Subject == nil {
			return fmt.Errorf("schema key without subject")
		}
		if value == nil {
			s.removeVersion(*k.Subject, k.Version)
			return nil
		}
		var v SchemaValue
		if err := json.Unmarshal(value, &v); err != nil {
			return fmt.Errorf("decoding schema value: %w", err)
		}
		if v.Subject != *k.Subject || v.Version != k.Version || v.ID <= 0 {
			return fmt.Errorf("schema value does not match its key (subject/version/id)")
		}
		s.putVersion(v)
	case KeyConfig, KeyMode:
		m := s.configs
		if k.KeyType == KeyMode {
			m = s.modes
		}
		subject := deref(k.Subject)
		if value == nil {
			delete(m, subject)
			return nil
		}
		if k.KeyType == KeyConfig {
			var v ConfigValue
			if err := json.Unmarshal(value, &v); err != nil {
				return fmt.Errorf("decoding config value: %w", err)
			}
			m[subject] = strings.ToUpper(v.CompatibilityLevel)
		} else {
			var v ModeValue
			if err := json.Unmarshal(value, &v); err != nil {
				return fmt.Errorf("decoding mode value: %w", err)
			}
			m[subject] = strings.ToUpper(v.Mode)
		}
	case KeyDeleteSubject:
		if k.Subject == nil {
			return fmt.Errorf("delete-subject key without subject")
		}
		if value == nil {
			if ss := s.subjects[*k.Subject]; ss != nil {
				ss.deletedUpTo = 0
				s.dropIfEmpty(*k.Subject)
			}
			return nil
		}
		var v DeleteSubjectValue
		if err := json.Unmarshal(value, &v); err != nil {
			return fmt.Errorf("decoding delete-subject value: %w", err)
		}
		ss := s.subject(*k.Subject)
		ss.deletedUpTo = max(ss.deletedUpTo, v.Version)
		for n, ver := range ss.versions {
			if n <= ss.deletedUpTo {
				ver.Deleted = true
			}
		}
	case KeyIDWatermark:
		if value == nil {
			return nil
		}
		var v IDWatermarkValue
		if err := json.Unmarshal(value, &v); err != nil {
			return fmt.Errorf("decoding id watermark: %w", err)
		}
		s.maxID = max(s.maxID, v.MaxID)
	case KeyNoop:
	default:
		return fmt.Errorf("unknown key type %q", k.KeyType)
	}
	return nil
}

func (s *State) subject(name string) *subjectState {
	ss := s.subjects[name]
	if ss == nil {
		ss = &subjectState{versions: map[int]*Version{}}
		s.subjects[name] = ss
	}
	return ss
}

func (s *State) dropIfEmpty(name string) {
	if ss := s.subjects[name]; ss != nil && len(ss.versions) == 0 && ss.deletedUpTo == 0 {
		delete(s.subjects, name)
	}
}

func (s *State) putVersion(v SchemaValue) {
	ss := s.subject(v.Subject)
	if old := ss.versions[v.Version]; old != nil {
		s.release(old.ID)
	}
	ss.versions[v.Version] = &Version{
		Subject: v.Subject,
		Version: v.Version,
		ID:      v.ID,
		Deleted: v.Deleted || v.Version <= ss.deletedUpTo,
	}
	s.refcount[v.ID]++
	if _, ok := s.schemas[v.ID]; !ok {
		s.schemas[v.ID] = &Schema{ID: v.ID, Type: v.SchemaType, Text: v.Schema, References: v.References}
	}
	s.maxID = max(s.maxID, v.ID)
}

func (s *State) removeVersion(subject string, version int) {
	ss := s.subjects[subject]
	if ss == nil {
		return
	}
	if old := ss.versions[version]; old != nil {
		delete(ss.versions, version)
		s.release(old.ID)
	}
	s.dropIfEmpty(subject)
}

// release drops one use of an id; an id no version uses any more is gone,
// as in Confluent, where a hard-deleted schema no longer resolves by id.
func (s *State) release(id int) {
	s.refcount[id]--
	if s.refcount[id] <= 0 {
		delete(s.refcount, id)
		delete(s.schemas, id)
	}
}

// MaxID is the highest id ever assigned.
func (s *State) MaxID() int { return s.maxID }

// Subjects lists subject names, sorted. Without deleted, a subject whose
// versions are all soft-deleted is left out.
func (s *State) Subjects(deleted bool) []string {
	var out []string
	for name := range s.subjects {
		if len(s.Versions(name, deleted)) > 0 {
			out = append(out, name)
		}
	}
	sort.Strings(out)
	return out
}

// Versions lists a subject's versions in ascending order.
func (s *State) Versions(subject string, deleted bool) []Version {
	ss := s.subjects[subject]
	if ss == nil {
		return nil
	}
	out := make([]Version, 0, len(ss.versions))
	for _, v := range ss.versions {
		if deleted || !v.Deleted {
			out = append(out, *v)
		}
	}
	slices.SortFunc(out, func(a, b Version) int { return a.Version - b.Version })
	return out
}

// Version returns one version, soft-deleted or not.
func (s *State) Version(subject string, version int) (Version, bool) {
	ss := s.subjects[subject]
	if ss == nil {
		return Version{}, false
	}
	v, ok := ss.versions[version]
	if !ok {
		return Version{}, false
	}
	return *v, true
}

// HighestVersion is the highest version number the subject holds, soft-deleted
// included, so a new version never reuses a soft-deleted number.
func (s *State) HighestVersion(subject string) int {
	n := 0
	if ss := s.subjects[subject]; ss != nil {
		for v := range ss.versions {
			n = max(n, v)
		}
		n = max(n, ss.deletedUpTo)
	}
	return n
}

// SchemaByID returns the schema with the given id.
func (s *State) SchemaByID(id int) (Schema, bool) {
	sc, ok := s.schemas[id]
	if !ok {
		return Schema{}, false
	}
	return *sc, true
}

// Schemas returns every schema, by ascending id.
func (s *State) Schemas() []Schema {
	out := make([]Schema, 0, len(s.schemas))
	for _, sc := range s.schemas {
		out = append(out, *sc)
	}
	slices.SortFunc(out, func(a, b Schema) int { return a.ID - b.ID })
	return out
}

// Usages lists the subject versions that use an id, sorted by subject and version.
func (s *State) Usages(id int, deleted bool) []Version {
	var out []Version
	for _, ss := range s.subjects {
		for _, v := range ss.versions {
			if v.ID == id && (deleted || !v.Deleted) {
				out = append(out, *v)
			}
		}
	}
	slices.SortFunc(out, func(a, b Version) int {
		if c := strings.Compare(a.Subject, b.Subject); c != 0 {
			return c
		}
		return a.Version - b.Version
	})
	return out
}

// ReferencedBy lists ids of schemas that reference subject/version, sorted.
func (s *State) ReferencedBy(subject string, version int) []int {
	var out []int
	for id, sc := range s.schemas {
		for _, r := range sc.References {
			if r.Subject == subject && r.Version == version {
				out = append(out, id)
				break
			}
		}
	}
	sort.Ints(out)
	return out
}

// Config returns the compatibility level set for a subject ("" = global).
func (s *State) Config(subject string) (string, bool) {
	c, ok := s.configs[subject]
	return c, ok
}

// Mode returns the mode set for a subject ("" = global).
func (s *State) Mode(subject string) (string, bool) {
	m, ok := s.modes[subject]
	return m, ok
}

// SubjectCount and SchemaCount feed metrics.
func (s *State) SubjectCount() int { return len(s.Subjects(false)) }

// SchemaCount is the number of distinct ids that resolve.
func (s *State) SchemaCount() int { return len(s.schemas) }
