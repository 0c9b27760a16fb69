package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/esrflow/esrflow/platform/config"
	"github.com/esrflow/esrflow/platform/service"
	"github.com/esrflow/esrflow/services/api"
	"github.com/esrflow/esrflow/services/ingest"
)

// docFlags are a command's flags and their defaults as its flag set has
// them (flag.Flag.DefValue).
type docFlags map[string]string

// specFlags is a service binary's whole flag set: the common flags plus
// its own, as service.Run builds it.
func specFlags(spec service.Spec) docFlags {
	var common service.Common
	fs := spec.FlagSet(&common)
	out := docFlags{}
	fs.VisitAll(func(f *flag.Flag) { out[f.Name] = f.DefValue })
	return out
}

var (
	helpFlagLine = regexp.MustCompile(`^  -([a-z][a-z0-9.-]*)`)
	helpDefault  = regexp.MustCompile(`\(default (.*)\)$`)
)

// commandFlags runs an esrflow subcommand with -h and reads its flags and
// printed defaults from the usage text (flag.PrintDefaults' layout: a zero
// default is not printed, and is "" here).
func commandFlags(t *testing.T, run func(context.Context, []string, io.Writer, io.Writer) error) docFlags {
	t.Helper()
	var stderr bytes.Buffer
	if err := run(context.Background(), []string{"-h"}, io.Discard, &stderr); !errors.Is(err, flag.ErrHelp) {
		t.Fatalf("-h: %v, want flag.ErrHelp", err)
	}
	out := docFlags{}
	var last string
	for _, line := range strings.Split(stderr.String(), "\n") {
		if m := helpFlagLine.FindStringSubmatch(line); m != nil {
			last = m[1]
			out[last] = ""
		}
		if m := helpDefault.FindStringSubmatch(line); m != nil && last != "" {
			out[last] = strings.Trim(m[1], `"`)
		}
	}
	if len(out) == 0 {
		t.Fatalf("no flags in the usage text:\n%s", stderr.String())
	}
	return out
}

// reporter is what the checks need of a *testing.T; a test of the checks
// records their errors instead.
type reporter interface {
	Helper()
	Errorf(format string, args ...any)
	Fatalf(format string, args ...any)
}

// docTable is a markdown table whose first column names flags.
type docTable struct {
	header []string
	rows   [][]string
}

// tablesIn returns the tables of doc (a path from the repository root, or
// an absolute one) between a "## title" (or "### title") heading and the
// next heading of any level.
func tablesIn(t reporter, doc, heading string) []docTable {
	t.Helper()
	path := doc
	if !filepath.IsAbs(path) {
		path = filepath.Join(repoRoot, doc)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v", err)
	}
	var (
		in     bool
		tables []docTable
		cur    *docTable
	)
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, "#") {
			in = strings.TrimSpace(strings.TrimLeft(line, "#")) == heading
			cur = nil
			continue
		}
		if !in {
			continue
		}
		if !strings.HasPrefix(line, "|") {
			cur = nil
			continue
		}
		cells := splitRow(line)
		switch {
		case cur == nil:
			tables = append(tables, docTable{header: cells})
			cur = &tables[len(tables)-1]
		case strings.Trim(strings.Join(cells, ""), "-: ") == "":
			// the |---|---| line
		default:
			cur.rows = append(cur.rows, cells)
		}
	}
	if len(tables) == 0 {
		t.Fatalf("%s: no table under %q", doc, heading)
	}
	return tables
}

func splitRow(line string) []string {
	line = strings.Trim(strings.TrimSpace(line), "|")
	// A `\|` inside a cell is not a column break.
	parts := strings.Split(strings.ReplaceAll(line, `\|`, "\x00"), "|")
	for i, p := range parts {
		parts[i] = strings.TrimSpace(strings.ReplaceAll(p, "\x00", "|"))
	}
	return parts
}

var docFlagName = regexp.MustCompile("`--?([a-z][a-z0-9.-]*)`")

// backticked returns the cell's value when the cell is exactly one `code`
// span, else "".
func backticked(cell string) string {
	if len(cell) >= 2 && strings.HasPrefix(cell, "`") && strings.HasSuffix(cell, "`") && strings.Count(cell, "`") == 2 {
		return cell[1 : len(cell)-1]
	}
	return ""
}

// checkFlagTable requires every flag a table's first column names to exist,
// and, where the table has a "default" column holding one `value` for one
// flag, that value to be the flag's default ("off" for a false bool).
func checkFlagTable(t reporter, doc, heading string, flags docFlags) {
	t.Helper()
	checked := 0
	for _, tb := range tablesIn(t, doc, heading) {
		if len(tb.header) == 0 || tb.header[0] != "flag" {
			continue
		}
		defCol := -1
		for i, h := range tb.header {
			if h == "default" {
				defCol = i
			}
		}
		for _, row := range tb.rows {
			names := docFlagName.FindAllStringSubmatch(row[0], -1)
			for _, m := range names {
				checked++
				if _, ok := flags[m[1]]; !ok {
					t.Errorf("%s (%s): flag --%s does not exist", doc, heading, m[1])
				}
			}
			if defCol < 0 || defCol >= len(row) || len(names) != 1 {
				continue
			}
			name := names[0][1]
			want := backticked(row[defCol])
			if row[defCol] == "off" {
				want = "false"
			}
			got, ok := flags[name]
			if want == "" || !ok {
				continue
			}
			if got == "" && (want == "false" || want == "0" || want == "0s") {
				got = want // a zero default, which -h does not print
			}
			if got != want {
				t.Errorf("%s (%s): --%s default is %q in the doc, %q in the code", doc, heading, name, want, got)
			}
		}
	}
	if checked == 0 {
		t.Errorf("%s (%s): no flag table found", doc, heading)
	}
}

// The flag tables of the docs name flags that exist, with the defaults the
// code has: a renamed flag or a changed default fails here, not in a
// newcomer's terminal.
func TestDocFlagTablesMatchTheCode(t *testing.T) {
	up := commandFlags(t, runUp)
	checkFlagTable(t, "docs/operations.md", "Single machine", up)
	checkFlagTable(t, "docs/api.md", "Flags", specFlags(api.Spec()))
	checkFlagTable(t, "docs/generator.md", "Command line", commandFlags(t, runGen))
	checkFlagTable(t, "docs/benchmarks.md", "bench-national flags", commandFlags(t, runBenchNational))
	checkFlagTable(t, "docs/ingest.md", "When a file is read", specFlags(ingest.Spec()))
	checkFlagTable(t, "docs/ingest.md", "SFTP", specFlags(ingest.Spec()))
	checkFlagTable(t, "docs/ingest.md", "Retention", specFlags(ingest.Spec()))
	checkFlagTable(t, "docs/operations.md", "Listing file reports: `esrflow files`", commandFlags(t, runFiles))
	checkFlagTable(t, "docs/operations.md", "Managing API keys: `esrflow keys`", commandFlags(t, func(ctx context.Context, args []string, stdout, stderr io.Writer) error {
		return runKeys(ctx, append([]string{"create"}, args...), stdout, stderr)
	}))
	checkFlagTable(t, "docs/operations.md", "Releasing or discarding a held file", commandFlags(t, func(ctx context.Context, args []string, stdout, stderr io.Writer) error {
		return runFileDecision(ctx, "release", args, stdout, stderr)
	}))

	// The environment table names ingest's variables by the one rule.
	ing := specFlags(ingest.Spec())
	rows := 0
	for _, tb := range tablesIn(t, "docs/operations.md", "Configuration") {
		for _, row := range tb.rows {
			m := docFlagName.FindStringSubmatch(row[0])
			if m == nil || len(row) < 2 {
				continue
			}
			rows++
			if _, ok := ing[m[1]]; !ok {
				t.Errorf("docs/operations.md (Configuration): ingest has no flag -%s", m[1])
			}
			if want := config.EnvName("ESRFLOW_INGEST", m[1]); backticked(row[1]) != want {
				t.Errorf("docs/operations.md (Configuration): -%s is read from %s, the doc says %s", m[1], want, row[1])
			}
		}
	}
	if rows == 0 {
		t.Error("docs/operations.md (Configuration): no flag/environment table found")
	}
}

// recorder collects a check's errors.
type recorder struct {
	*testing.T
	errs []string
}

func (r *recorder) Errorf(format string, args ...any) {
	r.errs = append(r.errs, fmt.Sprintf(format, args...))
}

// The check itself must be able to fail: a wrong default and a flag that
// does not exist are both reported, a right row is not.
func TestDocFlagTableCheckCatchesDrift(t *testing.T) {
	doc := filepath.Join(t.TempDir(), "doc.md")
	table := "# x\n## Flags\n| flag | default | |\n|---|---|---|\n| `--a` | `1` | |\n| `--b` | `2` | |\n| `--c`, `--d` | `x` | |\n| `--e` | off | |\n"
	if err := os.WriteFile(doc, []byte(table), 0o600); err != nil {
		t.Fatal(err)
	}
	rec := &recorder{T: t}
	checkFlagTable(rec, doc, "Flags", docFlags{"a": "1", "b": "3", "c": "", "e": ""})
	want := []string{"--b default", "--d does not exist"}
	if len(rec.errs) != len(want) {
		t.Fatalf("got %d errors %q, want %d", len(rec.errs), rec.errs, len(want))
	}
	for i, w := range want {
		if !strings.Contains(rec.errs[i], w) {
			t.Errorf("error %d = %q, want it to mention %q", i, rec.errs[i], w)
		}
	}
}
