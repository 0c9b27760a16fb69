package format_test

import (
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/esrflow/esrflow/esr/format"
)

func TestParseFileName(t *testing.T) {
	day := func(y int, m time.Month, d int) time.Time { return time.Date(y, m, d, 0, 0, 0, 0, time.UTC) }
	ok := []struct {
		name string
		want format.FileName
	}{
		{"GO_412_EXP_GOC_20240311_00000347.DAT", format.FileName{VPD: "412", SubFile: "EXP", Kind: format.ExtractChange, KindCode: "C", Date: day(2024, 3, 11), Sequence: 347, Dialect: format.DialectGOv2}},
		{"GO_0234_EXP_GOF_20240229_00000001.DAT", format.FileName{VPD: "0234", SubFile: "EXP", Kind: format.ExtractFull, KindCode: "F", Date: day(2024, 2, 29), Sequence: 1, Dialect: format.DialectGOv2}},
		{"GO_123_ASG_20090706_Full_31820181.DAT", format.FileName{VPD: "123", SubFile: "ASG", Kind: format.ExtractFull, KindCode: "Full", Date: day(2009, 7, 6), Sequence: 31820181, Dialect: format.DialectGOv1}},
		{"GO_412_ASG_20240310_Change_00000053.DAT", format.FileName{VPD: "412", SubFile: "ASG", Kind: format.ExtractChange, KindCode: "Change", Date: day(2024, 3, 10), Sequence: 53, Dialect: format.DialectGOv1}},
	}
	for _, tc := range ok {
		got, err := format.ParseFileName(tc.name)
		require.NoError(t, err, tc.name)
		tc.want.Name = tc.name
		require.Equal(t, tc.want, got)
	}
	for _, bad := range []string{
		"", "GO_412_EXP_GOC_20240311_00000347.dat", "GO_412_EXP_GOC_20240311_00000347", "GO_41_EXP_GOC_20240311_00000347.DAT",
		"GO_41234_EXP_GOC_20240311_00000347.DAT", "GO_412_EX_GOC_20240311_00000347.DAT", "GO_412_exp_GOC_20240311_00000347.DAT",
		"GO_412_EXP_GOX_20240311_00000347.DAT", "GO_412_EXP_GOC_20240230_00000347.DAT", "GO_412_EXP_GOC_20240311_0000347.DAT",
		"GO_412_EXP_GOC_20240311_000003470.DAT", "DE_EMD_APP_20201008_00000001.DAT", "GO_412_EXP_GOC_20240311_00000347_x.DAT",
		"GO_412_ASG_20240310_Fu11_00000052.DAT", "GO_412_ASG_2024031_Full_00000052.DAT", "GO_4a2_EXP_GOC_20240311_00000347.DAT",
	} {
		_, err := format.ParseFileName(bad)
		require.ErrorIs(t, err, format.ErrFileName, "%q", bad)
	}
}

func TestDates(t *testing.T) {
	d, err := format.ParseDate("20240229")
	require.NoError(t, err)
	require.Equal(t, time.Date(2024, 2, 29, 0, 0, 0, 0, time.UTC), d)
	for _, null := range []string{"", "47121231"} {
		d, err := format.ParseDate(null)
		require.NoError(t, err)
		require.True(t, d.IsZero())
	}
	for _, bad := range []string{"2024131", "20230229", "20241301", "20240100", "2024-03-11", "２０２４０３１１", "17991231", "20240431"} {
		_, err := format.ParseDate(bad)
		require.ErrorIs(t, err, format.ErrDate, bad)
		require.False(t, format.ValidDate(bad))
	}
	ts, err := format.ParseTimestamp("20240701 120000", nil)
	require.NoError(t, err)
	require.Equal(t, time.Date(2024, 7, 1, 11, 0, 0, 0, time.UTC), ts.UTC(), "BST is UTC+1")
	ts, err = format.ParseTimestamp("20240101 120000", nil)
	require.NoError(t, err)
	require.Equal(t, time.Date(2024, 1, 1, 12, 0, 0, 0, time.UTC), ts.UTC(), "GMT")
	for _, bad := range []string{"20240101120000", "20240101 240000", "20240101 126000", "20240101 1200", "20240101T120000"} {
		_, err := format.ParseTimestamp(bad, nil)
		require.ErrorIs(t, err, format.ErrTimestamp, bad)
	}
	d, err = format.ParseDateLayout("02-Jan-2006", "02-Jan-2006")
	require.NoError(t, err)
	require.Equal(t, time.Date(2006, 1, 2, 0, 0, 0, 0, time.UTC), d)
}

func TestNumbersAndFlags(t *testing.T) {
	for in, want := range map[string]float64{"37.5": 37.5, "25.75": 25.75, "1": 1, "0.8": 0.8, "-1.5": -1.5, ".5": 0.5, "": 0} {
		got, err := format.ParseDecimal(in)
		require.NoError(t, err, in)
		require.Equal(t, want, got)
	}
	for _, bad := range []string{"1,5", "1e3", "NaN", "Inf", "-", ".", "1.2.3", " 1"} {
		_, err := format.ParseDecimal(bad)
		require.ErrorIs(t, err, format.ErrDecimal, bad)
	}
	n, err := format.ParseInt("20990417")
	require.NoError(t, err)
	require.Equal(t, int64(20990417), n)
	for _, bad := range []string{"-1", "+1", "1.0", "12345678901234567890", "41O"} {
		_, err := format.ParseInt(bad)
		require.ErrorIs(t, err, format.ErrInteger, bad)
	}
	for in, want := range map[string]bool{"Yes": true, "Y": true, "1": true, "No": false, "N": false, "0": false, "yes": true, "n": false} {
		v, set, err := format.ParseFlag(in)
		require.NoError(t, err)
		require.True(t, set)
		require.Equal(t, want, v, in)
	}
	_, set, err := format.ParseFlag("")
	require.NoError(t, err)
	require.False(t, set)
	_, _, err = format.ParseFlag("Maybe")
	require.ErrorIs(t, err, format.ErrFlag)
}

func TestComposites(t *testing.T) {
	p, err := format.ParsePositionName("5102277|Staff Nurse|N6A|Cardiology|")
	require.NoError(t, err)
	require.Equal(t, format.PositionName{Number: "5102277", Title: "Staff Nurse", OccupationCode: "N6A", Area: "Cardiology"}, p)
	p, err = format.ParsePositionName("5102277|Staff Nurse|N6A|Cardiology")
	require.NoError(t, err, "trailing pipe is optional")
	require.Equal(t, "Cardiology", p.Area)
	_, err = format.ParsePositionName("5102277|Staff Nurse")
	require.ErrorIs(t, err, format.ErrComposite)
	g, err := format.ParseGrade("NHS|XR05|Review Body Band 5")
	require.NoError(t, err)
	require.Equal(t, format.Grade{Owner: "NHS", Code: "XR05", Description: "Review Body Band 5"}, g)
	j, err := format.ParseJobName("Medical and Dental|Consultant")
	require.NoError(t, err)
	require.Equal(t, format.JobName{StaffGroup: "Medical and Dental", JobRole: "Consultant"}, j)
	s, err := format.ParseGradeStep("YM72|1")
	require.NoError(t, err)
	require.Equal(t, format.GradeStep{Code: "YM72", Step: "1"}, s)
	pg, err := format.ParsePeopleGroup("412 z 0231 Ward 7|Standard User||")
	require.NoError(t, err)
	require.Equal(t, "412 z 0231 Ward 7", pg.Name())
	g, err = format.ParseGrade("")
	require.NoError(t, err)
	require.Zero(t, g)
}

func TestSplitQuoted(t *testing.T) {
	tests := []struct {
		in     string
		want   []string
		bad    int
		isOpen bool
	}{
		{`a,b,c`, []string{"a", "b", "c"}, -1, false},
		{`"a,1",b,`, []string{"a,1", "b", ""}, -1, false},
		{`"say ""hi""",x`, []string{`say "hi"`, "x"}, -1, false},
		{`"",""`, []string{"", ""}, -1, false},
		{`a"b,c`, []string{`a"b`, "c"}, -1, false},
		{`"open,x`, []string{"open,x"}, 0, true},
		{`x,"ab"c,d`, []string{"x", "abc", "d"}, 1, false},
		{``, []string{""}, -1, false},
	}
	for _, tc := range tests {
		got, bad, open := format.SplitQuoted(tc.in, ',', nil)
		require.Equal(t, tc.want, got, tc.in)
		require.Equal(t, tc.bad, bad, tc.in)
		require.Equal(t, tc.isOpen, open, tc.in)
	}
}

func TestErrorString(t *testing.T) {
	e := &format.Error{File: "GO_412_EXP_GOC_20240311_00000347.DAT", Line: 5, RecordType: "ASA", Column: 3, Field: "effective_start",
		Rule: "date", Msg: `"2024131" is not a YYYYMMDD date`, Severity: format.SeverityRow}
	require.Equal(t, `GO_412_EXP_GOC_20240311_00000347.DAT:5: ASA column 3 (effective_start): date: "2024131" is not a YYYYMMDD date`, e.Error())
	fe := format.FileFailure("f.DAT", 0, "", format.RuleFileName, "bad")
	require.Equal(t, "file rejected: f.DAT: file-name: bad", fe.Error())
	var target *format.Error
	require.True(t, errors.As(fe, &target))
	require.Equal(t, "file", target.Severity.String())
	require.Equal(t, `"`+strings.Repeat("x", 40)+`"…`, format.Quote(strings.Repeat("x", 100)))
}

func TestLineReader(t *testing.T) {
	in := "\xef\xbb\xbfone\r\n\r\n  \ntwo\rmid\nthree"
	lr := format.NewLineReader(strings.NewReader(in), format.LineOptions{File: "x"})
	var got []format.Line
	for {
		l, err := lr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		require.NoError(t, err)
		// Raw is only valid until the next call: keep a copy.
		l.Raw = append([]byte(nil), l.Raw...)
		got = append(got, l)
	}
	require.Equal(t, []format.Line{
		{No: 1, Text: "one", Raw: []byte("\xef\xbb\xbfone"), EOL: "\r\n"}, {No: 2, Text: "", Blank: true, EOL: "\r\n"},
		{No: 3, Text: "  ", Blank: true, Raw: []byte("  "), EOL: "\n"},
		{No: 4, Text: "two\rmid", Raw: []byte("two\rmid"), EOL: "\n"}, {No: 5, Text: "three", Raw: []byte("three")},
	}, got)
	require.Equal(t, format.EncodingUTF8, lr.Encoding())

	// Exactly at the limit is fine; one byte over is too long.
	lr = format.NewLineReader(strings.NewReader(strings.Repeat("a", 32)+"\r\n"+strings.Repeat("b", 33)+"\nc"), format.LineOptions{MaxLineBytes: 32})
	l, err := lr.Next()
	require.NoError(t, err)
	require.Equal(t, strings.Repeat("a", 32), l.Text)
	l, err = lr.Next()
	require.NoError(t, err)
	require.True(t, l.TooLong)
	l, err = lr.Next()
	require.NoError(t, err)
	require.Equal(t, format.Line{No: 3, Text: "c", Raw: []byte("c")}, l)
}

func TestWindows1252Table(t *testing.T) {
	require.Equal(t, '€', format.DecodeWindows1252Byte(0x80))
	require.Equal(t, '–', format.DecodeWindows1252Byte(0x96))
	require.Equal(t, '£', format.DecodeWindows1252Byte(0xA3))
	require.Equal(t, 'ŵ', rune(0x175)) // not in cp1252: Welsh ŵ/ŷ need UTF-8
	require.Equal(t, 'â', format.DecodeWindows1252Byte(0xE2))
}

func TestRunWindow(t *testing.T) {
	now := time.Date(2024, 3, 11, 12, 0, 0, 0, time.UTC)
	w := format.RunWindow{Now: func() time.Time { return now }, MaxAge: 48 * time.Hour}
	require.Nil(t, w.Check("f", 1, "HDR", 5, "run_at", now.Add(-47*time.Hour), time.Time{}))
	require.Equal(t, format.RuleRunDateStale, w.Check("f", 1, "HDR", 5, "run_at", now.Add(-49*time.Hour), time.Time{}).Problem.Rule)
	require.Nil(t, w.Check("f", 1, "HDR", 5, "run_at", now.Add(35*time.Hour), time.Time{}))
	require.Equal(t, format.RuleRunDateFuture, w.Check("f", 1, "HDR", 5, "run_at", now.Add(37*time.Hour), time.Time{}).Problem.Rule)
	w.FutureTolerance = -1
	require.Nil(t, w.Check("f", 1, "HDR", 5, "run_at", now.Add(1000*time.Hour), time.Time{}))
}

func FuzzFileName(f *testing.F) {
	for _, s := range []string{
		"GO_412_EXP_GOC_20240311_00000347.DAT", "GO_0234_EXP_GOF_20240229_00000001.DAT",
		"GO_123_ASG_20090706_Full_31820181.DAT", "GO_412_ASG_20240310_Full_00000052.DAT", "GO___GOC__.DAT", "",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, name string) {
		fn, err := format.ParseFileName(name)
		if err != nil {
			if !errors.Is(err, format.ErrFileName) {
				t.Fatalf("error %v does not wrap ErrFileName", err)
			}
			return
		}
		// Invariants of an accepted name.
		if fn.Name != name || (len(fn.VPD) != 3 && len(fn.VPD) != 4) || len(fn.SubFile) != 3 || fn.Date.IsZero() || fn.Sequence < 0 || fn.Sequence > 99999999 {
			t.Fatalf("accepted %q with %+v", name, fn)
		}
		if fn.Dialect != format.DialectGOv1 && fn.Dialect != format.DialectGOv2 {
			t.Fatalf("no dialect for %q", name)
		}
		if !strings.Contains(name, fn.Date.Format("20060102")) {
			t.Fatalf("date %v not in %q", fn.Date, name)
		}
	})
}
