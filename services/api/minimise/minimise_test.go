package minimise

import (
	"encoding/json"
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
	bad := []byte(`{"date_of_birth": `)
	if got := JSON(bad); string(got) != string(bad) {
		t.Errorf("invalid input changed: %s", got)
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
