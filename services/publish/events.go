package publish

import (
	"crypto/sha256"
	"encoding/hex"
	"strconv"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/esrflow/esrflow/schemas"
	"github.com/esrflow/esrflow/schemas/gen/eventsv1"
)

// eventID derives the deterministic event id: the first 16 bytes of
// SHA-256 over the identifying fields (each followed by a 0 byte), stamped
// as an RFC 9562 version-5-style UUID. The same record of the same file
// always gives the same id.
func eventID(tenant, typ, personID, change, assignmentNumber, fileSha256 string, line int64) string {
	h := sha256.New()
	for _, s := range []string{"esrflow/event/v1", tenant, typ, personID, change, assignmentNumber, fileSha256, strconv.FormatInt(line, 10)} {
		h.Write([]byte(s))
		h.Write([]byte{0})
	}
	var u [16]byte
	copy(u[:], h.Sum(nil))
	u[6] = u[6]&0x0f | 0x50 // version 5
	u[8] = u[8]&0x3f | 0x80 // RFC 4122 variant
	var b [36]byte
	hex.Encode(b[0:8], u[0:4])
	b[8] = '-'
	hex.Encode(b[9:13], u[4:6])
	b[13] = '-'
	hex.Encode(b[14:18], u[6:8])
	b[18] = '-'
	hex.Encode(b[19:23], u[8:10])
	b[23] = '-'
	hex.Encode(b[24:], u[10:])
	return string(b[:])
}

// traceparent is a W3C trace context whose trace id comes from the file's
// SHA-256 (one file = one trace) and whose span id comes from the event id.
func traceparent(fileSha256, spanSeed string) string {
	trace := sha256.Sum256([]byte(fileSha256))
	if b, err := hex.DecodeString(fileSha256); err == nil && len(b) >= 16 {
		copy(trace[:16], b)
	}
	span := sha256.Sum256([]byte(spanSeed))
	return "00-" + hex.EncodeToString(trace[:16]) + "-" + hex.EncodeToString(span[:8]) + "-01"
}

// ceTime is RFC 3339 with milliseconds, in UTC.
const ceTime = "2006-01-02T15:04:05.000Z07:00"

// Header names of the CloudEvents Kafka binding (binary mode).
const (
	hdrSpecVersion = "ce_specversion"
	hdrID          = "ce_id"
	hdrType        = "ce_type"
	hdrSource      = "ce_source"
	hdrTime        = "ce_time"
	hdrSubject     = "ce_subject"
	hdrContentType = "content-type"
	hdrTraceparent = "traceparent"
)

// ceType maps an event name to its CloudEvents type.
func ceType(event string) string {
	switch event {
	case eventStarter:
		return schemas.CETypeStarterCreated
	case eventLeaver:
		return schemas.CETypeLeaverConfirmed
	case eventReversed:
		return schemas.CETypeLeaverReversed
	default:
		return schemas.CETypePositionUpdated
	}
}

// ceSource is the CloudEvents source of a tenant's events from one VPD.
func ceSource(tenant, vpd string) string { return "esrflow://publish/" + tenant + "/" + vpd }

func headers(e *event, recorded time.Time) []kgo.RecordHeader {
	return []kgo.RecordHeader{
		{Key: hdrSpecVersion, Value: []byte("1.0")},
		{Key: hdrID, Value: []byte(e.ID)},
		{Key: hdrType, Value: []byte(ceType(e.Type))},
		{Key: hdrSource, Value: []byte(ceSource(e.Tenant, e.VPD))},
		{Key: hdrTime, Value: []byte(recorded.UTC().Format(ceTime))},
		{Key: hdrSubject, Value: []byte(e.PersonID)},
		{Key: hdrContentType, Value: []byte("application/avro")},
		{Key: hdrTraceparent, Value: []byte(traceparent(e.FileSha256, e.ID))},
	}
}

// date turns an ISO date into the time an Avro date carries (UTC midnight).
func date(s string) time.Time {
	t, _ := time.Parse(time.DateOnly, s)
	return t
}

func datePtr(s string) *time.Time {
	if s == "" {
		return nil
	}
	t := date(s)
	return &t
}

func strPtr(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

func snapshotValue(s *snapshot) *eventsv1.PositionSnapshot {
	if s == nil {
		return nil
	}
	return &eventsv1.PositionSnapshot{PositionNumber: s.PositionNumber, PositionTitle: s.PositionTitle,
		Organisation: s.Organisation, Grade: s.Grade, StaffGroup: s.StaffGroup, JobRole: s.JobRole,
		OccupationCode: s.OccupationCode, Location: s.Location}
}

// value builds the Avro value (generated type of the latest schema) of e.
func value(e *event, recorded time.Time) any {
	src := eventsv1.Source{FileName: e.FileName, FileSha256: e.FileSha256, Line: e.Line}
	eff := date(e.Effective)
	switch e.Type {
	case eventStarter:
		return &eventsv1.StarterCreated{EventID: e.ID, Tenant: e.Tenant, Vpd: e.VPD, PersonID: e.PersonID,
			EmployeeNumber: e.EmployeeNumber, EffectiveDate: eff, RecordedAt: recorded, Source: src,
			AssignmentNumber: e.AssignmentNumber, PositionNumber: e.PositionNumber, PositionTitle: e.PositionTitle,
			Organisation: e.Organisation, StartDate: eff, Scheduled: e.Scheduled, Rehire: e.Rehire, TransferFromTenant: strPtr(e.TransferFrom)}
	case eventLeaver:
		return &eventsv1.LeaverConfirmed{EventID: e.ID, Tenant: e.Tenant, Vpd: e.VPD, PersonID: e.PersonID,
			EmployeeNumber: e.EmployeeNumber, EffectiveDate: eff, RecordedAt: recorded, Source: src,
			LeavingDate: eff, LeavingReason: e.LeavingReason, LastWorkingDay: datePtr(e.LastWorkingDay),
			DaysLate: e.DaysLate, FinalAssignmentEndDate: datePtr(e.FinalEnd), TransferToTenant: strPtr(e.TransferTo)}
	case eventReversed:
		return &eventsv1.LeaverReversed{EventID: e.ID, Tenant: e.Tenant, Vpd: e.VPD, PersonID: e.PersonID,
			EmployeeNumber: e.EmployeeNumber, EffectiveDate: eff, RecordedAt: recorded, Source: src,
			ReversedEventID: e.Reverses, ReversedLeavingDate: date(e.ReversedDate), Reversal: e.Reversal,
			NewLeavingDate: datePtr(e.NewDate), LeavingReason: e.LeavingReason}
	default:
		return &eventsv1.PositionUpdated{EventID: e.ID, Tenant: e.Tenant, Vpd: e.VPD, PersonID: e.PersonID,
			EmployeeNumber: e.EmployeeNumber, EffectiveDate: eff, RecordedAt: recorded, Source: src,
			AssignmentNumber: e.AssignmentNumber, Change: eventsv1.PositionChange(e.Change),
			Before: snapshotValue(e.Before), After: snapshotValue(e.After)}
	}
}
