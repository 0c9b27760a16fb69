package rules

// Code sets the field rules check against. They are data, kept apart from
// the checks so a change to a national list is a change to one table.

// leavingReasons are the national reasons for leaving (ESR-FORMATS §5.9,
// as NHS Workforce Statistics publishes them), with the "End of Fixed Term
// Contract - …", "Mutually Agreed Resignation - …", "Voluntary Early
// Retirement - …" and "Voluntary Resignation - …" variants spelled out.
// ESR-V025 compares after folding case and runs of blanks, the two ways a
// trust's list-of-values text drifts.
var leavingReasons = []string{
	"Bank Staff not fulfilled minimum work requirement",
	"Death in Service",
	"Dismissal - Capability",
	"Dismissal - Conduct",
	"Dismissal - Some Other Substantial Reason",
	"Dismissal - Statutory Reason",
	"Employee Transfer",
	"End of Fixed Term Contract",
	"End of Fixed Term Contract - Completion of Training Scheme",
	"End of Fixed Term Contract - End of Work Requirement",
	"End of Fixed Term Contract - External Rotation",
	"End of Fixed Term Contract - Other",
	"Flexi Retirement",
	"Initial Pension Ended",
	"Merged Organisation - Duplicate Record",
	"Mutually Agreed Resignation - Local Scheme with Repayment",
	"Mutually Agreed Resignation - Local Scheme without Repayment",
	"Mutually Agreed Resignation - National Scheme with Repayment",
	"Not Set in Legacy at Migration",
	"Pregnancy",
	"Redundancy - Compulsory",
	"Redundancy - Voluntary",
	"Retirement - Ill Health",
	"Retirement Age",
	"Voluntary Early Retirement - no Actuarial Reduction",
	"Voluntary Early Retirement - with Actuarial Reduction",
	"Voluntary Resignation - Adult Dependants",
	"Voluntary Resignation - Child Dependants",
	"Voluntary Resignation - Health",
	"Voluntary Resignation - Incompatible Working Relationships",
	"Voluntary Resignation - Lack of Opportunities",
	"Voluntary Resignation - Other/Not Known",
	"Voluntary Resignation - Pay and Reward Related",
	"Voluntary Resignation - Promotion",
	"Voluntary Resignation - Relocation",
	"Voluntary Resignation - To undertake further education or training",
	"Voluntary Resignation - Work Life Balance",
	"Unknown",
	"Has Not Worked",
}

// LeavingReasons returns the national reasons for leaving ESR-V025 accepts
// (a copy).
func LeavingReasons() []string { return append([]string(nil), leavingReasons...) }

// systemPersonTypes are ESR's system person types (ESR-V027).
var systemPersonTypes = []string{"EMP", "EX_EMP", "APL", "EMP_APL", "EX_EMP_APL", "OTHER", "CWK"}

// genders are the gender codes a GO v2 person row may carry once the
// mapper has folded Female/Male to F/M (ESR-V022): I is indeterminate, U
// not known.
var genders = []string{"F", "M", "U", "I"}

// niUnallocated are the NI prefixes HMRC never allocates (NIM39110).
var niUnallocated = []string{"BG", "GB", "KN", "NK", "NT", "TN", "ZZ"}

// niTemporary are the prefixes of temporary reference and administrative
// numbers, which are not NI numbers (ESR-V013).
var niTemporary = []string{"TN", "OO", "CR", "FY", "MW", "NC", "PP", "PY", "PZ"}
