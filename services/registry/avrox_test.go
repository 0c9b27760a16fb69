package registry_test

import (
	"errors"
	"testing"

	"github.com/hamba/avro/v2"
	"github.com/twmb/franz-go/pkg/sr"

	"github.com/esrflow/esrflow/platform/avrox"
)

// These tests drive the platform's serde (platform/avrox), which every
// pipeline stage uses, against the real registry: schema evolution must work
// across the wire, not only in schema unit tests.

const (
	leaverV1 = `{"type":"record","name":"Leaver","namespace":"t","fields":[
		{"name":"person_id","type":"string"},{"name":"days_late","type":"int"}]}`
	// v2 adds an optional field with a default: BACKWARD compatible.
	leaverV2 = `{"type":"record","name":"Leaver","namespace":"t","fields":[
		{"name":"person_id","type":"string"},{"name":"days_late","type":"int"},
		{"name":"reason","type":["null","string"],"default":null}]}`
	// A reader needing a field no writer has, without a default.
	leaverStrict = `{"type":"record","name":"Leaver","namespace":"t","fields":[
		{"name":"person_id","type":"string"},{"name":"site","type":"string"}]}`
)

type leaverV1Value struct {
	PersonID string `avro:"person_id"`
	DaysLate int    `avro:"days_late"`
}

type leaverV2Value struct {
	PersonID string  `avro:"person_id"`
	DaysLate int     `avro:"days_late"`
	Reason   *string `avro:"reason"`
}

func TestAvroxEvolutionThroughRegistry(t *testing.T) {
	in := newRegistry(t)
	ctx := ctxT(t)
	setLevel(t, in.cl, sr.CompatBackwardTransitive, "esr.rxx.leaver-confirmed.v1-value")

	producer := avrox.New(in.cl, nil)
	w1, err := producer.Register(ctx, "esr.rxx.leaver-confirmed.v1-value", leaverV1)
	if err != nil {
		t.Fatal(err)
	}
	old, err := w1.Encode(nil, leaverV1Value{PersonID: "20990417", DaysLate: 3})
	if err != nil {
		t.Fatal(err)
	}
	w2, err := producer.Register(ctx, "esr.rxx.leaver-confirmed.v1-value", leaverV2)
	if err != nil {
		t.Fatal(err)
	}
	if w2.ID == w1.ID {
		t.Fatalf("v2 got v1's id %d", w1.ID)
	}
	reason := "Voluntary Resignation - Relocation"
	fresh, err := w2.Encode(nil, leaverV2Value{PersonID: "20110032", Reason: &reason})
	if err != nil {
		t.Fatal(err)
	}

	// A consumer that has never seen either id: it learns writers from the registry.
	consumer := avrox.New(in.cl, nil)
	v2 := avro.MustParse(leaverV2)
	var got leaverV2Value
	id, err := consumer.Decode(ctx, old, v2, &got)
	if err != nil || id != w1.ID {
		t.Fatalf("v2 reader on v1 payload: id %d err %v", id, err)
	}
	if got.PersonID != "20990417" || got.DaysLate != 3 || got.Reason != nil {
		t.Errorf("v2 reader on v1 payload = %+v, want default reason nil", got)
	}
	// An old consumer (v1 reader) still reads what new producers write.
	var gotOld leaverV1Value
	if _, err := consumer.Decode(ctx, fresh, avro.MustParse(leaverV1), &gotOld); err != nil || gotOld.PersonID != "20110032" {
		t.Errorf("v1 reader on v2 payload = %+v, %v", gotOld, err)
	}

	// A reader that cannot read the writer is a permanent error for that record.
	var strict map[string]any
	if _, err := consumer.Decode(ctx, old, avro.MustParse(leaverStrict), &strict); !errors.Is(err, avrox.ErrIncompatible) {
		t.Errorf("strict reader error = %v, want ErrIncompatible", err)
	}
	// An id the registry never issued: the registry's 40403 comes through.
	bogus := avrox.AppendHeader(nil, 9999)
	if _, err := consumer.Decode(ctx, append(bogus, 0), v2, &got); err == nil {
		t.Error("decoding an unknown schema id succeeded")
	} else {
		var re *sr.ResponseError
		if !errors.As(err, &re) || re.ErrorCode != 40403 {
			t.Errorf("unknown id error = %v, want registry 40403", err)
		}
	}
}
