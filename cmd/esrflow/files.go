package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
	"unicode/utf8"
)

// filesMaxLimit is the most reports one `esrflow files` lists: it follows
// the api's cursor page by page to reach --limit.
const filesMaxLimit = 100000

// filesPageSize is the reports asked for per api call: the api's largest
// page (services/api maxLimit). A variable so tests can page small.
var filesPageSize = 1000

// reasonWidth cuts a report's reason in the table; --format json has it whole.
const reasonWidth = 80

// fileReportRow is the part of an api file report the table shows.
type fileReportRow struct {
	File struct {
		Name     string `json:"name"`
		SHA256   string `json:"sha256"`
		Kind     string `json:"kind"`
		Sequence int64  `json:"sequence"`
	} `json:"file"`
	// Hold is set on a HELD report (file-report v4), and kept on the
	// RELEASED or DISCARDED report of a held file.
	Hold *struct {
		Feed                    string  `json:"feed"`
		LastSequence            int64   `json:"last_sequence"`
		LastFile                *string `json:"last_file"`
		LastRunDate             *string `json:"last_run_date"`
		AwaitingSequences       []int64 `json:"awaiting_sequences"`
		AwaitingPreviousRunDate *string `json:"awaiting_previous_run_date"`
		RefreshRequest          *string `json:"refresh_request"`
	} `json:"hold"`
	// PendingDecision is an operator's release or discard of the file that
	// ingest has not carried out yet (an api audit entry).
	PendingDecision *struct {
		Action string `json:"action"`
		Actor  string `json:"actor"`
	} `json:"pending_decision"`
	Status           string           `json:"status"`
	Reason           *string          `json:"reason"`
	RowsRead         int64            `json:"rows_read"`
	EntitiesAccepted int64            `json:"entities_accepted"`
	Quarantined      int64            `json:"quarantined"`
	EventsEmitted    map[string]int64 `json:"events_emitted"`
	ReportedAt       time.Time        `json:"reported_at"`
}

// fileStatuses are the statuses --status takes (file-report v4).
var fileStatuses = []string{"accepted", "rejected", "duplicate", "held", "released", "discarded"}

// runFiles lists a tenant's file reports from the api: every file ingest
// has reported on (accepted, rejected, duplicate, held, released,
// discarded), newest first. `esrflow files release|discard` decides on a
// held file (runFileDecision).
func runFiles(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) > 0 && (args[0] == "release" || args[0] == "discard") {
		return runFileDecision(ctx, args[0], args[1:], stdout, stderr)
	}
	fs := flag.NewFlagSet("files", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: esrflow files --tenant RXX [--status "+strings.Join(fileStatuses, "|")+"] [--limit N] [--format text|json] [--api URL] [--key KEY | --key-file FILE | --data DIR]")
		fmt.Fprintln(stderr, "       esrflow files release|discard SHA256 --tenant RXX --reason TEXT [...]   (esrflow files release -h)")
		fs.PrintDefaults()
	}
	apiURL := fs.String("api", "http://127.0.0.1:8080", "the api's base `URL`")
	keyFlags := registerAPIKeyFlags(fs, "read:files")
	tenantCode := fs.String("tenant", "", "the tenant's ODS code `RXX` (required)")
	status := fs.String("status", "", "only files of this status: accepted, rejected, duplicate, held, released or discarded (default: all); held prints what each held file awaits")
	limit := fs.Int("limit", 100, "at most `N` reports, newest first (1 to 100000)")
	format := fs.String("format", "text", "output format: text (a table) or json (one api report per line)")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return &exitError{code: 2}
	}
	switch st := strings.ToLower(*status); {
	case fs.NArg() > 0:
		return usageErr("unexpected argument %q", fs.Arg(0))
	case *tenantCode == "":
		return usageErr("--tenant is required")
	case st != "" && !slices.Contains(fileStatuses, st):
		return usageErr("--status %q: want accepted, rejected, duplicate, held, released or discarded", *status)
	case *format != "text" && *format != "json":
		return usageErr("--format %q: want text or json", *format)
	case *limit < 1 || *limit > filesMaxLimit:
		return usageErr("--limit %d: want 1 to %d", *limit, filesMaxLimit)
	case keyFlags.both():
		return usageErr("--key and --key-file: give one")
	}
	bearer, err := keyFlags.bearer()
	if err != nil {
		return err
	}
	reports, err := fetchFileReports(ctx, *apiURL, bearer, strings.ToUpper(*tenantCode), strings.ToUpper(*status), *limit)
	if err != nil {
		return err
	}
	var rows []fileReportRow
	var raws []json.RawMessage
	for _, raw := range reports {
		var r fileReportRow
		if err := json.Unmarshal(raw, &r); err != nil {
			return fmt.Errorf("api: a file report is not what esrflow reads: %w", err)
		}
		rows = append(rows, r)
		raws = append(raws, raw)
	}
	if *format == "json" {
		for _, raw := range raws {
			var b bytes.Buffer
			if err := json.Compact(&b, raw); err != nil {
				return err
			}
			b.WriteByte('\n')
			if _, err := stdout.Write(b.Bytes()); err != nil {
				return err
			}
		}
		return nil
	}
	if strings.EqualFold(*status, "held") {
		return writeHeldTable(stdout, rows)
	}
	return writeFilesTable(stdout, rows)
}

// apiKeyFlags are the --key, --key-file and --data flags of the commands
// that call the api.
type apiKeyFlags struct{ key, keyFile, dataDir *string }

// registerAPIKeyFlags adds them to fs; scope names the scope the key needs,
// for the help text.
func registerAPIKeyFlags(fs *flag.FlagSet, scope string) apiKeyFlags {
	return apiKeyFlags{
		key:     fs.String("key", "", "api `KEY` with the "+scope+" scope (visible to other users in the process list: prefer --key-file)"),
		keyFile: fs.String("key-file", "", "`FILE` holding the api key (default: DIR/"+operatorKeyFile+", the key `esrflow up` writes)"),
		dataDir: fs.String("data", ".esrflow", "data folder `DIR` of esrflow up: the operator key is read there when neither --key nor --key-file is given"),
	}
}

// both reports whether --key and --key-file were both given (a usage error).
func (f apiKeyFlags) both() bool { return *f.key != "" && *f.keyFile != "" }

// bearer is --key, else the contents of --key-file, else of the operator
// key `esrflow up` keeps in its data folder.
func (f apiKeyFlags) bearer() (string, error) {
	if *f.key != "" {
		return *f.key, nil
	}
	keyFile := *f.keyFile
	if keyFile == "" {
		keyFile = filepath.Join(*f.dataDir, operatorKeyFile)
	}
	b, err := os.ReadFile(keyFile)
	if err != nil {
		return "", fmt.Errorf("api key: %w (give --key-file, or --data for esrflow up's folder)", err)
	}
	k := strings.TrimSpace(string(b))
	if k == "" {
		return "", fmt.Errorf("api key: %s is empty", keyFile)
	}
	return k, nil
}

// parseInterleaved parses args with fs, letting positional arguments (an
// id, a SHA-256) come before, between or after the flags, and returns them.
// A parse error is the usage exit (2); -h is flag.ErrHelp.
func parseInterleaved(fs *flag.FlagSet, args []string) ([]string, error) {
	var positional []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return nil, err
			}
			return nil, &exitError{code: 2}
		}
		if fs.NArg() == 0 {
			return positional, nil
		}
		positional, args = append(positional, fs.Arg(0)), fs.Args()[1:]
	}
}

// fetchFileReports returns the newest n reports of GET
// /v1/tenants/{t}/files (of status, when given), following the listing's
// cursor page by page.
func fetchFileReports(ctx context.Context, base, key, tenantCode, status string, n int) ([]json.RawMessage, error) {
	var out []json.RawMessage
	cursor := ""
	for len(out) < n {
		q := url.Values{"limit": {strconv.Itoa(min(filesPageSize, n-len(out)))}}
		if status != "" {
			q.Set("status", status)
		}
		if cursor != "" {
			q.Set("cursor", cursor)
		}
		page, next, err := fetchFilePage(ctx, base, key, tenantCode, q)
		if err != nil {
			return nil, err
		}
		out = append(out, page...)
		if next == "" || len(page) == 0 {
			break
		}
		cursor = next
	}
	if len(out) > n {
		out = out[:n]
	}
	return out, nil
}

// fetchFilePage calls GET /v1/tenants/{t}/files?q once: a page of reports
// and the cursor continuing it ("" at the end).
func fetchFilePage(ctx context.Context, base, key, tenantCode string, q url.Values) ([]json.RawMessage, string, error) {
	u := strings.TrimRight(base, "/") + "/v1/tenants/" + url.PathEscape(tenantCode) + "/files?" + q.Encode()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, "", fmt.Errorf("--api %q: %w", base, err)
	}
	req.Header.Set("Authorization", "Bearer "+key)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, "", err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 256<<20))
	if err != nil {
		return nil, "", err
	}
	if resp.StatusCode != http.StatusOK {
		var e struct {
			Error string `json:"error"`
		}
		if json.Unmarshal(body, &e) == nil && e.Error != "" {
			return nil, "", fmt.Errorf("api: %s: %s", resp.Status, e.Error)
		}
		return nil, "", fmt.Errorf("api: %s", resp.Status)
	}
	var list struct {
		Files      []json.RawMessage `json:"files"`
		NextCursor string            `json:"next_cursor"`
	}
	if err := json.Unmarshal(body, &list); err != nil {
		return nil, "", fmt.Errorf("api: file list: %w", err)
	}
	return list.Files, list.NextCursor, nil
}

func writeFilesTable(w io.Writer, rows []fileReportRow) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "REPORTED (UTC)\tFILE\tKIND\tSEQ\tSTATUS\tROWS\tACCEPTED\tQUARANTINED\tEVENTS\tREASON")
	for _, r := range rows {
		var events int64
		for _, n := range r.EventsEmitted {
			events += n
		}
		reason := "-"
		if r.Reason != nil && *r.Reason != "" {
			// The reason names the file at its line ("ESR-F006 NAME:95: …");
			// the FILE column has the name, so the width goes to the why.
			reason = strings.Replace(oneLine(*r.Reason), r.File.Name+":", "line ", 1)
			reason = cut(reason, reasonWidth)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%s\t%d\t%d\t%d\t%d\t%s\n", r.ReportedAt.UTC().Format(time.DateTime), r.File.Name, r.File.Kind,
			r.File.Sequence, r.Status, r.RowsRead, r.EntitiesAccepted, r.Quarantined, events, reason)
	}
	return tw.Flush()
}

// oneLine keeps a reason on its row: tabs and line breaks would break the
// table.
func oneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}

// cut shortens s to n runes, marking the cut with "…".
func cut(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)
	return string(r[:n-1]) + "…"
}

// writeHeldTable prints held files: what each awaits, the feed's last
// accepted file, the refresh request ingest wrote, a release or discard
// already on its way, and the SHA-256 that `esrflow files release|discard`
// takes.
func writeHeldTable(w io.Writer, rows []fileReportRow) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "REPORTED (UTC)\tFILE\tSEQ\tFEED\tAWAITING\tLAST ACCEPTED\tREFRESH REQUEST\tDECISION\tSHA256")
	for _, r := range rows {
		feed, awaiting, last, refresh, decision := "-", "-", "-", "-", "-"
		if h := r.Hold; h != nil {
			feed, awaiting = h.Feed, awaitingText(h.AwaitingSequences, h.AwaitingPreviousRunDate)
			if h.LastFile != nil {
				last = *h.LastFile
			} else if h.LastSequence > 0 {
				last = "seq " + strconv.FormatInt(h.LastSequence, 10)
			}
			if h.RefreshRequest != nil {
				refresh = *h.RefreshRequest
			}
		}
		if p := r.PendingDecision; p != nil {
			// FILE_RELEASE by ops → "release pending (ops)"
			decision = strings.ToLower(strings.TrimPrefix(p.Action, "FILE_")) + " pending (" + p.Actor + ")"
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%s\t%s\t%s\t%s\t%s\n", r.ReportedAt.UTC().Format(time.DateTime), r.File.Name, r.File.Sequence,
			feed, awaiting, last, refresh, decision, r.File.SHA256)
	}
	return tw.Flush()
}

// awaitingText says what a held file waits for: the missing sequence
// numbers, runs of three or more as a range ("seq 348-351, 355"), and the
// previous run date its header names ("run 2024-03-14").
func awaitingText(seqs []int64, previousRun *string) string {
	var parts []string
	for i := 0; i < len(seqs); {
		j := i
		for j+1 < len(seqs) && seqs[j+1] == seqs[j]+1 {
			j++
		}
		switch {
		case j-i >= 2:
			parts = append(parts, fmt.Sprintf("%d-%d", seqs[i], seqs[j]))
		case j > i:
			parts = append(parts, strconv.FormatInt(seqs[i], 10), strconv.FormatInt(seqs[j], 10))
		default:
			parts = append(parts, strconv.FormatInt(seqs[i], 10))
		}
		i = j + 1
	}
	var out []string
	if len(parts) > 0 {
		out = append(out, "seq "+cut(strings.Join(parts, ", "), 40))
	}
	if previousRun != nil {
		out = append(out, "run "+*previousRun)
	}
	if len(out) == 0 {
		return "-"
	}
	return strings.Join(out, "; ")
}
