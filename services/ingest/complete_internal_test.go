package ingest

import (
	"slices"
	"testing"

	"github.com/esrflow/esrflow/esr/format"
)

func TestEndsWithTrailer(t *testing.T) {
	// "Ynys Môn" in Windows-1252: the trailer check reads bytes, not text.
	cp1252Row := "PRA~1~Ynys M\xf4n~x\n"
	tests := []struct {
		name    string
		tail    string
		dialect format.Dialect
		want    bool
	}{
		{"v2 trailer", "HDR~x\n" + cp1252Row + "TRL~3\n", format.DialectGOv2, true},
		{"v2 trailer, CRLF and blank lines after", "PRA~1\r\nTRL~3\r\n\r\n\n", format.DialectGOv2, true},
		{"v2 trailer without a final newline", "PRA~1\nTRL~3", format.DialectGOv2, true},
		{"v2 tail is a trailer alone", "TRL~12", format.DialectGOv2, true},
		{"v2 cut inside a row", "HDR~x\n" + cp1252Row + "PRA~2~Cae", format.DialectGOv2, false},
		{"v2 cut inside the trailer", "PRA~1\nTRL~", format.DialectGOv2, false},
		{"v2 trailer count not a number", "PRA~1\nTRL~3x\n", format.DialectGOv2, false},
		{"v2 TRL inside a row's text", "PRA~TRL~3\n", format.DialectGOv2, false},
		{"v2 a row starting TRL", "TRLX~3\n", format.DialectGOv2, false},
		{"empty", "", format.DialectGOv2, false},
		{"blank", "\n\r\n  \n", format.DialectGOv2, false},
		{"v1 footer", "PER,1\nFTR,GO_412_PER_20240401_Full_00000001.DAT,1\n", format.DialectGOv1, true},
		{"v1 footer without count", "PER,1\nFTR,GO_412_PER_20240401_Full_00000001.DAT\n", format.DialectGOv1, false},
		{"v1 cut inside a row", "PER,1\nASG,2,", format.DialectGOv1, false},
		{"v2 trailer in a v1 file", "PER,1\nTRL~3\n", format.DialectGOv1, false},
	}
	for _, tt := range tests {
		if got := endsWithTrailer([]byte(tt.tail), tt.dialect); got != tt.want {
			t.Errorf("%s: endsWithTrailer = %v, want %v", tt.name, got, tt.want)
		}
	}
}

func TestFinalName(t *testing.T) {
	const name = "GO_412_EXP_GOF_20240401_00000001.DAT"
	for _, in := range []string{name + ".part", name + ".PART", name + ".tmp", name + ".filepart", "." + name + ".part", "." + name, "." + name + ".Xy12Ab"} {
		if got, ok := finalName(in); !ok || got != name {
			t.Errorf("finalName(%q) = %q, %v; want %q", in, got, ok, name)
		}
	}
	for _, in := range []string{"staff.csv.part", ".bashrc", name + ".Xy12Ab", ".x.part"} {
		if got, ok := finalName(in); ok {
			t.Errorf("finalName(%q) = %q, want no ESR name", in, got)
		}
	}
}

// Feed order: by sequence, a full file before a change file of the same
// sequence, a delivered file before a leftover upload of its own name.
func TestFeedOrder(t *testing.T) {
	mk := func(name string, part bool) candidate {
		c := candidate{name: name, part: part}
		final := name
		if part {
			final, _ = finalName(name)
			c.final = final
		}
		c.describeName(final)
		return c
	}
	got := []candidate{
		mk("GO_412_EXP_GOC_20240403_00000003.DAT", false),
		mk("GO_412_EXP_GOC_20240402_00000002.DAT", false),
		mk(".GO_412_EXP_GOF_20240402_00000002.DAT.part", true),
		mk("GO_412_EXP_GOF_20240402_00000002.DAT", false),
		mk("staff.csv", false),
	}
	slices.SortFunc(got, feedOrder)
	var names []string
	for _, c := range got {
		names = append(names, c.name)
	}
	want := []string{"staff.csv", "GO_412_EXP_GOF_20240402_00000002.DAT", ".GO_412_EXP_GOF_20240402_00000002.DAT.part",
		"GO_412_EXP_GOC_20240402_00000002.DAT", "GO_412_EXP_GOC_20240403_00000003.DAT"}
	if !slices.Equal(names, want) {
		t.Errorf("order %v\nwant %v", names, want)
	}
}
