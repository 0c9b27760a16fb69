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
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/esrflow/esrflow/services/api/auth"
	"github.com/esrflow/esrflow/services/api/store"
)

// listFlag is a flag given once per value (--tenant RXX --tenant RYY); a
// value may also list several, comma-separated.
type listFlag []string

func (l *listFlag) String() string { return strings.Join(*l, ",") }

func (l *listFlag) Set(v string) error {
	for _, p := range strings.Split(v, ",") {
		if p = strings.TrimSpace(p); p != "" {
			*l = append(*l, p)
		}
	}
	return nil
}

// parseExpiry reads --expires: whole days (90d) or a Go duration (2160h).
func parseExpiry(v string) (time.Duration, error) {
	if days, ok := strings.CutSuffix(v, "d"); ok {
		n, err := strconv.ParseUint(days, 10, 16)
		if err == nil && n > 0 {
			return time.Duration(n) * 24 * time.Hour, nil
		}
	} else if d, err := time.ParseDuration(v); err == nil && d > 0 {
		return d, nil
	}
	return 0, fmt.Errorf("--expires %q: want whole days (90d) or a duration (2160h), more than zero", v)
}

// runKeys is `esrflow keys create|list|revoke`: it manages the api keys the
// api keeps in its database, through the api (POST, GET, DELETE /v1/keys)
// with a key holding the admin scope. Going through the api, not the
// database, means the change is audited under the caller's name, checked
// against what the caller may grant, and in effect at once on that api.
func runKeys(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	sub := ""
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		sub, args = args[0], args[1:]
	}
	if sub == "init" {
		return runKeysInit(args, stdout, stderr)
	}
	fs := flag.NewFlagSet("keys "+sub, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: esrflow keys create --tenant RXX [--tenant RYY | --tenant '*'] --scope SCOPE [--scope ...] [--name NAME] [--expires 90d] [common flags]")
		fmt.Fprintln(stderr, "       esrflow keys list [common flags]")
		fmt.Fprintln(stderr, "       esrflow keys revoke ID [common flags]")
		fmt.Fprintln(stderr, "       esrflow keys init --clients FILE --key-file FILE (offline: the first operator key and the api's clients file)")
		fmt.Fprintln(stderr, "common flags: [--format text|json] [--api URL] [--key KEY | --key-file FILE | --data DIR]")
		fmt.Fprintln(stderr, "scopes: "+strings.Join(auth.Scopes, ", "))
		fs.PrintDefaults()
	}
	apiURL := fs.String("api", "http://127.0.0.1:8080", "the api's base `URL`")
	keyFlags := registerAPIKeyFlags(fs, "admin")
	format := fs.String("format", "text", "output format: text, or json (the api's answer)")
	var tenants, scopes listFlag
	fs.Var(&tenants, "tenant", "create: a tenant's ODS code `RXX` the key may read, or '*' for every tenant (repeat, or comma-separate)")
	fs.Var(&scopes, "scope", "create: a `SCOPE` the key holds (repeat, or comma-separate); the former names (read:people ...) are accepted")
	name := fs.String("name", "", "create: the key's `NAME`, shown in the access log and as the actor of its decisions (default key-<id>)")
	expires := fs.String("expires", "", "create: the key stops working `AFTER` this long: whole days (90d) or a duration (2160h); default never")
	// An id may come before or after the flags.
	positional, err := parseInterleaved(fs, args)
	if err != nil {
		return err
	}
	createOnly := len(tenants) > 0 || len(scopes) > 0 || *name != "" || *expires != ""
	switch {
	case sub != "create" && sub != "list" && sub != "revoke":
		return usageErr("give create, list, revoke or init (esrflow keys -h)")
	case *format != "text" && *format != "json":
		return usageErr("--format %q: want text or json", *format)
	case keyFlags.both():
		return usageErr("--key and --key-file: give one")
	case sub != "create" && createOnly:
		return usageErr("--tenant, --scope, --name and --expires are for keys create")
	case sub == "revoke" && len(positional) != 1:
		return usageErr("give the id of the key to revoke (esrflow keys list shows them)")
	case sub != "revoke" && len(positional) > 0:
		return usageErr("unexpected argument %q", positional[0])
	case sub == "create" && len(tenants) == 0:
		return usageErr("--tenant is required (an ODS code, or '*' for every tenant)")
	case sub == "create" && len(scopes) == 0:
		return usageErr("--scope is required (one of %s)", strings.Join(auth.Scopes, ", "))
	}
	body := ""
	if sub == "create" {
		req := map[string]any{"tenants": tenants, "scopes": scopes}
		if *name != "" {
			req["name"] = *name
		}
		if *expires != "" {
			d, err := parseExpiry(*expires)
			if err != nil {
				return usageErr("%v", err)
			}
			req["expires_at"] = time.Now().Add(d).UTC().Format(time.RFC3339)
		}
		b, err := json.Marshal(req)
		if err != nil {
			return err
		}
		body = string(b)
	}
	bearer, err := keyFlags.bearer()
	if err != nil {
		return err
	}
	base := strings.TrimRight(*apiURL, "/") + "/v1/keys"
	var answer []byte
	switch sub {
	case "create":
		answer, err = keysCall(ctx, http.MethodPost, base, bearer, body, http.StatusCreated)
	case "list":
		answer, err = keysCall(ctx, http.MethodGet, base, bearer, "", http.StatusOK)
	case "revoke":
		answer, err = keysCall(ctx, http.MethodDelete, base+"/"+url.PathEscape(positional[0]), bearer, "", http.StatusOK)
	}
	if err != nil {
		return err
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
	switch sub {
	case "create":
		var k store.APIKey
		if err := json.Unmarshal(answer, &k); err != nil {
			return fmt.Errorf("api: key: %w", err)
		}
		// The key alone on stdout, so `key=$(esrflow keys create ...)`
		// works; what it is on stderr.
		exp := "never expires"
		if k.ExpiresAt != nil {
			exp = "expires " + *k.ExpiresAt
		}
		fmt.Fprintf(stderr, "created key %s (%s) for %s with %s; %s\nthe key is shown this once: the api keeps only its SHA-256\n",
			k.ID, k.Name, strings.Join(k.Tenants, ", "), strings.Join(k.Scopes, ", "), exp)
		_, err := fmt.Fprintln(stdout, k.Key)
		return err
	case "revoke":
		var k store.APIKey
		if err := json.Unmarshal(answer, &k); err != nil {
			return fmt.Errorf("api: key: %w", err)
		}
		_, err := fmt.Fprintf(stdout, "revoked key %s (%s)\n", k.ID, k.Name)
		return err
	}
	var l struct {
		Keys []store.APIKey `json:"keys"`
	}
	if err := json.Unmarshal(answer, &l); err != nil {
		return fmt.Errorf("api: keys: %w", err)
	}
	tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tNAME\tTENANTS\tSCOPES\tCREATED (UTC)\tBY\tEXPIRES\tREVOKED")
	for _, k := range l.Keys {
		revoked := "-"
		if k.RevokedAt != nil {
			revoked = when(*k.RevokedAt) + " by " + deref(k.RevokedBy)
		}
		exp := "-"
		if k.ExpiresAt != nil {
			exp = when(*k.ExpiresAt)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", k.ID, k.Name, strings.Join(k.Tenants, ","), strings.Join(k.Scopes, ","),
			when(k.CreatedAt), k.CreatedBy, exp, revoked)
	}
	return tw.Flush()
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

// when prints an RFC 3339 time as the tables do: YYYY-MM-DD HH:MM:SS UTC.
func when(v string) string {
	t, err := time.Parse(time.RFC3339Nano, v)
	if err != nil {
		return v
	}
	return t.UTC().Format(time.DateTime)
}

// keysCall sends one /v1/keys request and returns the answer, or the api's
// error as an error.
func keysCall(ctx context.Context, method, u, bearer, body string, want int) ([]byte, error) {
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, u, rd)
	if err != nil {
		return nil, fmt.Errorf("--api: %w", err)
	}
	req.Header.Set("Authorization", "Bearer "+bearer)
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	answer, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != want {
		var e struct {
			Error string `json:"error"`
		}
		if json.Unmarshal(answer, &e) == nil && e.Error != "" {
			return nil, fmt.Errorf("api: %s: %s", resp.Status, e.Error)
		}
		return nil, fmt.Errorf("api: %s", resp.Status)
	}
	return answer, nil
}
