package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"golang.org/x/term"

	"github.com/esrflow/esrflow/services/ingest/sftpd"
)

// passwdInput is where sftp-passwd reads the password: stdin, never the
// command line (which shows in ps and the shell's history).
var passwdInput io.Reader = os.Stdin

// runSFTPPasswd prints the bcrypt hash of a password for an SFTP account's
// password_hash (docs/ingest.md, SFTP). On a terminal it asks twice without
// echo; otherwise it reads the first line of stdin.
func runSFTPPasswd(_ context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("sftp-passwd", flag.ContinueOnError)
	fs.SetOutput(stderr)
	user := fs.String("user", "", "also print an accounts-file entry for this `USER` (with --tenant) to paste under accounts:")
	tenantCode := fs.String("tenant", "", "the entry's tenant `CODE`")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return errors.New("sftp-passwd takes no arguments: type the password, or pipe it on stdin")
	}
	if (*user == "") != (*tenantCode == "") {
		return errors.New("--user and --tenant go together")
	}
	var pw string
	if f, ok := passwdInput.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		fmt.Fprint(stderr, "password: ")
		a, err := term.ReadPassword(int(f.Fd()))
		fmt.Fprint(stderr, "\nagain: ")
		if err != nil {
			return err
		}
		b, err := term.ReadPassword(int(f.Fd()))
		fmt.Fprintln(stderr)
		if err != nil {
			return err
		}
		if string(a) != string(b) {
			return errors.New("the passwords differ")
		}
		pw = string(a)
	} else {
		line, err := bufio.NewReader(passwdInput).ReadString('\n')
		if err != nil && !errors.Is(err, io.EOF) {
			return err
		}
		pw = strings.TrimRight(line, "\r\n")
	}
	h, err := sftpd.HashPassword(pw)
	if err != nil {
		return err
	}
	if *user != "" {
		_, err = fmt.Fprintf(stdout, "  - user: %q\n    tenant: %q\n    password_hash: %q\n", *user, *tenantCode, h)
		return err
	}
	_, err = fmt.Fprintln(stdout, h)
	return err
}
