// Command esrflow is the single entry point for running esrflow on one machine
// and for the tools around it (handing files to a running stack, tailing
// events, the synthetic ESR generator and the end-to-end benchmark). Each subcommand lives in its own file; main only
// dispatches.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

// command is one `esrflow <name>` subcommand.
type command struct {
	name    string
	summary string
	run     func(ctx context.Context, args []string, stdout, stderr io.Writer) error
}

func commands() []command {
	return []command{
		{"up", "run the whole platform on embedded defaults (Kafka, registry, services, api) in this process", runUp},
		{"ingest", "hand ESR files to a running stack (copies them into its drop folder; --wait prints their reports)", runIngest},
		{"tail", "print published events as JSON lines, decoded through the registry", runTail},
		{"gen", "write a synthetic ESR trust: a full file, daily change files and truth.jsonl", runGen},
		{"files", "list a tenant's file reports from the api: accepted, rejected and duplicate files, newest first", runFiles},
		{"keys", "create, list or revoke the api keys the api keeps in its database (needs a key with the admin scope); init makes the first operator key and clients file", runKeys},
		{"validate", "check ESR files offline with the pipeline's parser, mapping and rules; no Kafka (exit 0 clean, 1 errors, 2 usage)", runValidate},
		{"rules", "print the validation rule catalogue, or a tenant's effective rules", runRules},
		{"sftp-passwd", "print the bcrypt hash of a password (read from stdin) for an SFTP account's password_hash", runSFTPPasswd},
		{"bench", "measure the whole stack end to end on a large generated trust, against a bare produce/consume", runBench},
		{"bench-national", "the national region (or a fraction) through normalise, validate and publish as separate processes: RSS, CPU/row, restart, latency, vs a bare 4-hop ceiling", runBenchNational},
		{"version", "print the version", runVersion},
	}
}

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

func runVersion(_ context.Context, _ []string, stdout, _ io.Writer) error {
	_, err := fmt.Fprintf(stdout, "esrflow %s\n", version)
	return err
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "usage: esrflow <command> [flags]\n\ncommands:")
	for _, c := range commands() {
		fmt.Fprintf(w, "  %-8s %s\n", c.name, c.summary)
	}
	fmt.Fprintln(w, "\n`esrflow <command> -h` lists a command's flags.")
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(dispatch(ctx, os.Args[1:], os.Stdout, os.Stderr))
}

func dispatch(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		// No command is a usage error: say what there is, and fail so a
		// script that forgot its command does not pass.
		usage(stderr)
		return 2
	}
	if args[0] == "help" || args[0] == "-h" || args[0] == "--help" {
		usage(stdout)
		return 0
	}
	for _, c := range commands() {
		if c.name != args[0] {
			continue
		}
		err := c.run(ctx, args[1:], stdout, stderr)
		var exit *exitError
		switch {
		case err == nil, errors.Is(err, flag.ErrHelp):
			return 0
		case errors.As(err, &exit):
			// A command that chose its exit status (validate: 1 for a
			// failed check, 2 for usage) and has printed its report.
			if exit.err != nil {
				fmt.Fprintf(stderr, "esrflow %s: %v\n", c.name, exit.err)
			}
			return exit.code
		default:
			fmt.Fprintf(stderr, "esrflow %s: %v\n", c.name, err)
			return 1
		}
	}
	fmt.Fprintf(stderr, "esrflow: unknown command %q\n\n", args[0])
	usage(stderr)
	return 2
}
