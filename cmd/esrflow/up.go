package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"go.uber.org/zap"
	"golang.org/x/crypto/ssh"

	"github.com/esrflow/esrflow/cmd/esrflow/internal/stack"
	"github.com/esrflow/esrflow/esr/gen"
	"github.com/esrflow/esrflow/esr/tenant"
	"github.com/esrflow/esrflow/platform/logx"
	"github.com/esrflow/esrflow/services/api/auth"
	"github.com/esrflow/esrflow/services/ingest"
)

// upConfig is `esrflow up`'s configuration.
type upConfig struct {
	dataDir      string
	kafkaPort    int
	registryAddr string
	apiAddr      string
	metricsAddr  string
	partitions   stack.Partitions
	tenants      string
	tenantsFile  string
	demo         bool
	clock        string
	logLevel     string
	sftpAddr     string
	sftpCreds    string
	retention    ingest.Retention
	settle       time.Duration
	incomplete   time.Duration
}

func runUp(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var cfg upConfig
	fs := flag.NewFlagSet("up", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&cfg.dataDir, "data", ".esrflow", "data folder `DIR`: Kafka data, the drop folder, the archive and the api database; a second esrflow up on it resumes (one at a time: it is locked)")
	fs.IntVar(&cfg.kafkaPort, "kafka.port", 9092, "port of the embedded Kafka broker (0 picks a free one)")
	fs.StringVar(&cfg.registryAddr, "registry.addr", "127.0.0.1:8081", "listen address of the schema registry (port 0 picks a free one)")
	fs.StringVar(&cfg.apiAddr, "api.addr", "127.0.0.1:8080", "listen address of the REST api (port 0 picks a free one)")
	fs.StringVar(&cfg.metricsAddr, "metrics.addr", "127.0.0.1:9464", "listen address of /metrics, /healthz and /readyz for every service in this process (empty: off)")
	cfg.partitions, _ = stack.ParsePartitions("6")
	fs.Var(&cfg.partitions, "partitions", "partitions of the tenant-keyed topics, applied when each is created: one count for every internal topic, or NAME=COUNT,... by topic (raw, normalised, validated, quarantine, ops; ops default 3); docs/partitioning.md sizes them")
	fs.StringVar(&cfg.tenants, "tenants", "RXX=412", "tenants in short form CODE=VPD[+VPD...],... (ignored when --tenants.file is set)")
	fs.StringVar(&cfg.tenantsFile, "tenants.file", "", "YAML tenants file (see docs/operations.md)")
	fs.BoolVar(&cfg.demo, "demo", false, "on first start, generate a synthetic trust (2,000 staff, 10 days) into the first tenant's drop folder")
	fs.StringVar(&cfg.clock, "clock", "wall", "publish's clock for confirming future-dated leavers: wall, off (files alone: for loading old files), or a date YYYY-MM-DD / RFC 3339 time to pin it at")
	fs.StringVar(&cfg.sftpAddr, "sftp.addr", "127.0.0.1:2222", "listen address of the built-in SFTP server (port 0 picks a free one; empty: off)")
	fs.StringVar(&cfg.sftpCreds, "sftp.credentials", "", "YAML file of SFTP accounts, re-read when it changes (default: DIR/sftp-accounts.yaml; docs/ingest.md, SFTP)")
	fs.Var(&cfg.retention, "archive.retention", "delete archived originals (DIR/archive/<TENANT>/<sha256>) this long after archiving: days (30d) or a duration (720h); 0 keeps them forever")
	fs.DurationVar(&cfg.settle, "settle", ingest.DefaultSettle, "a dropped file is complete once its size and mtime have not changed for this long (raise it for a slow network share)")
	fs.DurationVar(&cfg.incomplete, "incomplete-after", ingest.DefaultIncompleteAfter, "an ESR file without its trailer is waited for until it has not changed for this long, then read and rejected (missing-trailer)")
	fs.StringVar(&cfg.logLevel, "log.level", "warn", "log level: debug, info, warn, error")
	if err := fs.Parse(args); err != nil {
		return err
	}
	clock, err := parseClock(cfg.clock)
	if err != nil {
		return err
	}
	// Before anything touches the data folder: one `up` per folder.
	unlock, err := lockDataDir(cfg.dataDir)
	if err != nil {
		return err
	}
	defer unlock()
	log, err := logx.New(logx.Config{Level: cfg.logLevel, Format: "console"})
	if err != nil {
		return err
	}
	defer func() { _ = log.Sync() }()
	tenants, err := tenant.FromFlags(cfg.tenantsFile, cfg.tenants)
	if err != nil {
		return err
	}

	keyFile, operator, err := operatorClient(cfg.dataDir)
	if err != nil {
		return err
	}
	consoleSecret, err := secretFile(filepath.Join(cfg.dataDir, consoleSecretFile))
	if err != nil {
		return err
	}
	st, err := stack.Start(ctx, stack.Config{
		DataDir: cfg.dataDir, KafkaPort: cfg.kafkaPort, RegistryAddr: cfg.registryAddr, APIAddr: cfg.apiAddr,
		MetricsAddr: cfg.metricsAddr, Partitions: 6, TopicPartitions: cfg.partitions, Tenants: tenants, Log: log,
		APIClients: []auth.Client{operator}, ConsoleSecret: []byte(consoleSecret), Now: clock.now(), DisableClock: clock.off,
		SFTPAddr: cfg.sftpAddr, SFTPCredentials: cfg.sftpCreds, ArchiveRetention: time.Duration(cfg.retention),
		Settle: cfg.settle, IncompleteAfter: cfg.incomplete,
	})
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "esrflow is up\n  kafka bootstrap: %s\n  schema registry: %s\n  api:             %s\n", st.Seeds()[0], st.RegistryURL(), st.APIURL())
	fmt.Fprintf(stdout, "  api key:         %s (Authorization: Bearer <its contents>)\n", keyFile)
	fmt.Fprintf(stdout, "  console:         %s/console/ (sign in with the api key's contents)\n", st.APIURL())
	if st.MetricsURL() != "" {
		fmt.Fprintf(stdout, "  metrics:         %s/metrics\n", st.MetricsURL())
	}
	if srv := st.SFTP(); srv != nil {
		fmt.Fprintf(stdout, "  sftp:            %s (accounts: %s; host key %s)\n", srv.Addr(), st.SFTPCredentials(), ssh.FingerprintSHA256(srv.HostKey()))
	}
	fmt.Fprintf(stdout, "  leaver clock:    %s\n", clock)
	fmt.Fprintf(stdout, "  drop folder:     %s/<TENANT>/ (tenants: %s)\n  data folder:     %s\n", st.DropDir(), strings.Join(tenants.Codes(), ", "), cfg.dataDir)
	if rec := st.KafkaRecovery(); rec.OpenTransactions+rec.Unindexed+len(rec.RolledBack) > 0 {
		// The previous run was killed mid-transaction: say what was undone
		// (docs/embedded-broker.md).
		fmt.Fprintf(stdout, "  kafka recovery:  %d open transaction(s) aborted, %d torn commit(s) rolled back, %d unindexed batch tail(s) cut\n",
			rec.OpenTransactions, len(rec.RolledBack), rec.Unindexed)
		for _, p := range rec.PartialCommits {
			fmt.Fprintf(stdout, "  kafka recovery:  partly committed transaction, rest aborted: %s\n", p)
		}
	}
	first := firstOr(tenants.Codes(), "RXX")
	fmt.Fprintf(stdout, "Drop ESR files into the drop folder, run `esrflow ingest --tenant %s FILE...`, or POST them to %s/v1/tenants/%s/files?name=FILE (docs/api.md); `esrflow tail` prints events.\nCtrl-C stops it; `esrflow up --data %s` again resumes.\n",
		first, st.APIURL(), first, cfg.dataDir)

	if cfg.demo {
		if err := dropDemo(cfg.dataDir, st.DropDir(), tenants, clock.today(), stdout); err != nil {
			_ = st.Close()
			return err
		}
	}
	go printProgress(ctx, st, stdout, log)
	err = st.Wait()
	log.Info("esrflow stopped")
	return err
}

// operatorKeyFile holds the local operator's api key, in the data folder.
const operatorKeyFile = "operator.key"

// operatorClient returns the api client of the person running `up`: every
// tenant and every scope, so a newcomer can read and also release or reject
// a held batch. Its key is 32 random bytes, written hex-encoded to
// <data>/operator.key (mode 0600) on the first run and reused after that;
// the api is given only its hash, and the key itself is never printed.
func operatorClient(dataDir string) (path string, c auth.Client, err error) {
	path = filepath.Join(dataDir, operatorKeyFile)
	k, err := secretFile(path)
	if err != nil {
		return "", c, err
	}
	return path, auth.Client{Name: "local-operator", KeySHA256: auth.HashKey(k), Tenants: []string{auth.AllTenants}, Scopes: auth.Scopes}, nil
}

// consoleSecretFile seals the console's session cookies, so a sign-in
// survives a restart of `up` on the same data folder.
const consoleSecretFile = "console.secret"

// secretFile returns the secret kept in path: 32 random bytes, hex-encoded,
// written (mode 0600) on the first run and reused after that.
func secretFile(path string) (string, error) {
	key, err := os.ReadFile(path)
	switch {
	case errors.Is(err, os.ErrNotExist):
		raw := make([]byte, 32)
		if _, err := rand.Read(raw); err != nil {
			return "", err
		}
		key = []byte(hex.EncodeToString(raw))
		if err := os.MkdirAll(filepath.Dir(path), 0o750); err != nil {
			return "", err
		}
		// O_EXCL: two `up`s starting on one folder never overwrite each
		// other's secret.
		f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if err != nil {
			return "", err
		}
		_, err = f.Write(append(key, '\n'))
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return "", err
		}
	case err != nil:
		return "", err
	}
	k := strings.TrimSpace(string(key))
	if k == "" {
		return "", fmt.Errorf("%s is empty: delete it and a new one is made", path)
	}
	return k, nil
}

func firstOr(ss []string, def string) string {
	if len(ss) == 0 {
		return def
	}
	return ss[0]
}

// dropDemo generates a synthetic trust for the first tenant into its drop
// folder, once per data folder, its last file dated today.
func dropDemo(dataDir, drop string, tenants *tenant.Set, today time.Time, stdout io.Writer) error {
	marker := filepath.Join(dataDir, "demo-generated")
	if _, err := os.Stat(marker); err == nil {
		return nil
	}
	codes := tenants.Codes()
	if len(codes) == 0 {
		return fmt.Errorf("--demo needs a tenant")
	}
	t, _ := tenants.Get(codes[0])
	// Generate beside the drop folder, then move each file in whole, the
	// way an SFTP upload should, and keep truth.jsonl for comparison.
	staging := filepath.Join(dataDir, "demo")
	// Dated to end on publish's day, so the demo looks like a live feed
	// whose last file ran today.
	const days = 10
	start := gen.StartEndingOn(londonToday(today), days)
	res, err := gen.Generate(gen.Config{Tenant: t.Code, VPD: t.VPDs[0], Staff: 2000, Days: days, Seed: 1, Faults: true, Start: start}, gen.DirSink(staging))
	if err != nil {
		return err
	}
	for _, f := range res.Files {
		if err := os.Rename(filepath.Join(staging, f.Name), filepath.Join(drop, t.Code, f.Name)); err != nil {
			return err
		}
	}
	fmt.Fprintf(stdout, "demo: %d files (%d rows) for %s dropped; the expected events are in %s\n", len(res.Files), res.Rows, t.Code, filepath.Join(staging, gen.TruthFile))
	return os.WriteFile(marker, []byte(time.Now().UTC().Format(time.RFC3339)+"\n"), 0o640)
}

// printProgress prints one line per file report as files complete.
func printProgress(ctx context.Context, st *stack.Stack, stdout io.Writer, log *zap.Logger) {
	err := st.FollowReports(ctx, func(line string) { fmt.Fprintln(stdout, line) })
	if err != nil && ctx.Err() == nil {
		log.Warn("progress display stopped", zap.Error(err))
	}
}
