// Package minimise leaves personal fields out of the api's JSON: what a
// client without the people:sensitive scope gets (docs/api.md, Field
// minimisation). It works on the JSON itself, by member name at any depth,
// so one list covers every response (a person, events, quarantined records,
// file reports, feed items, webhook bodies) whatever Go type produced it,
// and a field added to a payload later is minimised as soon as its name is
// on the list.
package minimise

import (
	"bytes"
	"encoding/json"
)

// Fields are the JSON member names a client without people:sensitive never
// sees. They follow the ESR person record (esr/model.Person, the GO layouts'
// personal columns and ESR-FORMATS.md's PER/APP fields):
//
//   - date of birth and NI number (model.Person.DateOfBirth, model.Sensitive);
//   - home address (the layouts' home_address_* columns);
//   - personal contact details (personal e-mail, home and mobile phone, home
//     fax, pager); the office e-mail and work phone are work contacts and are
//     not on the list;
//   - special-category data (UK GDPR article 9: ethnic origin, religion or
//     belief, sexual orientation, disability), and the fields that stand in
//     for ethnic origin or say more than a vendor needs (nationality, country
//     of birth, marital status).
//
// Names and gender are not on the list: a rostering or access system needs
// them to identify a person. (Quarantined rows are stricter: there every
// column the layout marks personal, names included, is redacted without
// people:sensitive.)
var Fields = []string{
	"date_of_birth", "dob", "birth_date",
	"ni_number", "nino", "national_insurance_number",
	"home_address", "home_address_line_1", "home_address_line_2", "home_address_line_3",
	"home_town", "home_county", "home_postcode", "home_country",
	"personal_email", "personal_phone", "home_phone", "mobile_phone", "home_fax", "pager",
	"ethnic_origin", "ethnicity", "religion", "religious_belief", "sexual_orientation",
	"disability", "disability_flag", "nationality", "country_of_birth", "marital_status",
}

var drop = map[string]bool{}

func init() {
	for _, f := range Fields {
		drop[f] = true
	}
}

// mentions reports whether b holds a JSON string (a member name, or a
// value) that Fields lists. Most answers hold none, and then JSON returns
// them untouched without parsing: one pass over the bytes and a map lookup
// per string, so minimisation costs the request path next to nothing.
func mentions(b []byte) bool {
	for i := 0; i < len(b); {
		j := bytes.IndexByte(b[i:], '"')
		if j < 0 {
			return false
		}
		start := i + j + 1
		k := start
		for k < len(b) && b[k] != '"' {
			if b[k] == '\\' {
				k++ // an escaped character, perhaps a quote
			}
			k++
		}
		if k >= len(b) {
			return false
		}
		if drop[string(b[start:k])] { // no allocation: the compiler looks up the bytes
			return true
		}
		i = k + 1
	}
	return false
}

// JSON returns b without the members Fields names, at any depth, keeping
// every other member, its order and its exact text. Input that is not
// valid JSON and names a listed member is withheld (fail closed): the api
// only minimises what it encoded itself, so that is a bug, not data. Names are matched as written: encoding/json never escapes these
// ASCII names, so a name spelt with \u escapes is JSON the api did not make.
func JSON(b []byte) []byte {
	if !mentions(b) {
		return b
	}
	out, err := filter(bytes.TrimSpace(b))
	if err != nil {
		// Fail closed: a body this filter cannot read is not passed on
		// as it is, since it names a member that must not leave.
		return []byte(`{"error":"this answer cannot be minimised"}` + "\n")
	}
	if len(b) > 0 && b[len(b)-1] == '\n' {
		out = append(out, '\n') // json.Encoder's newline
	}
	return out
}

// filter rewrites one JSON value.
func filter(v []byte) ([]byte, error) {
	if len(v) == 0 || (v[0] != '{' && v[0] != '[') || !mentions(v) {
		return v, nil
	}
	dec := json.NewDecoder(bytes.NewReader(v))
	dec.UseNumber()
	open, err := dec.Token()
	if err != nil {
		return nil, err
	}
	var out bytes.Buffer
	first := true
	sep := func() {
		if !first {
			out.WriteByte(',')
		}
		first = false
	}
	if open == json.Delim('{') {
		out.WriteByte('{')
		for dec.More() {
			k, err := dec.Token()
			if err != nil {
				return nil, err
			}
			var raw json.RawMessage
			if err := dec.Decode(&raw); err != nil {
				return nil, err
			}
			key, _ := k.(string)
			if drop[key] {
				continue
			}
			sub, err := filter(raw)
			if err != nil {
				return nil, err
			}
			sep()
			kb, _ := json.Marshal(key)
			out.Write(kb)
			out.WriteByte(':')
			out.Write(sub)
		}
		out.WriteByte('}')
	} else {
		out.WriteByte('[')
		for dec.More() {
			var raw json.RawMessage
			if err := dec.Decode(&raw); err != nil {
				return nil, err
			}
			sub, err := filter(raw)
			if err != nil {
				return nil, err
			}
			sep()
			out.Write(sub)
		}
		out.WriteByte(']')
	}
	if _, err := dec.Token(); err != nil { // the closing delimiter
		return nil, err
	}
	return out.Bytes(), nil
}
