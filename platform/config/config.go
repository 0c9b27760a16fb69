// Package config loads a service's flags, falling back to environment variables.
//
// Every setting is a flag first, so `-help` lists it with its default; the
// environment only fills in flags the command line did not set. The variable
// name is derived mechanically: prefix + flag name upper-cased with '-' and
// '.' turned into '_' (flag "kafka.brokers" with prefix "ESRFLOW_INGEST" reads
// ESRFLOW_INGEST_KAFKA_BROKERS). One rule means docs, containers and flags
// cannot drift apart.
package config

import (
	"flag"
	"fmt"
	"os"
	"strings"
)

// EnvName returns the environment variable that backs flag name under prefix.
func EnvName(prefix, name string) string {
	r := strings.NewReplacer("-", "_", ".", "_")
	return strings.ToUpper(prefix + "_" + r.Replace(name))
}

// Parse parses args into fs, then sets every flag the arguments left unset
// from its environment variable, if that variable is present.
func Parse(fs *flag.FlagSet, args []string, envPrefix string) error {
	return parse(fs, args, envPrefix, os.LookupEnv)
}

func parse(fs *flag.FlagSet, args []string, envPrefix string, lookup func(string) (string, bool)) error {
	if err := fs.Parse(args); err != nil {
		return err
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	var firstErr error
	fs.VisitAll(func(f *flag.Flag) {
		if set[f.Name] || firstErr != nil {
			return
		}
		env := EnvName(envPrefix, f.Name)
		v, ok := lookup(env)
		if !ok {
			return
		}
		if err := f.Value.Set(v); err != nil {
			firstErr = fmt.Errorf("environment %s: %w", env, err)
		}
	})
	return firstErr
}

// StringList is a comma-separated flag value, e.g. a list of Kafka brokers.
type StringList []string

func (l *StringList) String() string { return strings.Join(*l, ",") }

// Set replaces the list; an empty string yields an empty list.
func (l *StringList) Set(v string) error {
	*l = (*l)[:0]
	for _, s := range strings.Split(v, ",") {
		if s = strings.TrimSpace(s); s != "" {
			*l = append(*l, s)
		}
	}
	return nil
}
