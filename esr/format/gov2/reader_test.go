package gov2_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/esrflow/esrflow/esr/format"
	"github.com/esrflow/esrflow/esr/format/gov2"
)

func day(y int, m time.Month, d int) time.Time { return time.Date(y, m, d, 0, 0, 0, 0, time.UTC) }

func TestFixtures(t *testing.T) {
	tests := []struct {
		file    string
		byType  map[string]int
		records int
	}{
		{"GO_412_EXP_GOC_20240311_00000347.DAT", map[string]int{"LCA": 1, "ORA": 1, "POA": 1, "PRA": 1, "ASA": 1, "PHA": 1, "ADA": 1, "ASD": 1}, 10},
		{"GO_412_EXP_GOC_20240402_00000369.DAT", map[string]int{"PRA": 1, "ASA": 1}, 4},
		{"GO_412_EXP_GOC_20240403_00000370.DAT", map[string]int{"POA": 1, "PHD": 1}, 4},
		{"GO_412_EXP_GOF_20240312_00000348.DAT", map[string]int{"COA": 1, "LCD": 1, "ORD": 1, "POD": 1, "PRD": 1, "PHD": 1, "ADD": 1, "COD": 1}, 12},
	}
	for _, tc := range tests {
		t.Run(tc.file, func(t *testing.T) {
			b, err := os.ReadFile(filepath.Join("testdata", tc.file))
			require.NoError(t, err)
			o := gov2.Options{Now: func() time.Time { return time.Date(2024, 4, 3, 12, 0, 0, 0, time.UTC) }, ExpectedVPDs: []string{"412"}}
			r, rows, err := readAll(t, "/drop/412/"+tc.file, string(b), o)
			require.NoError(t, err)
			for _, row := range rows {
				require.Empty(t, row.Problems, "line %d", row.Line)
				_, err := gov2.Decode(row)
				require.NoError(t, err, "line %d", row.Line)
			}
			s := r.Summary()
			require.Equal(t, tc.byType, s.RowsByType)
			require.Equal(t, tc.records, s.Records)
			require.Equal(t, tc.records, s.TrailerCount)
			require.Equal(t, format.EncodingUTF8, s.Encoding)
			require.Equal(t, tc.file, s.File)
			require.Zero(t, s.RowsWithProblems)
		})
	}
}

func TestHeader(t *testing.T) {
	r, err := gov2.NewReader(testName, strings.NewReader(wrap()), opts())
	require.NoError(t, err)
	h := r.Header()
	require.Equal(t, 1, h.Line)
	require.Equal(t, testName, h.FileName)
	require.Equal(t, "412", h.VPD)
	require.Equal(t, "01", h.InterfaceVersion)
	require.Equal(t, time.Date(2024, 3, 11, 2, 15, 44, 0, format.London()), h.CreatedAt)
	require.Equal(t, time.Date(2024, 3, 10, 0, 0, 0, 0, format.London()), h.PreviousRunAt)
	require.Equal(t, time.Date(2024, 3, 11, 0, 0, 0, 0, format.London()), h.RunAt)
	require.Equal(t, format.FileName{Name: testName, VPD: "412", SubFile: "EXP", Kind: format.ExtractChange, KindCode: "C",
		Date: day(2024, 3, 11), Sequence: 347, Dialect: format.DialectGOv2}, h.Name)
	_, err = r.Next()
	require.ErrorIs(t, err, io.EOF)
	_, err = r.Next()
	require.ErrorIs(t, err, io.EOF, "EOF is sticky")
}

func TestDecodeAllTypes(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("testdata", testName))
	require.NoError(t, err)
	o := opts()
	o.KeepSpecialCategory = true
	_, rows, err := readAll(t, testName, string(b), o)
	require.NoError(t, err)
	got := map[string]gov2.Record{}
	for _, row := range rows {
		rec, err := gov2.Decode(row)
		require.NoError(t, err)
		got[rec.RecordType()] = rec
	}
	lon := format.London()
	require.Equal(t, gov2.LocationRow{Line: 2, LocationID: 905512, Code: "412 z 0231 Ward 7 Admin", Description: "Ward 7 Admin",
		AddressLine1: "Riverside Wing", AddressLine2: "Hospital Lane", Town: "Northtown", County: "Northshire", Postcode: "NT4 2QX",
		Country: "United Kingdom", Telephone: "01632 960111", PayslipDeliveryPoint: true, SiteCode: "RXX01",
		LastUpdate: time.Date(2024, 3, 8, 17, 31, 2, 0, lon)}, got["LCA"])
	require.Equal(t, gov2.OrganisationRow{Line: 3, OrganisationID: 7730112, Name: "412 Cardiology Outpatients", Type: "NHS_DE",
		EffectiveFrom: day(2015, 4, 1), HierarchyVersionID: 60021, HierarchyVersionFrom: day(2015, 4, 1), DefaultCostCentre: "412C3310",
		ParentOrganisationID: 7730001, NACSCode: "RXX", LocationID: 905512, LastUpdate: time.Date(2024, 3, 8, 17, 31, 2, 0, lon),
		CostCentreDescription: "Cardiology OP"}, got["ORA"])
	require.Equal(t, gov2.PositionRow{Line: 4, PositionID: 8812045, EffectiveFrom: day(2019, 4, 1), PositionNumber: "5102277",
		Name:        format.PositionName{Number: "5102277", Title: "Staff Nurse", OccupationCode: "N6A", Area: "Cardiology"},
		BudgetedFTE: 1, SubjectiveCode: "4311100", StaffGroup: "Nursing and Midwifery Registered", JobRole: "Staff Nurse",
		OccupationCode: "N6A", Payscale: "XR05", GradeStep: format.GradeStep{Code: "XR05", Step: "3"}, ISARegulatedPost: "Not Applicable",
		OrganisationID: 7730112, HiringStatus: "Active", PositionType: "NONE", EligibleForOH: true, EPP: false, WorkplaceOrgCode: "RXX",
		LastUpdate: time.Date(2024, 3, 8, 17, 31, 2, 0, lon), SubjectiveDescription: "Registered Nurses"}, got["POA"])

	p := got["PRA"].(gov2.PersonRow)
	require.Equal(t, int64(20990417), p.PersonID)
	require.Equal(t, day(2024, 3, 11), p.EffectiveStart)
	require.True(t, p.EffectiveEnd.IsZero())
	require.Equal(t, "31004581", p.EmployeeNumber)
	require.Equal(t, "Okafor", p.LastName)
	require.Equal(t, day(1988, 2, 14), p.DateOfBirth)
	require.Equal(t, "700011223344", p.NHSCRSUUID)
	require.Equal(t, "EMP", p.SystemPersonType)
	require.Equal(t, day(2016, 9, 5), p.NHSStartDate)
	require.Equal(t, time.Date(2024, 3, 9, 10, 14, 55, 0, lon), p.LastUpdate)
	require.Equal(t, "N", p.DisabilityFlag)
	require.Equal(t, "British", p.Nationality)

	a := got["ASA"].(gov2.AssignmentRow)
	require.Equal(t, int64(41877120), a.AssignmentID)
	require.Equal(t, "31004581", a.AssignmentNumber)
	require.Equal(t, "ACTIVE_ASSIGN", a.SystemStatus)
	require.False(t, a.Supervisor)
	require.Equal(t, int64(20110032), a.SupervisorPersonID)
	require.True(t, a.Primary)
	require.Equal(t, 37.5, a.NormalHours)
	require.Equal(t, 1.0, a.FTE)
	require.Equal(t, format.PositionName{Number: "5102277", Title: "Staff Nurse", OccupationCode: "N6A", Area: "Cardiology"}, a.PositionName)
	require.Equal(t, format.Grade{Owner: "NHS", Code: "XR05", Description: "Review Body Band 5"}, a.Grade)
	require.Equal(t, format.GradeStep{Code: "XR05", Step: "3"}, a.GradeStep)
	require.Equal(t, format.JobName{StaffGroup: "Nursing and Midwifery Registered", JobRole: "Staff Nurse"}, a.JobName)
	require.Equal(t, "412 z 0231 Ward 7", a.PeopleGroup.Name())
	require.Len(t, a.PeopleGroup.Segments, 4)
	require.Equal(t, 29970.0, a.AnnualSalary)
	require.Equal(t, day(2025, 3, 11), a.IncrementDate)
	require.False(t, a.NightWorkerOptOut)
	require.False(t, a.Manager)

	require.Equal(t, gov2.PhoneRow{Line: 7, PersonID: 20990417, PhoneID: 50112093, PhoneType: "M", Number: "07700 900417",
		EffectiveStart: day(2024, 3, 11), LastUpdate: time.Date(2024, 3, 9, 10, 14, 55, 0, lon)}, got["PHA"])
	require.Equal(t, gov2.AddressRow{Line: 8, PersonID: 20990417, AddressID: 60221877, Style: "GB", Primary: true,
		Line1: "14 Orchard Row", Town: "Northtown", County: "Northshire", Postcode: "NT7 1AB", Country: "GB",
		EffectiveStart: day(2024, 3, 11), LastUpdate: time.Date(2024, 3, 9, 10, 14, 55, 0, lon)}, got["ADA"])
	require.Equal(t, gov2.DeleteRow{Line: 9, Type: "ASD", Entity: "assignment", ID: 41000876}, got["ASD"])
}

func TestDecodeLeaverCostingVehicle(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("testdata", "GO_412_EXP_GOC_20240402_00000369.DAT"))
	require.NoError(t, err)
	o := gov2.Options{Now: func() time.Time { return time.Date(2024, 4, 2, 9, 0, 0, 0, time.UTC) }}
	_, rows, err := readAll(t, "GO_412_EXP_GOC_20240402_00000369.DAT", string(b), o)
	require.NoError(t, err)
	rec, err := gov2.Decode(rows[0])
	require.NoError(t, err)
	p := rec.(gov2.PersonRow)
	require.Equal(t, day(2024, 3, 29), p.TerminationDate)
	require.Equal(t, "Voluntary Resignation - Relocation", p.LeavingReason)
	require.Equal(t, "EX_EMP", p.SystemPersonType)
	rec, err = gov2.Decode(rows[1])
	require.NoError(t, err)
	a := rec.(gov2.AssignmentRow)
	require.Equal(t, "TERM_ASSIGN", a.SystemStatus)
	require.Equal(t, day(2024, 3, 29), a.LastWorkingDay)
	require.Equal(t, day(2024, 3, 29), a.AssignmentEndDate)
	require.True(t, a.Manager)
	require.True(t, a.Supervisor)

	b, err = os.ReadFile(filepath.Join("testdata", "GO_412_EXP_GOF_20240312_00000348.DAT"))
	require.NoError(t, err)
	o = gov2.Options{Now: fixedNow, KeepVehicles: true}
	r, rows, err := readAll(t, "GO_412_EXP_GOF_20240312_00000348.DAT", string(b), o)
	require.NoError(t, err)
	require.Equal(t, 0, r.Summary().VehicleRowsDropped)
	recs := map[string]gov2.Record{}
	for _, row := range rows {
		rec, err := gov2.Decode(row)
		require.NoError(t, err)
		recs[row.Type] = rec
	}
	require.Equal(t, gov2.CostingRow{Line: 2, PersonID: 20990417, AssignmentID: 41877120, CostingAllocationID: 77001234,
		EffectiveStart: day(2024, 3, 11), EntityCode: "412", CharitableIndicator: "N", CostCentre: "412C3310", Subjective: "4311100",
		ElementNumber: "1", PercentageSplit: 25.75, LastUpdate: time.Date(2024, 3, 9, 10, 14, 55, 0, format.London())}, recs["COA"])
	v := recs["VHA"].(gov2.VehicleRow)
	require.Equal(t, int64(66001), v.AllocationID)
	require.Equal(t, day(2020, 1, 1), v.InitialRegistrationDate)
	require.Equal(t, gov2.DeleteRow{Line: 10, Type: "VHD", Entity: "vehicle", ID: 66002}, recs["VHD"])
	require.Equal(t, gov2.DeleteRow{Line: 9, Type: "ADD", Entity: "address", ID: 60221999}, recs["ADD"])
}

func TestFileLevelFailures(t *testing.T) {
	lateNow := func() time.Time { return time.Date(2024, 6, 1, 0, 0, 0, 0, time.UTC) }
	earlyNow := func() time.Time { return time.Date(2024, 3, 9, 0, 0, 0, 0, time.UTC) }
	hdr := testHeader(testName)
	tests := []struct {
		name    string
		file    string
		content string
		opts    gov2.Options
		want    want
	}{
		{"bad file name", "GO_412_EXP_GOX_20240311_00000347.DAT", wrap(), opts(), want{Rule: "file-name"}},
		{"bad file name date", "GO_412_EXP_GOC_20241311_00000347.DAT", wrap(), opts(), want{Rule: "file-name"}},
		{"v1 name", "GO_412_ASG_20240310_Full_00000052.DAT", wrap(), opts(), want{Rule: "file-name"}},
		{"empty file", testName, "", opts(), want{Rule: "missing-header"}},
		{"missing header", testName, rowPHA + "\nTRL~2\n", opts(), want{Line: 1, Rule: "missing-header"}},
		{"blank first line", testName, "\n" + wrap(), opts(), want{Line: 1, Rule: "missing-header"}},
		{"bad delimiter", testName, strings.ReplaceAll(wrap(), "~", ","), opts(), want{Line: 1, RecordType: "HDR", Rule: "delimiter"}},
		{"header short", testName, "HDR~" + testName + "~20240311 021544~412\nTRL~2\n", opts(), want{Line: 1, RecordType: "HDR", Rule: "header-format"}},
		{"header extra column", testName, hdr + "~x\nTRL~2\n", opts(), want{Line: 1, RecordType: "HDR", Column: 7, Rule: "header-format"}},
		{"header bad timestamp", testName, strings.Replace(wrap(), "20240311 021544", "20240311 251544", 1), opts(),
			want{Line: 1, RecordType: "HDR", Column: 2, Field: "created_at", Rule: "header-format"}},
		{"header file name differs", "GO_412_EXP_GOC_20240311_00000348.DAT", wrap(), opts(),
			want{Line: 1, RecordType: "HDR", Column: 1, Field: "file_name", Rule: "header-file-name"}},
		{"vpd mismatch name vs header", "GO_413_EXP_GOC_20240311_00000347.DAT", wrap(), gov2.Options{Now: fixedNow, RelaxHeaderFileName: true},
			want{Line: 1, RecordType: "HDR", Column: 3, Field: "vpd", Rule: "vpd-mismatch"}},
		{"unexpected vpd", testName, wrap(), gov2.Options{Now: fixedNow, ExpectedVPDs: []string{"413", "0234"}},
			want{Line: 1, RecordType: "HDR", Column: 3, Field: "vpd", Rule: "unexpected-vpd"}},
		{"bad interface version", testName, strings.Replace(wrap(), "000000~01\n", "000000~03\n", 1), opts(),
			want{Line: 1, RecordType: "HDR", Column: 6, Field: "interface_version", Rule: "interface-version"}},
		{"interface version not in option set", testName, wrap(), gov2.Options{Now: fixedNow, InterfaceVersions: []string{"02"}},
			want{Line: 1, RecordType: "HDR", Column: 6, Field: "interface_version", Rule: "interface-version"}},
		{"run date in the future", testName, wrap(), gov2.Options{Now: earlyNow},
			want{Line: 1, RecordType: "HDR", Column: 5, Field: "run_at", Rule: "run-date-future"}},
		{"run date too old", testName, wrap(), gov2.Options{Now: lateNow, MaxRunAge: 30 * 24 * time.Hour},
			want{Line: 1, RecordType: "HDR", Column: 5, Field: "run_at", Rule: "run-date-stale"}},
		{"previous run after run", testName, strings.Replace(wrap(), "20240310 000000", "20240312 000000", 1), opts(),
			want{Line: 1, RecordType: "HDR", Column: 5, Field: "run_at", Rule: "run-date-order"}},
		{"run date not the name's date", testName, strings.Replace(wrap(), "~20240311 000000~01", "~20240312 000000~01", 1), opts(),
			want{Line: 1, RecordType: "HDR", Column: 5, Field: "run_at", Rule: "run-date-name"}},
		{"run date a day before the name's", testName, strings.Replace(wrap(), "20240310 000000~20240311 000000", "20240309 000000~20240310 235959", 1), opts(),
			want{Line: 1, RecordType: "HDR", Column: 5, Field: "run_at", Rule: "run-date-name"}},
		{"duplicate header", testName, hdr + "\n" + rowPHA + "\n" + hdr + "\nTRL~4\n", opts(), want{Line: 3, RecordType: "HDR", Rule: "duplicate-header"}},
		{"missing trailer", testName, hdr + "\n" + rowPHA + "\n", opts(), want{Line: 2, Rule: "missing-trailer"}},
		{"truncated mid-file", testName, hdr + "\n" + rowPHA + "\n" + rowPHA[:20], opts(), want{Line: 3, Rule: "missing-trailer"}},
		{"line after trailer", testName, hdr + "\n" + rowPHA + "\nTRL~3\n" + rowPHA + "\n", opts(), want{Line: 4, Rule: "after-trailer"}},
		{"second trailer", testName, hdr + "\nTRL~2\nTRL~3\n", opts(), want{Line: 3, Rule: "after-trailer"}},
		{"wrong trailer count", testName, hdr + "\n" + rowPHA + "\n" + rowPHA + "\nTRL~3\n", opts(), want{Line: 4, RecordType: "TRL", Column: 1, Field: "record_count", Rule: "trailer-count"}},
		{"trailer count not numeric", testName, hdr + "\nTRL~two\n", opts(), want{Line: 2, RecordType: "TRL", Column: 1, Field: "record_count", Rule: "trailer-count"}},
		{"trailer without count", testName, hdr + "\nTRL\n", opts(), want{Line: 2, RecordType: "TRL", Column: 1, Field: "record_count", Rule: "trailer-count"}},
		{"strict utf-8", testName, wrap(strings.Replace(rowLCA, "Ward 7 Admin~~", "Ward 7 Admin \xa3~~", 1)), gov2.Options{Now: fixedNow, Encoding: format.EncodingUTF8},
			want{Line: 2, Rule: "encoding"}},
		{"mixed encodings", testName, wrap(strings.Replace(rowLCA, "Northtown", "Caerdydd ŵ", 1), strings.Replace(rowLCA, "Northtown", "Caerdydd \xe2", 1)), opts(),
			want{Line: 3, Rule: "encoding"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, rows, err := readAll(t, tc.file, tc.content, tc.opts)
			e := requireFileError(t, err, tc.want)
			require.Equal(t, filepath.Base(tc.file), e.File)
			require.NotEmpty(t, e.Msg)
			_ = rows
		})
	}
}

func TestRelaxHeaderFileName(t *testing.T) {
	_, _, err := readAll(t, "GO_412_EXP_GOC_20240311_00000999.DAT", wrap(), gov2.Options{Now: fixedNow, RelaxHeaderFileName: true})
	require.NoError(t, err)
}

func TestRowProblems(t *testing.T) {
	long := "PHA~" + strings.Repeat("9", 200)
	tests := []struct {
		name string
		row  string
		want want
		msg  string // exact Error() when set
	}{
		{"unknown record type", "XYZ~1~2", want{Line: 2, RecordType: "XYZ", Rule: "record-type"}, testName + `:2: XYZ: record-type: "XYZ" is not a known GO v2 record type`},
		{"free text line", "Flat 2, Northtown~x", want{Line: 2, Rule: "record-type"}, testName + ":2: record-type: line does not start with a known GO v2 record type (value not shown)"},
		{"too few columns", "PHA~20990417~50112093~M", want{Line: 2, RecordType: "PHA", Rule: "column-count"}, testName + ":2: PHA: column-count: has 4 columns, want 8"},
		{"extra non-empty column", rowPHA + "~~x", want{Line: 2, RecordType: "PHA", Column: 9, Rule: "column-count"}, ""},
		{"delete id not numeric", "ASD~41O00876", want{Line: 2, RecordType: "ASD", Column: 1, Field: "id", Rule: "delete-id"}, testName + `:2: ASD column 1 (id): delete-id: "41O00876" is not a numeric id`},
		{"delete id empty", "PRD~", want{Line: 2, RecordType: "PRD", Column: 1, Field: "id", Rule: "delete-id"}, ""},
		{"delete without id", "COD", want{Line: 2, RecordType: "COD", Rule: "column-count"}, ""},
		{"bad date", setCol(rowASA, 3, "2024131"), want{Line: 2, RecordType: "ASA", Column: 3, Field: "effective_start", Rule: "date"},
			testName + `:2: ASA column 3 (effective_start): date: "2024131" is not a YYYYMMDD date`},
		{"impossible date", setCol(rowASA, 40, "20230229"), want{Line: 2, RecordType: "ASA", Column: 40, Field: "contract_end_date", Rule: "date"}, ""},
		{"bad date of birth is not quoted", setCol(rowPRA, 13, "19881314"), want{Line: 2, RecordType: "PRA", Column: 13, Field: "date_of_birth", Rule: "date"},
			testName + ":2: PRA column 13 (date_of_birth): date: value not a YYYYMMDD date (value not shown: personal data)"},
		{"bad timestamp", setCol(rowPHA, 7, "20240309 1014"), want{Line: 2, RecordType: "PHA", Column: 7, Field: "last_update", Rule: "timestamp"}, ""},
		{"bad id", setCol(rowASA, 13, "90551x"), want{Line: 2, RecordType: "ASA", Column: 13, Field: "location_id", Rule: "integer"}, ""},
		{"bad decimal", setCol(rowASA, 25, "1,0"), want{Line: 2, RecordType: "ASA", Column: 25, Field: "fte", Rule: "decimal"}, ""},
		{"bad flag", setCol(rowASA, 21, "Maybe"), want{Line: 2, RecordType: "ASA", Column: 21, Field: "primary_assignment", Rule: "flag"}, ""},
		{"grade arity", setCol(rowASA, 30, "NHS|XR05"), want{Line: 2, RecordType: "ASA", Column: 30, Field: "grade", Rule: "composite"},
			testName + ":2: ASA column 30 (grade): composite: has 2 |-separated parts, want 3"},
		{"position name arity", setCol(rowASA, 29, "5102277|Staff Nurse"), want{Line: 2, RecordType: "ASA", Column: 29, Field: "position_name", Rule: "composite"}, ""},
		{"job name arity", setCol(rowASA, 34, "Nursing|Staff Nurse|x"), want{Line: 2, RecordType: "ASA", Column: 34, Field: "job_name", Rule: "composite"}, ""},
		{"grade step arity", setCol(rowASA, 31, "XR05"), want{Line: 2, RecordType: "ASA", Column: 31, Field: "grade_step", Rule: "composite"}, ""},
		{"people group arity", setCol(rowASA, 35, "a|b|c|d|e"), want{Line: 2, RecordType: "ASA", Column: 35, Field: "people_group", Rule: "composite"}, ""},
		{"line too long", long, want{Line: 2, Rule: "line-too-long"}, testName + ":2: line-too-long: line is longer than 128 bytes"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			o := opts()
			if tc.want.Rule == "line-too-long" {
				o.MaxLineBytes = 128
			} else {
				o.MaxLineBytes = 4096
			}
			r, rows, err := readAll(t, testName, wrap(tc.row, rowPHA), o)
			require.NoError(t, err, "row problems must not reject the file")
			require.Len(t, rows, 2)
			require.Len(t, rows[0].Problems, 1, "%v", rows[0].Problems)
			requireProblem(t, rows[0].Problems[0], testName, tc.want)
			if tc.msg != "" {
				require.Equal(t, tc.msg, rows[0].Problems[0].Error())
			}
			require.Empty(t, rows[1].Problems, "reading continues after a bad row")
			require.Equal(t, 1, r.Summary().RowsWithProblems)
			if rows[0].Type != "" {
				if _, err := gov2.Decode(rows[0]); err == nil && tc.want.Rule != "column-count" {
					t.Fatalf("Decode accepted a row with a %s problem", tc.want.Rule)
				}
			}
		})
	}
}

func TestExtraEmptyColumnsAccepted(t *testing.T) {
	_, rows, err := readAll(t, testName, wrap(rowPHA+"~~~"), opts())
	require.NoError(t, err)
	require.Empty(t, rows[0].Problems)
	rec, err := gov2.Decode(rows[0])
	require.NoError(t, err)
	require.Equal(t, "07700 900417", rec.(gov2.PhoneRow).Number)
}

func TestOpenEndedDate(t *testing.T) {
	_, rows, err := readAll(t, testName, wrap(setCol(rowPHA, 6, "47121231")), opts())
	require.NoError(t, err)
	rec, err := gov2.Decode(rows[0])
	require.NoError(t, err)
	require.True(t, rec.(gov2.PhoneRow).EffectiveEnd.IsZero())
}

func TestCRLFAndBOM(t *testing.T) {
	content := "\xef\xbb\xbf" + strings.ReplaceAll(wrap(rowPHA, "", rowLCA), "\n", "\r\n")
	r, rows, err := readAll(t, testName, content, opts())
	require.NoError(t, err)
	require.Len(t, rows, 2)
	require.Equal(t, 2, rows[0].Line)
	require.Equal(t, 4, rows[1].Line, "blank lines keep physical numbering")
	rec, err := gov2.Decode(rows[1])
	require.NoError(t, err)
	require.Equal(t, time.Date(2024, 3, 8, 17, 31, 2, 0, format.London()), rec.(gov2.LocationRow).LastUpdate, "no stray \\r")
	s := r.Summary()
	require.Equal(t, 5, s.Lines)
	require.Equal(t, 4, s.Records)
	require.Equal(t, format.EncodingUTF8, s.Encoding)
}

func TestWindows1252Fallback(t *testing.T) {
	// "Caerdydd" town with ŵ is not in cp1252; use â (0xE2) and £ (0xA3) and
	// an en dash (0x96) which are.
	welsh := setCol(setCol(rowLCA, 16, "Gweinyddiaeth Ward 7 \x96 T\xe2l \xa35"), 20, "Caerdydd")
	r, rows, err := readAll(t, testName, wrap(rowPHA, welsh), opts())
	require.NoError(t, err)
	require.Equal(t, format.EncodingWindows1252, r.Summary().Encoding)
	rec, err := gov2.Decode(rows[1])
	require.NoError(t, err)
	require.Equal(t, "Gweinyddiaeth Ward 7 – Tâl £5", rec.(gov2.LocationRow).WelshDescription)

	// Valid UTF-8 Welsh stays UTF-8.
	welsh = setCol(rowLCA, 16, "Gweinyddiaeth Ward 7 – Tŷ")
	r, rows, err = readAll(t, testName, wrap(welsh), opts())
	require.NoError(t, err)
	require.Equal(t, format.EncodingUTF8, r.Summary().Encoding)
	require.Equal(t, "Gweinyddiaeth Ward 7 – Tŷ", rows[0].Fields[16])
}

func TestPIIMinimisation(t *testing.T) {
	pra := setCol(setCol(setCol(setCol(rowPRA, 22, "Z9"), 23, "Single"), 24, "Narnia"), 39, "Y")
	vha := "VHA~20990417~41877120~66001~20240311~~AB12 CDE~Ford~Focus~Private~20200101~20240309 101455~1596~Standard~Petrol"
	content := wrap(pra, vha, "VHD~66002", rowPHA)

	r, rows, err := readAll(t, testName, content, opts())
	require.NoError(t, err)
	require.Len(t, rows, 2, "vehicle rows dropped")
	for _, i := range []int{22, 23, 24, 39} {
		require.Empty(t, rows[0].Fields[i], "column %d blanked", i)
	}
	s := r.Summary()
	require.Equal(t, 2, s.VehicleRowsDropped)
	require.Equal(t, 4, s.SpecialCategoryBlanked)
	require.Equal(t, map[string]int{"PRA": 1, "PHA": 1}, s.RowsByType)

	o := opts()
	o.KeepSpecialCategory, o.KeepVehicles = true, true
	r, rows, err = readAll(t, testName, content, o)
	require.NoError(t, err)
	require.Len(t, rows, 4)
	rec, err := gov2.Decode(rows[0])
	require.NoError(t, err)
	p := rec.(gov2.PersonRow)
	require.Equal(t, []string{"Z9", "Single", "Narnia", "Y"}, []string{p.EthnicOrigin, p.MaritalStatus, p.CountryOfBirth, p.DisabilityFlag})
	require.Zero(t, r.Summary().VehicleRowsDropped)
	require.Zero(t, r.Summary().SpecialCategoryBlanked)
}

func TestPIINeverInErrors(t *testing.T) {
	// Every kind of problem on a person row: the messages must not carry any
	// of the personal values.
	pra := setCol(setCol(rowPRA, 13, "1988021X"), 2, "bad")
	pra = strings.Replace(pra, "~British~~", "~British~~~Okafor", 1)
	_, rows, err := readAll(t, testName, wrap(pra, "Okafor Adaeze JT482913C"), opts())
	require.NoError(t, err)
	var all []string
	for _, row := range rows {
		for _, p := range row.Problems {
			all = append(all, p.Error())
		}
	}
	require.Len(t, all, 4)
	for _, m := range all {
		for _, pii := range []string{"Okafor", "Adaeze", "JT482913C", "1988021X"} {
			require.NotContains(t, m, pii)
		}
	}
}

func TestReuseRecord(t *testing.T) {
	o := opts()
	o.ReuseRecord = true
	r, err := gov2.NewReader(testName, strings.NewReader(wrap(rowPHA, rowLCA)), o)
	require.NoError(t, err)
	a, err := r.Next()
	require.NoError(t, err)
	require.Equal(t, "PHA", a.Fields[0])
	b, err := r.Next()
	require.NoError(t, err)
	require.Equal(t, "LCA", b.Fields[0])
	require.Equal(t, "LCA", a.Fields[0], "the slice is shared when ReuseRecord is set")
}

type failingReader struct{ n int }

func (f *failingReader) Read(p []byte) (int, error) {
	if f.n == 0 {
		return 0, errors.New("disk on fire")
	}
	s := testHeader(testName) + "\n"
	f.n = 0
	return copy(p, s), nil
}

func TestReadError(t *testing.T) {
	r, err := gov2.NewReader(testName, &failingReader{n: 1}, opts())
	require.NoError(t, err)
	_, err = r.Next()
	e := requireFileError(t, err, want{Line: 2, Rule: "read"})
	require.ErrorContains(t, e, "disk on fire")
	_, err2 := r.Next()
	require.Equal(t, err, err2, "file errors are sticky")
}

func TestUnterminatedLastLine(t *testing.T) {
	content := strings.TrimSuffix(wrap(rowPHA), "\n")
	_, rows, err := readAll(t, testName, content, opts())
	require.NoError(t, err)
	require.Len(t, rows, 1)
}

func TestTrailingBlankLines(t *testing.T) {
	_, _, err := readAll(t, testName, wrap(rowPHA)+"\n  \n\r\n", opts())
	require.NoError(t, err)
}

func TestSpecs(t *testing.T) {
	wantCols := map[string]int{"LCA": 22, "ORA": 15, "POA": 24, "PRA": 44, "ASA": 50, "PHA": 8, "ADA": 16, "VHA": 15, "COA": 16}
	for _, typ := range gov2.RecordTypes() {
		spec := gov2.Spec(typ)
		require.NotNil(t, spec, typ)
		require.Equal(t, typ, spec.Type)
		if spec.Delete {
			require.Len(t, spec.Columns, 2)
			continue
		}
		require.Len(t, spec.Columns, wantCols[typ], typ)
		seen := map[string]bool{}
		for _, c := range spec.Columns {
			require.NotEmpty(t, c.Name)
			require.False(t, seen[c.Name], "%s: duplicate column name %s", typ, c.Name)
			seen[c.Name] = true
		}
	}
	require.Nil(t, gov2.Spec("HDR"))
	require.Len(t, gov2.HeaderSpec.Columns, 7)
}

func TestLongLineDoesNotBreakFollowingLines(t *testing.T) {
	var b bytes.Buffer
	b.WriteString(testHeader(testName) + "\n")
	b.WriteString("LCA~" + strings.Repeat("x", 100<<10) + "\n")
	b.WriteString(rowPHA + "\nTRL~4\n")
	r, err := gov2.NewReader(testName, &b, opts())
	require.NoError(t, err)
	row, err := r.Next()
	require.NoError(t, err)
	require.Equal(t, format.RuleLineTooLong, row.Problems[0].Rule)
	row, err = r.Next()
	require.NoError(t, err)
	require.Equal(t, "PHA", row.Type)
	require.Empty(t, row.Problems)
	_, err = r.Next()
	require.ErrorIs(t, err, io.EOF)
}

// TestRawSHA256 checks each row carries the SHA-256 of its original bytes:
// a Windows-1252 row is hashed as the bytes in the file, not as its UTF-8
// text, and a CRLF terminator is not part of it.
func TestRawSHA256(t *testing.T) {
	welsh := setCol(rowLCA, 16, "Gweinyddiaeth Ward 7 \x96 T\xe2l \xa35")
	content := strings.ReplaceAll(wrap(rowPHA, welsh), "\n", "\r\n")
	r, rows, err := readAll(t, testName, content, opts())
	require.NoError(t, err)
	require.Equal(t, format.EncodingWindows1252, r.Summary().Encoding)
	require.Len(t, rows, 2)
	for i, line := range []string{rowPHA, welsh} {
		want := sha256.Sum256([]byte(line))
		require.Equal(t, hex.EncodeToString(want[:]), rows[i].RawHash(), "row %d", i)
	}
	decoded := sha256.Sum256([]byte(strings.Join(rows[1].Fields, "~")))
	require.NotEqual(t, hex.EncodeToString(decoded[:]), rows[1].RawHash(), "hash of the decoded text")
}
