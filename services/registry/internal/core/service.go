package core

import (
	"context"
	"crypto/sha256"
	"errors"
	"math"
	"strconv"
	"strings"
	"sync"

	"github.com/hamba/avro/v2"
	"go.uber.org/zap"

	"github.com/esrflow/esrflow/services/registry/internal/avroschema"
	"github.com/esrflow/esrflow/services/registry/internal/store"
)

// Modes, as in Confluent Schema Registry.
const (
	ModeReadWrite        = "READWRITE"
	ModeReadOnly         = "READONLY"
	ModeReadOnlyOverride = "READONLY_OVERRIDE"
	ModeImport           = "IMPORT"
)

// Service implements the registry's operations.
type Service struct {
	store        *store.Store
	defaultLevel avroschema.Level
	log          *zap.Logger

	// parsed caches parsed stored schemas by id. An id's text never changes
	// while the id exists, and the cache entry is checked against the text
	// anyway, so a hard-deleted then re-imported id cannot be served stale.
	mu     sync.Mutex
	parsed map[int]parsedSchema
}

type parsedSchema struct {
	textSum [32]byte
	schema  avro.Schema
	fp      string
}

// New returns a Service over st. defaultLevel applies when no global
// compatibility config has been written.
func New(st *store.Store, defaultLevel string, log *zap.Logger) (*Service, error) {
	l, ok := avroschema.ParseLevel(defaultLevel)
	if !ok {
		return nil, errors.New("invalid default compatibility level " + strconv.Quote(defaultLevel))
	}
	return &Service{store: st, defaultLevel: l, log: log, parsed: map[int]parsedSchema{}}, nil
}

// SchemaInput is a schema as submitted by a client.
type SchemaInput struct {
	Schema     string
	SchemaType string
	References []store.Reference
	// ID and Version are honoured only in IMPORT mode.
	ID      int
	Version int
}

// SubjectVersion is a version with its schema.
type SubjectVersion struct {
	Subject    string
	Version    int
	ID         int
	SchemaType string
	References []store.Reference
	Schema     string
	Deleted    bool
}

// schemaType validates the type; the registry stores AVRO as "" like Confluent.
func schemaType(t string) (string, error) {
	switch strings.ToUpper(t) {
	case "", "AVRO":
		return "", nil
	case "JSON", "PROTOBUF":
		return "", errorf(CodeInvalidSchema, "Schema type %s is not supported: this registry supports AVRO only", strings.ToUpper(t))
	default:
		return "", errorf(CodeInvalidSchema, "Unknown schema type %q: this registry supports AVRO only", t)
	}
}

func lookupIn(st *store.State) avroschema.Lookup {
	return func(subject string, version int) (store.Schema, bool) {
		v, ok := st.Version(subject, version)
		if !ok {
			return store.Schema{}, false
		}
		return st.SchemaByID(v.ID)
	}
}

// parseInput parses a submitted schema against st (for references).
func parseInput(st *store.State, in SchemaInput) (avro.Schema, string, error) {
	if strings.TrimSpace(in.Schema) == "" {
		return nil, "", errorf(CodeInvalidSchema, "Invalid schema: empty schema")
	}
	for _, r := range in.References {
		if r.Name == "" || r.Subject == "" || r.Version <= 0 {
			return nil, "", errorf(CodeInvalidSchema, "Invalid schema: each reference needs a name, a subject and a version >= 1")
		}
	}
	s, err := avroschema.Parse(in.Schema, in.References, lookupIn(st))
	if err != nil {
		return nil, "", errorf(CodeInvalidSchema, "Invalid schema: %v", err)
	}
	fp, err := avroschema.Fingerprint(s, in.References)
	if err != nil {
		return nil, "", errorf(CodeInvalidSchema, "Invalid schema: %v", err)
	}
	return s, fp, nil
}

// stored parses a stored schema, using the cache.
func (s *Service) stored(st *store.State, sc store.Schema) (parsedSchema, error) {
	sum := sha256.Sum256([]byte(sc.Text))
	s.mu.Lock()
	p, ok := s.parsed[sc.ID]
	s.mu.Unlock()
	if ok && p.textSum == sum {
		return p, nil
	}
	parsed, err := avroschema.Parse(sc.Text, sc.References, lookupIn(st))
	if err != nil {
		return parsedSchema{}, err
	}
	fp, err := avroschema.Fingerprint(parsed, sc.References)
	if err != nil {
		return parsedSchema{}, err
	}
	p = parsedSchema{textSum: sum, schema: parsed, fp: fp}
	s.mu.Lock()
	s.parsed[sc.ID] = p
	s.mu.Unlock()
	return p, nil
}

// idFor finds the id of a stored schema with fingerprint fp, or 0.
func (s *Service) idFor(st *store.State, fp string) int {
	for _, sc := range st.Schemas() {
		if sc.Type != "" {
			continue
		}
		p, err := s.stored(st, sc)
		if err != nil {
			continue
		}
		if p.fp == fp {
			return sc.ID
		}
	}
	return 0
}

// matchInSubject finds the newest version of subject whose schema has fingerprint fp.
func (s *Service) matchInSubject(st *store.State, subject string, fp string, deleted bool) (store.Version, bool) {
	vs := st.Versions(subject, deleted)
	for i := len(vs) - 1; i >= 0; i-- {
		sc, ok := st.SchemaByID(vs[i].ID)
		if !ok {
			continue
		}
		p, err := s.stored(st, sc)
		if err == nil && p.fp == fp {
			return vs[i], true
		}
	}
	return store.Version{}, false
}

func (s *Service) effectiveMode(st *store.State, subject string) string {
	if m, ok := st.Mode(subject); ok {
		return m
	}
	if m, ok := st.Mode(""); ok {
		return m
	}
	return ModeReadWrite
}

func (s *Service) effectiveLevel(st *store.State, subject string) avroschema.Level {
	if c, ok := st.Config(subject); ok {
		if l, ok := avroschema.ParseLevel(c); ok {
			return l
		}
	}
	return s.globalLevel(st)
}

func (s *Service) globalLevel(st *store.State) avroschema.Level {
	if c, ok := st.Config(""); ok {
		if l, ok := avroschema.ParseLevel(c); ok {
			return l
		}
	}
	return s.defaultLevel
}

func readOnly(mode string) bool { return mode == ModeReadOnly || mode == ModeReadOnlyOverride }

func (s *Service) checkWritable(st *store.State, subject string) error {
	if readOnly(s.effectiveMode(st, subject)) {
		return errorf(CodeOperationNotPermitted, "Subject %s is in read-only mode", subject)
	}
	return nil
}

// previous parses the subject's live versions, oldest first.
func (s *Service) previous(st *store.State, vs []store.Version) ([]avroschema.Previous, error) {
	out := make([]avroschema.Previous, 0, len(vs))
	for _, v := range vs {
		sc, ok := st.SchemaByID(v.ID)
		if !ok {
			continue
		}
		if sc.Type != "" {
			continue
		}
		p, err := s.stored(st, sc)
		if err != nil {
			return nil, &Error{Code: CodeStoreError, Message: "A stored schema could not be parsed", Err: err}
		}
		out = append(out, avroschema.Previous{Version: v.Version, Schema: p.schema})
	}
	return out, nil
}

// registered answers the registration of a schema already live under
// subject from the state read so far, without queueing behind writes:
// every producer registers its schemas when it starts (publish does for
// each tenant's event topics), and that must not cost a round trip to the
// schemas topic each. Confluent's registry also answers a re-registration
// from what it has read. A subject in read-only or import mode, or an
// explicit id, takes the full path and its rules.
func (s *Service) registered(subject string, in SchemaInput) (id int, ok bool) {
	if in.ID > 0 {
		return 0, false
	}
	s.store.View(func(st *store.State) {
		if s.effectiveMode(st, subject) != ModeReadWrite {
			return
		}
		_, fp, err := parseInput(st, in)
		if err != nil {
			return
		}
		if v, found := s.matchInSubject(st, subject, fp, false); found {
			id, ok = v.ID, true
		}
	})
	return id, ok
}

// Register registers a schema under subject and returns its id.
func (s *Service) Register(ctx context.Context, subject string, in SchemaInput) (int, error) {
	typ, err := schemaType(in.SchemaType)
	if err != nil {
		return 0, err
	}
	if id, ok := s.registered(subject, in); ok {
		return id, nil
	}
	var id, version int
	err = s.store.Update(ctx, func(st *store.State) ([]store.Record, error) {
		mode := s.effectiveMode(st, subject)
		if readOnly(mode) {
			return nil, errorf(CodeOperationNotPermitted, "Subject %s is in read-only mode", subject)
		}
		importing := mode == ModeImport
		if in.ID > 0 && !importing {
			return nil, errorf(CodeOperationNotPermitted, "Registering a schema with an explicit id (%d) is only permitted in IMPORT mode", in.ID)
		}
		if importing && in.ID <= 0 {
			return nil, errorf(CodeOperationNotPermitted, "Subject %s is in IMPORT mode: registering requires an explicit id", subject)
		}
		cand, fp, err := parseInput(st, in)
		if err != nil {
			return nil, err
		}

		// The same schema already live under this subject: nothing to write.
		if v, ok := s.matchInSubject(st, subject, fp, false); ok {
			if importing && in.ID != v.ID {
				return nil, errorf(CodeIDDoesNotMatch, "Schema already registered with id %d instead of input id %d", v.ID, in.ID)
			}
			id, version = v.ID, v.Version
			return nil, nil
		}

		existingID := s.idFor(st, fp)
		text := in.Schema
		refs := in.References
		switch {
		case importing:
			if sc, ok := st.SchemaByID(in.ID); ok {
				p, perr := s.stored(st, sc)
				if perr != nil || p.fp != fp {
					return nil, errorf(CodeOperationNotPermitted, "Overwrite new schema with id %d is not permitted: the id holds a different schema", in.ID)
				}
				text, refs = sc.Text, sc.References
			}
			id = in.ID
		case existingID > 0:
			// Reuse the id and its stored text, so every version with an id
			// carries exactly the same schema string.
			sc, _ := st.SchemaByID(existingID)
			id, text, refs = existingID, sc.Text, sc.References
		default:
			id = st.MaxID() + 1
		}

		if !importing {
			prev, err := s.previous(st, st.Versions(subject, false))
			if err != nil {
				return nil, err
			}
			level := s.effectiveLevel(st, subject)
			if msgs := avroschema.Check(level, cand, prev); len(msgs) > 0 {
				return nil, errorf(CodeIncompatible, "Schema being registered is incompatible with an earlier schema for subject %q, details: [%s]", subject, strings.Join(msgs, "; "))
			}
		}

		version = st.HighestVersion(subject) + 1
		if importing && in.Version > 0 {
			if _, taken := st.Version(subject, in.Version); taken {
				return nil, errorf(CodeOperationNotPermitted, "Version %d of subject %s already exists", in.Version, subject)
			}
			version = in.Version
		}
		return []store.Record{{
			Key: store.SchemaKey(subject, version),
			Value: store.SchemaValue{
				Subject: subject, Version: version, ID: id,
				SchemaType: typ, References: refs, Schema: text,
			},
		}}, nil
	})
	if err != nil {
		return 0, storeError(err)
	}
	s.log.Debug("schema registered", zap.String("subject", subject), zap.Int("version", version), zap.Int("id", id))
	return id, nil
}

// Lookup finds which version of subject holds the submitted schema.
func (s *Service) Lookup(subject string, in SchemaInput, deleted bool) (SubjectVersion, error) {
	if _, err := schemaType(in.SchemaType); err != nil {
		return SubjectVersion{}, err
	}
	var (
		out SubjectVersion
		err error
	)
	s.store.View(func(st *store.State) {
		if len(st.Versions(subject, deleted)) == 0 {
			err = subjectNotFound(subject)
			return
		}
		var fp string
		if _, fp, err = parseInput(st, in); err != nil {
			return
		}
		v, ok := s.matchInSubject(st, subject, fp, deleted)
		if !ok {
			err = errorf(CodeSchemaNotFound, "Schema not found under subject %s", subject)
			return
		}
		out = withSchema(st, v)
	})
	return out, err
}

func withSchema(st *store.State, v store.Version) SubjectVersion {
	sc, _ := st.SchemaByID(v.ID)
	return SubjectVersion{
		Subject: v.Subject, Version: v.Version, ID: v.ID,
		SchemaType: sc.Type, References: sc.References, Schema: sc.Text, Deleted: v.Deleted,
	}
}

func subjectNotFound(subject string) error {
	return errorf(CodeSubjectNotFound, "Subject '%s' not found.", subject)
}

// Subjects lists subjects.
func (s *Service) Subjects(prefix string, deleted, deletedOnly bool) []string {
	var out []string
	s.store.View(func(st *store.State) {
		for _, name := range st.Subjects(deleted || deletedOnly) {
			if !strings.HasPrefix(name, prefix) {
				continue
			}
			// deletedOnly keeps subjects holding at least one soft-deleted version.
			if deletedOnly && len(st.Versions(name, true)) == len(st.Versions(name, false)) {
				continue
			}
			out = append(out, name)
		}
	})
	if out == nil {
		out = []string{}
	}
	return out
}

// Versions lists a subject's version numbers.
func (s *Service) Versions(subject string, deleted, deletedOnly bool) ([]int, error) {
	var (
		out []int
		err error
	)
	s.store.View(func(st *store.State) {
		vs := st.Versions(subject, deleted || deletedOnly)
		for _, v := range vs {
			if deletedOnly && !v.Deleted {
				continue
			}
			out = append(out, v.Version)
		}
		if len(vs) == 0 {
			err = subjectNotFound(subject)
		}
	})
	if out == nil {
		out = []int{}
	}
	return out, err
}

// ParseVersion parses a version path segment: "latest", -1 (latest) or 1..2^31-1.
// It returns -1 for latest.
func ParseVersion(s string) (int, error) {
	if s == "latest" {
		return -1, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n == 0 || n < -1 || n > math.MaxInt32 {
		return 0, errorf(CodeInvalidVersion, "The specified version '%s' is not a valid version id. Allowed values are between [1, 2^31-1] and the string \"latest\"", s)
	}
	return n, nil
}

// resolveVersion finds a version; latest is the newest version visible with deleted.
func resolveVersion(st *store.State, subject string, version int, deleted bool) (store.Version, error) {
	vs := st.Versions(subject, true)
	if len(vs) == 0 {
		return store.Version{}, subjectNotFound(subject)
	}
	if version == -1 {
		live := st.Versions(subject, deleted)
		if len(live) == 0 {
			return store.Version{}, subjectNotFound(subject)
		}
		return live[len(live)-1], nil
	}
	v, ok := st.Version(subject, version)
	if !ok || (v.Deleted && !deleted) {
		return store.Version{}, errorf(CodeVersionNotFound, "Version %d not found.", version)
	}
	return v, nil
}

// GetVersion returns one version of a subject (version -1 is latest).
func (s *Service) GetVersion(subject string, version int, deleted bool) (SubjectVersion, error) {
	var (
		out SubjectVersion
		err error
	)
	s.store.View(func(st *store.State) {
		var v store.Version
		if v, err = resolveVersion(st, subject, version, deleted); err == nil {
			out = withSchema(st, v)
		}
	})
	return out, err
}

// ReferencedBy lists ids of schemas referencing a subject version.
func (s *Service) ReferencedBy(subject string, version int) ([]int, error) {
	var (
		out []int
		err error
	)
	s.store.View(func(st *store.State) {
		var v store.Version
		if v, err = resolveVersion(st, subject, version, false); err == nil {
			out = st.ReferencedBy(v.Subject, v.Version)
		}
	})
	if out == nil {
		out = []int{}
	}
	return out, err
}

// SchemaByID returns the schema with an id, and the highest id when asked.
func (s *Service) SchemaByID(id int) (store.Schema, int, error) {
	var (
		sc    store.Schema
		ok    bool
		maxID int
	)
	s.store.View(func(st *store.State) {
		sc, ok = st.SchemaByID(id)
		maxID = st.MaxID()
	})
	if !ok {
		return store.Schema{}, 0, errorf(CodeSchemaNotFound, "Schema %d not found", id)
	}
	return sc, maxID, nil
}

// Usages lists the subject versions using an id.
func (s *Service) Usages(id int, deleted bool) ([]store.Version, error) {
	var (
		out []store.Version
		ok  bool
	)
	s.store.View(func(st *store.State) {
		_, ok = st.SchemaByID(id)
		out = st.Usages(id, deleted)
	})
	if !ok {
		return nil, errorf(CodeSchemaNotFound, "Schema %d not found", id)
	}
	return out, nil
}

// AllSchemas lists subject versions with their schemas (GET /schemas).
func (s *Service) AllSchemas(prefix string, deleted, latestOnly bool) []SubjectVersion {
	var out []SubjectVersion
	s.store.View(func(st *store.State) {
		for _, subject := range st.Subjects(deleted) {
			if !strings.HasPrefix(subject, prefix) {
				continue
			}
			vs := st.Versions(subject, deleted)
			if latestOnly && len(vs) > 0 {
				vs = vs[len(vs)-1:]
			}
			for _, v := range vs {
				out = append(out, withSchema(st, v))
			}
		}
	})
	return out
}

// DeleteSubject soft- or hard-deletes a subject and returns the versions deleted.
func (s *Service) DeleteSubject(ctx context.Context, subject string, permanent bool) ([]int, error) {
	var deleted []int
	err := s.store.Update(ctx, func(st *store.State) ([]store.Record, error) {
		if err := s.checkWritable(st, subject); err != nil {
			return nil, err
		}
		all := st.Versions(subject, true)
		if len(all) == 0 {
			return nil, subjectNotFound(subject)
		}
		live := st.Versions(subject, false)
		if !permanent {
			if len(live) == 0 {
				return nil, errorf(CodeSubjectSoftDeleted, "Subject '%s' was soft deleted. Set permanent=true to delete permanently", subject)
			}
			for _, v := range live {
				if err := notReferenced(st, v); err != nil {
					return nil, err
				}
				deleted = append(deleted, v.Version)
			}
			return []store.Record{{
				Key:   store.DeleteSubjectKey(subject),
				Value: store.DeleteSubjectValue{Subject: subject, Version: live[len(live)-1].Version},
			}}, nil
		}
		if len(live) > 0 {
			return nil, errorf(CodeSubjectNotSoftDeleted, "Subject '%s' was not deleted first before being permanently deleted", subject)
		}
		// The watermark goes first: once the tombstones are compacted away
		// the highest id must still be known.
		recs := []store.Record{{Key: store.IDWatermarkKey(), Value: store.IDWatermarkValue{MaxID: st.MaxID()}}}
		for _, v := range all {
			recs = append(recs, store.Record{Key: store.SchemaKey(subject, v.Version)})
			deleted = append(deleted, v.Version)
		}
		recs = append(recs, store.Record{Key: store.DeleteSubjectKey(subject)})
		if _, ok := st.Config(subject); ok {
			recs = append(recs, store.Record{Key: store.ConfigKey(subject)})
		}
		if _, ok := st.Mode(subject); ok {
			recs = append(recs, store.Record{Key: store.ModeKey(subject)})
		}
		return recs, nil
	})
	if err != nil {
		return nil, storeError(err)
	}
	s.log.Debug("subject deleted", zap.String("subject", subject), zap.Bool("permanent", permanent), zap.Ints("versions", deleted))
	return deleted, nil
}

func notReferenced(st *store.State, v store.Version) error {
	if ids := st.ReferencedBy(v.Subject, v.Version); len(ids) > 0 {
		return errorf(CodeReferenceExists, "One or more references exist to the schema {subject=%s,version=%d}: schema ids %v", v.Subject, v.Version, ids)
	}
	return nil
}

// DeleteVersion soft- or hard-deletes one version (-1 is latest) and returns its number.
func (s *Service) DeleteVersion(ctx context.Context, subject string, version int, permanent bool) (int, error) {
	var deleted int
	err := s.store.Update(ctx, func(st *store.State) ([]store.Record, error) {
		if err := s.checkWritable(st, subject); err != nil {
			return nil, err
		}
		// An explicit version is found even when soft-deleted, so deleting it
		// again says 40406 rather than 40402; "latest" means the latest live
		// version for a soft delete.
		v, err := resolveVersion(st, subject, version, permanent || version != -1)
		if err != nil {
			return nil, err
		}
		deleted = v.Version
		if !permanent {
			if v.Deleted {
				return nil, errorf(CodeVersionSoftDeleted, "Subject '%s' Version %d was soft deleted. Set permanent=true to delete permanently", subject, v.Version)
			}
			if err := notReferenced(st, v); err != nil {
				return nil, err
			}
			sc, _ := st.SchemaByID(v.ID)
			return []store.Record{{
				Key: store.SchemaKey(subject, v.Version),
				Value: store.SchemaValue{
					Subject: subject, Version: v.Version, ID: v.ID,
					SchemaType: sc.Type, References: sc.References, Schema: sc.Text, Deleted: true,
				},
			}}, nil
		}
		if !v.Deleted {
			return nil, errorf(CodeVersionNotSoftDeleted, "Subject '%s' Version %d was not deleted first before being permanently deleted", subject, v.Version)
		}
		return []store.Record{
			{Key: store.IDWatermarkKey(), Value: store.IDWatermarkValue{MaxID: st.MaxID()}},
			{Key: store.SchemaKey(subject, v.Version)},
		}, nil
	})
	if err != nil {
		return 0, storeError(err)
	}
	s.log.Debug("version deleted", zap.String("subject", subject), zap.Int("version", deleted), zap.Bool("permanent", permanent))
	return deleted, nil
}

// Config returns the compatibility level of subject ("" = global). A subject
// without its own level is 40408 unless defaultToGlobal.
func (s *Service) Config(subject string, defaultToGlobal bool) (string, error) {
	var (
		level string
		err   error
	)
	s.store.View(func(st *store.State) {
		if subject == "" {
			level = string(s.globalLevel(st))
			return
		}
		if c, ok := st.Config(subject); ok {
			level = c
			return
		}
		if defaultToGlobal {
			level = string(s.globalLevel(st))
			return
		}
		err = errorf(CodeSubjectCompatNotConfigured, "Subject '%s' does not have subject-level compatibility configured", subject)
	})
	return level, err
}

// SetConfig sets the compatibility level of subject ("" = global).
func (s *Service) SetConfig(ctx context.Context, subject, level string) (string, error) {
	l, ok := avroschema.ParseLevel(level)
	if !ok {
		return "", errorf(CodeInvalidCompatibility, "Invalid compatibility level. Valid values are none, backward, forward, full, backward_transitive, forward_transitive, and full_transitive")
	}
	err := s.store.Update(ctx, func(st *store.State) ([]store.Record, error) {
		return []store.Record{{Key: store.ConfigKey(subject), Value: store.ConfigValue{CompatibilityLevel: string(l)}}}, nil
	})
	if err != nil {
		return "", storeError(err)
	}
	return string(l), nil
}

// DeleteConfig removes the level of subject ("" resets the global level to
// the default) and returns the level that was in force.
func (s *Service) DeleteConfig(ctx context.Context, subject string) (string, error) {
	var prev string
	err := s.store.Update(ctx, func(st *store.State) ([]store.Record, error) {
		if subject == "" {
			prev = string(s.globalLevel(st))
			return []store.Record{{Key: store.ConfigKey("")}}, nil
		}
		c, ok := st.Config(subject)
		if !ok {
			return nil, errorf(CodeSubjectCompatNotConfigured, "Subject '%s' does not have subject-level compatibility configured", subject)
		}
		prev = c
		return []store.Record{{Key: store.ConfigKey(subject)}}, nil
	})
	if err != nil {
		return "", storeError(err)
	}
	return prev, nil
}

// ParseMode validates a mode name.
func ParseMode(m string) (string, error) {
	u := strings.ToUpper(strings.TrimSpace(m))
	switch u {
	case ModeReadWrite, ModeReadOnly, ModeReadOnlyOverride, ModeImport:
		return u, nil
	}
	return "", errorf(CodeInvalidMode, "Invalid mode. Valid values are READWRITE, READONLY, READONLY_OVERRIDE and IMPORT")
}

// Mode returns the mode of subject ("" = global).
func (s *Service) Mode(subject string, defaultToGlobal bool) (string, error) {
	var (
		mode string
		err  error
	)
	s.store.View(func(st *store.State) {
		if subject == "" {
			mode = s.effectiveMode(st, "")
			return
		}
		if m, ok := st.Mode(subject); ok {
			mode = m
			return
		}
		if defaultToGlobal {
			mode = s.effectiveMode(st, "")
			return
		}
		err = errorf(CodeSubjectModeNotConfigured, "Subject '%s' does not have subject-level mode configured", subject)
	})
	return mode, err
}

// SetMode sets the mode of subject ("" = global). IMPORT needs an empty
// registry (or subject) unless force, as in Confluent, so imported ids cannot
// collide with ids already handed out.
func (s *Service) SetMode(ctx context.Context, subject, mode string, force bool) (string, error) {
	m, err := ParseMode(mode)
	if err != nil {
		return "", err
	}
	err = s.store.Update(ctx, func(st *store.State) ([]store.Record, error) {
		if m == ModeImport && !force {
			if (subject == "" && len(st.Subjects(false)) > 0) || (subject != "" && len(st.Versions(subject, false)) > 0) {
				return nil, errorf(CodeOperationNotPermitted, "Cannot import since found existing subjects")
			}
		}
		return []store.Record{{Key: store.ModeKey(subject), Value: store.ModeValue{Mode: m}}}, nil
	})
	if err != nil {
		return "", storeError(err)
	}
	return m, nil
}

// DeleteMode removes the mode of subject ("" resets the global mode) and
// returns the mode that was in force.
func (s *Service) DeleteMode(ctx context.Context, subject string) (string, error) {
	var prev string
	err := s.store.Update(ctx, func(st *store.State) ([]store.Record, error) {
		if subject == "" {
			prev = s.effectiveMode(st, "")
			return []store.Record{{Key: store.ModeKey("")}}, nil
		}
		m, ok := st.Mode(subject)
		if !ok {
			return nil, errorf(CodeSubjectModeNotConfigured, "Subject '%s' does not have subject-level mode configured", subject)
		}
		prev = m
		return []store.Record{{Key: store.ModeKey(subject)}}, nil
	})
	if err != nil {
		return "", storeError(err)
	}
	return prev, nil
}

// AllVersions asks CheckCompatibility to check against every live version
// (subject to the level's transitivity).
const AllVersions = 0

// CheckCompatibility checks a schema against one version (-1 latest) or all
// versions (AllVersions) of subject under the subject's level.
func (s *Service) CheckCompatibility(subject string, version int, in SchemaInput) ([]string, error) {
	if _, err := schemaType(in.SchemaType); err != nil {
		return nil, err
	}
	var (
		msgs []string
		err  error
	)
	s.store.View(func(st *store.State) {
		var cand avro.Schema
		if cand, _, err = parseInput(st, in); err != nil {
			return
		}
		var vs []store.Version
		if version == AllVersions {
			vs = st.Versions(subject, false)
		} else {
			var v store.Version
			if v, err = resolveVersion(st, subject, version, false); err != nil {
				return
			}
			vs = []store.Version{v}
		}
		var prev []avroschema.Previous
		if prev, err = s.previous(st, vs); err != nil {
			return
		}
		msgs = avroschema.Check(s.effectiveLevel(st, subject), cand, prev)
	})
	return msgs, err
}

// Stats reports counts for metrics.
func (s *Service) Stats() (subjects, schemas, maxID int) {
	s.store.View(func(st *store.State) {
		subjects, schemas, maxID = st.SubjectCount(), st.SchemaCount(), st.MaxID()
	})
	return
}
