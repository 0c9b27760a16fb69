package model

import "strings"

// StaffGroup is a national workforce (NWD) staff group. ESR files carry the
// name; the national two-digit code is what NHS England reporting and most
// consumers key on.
type StaffGroup struct {
	Code string // "01" .. "10", leading zero kept
	Name string // as ESR spells it, e.g. "Nursing and Midwifery Registered"
}

// StaffGroups returns the ten national staff groups in code order. It returns
// a fresh array so callers cannot change the table for everyone.
func StaffGroups() [10]StaffGroup {
	return [10]StaffGroup{
		{"01", "Medical and Dental"},
		{"02", "Students"},
		{"03", "Nursing and Midwifery Registered"},
		{"04", "Allied Health Professionals"},
		{"05", "Additional Professional Scientific and Technical"},
		{"06", "Healthcare Scientists"},
		{"07", "Additional Clinical Services"},
		{"08", "Administrative and Clerical"},
		{"09", "Estates and Ancillary"},
		{"10", "Supplementary Roles"},
	}
}

// StaffGroupCode returns the national code for an ESR staff group name. The
// match ignores case and runs of blanks, because trusts' LOV text drifts in
// exactly those ways; anything else is not a national group (V6).
func StaffGroupCode(name string) (string, bool) {
	key := foldName(name)
	for _, g := range StaffGroups() {
		if foldName(g.Name) == key {
			return g.Code, true
		}
	}
	return "", false
}

// StaffGroupName returns the national name for a code ("3" and "03" both
// name Nursing and Midwifery Registered).
func StaffGroupName(code string) (string, bool) {
	code = strings.TrimSpace(code)
	if len(code) == 1 {
		code = "0" + code
	}
	for _, g := range StaffGroups() {
		if g.Code == code {
			return g.Name, true
		}
	}
	return "", false
}

func foldName(s string) string {
	return strings.ToLower(strings.Join(strings.Fields(s), " "))
}
