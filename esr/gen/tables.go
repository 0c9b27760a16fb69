package gen

// Read-only reference tables. Everything here is invented or taken from the
// public code sets in ESR-FORMATS.md (staff groups, statuses, leaving
// reasons); no row of a real trust file was used.

var femaleFirst = []string{
	"Adaeze", "Amelia", "Aisha", "Bethan", "Chloe", "Chiamaka", "Deborah", "Eleanor", "Fatima", "Grace",
	"Hannah", "Imogen", "Jasmine", "Joanne", "Karen", "Laura", "Leah", "Lucy", "Mairead", "Megan",
	"Niamh", "Olivia", "Priya", "Rachel", "Rhiannon", "Sarah", "Siobhan", "Sophie", "Tamsin", "Zainab",
}

var maleFirst = []string{
	"Aaron", "Adam", "Ahmed", "Ben", "Callum", "Daniel", "David", "Dylan", "Emeka", "Gareth",
	"Harry", "Ibrahim", "Jack", "James", "Joseph", "Kwame", "Liam", "Mark", "Mohammed", "Nathan",
	"Oliver", "Owen", "Patrick", "Rajesh", "Rhys", "Samuel", "Thomas", "Tomasz", "William", "Yusuf",
}

var surnames = []string{
	"Ahmed", "Baker", "Bennett", "Brown", "Campbell", "Chen", "Clarke", "Davies", "Edwards", "Evans",
	"Green", "Hall", "Hughes", "Hussain", "Jones", "Kaur", "Khan", "Lewis", "Mensah", "Morgan",
	"Murphy", "Nowak", "Okafor", "Owusu", "Patel", "Phillips", "Roberts", "Robinson", "Shah", "Singh",
	"Smith", "Taylor", "Thomas", "Thompson", "Walker", "Ward", "Watson", "White", "Williams", "Wright",
}

var nationalities = []string{"British", "British", "British", "British", "Irish", "Indian", "Filipino", "Nigerian", "Polish", "Ghanaian"}

// Towns, streets and the county are fictional; postcodes use the unallocated
// "NT" area, phone numbers the Ofcom drama ranges (07700 900xxx, 01632 960xxx).
var towns = []string{"Northtown", "Eastby", "Westford", "Southmere", "Kingsvale", "Millbrook", "Ashcombe", "Fernley"}

var streets = []string{
	"Orchard Row", "Mill Court", "Hospital Lane", "Station Road", "Church Street", "Meadow Way",
	"Riverside Walk", "Park Avenue", "Beech Grove", "Victoria Terrace", "Chapel Close", "Kings Road",
}

const county = "Northshire"

// grade is one pay band: the three parts of the ESR grade composite
// (owner|code|description) plus a salary for ASA column 33.
type grade struct {
	code, desc string
	salary     int
}

var grades = []grade{
	{"XR02", "Review Body Band 2", 23615},
	{"XR03", "Review Body Band 3", 24071},
	{"XR04", "Review Body Band 4", 26530},
	{"XR05", "Review Body Band 5", 29970},
	{"XR06", "Review Body Band 6", 37338},
	{"XR07", "Review Body Band 7", 46148},
	{"XR08", "Review Body Band 8 - Range A", 53755},
	{"XR09", "Review Body Band 8 - Range B", 62215},
	{"YM72", "Consultant", 99532},
	{"YS72", "Specialty Registrar", 52656},
}

const (
	gradeBand2 = iota
	gradeBand3
	gradeBand4
	gradeBand5
	gradeBand6
	gradeBand7
	gradeBand8a
	gradeBand8b
	gradeConsultant
	gradeRegistrar
)

// job is a national staff group + job role with the title, occupation code
// and grade a trust would typically give that post.
type job struct {
	staffGroup, role, title, occ string
	grade                        int
	subj, subjDesc               string
	bank                         bool
	medical                      bool
	weight                       int
}

var jobs = []job{
	{"Nursing and Midwifery Registered", "Staff Nurse", "Staff Nurse", "N6A", gradeBand5, "4311100", "Registered Nurses", false, false, 22},
	{"Nursing and Midwifery Registered", "Sister/Charge Nurse", "Senior Staff Nurse", "N6B", gradeBand6, "4311100", "Registered Nurses", false, false, 8},
	{"Nursing and Midwifery Registered", "Ward Manager", "Ward Manager", "N6C", gradeBand7, "4311100", "Registered Nurses", false, false, 3},
	{"Nursing and Midwifery Registered", "Midwife", "Midwife", "N7A", gradeBand6, "4312100", "Registered Midwives", false, false, 4},
	{"Nursing and Midwifery Registered", "Community Nurse", "District Nurse", "N6H", gradeBand6, "4311200", "Community Nurses", false, false, 4},
	{"Additional Clinical Services", "Healthcare Assistant", "Healthcare Assistant", "H1A", gradeBand3, "4321100", "Healthcare Assistants", false, false, 14},
	{"Allied Health Professionals", "Physiotherapist", "Physiotherapist", "S1A", gradeBand6, "4331100", "Physiotherapists", false, false, 4},
	{"Allied Health Professionals", "Radiographer - Diagnostic", "Diagnostic Radiographer", "S4A", gradeBand6, "4331400", "Radiographers", false, false, 3},
	{"Healthcare Scientists", "Healthcare Scientist", "Biomedical Scientist", "S9A", gradeBand6, "4341100", "Scientists", false, false, 2},
	{"Medical and Dental", "Consultant", "Consultant Physician", "101", gradeConsultant, "4211100", "Consultants", false, true, 4},
	{"Medical and Dental", "Consultant", "Consultant Surgeon", "021", gradeConsultant, "4211100", "Consultants", false, true, 3},
	{"Medical and Dental", "Specialty Registrar", "Specialty Registrar", "281", gradeRegistrar, "4221100", "Doctors in Training", false, true, 4},
	{"Administrative and Clerical", "Clerical Worker", "Ward Clerk", "G2A", gradeBand2, "4511100", "Admin and Clerical", false, false, 6},
	{"Administrative and Clerical", "Administrator", "Medical Secretary", "G2B", gradeBand4, "4511100", "Admin and Clerical", false, false, 5},
	{"Administrative and Clerical", "Manager", "Service Manager", "G1A", gradeBand8a, "4512100", "Managers", false, false, 2},
	{"Estates and Ancillary", "Porter", "Porter", "H7A", gradeBand2, "4611100", "Support Services", false, false, 3},
	{"Estates and Ancillary", "Domestic", "Domestic Assistant", "H7B", gradeBand2, "4611200", "Support Services", false, false, 3},
	// Bank posts: the pool a trust uses for its temporary staffing bank.
	{"Nursing and Midwifery Registered", "Staff Nurse", "Bank Staff Nurse", "N6A", gradeBand5, "4311900", "Bank Nursing", true, false, 5},
	{"Additional Clinical Services", "Healthcare Assistant", "Bank Healthcare Assistant", "H1A", gradeBand3, "4321900", "Bank Support", true, false, 4},
	{"Administrative and Clerical", "Clerical Worker", "Bank Administrator", "G2A", gradeBand3, "4511900", "Bank Admin", true, false, 2},
}

// areas are the specialties used for the position-name composite (4th part)
// and the department names.
var areas = []string{
	"Cardiology", "Respiratory Medicine", "General Surgery", "Emergency Medicine", "Paediatrics",
	"Maternity", "Oncology", "Radiology", "Pathology", "Critical Care", "Orthopaedics",
	"Community Services", "Estates", "Finance", "Human Resources", "Pharmacy",
}

var units = []string{"Outpatients", "Inpatients", "Ward A", "Ward B", "Day Unit", "Admin", "Team"}

var directorates = []string{
	"Medicine Directorate", "Surgery Directorate", "Clinical Support Directorate",
	"Women and Children Directorate", "Corporate Services",
}

var siteNames = []string{
	"Ward 7 Admin", "Riverside Wing", "Outpatients Block B", "Main Theatres", "Maternity Unit",
	"Community Hub", "Pathology Labs", "Education Centre", "Estates Yard", "Day Surgery Unit",
}

// leavingReasons is the national "Reasons for leaving" list (ESR-FORMATS
// §5.9), weighted towards the reasons that dominate real turnover.
var leavingReasons = []string{
	"Voluntary Resignation - Relocation",
	"Voluntary Resignation - Work Life Balance",
	"Voluntary Resignation - Promotion",
	"Voluntary Resignation - Other/Not Known",
	"Voluntary Resignation - Child Dependants",
	"Voluntary Resignation - To undertake further education or training",
	"Voluntary Resignation - Health",
	"Retirement Age",
	"Flexi Retirement",
	"End of Fixed Term Contract",
	"End of Fixed Term Contract - Completion of Training Scheme",
	"Dismissal - Conduct",
	"Dismissal - Capability",
	"Redundancy - Voluntary",
	reasonTransfer,
	"Retirement - Ill Health",
	"Mutually Agreed Resignation - Local Scheme without Repayment",
}

// The leaving reasons (§5.9) that mark a move to another NHS employer: the
// pipeline links such a leaver to a starter with the same NHS Unique ID in
// another trust of the region.
const (
	reasonTransfer = "Employee Transfer"
	reasonMerged   = "Merged Organisation - Duplicate Record"
)

func transferReason(r string) bool { return r == reasonTransfer || r == reasonMerged }

const bankLeavingReason = "Bank Staff not fulfilled minimum work requirement"

// suspendStatuses are user assignment statuses that ESR maps to the system
// status SUSP_ASSIGN: absent but still employed, never a leaver.
var suspendStatuses = []string{"Maternity", "Suspend With Pay", "Career Break", "Suspend No Pay"}

// niFirst / niSecond are the letters HMRC allows in a NINO prefix
// (NIM39110): not D, F, I, Q, U, V, and O not second.
const niFirst = "ABCEGHJKLMNOPRSTWXYZ"
const niSecond = "ABCEGHJKLMNPRSTWXYZ"

// niBadPrefixes are unallocated or administrative prefixes we never emit.
var niBadPrefixes = []string{"BG", "GB", "KN", "NK", "NT", "TN", "ZZ", "CR", "FY", "MW", "NC", "PP", "PY", "PZ", "OO"}
