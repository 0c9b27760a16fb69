package main

import (
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
)

// ANSI colours, used only when stdout is a terminal.
const (
	ansiRed    = "\x1b[31m"
	ansiGreen  = "\x1b[32m"
	ansiYellow = "\x1b[33m"
	ansiBold   = "\x1b[1m"
	ansiReset  = "\x1b[0m"
)

type painter bool

func (p painter) paint(colour, s string) string {
	if !p {
		return s
	}
	return colour + s + ansiReset
}

func (p painter) verdict(v string) string {
	if v == verdictAccepted {
		return p.paint(ansiGreen+ansiBold, v)
	}
	return p.paint(ansiRed+ansiBold, v)
}

func (p painter) severity(s string) string {
	if s == "error" {
		return p.paint(ansiRed, s)
	}
	return p.paint(ansiYellow, s)
}

// writeTextReport prints the report for a person at a terminal: per file a
// heading, the counts by record type, the rules broken with their first
// lines, and the verdict; then one summary line. It names rules, fields and
// line numbers, never a value from the file.
func writeTextReport(w io.Writer, rep validateReport, colour bool) error {
	p := painter(colour)
	var b strings.Builder
	for i, f := range rep.Files {
		if i > 0 {
			b.WriteString("\n")
		}
		writeFileText(&b, f, p)
	}
	s := rep.Summary
	fmt.Fprintf(&b, "\n%s: %d accepted, %d rejected; %d rows, %d quarantined, %d warned; exit status %d\n",
		plural(s.Files, "file"), s.Accepted, s.Rejected, s.Rows, s.Quarantined, s.Warned, s.ExitStatus)
	_, err := io.WriteString(w, b.String())
	return err
}

func writeFileText(b *strings.Builder, f *fileReport, p painter) {
	fmt.Fprintf(b, "%s  %s\n", p.paint(ansiBold, f.File), p.verdict(f.Verdict))
	who := "baseline rules"
	if f.Tenant != "" {
		who = "tenant " + f.Tenant
	}
	fmt.Fprintf(b, "  %s, VPD %s, %s %s file, sequence %d, run date %s, rule set %s\n",
		who, orDash(f.VPD), orDash(f.Dialect), strings.ToLower(orDash(f.Kind)), f.Sequence, orDash(f.RunDate), f.RuleSetVersion)
	if f.FileRule != nil {
		line := ""
		if f.FileRule.Line > 0 {
			line = " at line " + strconv.Itoa(f.FileRule.Line)
		}
		fmt.Fprintf(b, "  rejected by file rule %s %s%s: %s\n", f.FileRule.Code, f.FileRule.Name, line, f.FileRule.Message)
		fmt.Fprintf(b, "  verdict: %s — nothing from this file would be published\n", p.verdict(f.Verdict))
		return
	}
	if f.ReferencesChecked {
		b.WriteString("  references: checked against this file and the files before it\n")
	} else {
		fmt.Fprintf(b, "  references: not checked outside this file (the first file given is a change file); %d unresolved, counted only\n", f.Unchecked)
	}

	b.WriteString("\n")
	tw := tabwriter.NewWriter(b, 0, 0, 2, ' ', tabwriter.AlignRight)
	// tabwriter aligns every cell right; the labels are padded to one
	// width first so they read left-aligned.
	label := func(s string) string { return fmt.Sprintf("  %-11s", s) }
	fmt.Fprintln(tw, label("record type")+"\trows\taccepted\tquarantined\twarned\tignored\tcorrections\t")
	for _, rt := range f.RecordTypes {
		writeCounts(tw, label(rt.RecordType), rt.counts)
	}
	writeCounts(tw, label("total"), f.Totals)
	tw.Flush()

	if len(f.Violations) > 0 {
		b.WriteString("\n")
		tw = tabwriter.NewWriter(b, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "  rule\tname\tseverity\trows\tfields\tlines")
		for _, v := range f.Violations {
			lines := make([]string, 0, len(v.Lines)+1)
			for _, l := range v.Lines {
				lines = append(lines, strconv.FormatInt(l, 10))
			}
			if v.MoreLines > 0 {
				lines = append(lines, fmt.Sprintf("+%d more", v.MoreLines))
			}
			// The severity is padded before it is painted, so colour codes
			// do not upset the column widths.
			fmt.Fprintf(tw, "  %s\t%s\t%s\t%d\t%s\t%s\n", v.Code, v.Name, p.severity(fmt.Sprintf("%-7s", v.Severity)),
				v.Rows, orDash(strings.Join(v.Fields, ",")), strings.Join(lines, ", "))
		}
		tw.Flush()
	}

	b.WriteString("\n")
	bud := f.Budget
	switch {
	case bud.Disabled:
		fmt.Fprintf(b, "  error budget: off; %d rows quarantined (%.1f %%)\n", bud.Errors, bud.Percent)
	default:
		fmt.Fprintf(b, "  error budget: %d of %d rows quarantined (%.1f %%); limits %s\n", bud.Errors, f.Totals.Rows, bud.Percent, budgetLimits(bud))
	}
	switch {
	case f.Verdict == verdictRejected:
		fmt.Fprintf(b, "  verdict: %s — %s; nothing from this file would be published\n", p.verdict(f.Verdict), f.Reason)
	case f.Totals.Quarantined > 0:
		fmt.Fprintf(b, "  verdict: %s — within budget: %d rows would publish, %d quarantined\n", p.verdict(f.Verdict), f.Totals.Accepted, f.Totals.Quarantined)
	default:
		fmt.Fprintf(b, "  verdict: %s — %d rows would publish, %d with warnings\n", p.verdict(f.Verdict), f.Totals.Accepted, f.Totals.Warned)
	}
}

func writeCounts(w io.Writer, label string, c counts) {
	fmt.Fprintf(w, "%s\t%d\t%d\t%d\t%d\t%d\t%d\t\n", label, c.Rows, c.Accepted, c.Quarantined, c.Warned, c.Ignored, c.Corrections)
}

func budgetLimits(b budgetReport) string {
	var parts []string
	if b.MaxErrors > 0 {
		parts = append(parts, fmt.Sprintf("more than %d rows", b.MaxErrors))
	}
	if b.MaxPercent > 0 {
		parts = append(parts, fmt.Sprintf("more than %g %% once at least %d rows", b.MaxPercent, b.MinErrors))
	}
	if len(parts) == 0 {
		return "none"
	}
	return "reject at " + strings.Join(parts, " or ")
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func plural(n int, word string) string {
	if n == 1 {
		return "1 " + word
	}
	return strconv.Itoa(n) + " " + word + "s"
}
