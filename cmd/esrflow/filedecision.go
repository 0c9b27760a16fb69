package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
)

// fileDecision is the api's answer to a release or discard.
type fileDecision struct {
	DecisionID string `json:"decision_id"`
	SHA256     string `json:"sha256"`
	Action     string `json:"action"`
	Status     string `json:"status"`
	Report     string `json:"report"`
}

// runFileDecision is `esrflow files release|discard SHA256`: it asks the api
// (POST /v1/tenants/{t}/files/{sha256}/release|discard) to have ingest read a
// held file out of order, or drop it unread. The api records the decision in
// its audit log under the key's client name and answers at once; ingest
// carries it out, and the file's report shows the outcome.
func runFileDecision(ctx context.Context, action string, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("files "+action, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(stderr, "usage: esrflow files %s SHA256 --tenant RXX --reason TEXT [--format text|json] [--api URL] [--key KEY | --key-file FILE | --data DIR]\n", action)
		fs.PrintDefaults()
	}
	apiURL := fs.String("api", "http://127.0.0.1:8080", "the api's base `URL`")
	keyFlags := registerAPIKeyFlags(fs, "operate")
	tenantCode := fs.String("tenant", "", "the tenant's ODS code `RXX` (required)")
	reason := fs.String("reason", "", "why, for the audit log (required, at most 500 characters)")
	format := fs.String("format", "text", "output format: text (a sentence) or json (the api's answer)")
	// The SHA-256 may come before or after the flags.
	positional, err := parseInterleaved(fs, args)
	if err != nil {
		return err
	}
	switch {
	case len(positional) != 1:
		return usageErr("give the held file's SHA-256 (esrflow files --status held lists them)")
	case !isSHA256Hex(positional[0]):
		return usageErr("%q is not a SHA-256 (64 hex digits)", positional[0])
	case *tenantCode == "":
		return usageErr("--tenant is required")
	case strings.TrimSpace(*reason) == "":
		return usageErr("--reason is required: it goes to the audit log")
	case *format != "text" && *format != "json":
		return usageErr("--format %q: want text or json", *format)
	case keyFlags.both():
		return usageErr("--key and --key-file: give one")
	}
	bearer, err := keyFlags.bearer()
	if err != nil {
		return err
	}
	sha, t := strings.ToLower(positional[0]), strings.ToUpper(*tenantCode)
	body, err := json.Marshal(map[string]string{"reason": *reason})
	if err != nil {
		return err
	}
	u := strings.TrimRight(*apiURL, "/") + "/v1/tenants/" + url.PathEscape(t) + "/files/" + sha + "/" + action
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("--api %q: %w", *apiURL, err)
	}
	req.Header.Set("Authorization", "Bearer "+bearer)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	answer, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusAccepted && resp.StatusCode != http.StatusOK {
		var e struct {
			Error string `json:"error"`
		}
		if json.Unmarshal(answer, &e) == nil && e.Error != "" {
			return fmt.Errorf("api: %s: %s", resp.Status, e.Error)
		}
		return fmt.Errorf("api: %s", resp.Status)
	}
	var d fileDecision
	if err := json.Unmarshal(answer, &d); err != nil {
		return fmt.Errorf("api: decision: %w", err)
	}
	if *format == "json" {
		var b bytes.Buffer
		if err := json.Compact(&b, answer); err != nil {
			return err
		}
		b.WriteByte('\n')
		_, err := stdout.Write(b.Bytes())
		return err
	}
	again := ""
	if resp.StatusCode == http.StatusOK {
		again = " (already requested: this is the pending decision)"
	}
	_, err = fmt.Fprintf(stdout, "%s of %s requested%s: decision %s\ningest carries it out; the outcome shows in esrflow files --tenant %s, or GET %s\n",
		strings.ToLower(d.Action), d.SHA256, again, d.DecisionID, t, d.Report)
	return err
}

func isSHA256Hex(s string) bool {
	if len(s) != 64 {
		return false
	}
	for _, c := range strings.ToLower(s) {
		if !strings.ContainsRune("0123456789abcdef", c) {
			return false
		}
	}
	return true
}
