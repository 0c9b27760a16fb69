package main

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"

	"gopkg.in/yaml.v3"

	"github.com/esrflow/esrflow/services/api/auth"
)

// runKeysInit is `esrflow keys init`: the first operator of a deployment
// (compose, Kubernetes) gets an api key and the api a clients file holding
// only its hash, without an api to ask yet. It works offline on two files:
// the key (made once, mode 0600, and reused after that) and the clients
// file, written only if missing, so running it again on every start is
// harmless. Later keys are made through the api with `esrflow keys create`.
func runKeysInit(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("keys init", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: esrflow keys init --clients FILE --key-file FILE [--name NAME]")
		fmt.Fprintln(stderr, "makes an operator key (every tenant, every scope) and an api clients file holding its hash; an existing key or clients file is kept")
		fs.PrintDefaults()
	}
	clientsPath := fs.String("clients", "", "the api's clients `FILE` (--auth.clients) to write if missing")
	keyPath := fs.String("key-file", "", "`FILE` holding the operator's key: made if missing (mode 0600), else reused")
	name := fs.String("name", "operator", "the client's `NAME`, shown in the access log and as the actor of its decisions")
	if err := fs.Parse(args); err != nil {
		return err
	}
	switch {
	case fs.NArg() > 0:
		return usageErr("unexpected argument %q", fs.Arg(0))
	case *clientsPath == "" || *keyPath == "":
		return usageErr("--clients and --key-file are both required")
	}
	key, err := secretFile(*keyPath)
	if err != nil {
		return err
	}
	hash := auth.HashKey(key)
	if clients, err := auth.LoadClients(*clientsPath); err == nil {
		// Kept as it is; but say so if it cannot take this key, rather than
		// leave an operator holding a key the api refuses.
		if !slices.ContainsFunc(clients, func(c auth.Client) bool { return c.KeySHA256 == hash }) {
			return fmt.Errorf("%s exists and holds no client with the key in %s: add it, or give another --clients file", *clientsPath, *keyPath)
		}
		fmt.Fprintf(stdout, "kept %s and %s\n", *clientsPath, *keyPath)
		return nil
	} else if !errors.Is(err, os.ErrNotExist) {
		return err
	}
	c := auth.Client{Name: *name, KeySHA256: hash, Tenants: []string{auth.AllTenants}, Scopes: auth.Scopes}
	if _, err := auth.New([]auth.Client{c}); err != nil {
		return usageErr("%v", err)
	}
	var b bytes.Buffer
	b.WriteString("# API clients of the esrflow api (--auth.clients); hashes only, never keys.\n# Made by esrflow keys init; add clients here or with esrflow keys create.\n")
	enc := yaml.NewEncoder(&b)
	enc.SetIndent(2)
	if err := enc.Encode(map[string][]auth.Client{"clients": {c}}); err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(*clientsPath), 0o750); err != nil {
		return err
	}
	// O_EXCL: two inits at once never overwrite each other's file.
	f, err := os.OpenFile(*clientsPath, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o640)
	if err != nil {
		return err
	}
	_, err = f.Write(b.Bytes())
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "wrote %s (client %q: every tenant, every scope) and the key in %s\n", *clientsPath, *name, *keyPath)
	return nil
}
