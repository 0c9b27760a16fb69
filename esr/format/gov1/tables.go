package gov1

import "github.com/esrflow/esrflow/esr/format"

// Record type codes.
const (
	TypeHeader     = "HDR"
	TypeFooter     = "FTR"
	TypePerson     = "PER"
	TypeAssignment = "ASG"
)

func text(n string) format.FieldSpec { return format.FieldSpec{Name: n} }
func pii(n string) format.FieldSpec  { return format.FieldSpec{Name: n, Sensitive: true} }
func id(n string) format.FieldSpec   { return format.FieldSpec{Name: n, Kind: format.KindInteger} }
func date(n string) format.FieldSpec { return format.FieldSpec{Name: n, Kind: format.KindDate} }
func dec(n string) format.FieldSpec  { return format.FieldSpec{Name: n, Kind: format.KindDecimal} }
func flag(n string) format.FieldSpec { return format.FieldSpec{Name: n, Kind: format.KindFlag} }
func comp(n string, min, max int) format.FieldSpec {
	return format.FieldSpec{Name: n, Kind: format.KindComposite, MinParts: min, MaxParts: max}
}

// Spec returns the layout of a data record type (nil when unknown), column
// index 0 being the record type, as in ESR-FORMATS §3. Read-only.
func Spec(recordType string) *format.RecordSpec {
	switch recordType {
	case TypePerson:
		return &personSpec
	case TypeAssignment:
		return &assignmentSpec
	}
	return nil
}

var personSpec = format.RecordSpec{Type: TypePerson, Entity: "person", Columns: []format.FieldSpec{
	text("record_type"), id("person_id"), text("employee_number"), pii("title"),
	pii("last_name"), pii("first_name"), pii("middle_names"), pii("maiden_name"),
	pii("gender"), {Name: "date_of_birth", Kind: format.KindDate, Sensitive: true}, pii("ni_number"), date("hire_date"),
	date("termination_date"), flag("current_employee_flag"), pii("home_address_line_1"), pii("home_address_line_2"),
	pii("home_town"), pii("home_county"), pii("home_postcode"), pii("home_country"),
	pii("personal_email"), pii("home_phone"), pii("home_fax"), pii("mobile_phone"),
	pii("office_email"), pii("pager"), pii("work_phone"), text("wtr_opt_out"),
	text("applicant_number"), text("current_applicant_flag"),
}}

var assignmentSpec = format.RecordSpec{Type: TypeAssignment, Entity: "assignment", Columns: []format.FieldSpec{
	text("record_type"), id("assignment_id"), text("assignment_number"), date("earliest_assignment_start"),
	date("final_assignment_end"), text("assignment_status"), text("payroll_pay_type"), text("payroll_name"),
	text("payroll_period_type"), text("address_line_1"), text("address_line_2"), text("town"),
	text("county"), text("postcode"), text("country"), flag("supervisor_flag"),
	text("supervisor_assignment_number"), text("supervisor_employee_number"), pii("supervisor_full_name"), text("accrual_plan"),
	text("employee_category"), text("assignment_category"), flag("primary_assignment"), dec("normal_hours"),
	text("normal_hours_frequency"), dec("grade_contract_hours"), dec("sessions"), text("sessions_frequency"),
	text("work_pattern_details"), text("work_pattern_start_day"), text("flexible_working_pattern"), text("availability_schedule"),
	text("organisation"), text("legal_entity"), comp("position_name", format.PositionNameMinParts, format.PositionNameMaxParts), text("job_role"),
	text("occupation_code"), text("location"), comp("grade", format.GradeParts, format.GradeParts), comp("job_name", format.JobNameParts, format.JobNameParts),
	comp("people_group", format.PeopleGroupMinParts, format.PeopleGroupMaxParts), text("ta_flag"), text("night_worker"), date("projected_hire_date"),
	text("vacancy_id"),
}}
