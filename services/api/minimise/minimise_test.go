package minimise

import (
	"encoding/json"
	"strings"
	"testing"
)

func TestJSONDropsListedMembersAtAnyDepth(t *testing.T) {
	in := `{"person_id":"1","date_of_birth":"1988-02-14","name":{"first":"A","ni_number":"JT482913C"},` +
		`"list":[{"home_postcode":"LS1 1AA","grade":"5"},{"ethnic_origin":"X"},7,"date_of_birth"],` +
		`"raw":{"fields":[{"name":"date_of_birth","value":null}]},"n":12345678901234567890,"office_email":"a@nhs.example"}` + "\n"
	want := `{"person_id":"1","name":{"first":"A"},"list":[{"grade":"5"},{},7,"date_of_birth"],` +
		`"raw":{"fields":[{"name":"date_of_birth","value":null}]},"n":12345678901234567890,"office_email":"a@nhs.example"}` + "\n"
	if got := string(JSON([]byte(in))); got != want {
		t.Errorf("JSON =\n%s\nwant\n%s", got, want)
	}
}

func TestJSONLeavesCleanInputUntouched(t *testing.T) {
	in := []byte(`{ "person_id" : "1", "assignments": [ ] }`)
	if got := JSON(in); string(got) != string(in) {
		t.Errorf("JSON changed clean input: %s", got)
	}
	// Invalid input naming a listed member fails closed: never passed on.
	bad := []byte(`{"date_of_birth": "1980-01-01", `)
	if got := JSON(bad); strings.Contains(string(got), "1980") || !strings.Contains(string(got), "cannot be minimised") {
		t.Errorf("invalid input = %s, want it withheld", got)
	}
}

// Every listed field is dropped, from the top level and nested.
func TestEveryFieldDropped(t *testing.T) {
	for _, f := range Fields {
		in := `{"keep":1,"` + f + `":"x","inner":{"` + f + `":{"deep":true}}}`
		var got map[string]any
		if err := json.Unmarshal(JSON([]byte(in)), &got); err != nil {
			t.Fatal(err)
		}
		if _, ok := got[f]; ok || len(got["inner"].(map[string]any)) != 0 || got["keep"] != float64(1) {
			t.Errorf("%s: got %v", f, got)
		}
	}
}

// The common case on the request path: a person with no listed member.
func BenchmarkJSONClean(b *testing.B) {
	in := []byte(`{"tenant":"RXX","person_id":"20990417","vpd":"412","employee_number":"31004581","employment_status":"EMPLOYED",` +
		`"start_date":"2024-03-11","scheduled":false,"rehire":false,"leaving_date":null,"leaving_reason":null,"last_working_day":null,` +
		`"assignments":[{"assignment_number":"31004581","position_number":"5102277","position_title":"Staff Nurse",` +
		`"organisation":"412 Cardiology Outpatients","grade":"Band 5","staff_group":"Nursing","job_role":"Staff Nurse",` +
		`"occupation_code":"N6A","location":"Ward 7"}],"last_event_id":"ev-starter-1","updated_at":"2024-03-11T02:17:03.25Z"}` + "\n")
	b.SetBytes(int64(len(in)))
	for b.Loop() {
		_ = JSON(in)
	}
}

// A person carrying personal members: parsed and rewritten.
func BenchmarkJSONSensitive(b *testing.B) {
	in := []byte(`{"tenant":"RXX","person_id":"20990417","date_of_birth":"1985-02-14","ni_number":"QQ123456C",` +
		`"assignments":[{"assignment_number":"31004581","home_postcode":"LS1 1AA","grade":"Band 5"}],"updated_at":"2024-03-11T02:17:03.25Z"}` + "\n")
	b.SetBytes(int64(len(in)))
	for b.Loop() {
		_ = JSON(in)
	}
}

// Escaped quotes inside strings do not hide a member that follows them.
func TestJSONEscapedQuotes(t *testing.T) {
	in := `{"a":"x\"y\\","ni_number":"QQ","b":"say \"date_of_birth\""}`
	want := `{"a":"x\"y\\","b":"say \"date_of_birth\""}`
	if got := string(JSON([]byte(in))); got != want {
		t.Errorf("JSON = %s, want %s", got, want)
	}
}
