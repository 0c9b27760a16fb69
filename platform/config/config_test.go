package config

import (
	"flag"
	"strings"
	"testing"
)

func TestParseEnvFillsOnlyUnsetFlags(t *testing.T) {
	fs := flag.NewFlagSet("x", flag.ContinueOnError)
	addr := fs.String("http.addr", ":8080", "")
	level := fs.String("log-level", "info", "")
	var brokers StringList
	fs.Var(&brokers, "kafka.brokers", "")
	env := map[string]string{
		"ESRFLOW_X_HTTP_ADDR":     ":9999",
		"ESRFLOW_X_LOG_LEVEL":     "debug",
		"ESRFLOW_X_KAFKA_BROKERS": "a:1, b:2",
	}
	lookup := func(k string) (string, bool) { v, ok := env[k]; return v, ok }
	if err := parse(fs, []string{"-log-level", "warn"}, "ESRFLOW_X", lookup); err != nil {
		t.Fatal(err)
	}
	if *addr != ":9999" {
		t.Errorf("http.addr = %q, want env value :9999", *addr)
	}
	if *level != "warn" {
		t.Errorf("log-level = %q, want flag value warn to win over env", *level)
	}
	if len(brokers) != 2 || brokers[0] != "a:1" || brokers[1] != "b:2" {
		t.Errorf("kafka.brokers = %v", brokers)
	}
}

func TestParseBadEnvValueNamesVariable(t *testing.T) {
	fs := flag.NewFlagSet("x", flag.ContinueOnError)
	fs.Int("partitions", 3, "")
	lookup := func(k string) (string, bool) { return "three", k == "P_PARTITIONS" }
	err := parse(fs, nil, "P", lookup)
	if err == nil || !strings.Contains(err.Error(), "P_PARTITIONS") {
		t.Fatalf("want error naming P_PARTITIONS, got %v", err)
	}
}
