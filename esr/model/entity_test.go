package model_test

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/esrflow/esrflow/esr/model"
)

func TestDeleteKind(t *testing.T) {
	tests := []struct {
		rt     string
		want   model.EntityKind
		wantOK bool
	}{
		{"PRD", model.KindPerson, true},
		{"ASD", model.KindAssignment, true},
		{"POD", model.KindPosition, true},
		{"ORD", model.KindOrganisation, true},
		{"lcd", model.KindLocation, true},
		{"ADD", "", false}, // address delete, dropped with addresses
		{"PHD", "", false},
		{"ASA", "", false},
	}
	for _, tt := range tests {
		got, ok := model.DeleteKind(tt.rt)
		if got != tt.want || ok != tt.wantOK {
			t.Errorf("DeleteKind(%q) = %q, %v", tt.rt, got, ok)
		}
	}
}

func TestKeys(t *testing.T) {
	tests := []struct {
		got  model.Key
		want string
	}{
		{model.Person{VPD: "412", PersonID: 20990417}.Key(), "PERSON/412/20990417"},
		{model.Assignment{VPD: "0234", AssignmentID: 41877120}.Key(), "ASSIGNMENT/0234/41877120"},
		{model.Position{VPD: "412", PositionID: 8812045}.Key(), "POSITION/412/8812045"},
		{model.Organisation{VPD: "412", OrganisationID: 7730112}.Key(), "ORGANISATION/412/7730112"},
		{model.Location{VPD: "412", LocationID: 905512}.Key(), "LOCATION/412/905512"},
		{model.Correction{VPD: "412", Kind: model.KindAssignment, ID: 41000876, RecordType: "ASD"}.Key(), "ASSIGNMENT/412/41000876"},
	}
	for _, tt := range tests {
		if s := tt.got.String(); s != tt.want {
			t.Errorf("key = %q, want %q", s, tt.want)
		}
	}
	// A correction and the entity it deletes must share a key, or publish
	// could not find what to remove.
	if (model.Correction{VPD: "412", Kind: model.KindPerson, ID: 1}).Key() != (model.Person{VPD: "412", PersonID: 1}).Key() {
		t.Error("correction key differs from entity key")
	}
}

func TestPersonTerminationDue(t *testing.T) {
	tests := []struct {
		name string
		atd  time.Time
		on   time.Time
		want bool
	}{
		{"no termination", time.Time{}, model.Date(2024, 4, 2), false},
		{"future termination held", model.Date(2024, 4, 30), model.Date(2024, 4, 2), false},
		{"confirmed on its date", model.Date(2024, 4, 30), model.Date(2024, 4, 30), true},
		{"late termination", model.Date(2024, 3, 29), model.Date(2024, 4, 2), true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := model.Person{ActualTerminationDate: tt.atd}
			if got := p.TerminationDue(tt.on); got != tt.want {
				t.Errorf("TerminationDue = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestSensitiveNeverPrints(t *testing.T) {
	p := model.Person{PersonID: 1, NINumber: "JT482913C"}
	js, err := json.Marshal(p)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, out string
	}{
		{"%v", fmt.Sprintf("%v", p)},
		{"%+v", fmt.Sprintf("%+v", p)},
		{"%#v", fmt.Sprintf("%#v", p)},
		{"%s", fmt.Sprintf("%s", p.NINumber)},
		{"json", string(js)},
	}
	for _, tt := range tests {
		if strings.Contains(tt.out, "JT482913C") {
			t.Errorf("%s leaks the NI number: %s", tt.name, tt.out)
		}
	}
	if p.NINumber.Reveal() != "JT482913C" {
		t.Error("Reveal lost the value")
	}
	if model.Sensitive("").String() != "" || !model.Sensitive("").IsZero() {
		t.Error("empty Sensitive should print empty and be zero")
	}
}

func TestLineageString(t *testing.T) {
	l := model.Lineage{Tenant: "RXX", FileName: "GO_412_EXP_GOC_20240311_00000347.DAT", FileSHA256: "ab", Line: 6}
	if got, want := l.String(), "RXX/GO_412_EXP_GOC_20240311_00000347.DAT:6"; got != want {
		t.Errorf("String() = %q, want %q", got, want)
	}
}
