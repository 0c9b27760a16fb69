package gov2

import "github.com/esrflow/esrflow/esr/format"

// Record type codes. Note ADD is the *address delete*, not "add".
const (
	TypeHeader  = "HDR"
	TypeTrailer = "TRL"

	TypeLocation     = "LCA"
	TypeOrganisation = "ORA"
	TypePosition     = "POA"
	TypePerson       = "PRA"
	TypeAssignment   = "ASA"
	TypePhone        = "PHA"
	TypeAddress      = "ADA"
	TypeVehicle      = "VHA"
	TypeCosting      = "COA"

	TypeLocationDelete     = "LCD"
	TypeOrganisationDelete = "ORD"
	TypePositionDelete     = "POD"
	TypePersonDelete       = "PRD"
	TypeAssignmentDelete   = "ASD"
	TypePhoneDelete        = "PHD"
	TypeAddressDelete      = "ADD"
	TypeVehicleDelete      = "VHD"
	TypeCostingDelete      = "COD"
)

// Column constructors keep the tables below one line per column.
func text(n string) format.FieldSpec { return format.FieldSpec{Name: n} }
func id(n string) format.FieldSpec   { return format.FieldSpec{Name: n, Kind: format.KindInteger} }
func date(n string) format.FieldSpec { return format.FieldSpec{Name: n, Kind: format.KindDate} }
func ts(n string) format.FieldSpec   { return format.FieldSpec{Name: n, Kind: format.KindTimestamp} }
func dec(n string) format.FieldSpec  { return format.FieldSpec{Name: n, Kind: format.KindDecimal} }
func flag(n string) format.FieldSpec { return format.FieldSpec{Name: n, Kind: format.KindFlag} }
func spare(n string) format.FieldSpec {
	return format.FieldSpec{Name: n, Kind: format.KindSpare}
}
func comp(n string, min, max int) format.FieldSpec {
	return format.FieldSpec{Name: n, Kind: format.KindComposite, MinParts: min, MaxParts: max}
}

// pii marks personal data: never quoted in messages.
func pii(f format.FieldSpec) format.FieldSpec { f.Sensitive = true; return f }

// special marks special-category data: blanked unless KeepSpecialCategory.
func special(f format.FieldSpec) format.FieldSpec { f.Sensitive = true; f.Special = true; return f }

func positionName(n string) format.FieldSpec {
	return comp(n, format.PositionNameMinParts, format.PositionNameMaxParts)
}

// HeaderSpec is the HDR layout (7 columns).
var HeaderSpec = format.RecordSpec{Type: TypeHeader, Entity: "header", Columns: []format.FieldSpec{
	text("record_type"), text("file_name"), ts("created_at"), text("vpd"),
	ts("previous_run_at"), ts("run_at"), text("interface_version"),
}}

// TrailerSpec is the TRL layout (2 columns).
var TrailerSpec = format.RecordSpec{Type: TypeTrailer, Entity: "trailer", Columns: []format.FieldSpec{
	text("record_type"), id("record_count"),
}}

// Spec returns the layout of a data record type (nil when unknown). The
// index in Columns is the column index in the row (0 = record type), as in
// ESR-FORMATS §2.4. The returned spec is shared: treat it as read-only.
func Spec(recordType string) *format.RecordSpec { return specs[recordType] }

// RecordTypes lists the known data record types in file order.
func RecordTypes() []string {
	return []string{
		TypeLocation, TypeOrganisation, TypePosition, TypePerson, TypeAssignment, TypePhone, TypeAddress, TypeVehicle, TypeCosting,
		TypeLocationDelete, TypeOrganisationDelete, TypePositionDelete, TypePersonDelete, TypeAssignmentDelete,
		TypePhoneDelete, TypeAddressDelete, TypeVehicleDelete, TypeCostingDelete,
	}
}

var specs = map[string]*format.RecordSpec{
	TypeLocation: {Type: TypeLocation, Entity: "location", Columns: []format.FieldSpec{
		text("record_type"), id("location_id"), text("location_code"), text("description"),
		date("inactive_date"), text("address_line_1"), text("address_line_2"), text("address_line_3"),
		text("town"), text("county"), text("postcode"), text("country"),
		text("telephone"), text("fax"), flag("payslip_delivery_point"), text("site_code"),
		text("welsh_location_translation"), text("welsh_address_line_1"), text("welsh_address_line_2"), text("welsh_address_line_3"),
		text("welsh_town"), ts("last_update"),
	}},
	TypeOrganisation: {Type: TypeOrganisation, Entity: "organisation", Columns: []format.FieldSpec{
		text("record_type"), id("organisation_id"), text("name"), text("organisation_type"),
		date("effective_from"), date("effective_to"), id("hierarchy_version_id"), date("hierarchy_version_from"),
		date("hierarchy_version_to"), text("default_cost_centre"), id("parent_organisation_id"), text("nacs_code"),
		id("location_id"), ts("last_update"), text("cost_centre_description"),
	}},
	TypePosition: {Type: TypePosition, Entity: "position", Columns: []format.FieldSpec{
		text("record_type"), id("position_id"), date("effective_from"), date("effective_to"),
		text("position_number"), positionName("position_name"), dec("budgeted_fte"), text("subjective_code"),
		text("staff_group"), text("job_role"), text("occupation_code"), text("payscale"),
		comp("grade_step", format.GradeStepParts, format.GradeStepParts), text("isa_regulated_post"), id("organisation_id"), text("hiring_status"),
		text("position_type"), flag("eligible_for_oh"), flag("epp_flag"), text("deanery_post_number"),
		text("managing_deanery_body"), text("workplace_org_code"), ts("last_update"), text("subjective_description"),
	}},
	TypePerson: {Type: TypePerson, Entity: "person", Columns: []format.FieldSpec{
		text("record_type"), id("person_id"), date("effective_start"), date("effective_end"),
		text("employee_number"), pii(text("title")), pii(text("last_name")), pii(text("first_name")),
		pii(text("middle_names")), pii(text("maiden_name")), pii(text("preferred_name")), pii(text("previous_last_name")),
		pii(text("gender")), pii(date("date_of_birth")), pii(text("ni_number")), text("nhs_unique_id"),
		date("hire_date"), date("termination_date"), text("leaving_reason"), text("employee_status_flag"),
		text("wtr_opt_out"), date("wtr_opt_out_date"), special(text("ethnic_origin")), special(text("marital_status")),
		special(text("country_of_birth")), text("previous_employer"), text("previous_employer_type"), date("csd_3_months"),
		date("csd_12_months"), text("nhs_crs_uuid"), spare("spare_30"), spare("spare_31"),
		spare("spare_32"), text("system_person_type"), text("user_person_type"), pii(text("office_email")),
		date("nhs_start_date"), spare("spare_37"), ts("last_update"), special(flag("disability_flag")),
		text("legacy_payroll_number"), pii(text("nationality")), spare("spare_42"), spare("spare_43"),
	}},
	TypeAssignment: {Type: TypeAssignment, Entity: "assignment", Columns: []format.FieldSpec{
		text("record_type"), id("person_id"), id("assignment_id"), date("effective_start"),
		date("effective_end"), date("earliest_assignment_start"), text("assignment_type"), text("assignment_number"),
		text("system_assignment_status"), text("user_assignment_status"), text("employee_status_flag"), text("payroll_name"),
		text("payroll_period_type"), id("location_id"), flag("supervisor_flag"), id("supervisor_person_id"),
		id("supervisor_assignment_id"), text("supervisor_assignment_number"), id("department_manager_id"), text("employee_category"),
		text("assignment_category"), flag("primary_assignment"), dec("normal_hours"), text("frequency"),
		dec("grade_contract_hours"), dec("fte"), text("flexible_working_pattern"), id("organisation_id"),
		id("position_id"), positionName("position_name"), comp("grade", format.GradeParts, format.GradeParts), comp("grade_step", format.GradeStepParts, format.GradeStepParts),
		date("grade_start_date"), dec("annual_salary"), comp("job_name", format.JobNameParts, format.JobNameParts), comp("people_group", format.PeopleGroupMinParts, format.PeopleGroupMaxParts),
		text("ta_flag"), flag("night_worker_opt_out"), date("projected_hire_date"), text("vacancy_id"),
		date("contract_end_date"), date("increment_date"), text("max_part_time_flag"), text("afc_flag"),
		ts("last_update"), date("last_working_day"), text("eksf_spinal_point"), flag("manager_flag"),
		date("assignment_end_date"), spare("spare_49"),
	}},
	TypePhone: {Type: TypePhone, Entity: "phone", Columns: []format.FieldSpec{
		text("record_type"), id("person_id"), id("phone_id"), text("phone_type"),
		pii(text("phone_number")), date("effective_start"), date("effective_end"), ts("last_update"),
	}},
	TypeAddress: {Type: TypeAddress, Entity: "address", Columns: []format.FieldSpec{
		text("record_type"), id("person_id"), id("address_id"), text("address_type"),
		text("address_style"), flag("primary_flag"), pii(text("address_line_1")), pii(text("address_line_2")),
		pii(text("address_line_3")), pii(text("town")), pii(text("county")), pii(text("postcode")),
		text("country"), date("effective_start"), date("effective_end"), ts("last_update"),
	}},
	TypeVehicle: {Type: TypeVehicle, Entity: "vehicle", Columns: []format.FieldSpec{
		text("record_type"), id("person_id"), id("assignment_id"), id("vehicle_allocation_id"),
		date("effective_start"), date("effective_end"), pii(text("registration")), pii(text("make")),
		pii(text("model")), pii(text("ownership")), pii(date("initial_registration_date")), ts("last_update"),
		pii(text("engine_cc")), text("user_rates_table"), pii(text("fuel_type")),
	}},
	TypeCosting: {Type: TypeCosting, Entity: "costing", Columns: []format.FieldSpec{
		text("record_type"), id("person_id"), id("assignment_id"), id("costing_allocation_id"),
		date("effective_start"), date("effective_end"), text("entity_code"), text("charitable_indicator"),
		text("cost_centre"), text("subjective"), text("analysis_1"), text("analysis_2"),
		text("element_number"), spare("spare_13"), dec("percentage_split"), ts("last_update"),
	}},
	TypeLocationDelete:     deleteSpec(TypeLocationDelete, "location"),
	TypeOrganisationDelete: deleteSpec(TypeOrganisationDelete, "organisation"),
	TypePositionDelete:     deleteSpec(TypePositionDelete, "position"),
	TypePersonDelete:       deleteSpec(TypePersonDelete, "person"),
	TypeAssignmentDelete:   deleteSpec(TypeAssignmentDelete, "assignment"),
	TypePhoneDelete:        deleteSpec(TypePhoneDelete, "phone"),
	TypeAddressDelete:      deleteSpec(TypeAddressDelete, "address"),
	TypeVehicleDelete:      deleteSpec(TypeVehicleDelete, "vehicle"),
	TypeCostingDelete:      deleteSpec(TypeCostingDelete, "costing"),
}

func deleteSpec(t, entity string) *format.RecordSpec {
	return &format.RecordSpec{Type: t, Entity: entity, Delete: true, Columns: []format.FieldSpec{
		text("record_type"), id("id"),
	}}
}
