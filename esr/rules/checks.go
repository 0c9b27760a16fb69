package rules

import (
	"net/mail"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/esrflow/esrflow/esr/model"
	"github.com/esrflow/esrflow/schemas/gen/internalv1"
)

// The record (ESR-R) and field (ESR-V) rules' checks. Each follows its
// catalogue description; "when present" rules pass an empty value, which is
// the required-field rules' business (ESR-R010…R014) where it matters.
// Checks call c.fail with a field name only: messages come from the
// catalogue and never quote the value.

func init() {
	// ------------------------------------------------------------ record
	checks["ESR-R020"] = func(c *checkCtx) {
		e := c.entity.(internalv1.Person)
		if !noDatePtr(e.ActualTerminationDate) && !noDatePtr(e.HireDate) {
			c.failIf(e.ActualTerminationDate.Before(*e.HireDate), "actual_termination_date")
		}
	}
	checks["ESR-R021"] = func(c *checkCtx) {
		if c.file.Dialect == DialectGOv1 {
			return // GO v1 has no leaving-reason column: a v1 leaver never has one
		}
		e := c.entity.(internalv1.Person)
		c.failIf(noDatePtr(e.ActualTerminationDate) != (strings.TrimSpace(e.LeavingReason) == ""), "leaving_reason")
	}
	checks["ESR-R022"] = func(c *checkCtx) {
		// Position and organisation rows name their dates from/to; the
		// violation names the field the row has.
		switch e := c.entity.(type) {
		case internalv1.Person:
			c.failIf(startAfterEnd(e.EffectiveStart, e.EffectiveEnd), "effective_end")
		case internalv1.Assignment:
			c.failIf(startAfterEnd(e.EffectiveStart, e.EffectiveEnd), "effective_end")
		case internalv1.Position:
			c.failIf(startAfterEnd(e.EffectiveFrom, e.EffectiveTo), "effective_to")
		case internalv1.Organisation:
			c.failIf(startAfterEnd(e.EffectiveFrom, e.EffectiveTo), "effective_to")
		}
	}
	checks["ESR-R023"] = func(c *checkCtx) {
		e := c.entity.(internalv1.Person)
		if !noDatePtr(e.DateOfBirth) && !noDatePtr(e.HireDate) {
			c.failIf(!e.DateOfBirth.Before(*e.HireDate), "date_of_birth")
		}
	}
	checks["ESR-R024"] = func(c *checkCtx) {
		e := c.entity.(internalv1.Assignment)
		if noDatePtr(e.EarliestStart) {
			return
		}
		if !noDatePtr(e.EffectiveEnd) {
			c.failIf(e.EarliestStart.After(*e.EffectiveEnd), "earliest_start")
		}
		if !noDatePtr(e.LastWorkingDay) {
			c.failIf(e.LastWorkingDay.Before(*e.EarliestStart), "last_working_day")
		}
	}
	checks["ESR-R026"] = func(c *checkCtx) {
		e := c.entity.(internalv1.Person)
		// A birth on or after the hire date is ESR-R023's error; flagging
		// the same row's age as well would count one problem twice.
		if noDatePtr(e.DateOfBirth) || noDatePtr(e.HireDate) || !e.DateOfBirth.Before(*e.HireDate) {
			return
		}
		age := float64(yearsBetween(*e.DateOfBirth, *e.HireDate))
		c.failIf(age < c.rule.float("min_age") || age > c.rule.float("max_age"), "date_of_birth")
	}

	// ------------------------------------------------------------- field
	checks["ESR-V010"] = func(c *checkCtx) {
		e := c.entity.(internalv1.Person)
		c.failIf(e.EmployeeNumber != "" && !c.matches(e.EmployeeNumber), "employee_number")
	}
	checks["ESR-V011"] = func(c *checkCtx) {
		e := c.entity.(internalv1.Assignment)
		c.failIf(e.AssignmentNumber != "" && !c.matches(e.AssignmentNumber), "assignment_number")
	}
	checks["ESR-V012"] = func(c *checkCtx) {
		e := c.entity.(internalv1.Person)
		ni := niFold(e.NiNumber)
		c.failIf(ni != "" && !ValidNINumber(ni) && !niTemporaryShape(ni), "ni_number")
	}
	checks["ESR-V013"] = func(c *checkCtx) {
		e := c.entity.(internalv1.Person)
		c.failIf(niTemporaryShape(niFold(e.NiNumber)), "ni_number")
	}
	checks["ESR-V014"] = func(c *checkCtx) {
		// No GO v2 person row carries an NHS number (ESR-FORMATS §5.1); a
		// dialect that does names the column nhs_number.
		v := rawField(c.raw, "nhs_number")
		c.failIf(strings.TrimSpace(v) != "" && !ValidNHSNumber(v), "nhs_number")
	}
	checks["ESR-V015"] = func(c *checkCtx) {
		e := c.entity.(internalv1.Person)
		c.failIf(e.OfficeEmail != "" && !validEmail(e.OfficeEmail), "office_email")
	}
	checks["ESR-V016"] = func(c *checkCtx) {
		e := c.entity.(internalv1.Location)
		pc := strings.TrimSpace(e.Postcode)
		c.failIf(pc != "" && !postcodeRE.MatchString(strings.ToUpper(pc)), "postcode")
	}
	checks["ESR-V017"] = func(c *checkCtx) {
		var code string
		switch e := c.entity.(type) {
		case internalv1.Position:
			code = e.OccupationCode
		case internalv1.Assignment:
			code = e.Position.OccupationCode
		}
		c.failIf(code != "" && !occupationRE.MatchString(code), "occupation_code")
	}
	checks["ESR-V018"] = func(c *checkCtx) {
		var group string
		switch e := c.entity.(type) {
		case internalv1.Position:
			group = e.StaffGroup
		case internalv1.Assignment:
			group = e.StaffGroup
		}
		if strings.TrimSpace(group) == "" {
			return
		}
		c.failIf(!nationalGroup(group), "staff_group")
	}
	checks["ESR-V019"] = func(c *checkCtx) {
		e := c.entity.(internalv1.Assignment)
		c.failIf(e.Fte != nil && (*e.Fte < 0 || *e.Fte > c.rule.float("max")), "fte")
	}
	checks["ESR-V020"] = func(c *checkCtx) {
		e := c.entity.(internalv1.Assignment)
		c.failIf(e.Fte != nil && *e.Fte > c.rule.float("warn_above"), "fte")
	}
	checks["ESR-V021"] = func(c *checkCtx) {
		e := c.entity.(internalv1.Assignment)
		c.failIf(e.Hours != nil && (*e.Hours < 0 || *e.Hours > c.rule.float("max")), "hours")
	}
	checks["ESR-V022"] = func(c *checkCtx) {
		e := c.entity.(internalv1.Person)
		c.failIf(e.Gender != "" && !slices.Contains(genders, e.Gender), "gender")
	}
	checks["ESR-V023"] = func(c *checkCtx) {
		e := c.entity.(internalv1.Person)
		c.failIf(e.CrsUUID != "" && !crsRE.MatchString(e.CrsUUID), "crs_uuid")
	}
	checks["ESR-V024"] = func(c *checkCtx) {
		e := c.entity.(internalv1.Organisation)
		// Only a name that looks VPD-prefixed (leading digits) is judged:
		// the root organisation and some nodes carry plain names.
		if e.Vpd == "" || e.Name == "" || e.Name[0] < '0' || e.Name[0] > '9' {
			return
		}
		c.failIf(!strings.HasPrefix(e.Name, e.Vpd+" "), "name")
	}
	checks["ESR-V025"] = func(c *checkCtx) {
		e := c.entity.(internalv1.Person)
		if strings.TrimSpace(e.LeavingReason) == "" {
			return
		}
		c.failIf(!nationalReason(e.LeavingReason), "leaving_reason")
	}
	checks["ESR-V026"] = func(c *checkCtx) {
		g := c.entity.(internalv1.Assignment).Grade
		owner, code := strings.TrimSpace(g.Owner), strings.TrimSpace(g.Code)
		some := owner != "" || code != "" || strings.TrimSpace(g.Description) != ""
		c.failIf(some && (owner == "" || code == ""), "grade")
	}
	checks["ESR-V027"] = func(c *checkCtx) {
		e := c.entity.(internalv1.Person)
		c.failIf(e.SystemPersonType != "" && !slices.Contains(systemPersonTypes, e.SystemPersonType), "system_person_type")
	}
}

// matches applies the rule's "pattern" parameter; a rule without one
// matches everything.
func (c *checkCtx) matches(s string) bool {
	return c.rule.pattern == nil || c.rule.pattern.MatchString(s)
}

var (
	// postcodeRE is a well-formed UK postcode (outward code, optional
	// space, inward code; GIR 0AA is the one historic exception). It checks
	// shape, not that the postcode exists.
	postcodeRE   = regexp.MustCompile(`^(GIR ?0AA|[A-Z]{1,2}[0-9][A-Z0-9]? ?[0-9][ABD-HJLNP-UW-Z]{2})$`)
	occupationRE = regexp.MustCompile(`^[0-9A-Z]{3}$`)
	crsRE        = regexp.MustCompile(`^[0-9]{12}$`)
	niShapeRE    = regexp.MustCompile(`^[A-Z]{2}[0-9]{6}[A-D]?$`)
	// A temporary reference number: TN, date of birth and M or F; the
	// administrative prefixes take any letter suffix.
	niTempShapeRE = regexp.MustCompile(`^[A-Z]{2}[0-9]{6}[A-Z]?$`)
)

func startAfterEnd(start time.Time, end *time.Time) bool {
	return !noDate(start) && !noDatePtr(end) && start.After(*end)
}

// yearsBetween is the age in whole years on day to of someone born on from.
func yearsBetween(from, to time.Time) int {
	y := to.Year() - from.Year()
	if to.Month() < from.Month() || (to.Month() == from.Month() && to.Day() < from.Day()) {
		y--
	}
	return y
}

// niFold removes the blanks NI numbers are often written with ("QQ 12 34
// 56 C") and upper-cases it: neither is part of the number.
func niFold(s string) string {
	if niPlain(s) {
		return s
	}
	return strings.ToUpper(strings.Join(strings.Fields(s), ""))
}

// niPlain reports a value with nothing to fold (the common case).
func niPlain(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c <= ' ' || (c >= 'a' && c <= 'z') {
			return false
		}
	}
	return true
}

// ValidNINumber reports whether s (blanks removed, upper case) is a
// National Insurance number as HMRC allocates them (NIM39110): two prefix
// letters, neither D, F, I, Q, U or V, the second not O, the pair not one
// of BG, GB, KN, NK, NT, TN, ZZ; six digits; a suffix A–D or none.
func ValidNINumber(s string) bool {
	if !niShapeRE.MatchString(s) {
		return false
	}
	first, second := s[0], s[1]
	if strings.IndexByte("DFIQUV", first) >= 0 || strings.IndexByte("DFIQUVO", second) >= 0 {
		return false
	}
	return !slices.Contains(niUnallocated, s[:2])
}

// niTemporaryShape reports a temporary or administrative number: one of
// ESR-V013's prefixes with six digits and an optional letter. Such a number
// is ESR-V013's warning and not also ESR-V012's error (TN and OO would
// otherwise break V012's prefix rules too): one problem, reported once, at
// the severity the catalogue gives it.
func niTemporaryShape(s string) bool {
	return len(s) >= 2 && slices.Contains(niTemporary, s[:2]) && niTempShapeRE.MatchString(s)
}

// ValidNHSNumber reports whether s is a valid NHS number: ten digits (blanks
// allowed between groups, as in "943 476 5919") whose last is the modulus
// 11 check digit of the first nine, weighted 10 down to 2 (a remainder
// giving 11 means 0; one giving 10 is never issued).
func ValidNHSNumber(s string) bool {
	s = strings.Join(strings.Fields(s), "")
	if len(s) != 10 {
		return false
	}
	sum := 0
	for i := 0; i < 10; i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
		if i < 9 {
			sum += int(s[i]-'0') * (10 - i)
		}
	}
	check := 11 - sum%11
	switch check {
	case 11:
		check = 0
	case 10:
		return false
	}
	return int(s[9]-'0') == check
}

// validEmail is a bare address (no display name, no angle brackets) that
// net/mail parses, with a dot in its domain: an intranet-only "user@host"
// is not an office address anyone outside can use.
func validEmail(s string) bool {
	a, err := mail.ParseAddress(s)
	if err != nil || a.Name != "" || a.Address != s {
		return false
	}
	at := strings.LastIndexByte(s, '@')
	domain := s[at+1:]
	dot := strings.IndexByte(domain, '.')
	return dot > 0 && dot < len(domain)-1 && !strings.HasSuffix(domain, ".")
}

// The national lists are matched exactly first and only then folded: a
// file spells them the national way on nearly every row, and folding
// allocates (the checks run on every row of every file).
var (
	reasonIndex, reasonFolded = index(leavingReasons)
	groupIndex, groupFolded   = index(staffGroupNames())
)

func staffGroupNames() []string {
	var names []string
	for _, g := range model.StaffGroups() {
		names = append(names, g.Name)
	}
	return names
}

func index(list []string) (exact, folded map[string]bool) {
	exact, folded = map[string]bool{}, map[string]bool{}
	for _, s := range list {
		exact[s], folded[foldText(s)] = true, true
	}
	return exact, folded
}

func nationalReason(s string) bool { return reasonIndex[s] || reasonFolded[foldText(s)] }

// nationalGroup matches as model.StaffGroupCode does (case and runs of
// blanks ignored).
func nationalGroup(s string) bool { return groupIndex[s] || groupFolded[foldText(s)] }

func foldText(s string) string { return strings.ToLower(strings.Join(strings.Fields(s), " ")) }
