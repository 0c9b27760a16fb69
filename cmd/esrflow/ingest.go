package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sr"

	"github.com/esrflow/esrflow/cmd/esrflow/internal/observe"
	"github.com/esrflow/esrflow/platform/avrox"
	"github.com/esrflow/esrflow/platform/config"
	"github.com/esrflow/esrflow/schemas"
	"github.com/esrflow/esrflow/schemas/gen/internalv1"
	"github.com/esrflow/esrflow/services/api/avrojson"
)

// ingestConfig is `esrflow ingest`'s configuration.
type ingestConfig struct {
	tenant      string
	dataDir     string
	drop        string
	wait        bool
	brokers     config.StringList
	registryURL string
	timeout     time.Duration
	files       []string
}

var odsCode = regexp.MustCompile(`^[A-Z0-9]{3,5}$`)

// runIngest hands files to a running stack: each is copied into
// <drop>/<TENANT>/ atomically (written as .<name>.part, synced, renamed), where
// the ingest service picks it up. With --wait it then prints the file report
// of each file (matched by tenant and SHA-256) as one JSON line, and fails if
// any was rejected or held (a duplicate of an accepted file is not a failure).
func runIngest(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	cfg := ingestConfig{brokers: config.StringList{"127.0.0.1:9092"}}
	fs := flag.NewFlagSet("ingest", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: esrflow ingest --tenant RXX [--data DIR | --drop DIR] [--wait] FILE...")
		fs.PrintDefaults()
	}
	fs.StringVar(&cfg.tenant, "tenant", "", "ODS code of the tenant the files belong to (required)")
	fs.StringVar(&cfg.dataDir, "data", ".esrflow", "data folder `DIR` of the running stack (its esrflow up --data); the drop folder is DIR/drop")
	fs.StringVar(&cfg.drop, "drop", "", "drop folder `DIR` to copy into (default <data>/drop)")
	fs.BoolVar(&cfg.wait, "wait", false, "wait for each file's report on "+schemas.TopicFileReports+", print it as JSON, fail if any was rejected or held")
	fs.Var(&cfg.brokers, "kafka.brokers", "comma-separated Kafka bootstrap brokers (for --wait)")
	fs.StringVar(&cfg.registryURL, "registry.url", "http://127.0.0.1:8081", "schema registry URL (for --wait)")
	fs.DurationVar(&cfg.timeout, "timeout", 2*time.Minute, "how long --wait waits for the reports")
	if err := fs.Parse(args); err != nil {
		return err
	}
	cfg.tenant = strings.ToUpper(strings.TrimSpace(cfg.tenant))
	cfg.files = fs.Args()
	switch {
	case cfg.tenant == "":
		return errors.New("--tenant is required")
	case !odsCode.MatchString(cfg.tenant):
		return fmt.Errorf("--tenant %q: want an ODS code of 3-5 letters or digits", cfg.tenant)
	case len(cfg.files) == 0:
		return errors.New("no files given")
	}
	if cfg.drop == "" {
		cfg.drop = filepath.Join(cfg.dataDir, "drop")
	}
	return ingestFiles(ctx, cfg, stdout, stderr)
}

// handed is a file copied into the drop folder.
type handed struct {
	name string
	sha  string
}

func ingestFiles(ctx context.Context, cfg ingestConfig, stdout, stderr io.Writer) error {
	// Hash first: a file that cannot be read fails before anything is copied.
	var files []handed
	bySHA := map[string]string{}
	for _, path := range cfg.files {
		sum, err := hashFile(path)
		if err != nil {
			return err
		}
		name := filepath.Base(path)
		if other, dup := bySHA[sum]; dup {
			return fmt.Errorf("%s and %s have the same content", observe.Printable(other), observe.Printable(name))
		}
		bySHA[sum] = name
		files = append(files, handed{name: name, sha: sum})
	}

	// The running stack made a folder for each tenant it serves. A missing
	// one means a tenant it does not know (or no stack on this folder):
	// fail before anything is copied, and create nothing.
	dir := filepath.Join(cfg.drop, cfg.tenant)
	if err := tenantDropExists(cfg.drop, dir, cfg.tenant); err != nil {
		return err
	}

	var w *reportWatcher
	if cfg.wait {
		var err error
		// Note where the reports topic ends before any file is handed over,
		// so no report can be missed and no older one is taken for ours.
		if w, err = newReportWatcher(ctx, cfg); err != nil {
			return err
		}
		defer w.close()
	}

	for i, path := range cfg.files {
		if err := copyAtomic(path, dir); err != nil {
			return err
		}
		fmt.Fprintf(stderr, "%s → %s (sha256 %s)\n", observe.Printable(files[i].name), observe.Printable(dir), files[i].sha)
	}
	if w == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, cfg.timeout)
	defer cancel()
	return w.await(ctx, cfg.tenant, files, stdout, stderr)
}

// tenantDropExists checks that the stack's drop folder has a folder for
// tenant: ingest creates one for each configured tenant when it starts.
func tenantDropExists(drop, dir, tenant string) error {
	if fi, err := os.Stat(drop); err != nil || !fi.IsDir() {
		return fmt.Errorf("no drop folder at %s: is esrflow up running on this --data (or give --drop)?", observe.Printable(drop))
	}
	fi, err := os.Stat(dir)
	if err != nil || !fi.IsDir() {
		return fmt.Errorf("tenant %s has no drop folder (%s): the running stack does not serve it; configure it with up's --tenants", tenant, observe.Printable(dir))
	}
	return nil
}

func hashFile(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	sum, err := hashReader(f)
	if err != nil {
		return "", fmt.Errorf("reading %s: %w", path, err)
	}
	return sum, nil
}

// hashReader returns the lower-hex SHA-256 of everything r yields, the
// identity ingest gives a file.
func hashReader(r io.Reader) (string, error) {
	h := sha256.New()
	if _, err := io.Copy(h, r); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// copyAtomic copies src into dir under its base name so that the ingest
// service never sees it half-written: the copy is written as .<name>.part
// (a name ingest skips), synced, then renamed.
func copyAtomic(src, dir string) error {
	name := filepath.Base(src)
	dst := filepath.Join(dir, name)
	if _, err := os.Lstat(dst); err == nil {
		return fmt.Errorf("%s is already waiting in %s", observe.Printable(name), observe.Printable(dir))
	}
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	tmp := filepath.Join(dir, "."+name+".part")
	out, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o640)
	if err != nil {
		return err
	}
	_, err = io.Copy(out, in)
	if err == nil {
		err = out.Sync()
	}
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, dst)
	}
	if err != nil {
		_ = os.Remove(tmp)
		return fmt.Errorf("copying %s into %s: %w", observe.Printable(name), observe.Printable(dir), err)
	}
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync()
		_ = d.Close()
	}
	return nil
}

// reportWatcher consumes esr.ops.file-reports.v1 from the offsets it noted
// when it was made.
type reportWatcher struct {
	cl    *kgo.Client
	serde *avrox.Serde
}

func newReportWatcher(ctx context.Context, cfg ingestConfig) (*reportWatcher, error) {
	cl, err := kgo.NewClient(kgo.SeedBrokers(cfg.brokers...), kgo.ClientID("esrflow-ingest-cli"),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()), kgo.FetchMaxWait(500*time.Millisecond))
	if err != nil {
		return nil, err
	}
	lctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	ends, err := kadm.NewClient(cl).ListEndOffsets(lctx, schemas.TopicFileReports)
	if err == nil {
		err = ends.Error()
	}
	if err != nil {
		cl.Close()
		return nil, fmt.Errorf("reading the end of %s at %v: %w", schemas.TopicFileReports, []string(cfg.brokers), err)
	}
	offsets := map[int32]kgo.Offset{}
	ends.Each(func(o kadm.ListedOffset) { offsets[o.Partition] = kgo.NewOffset().At(o.Offset) })
	if len(offsets) == 0 {
		cl.Close()
		return nil, fmt.Errorf("topic %s has no partitions", schemas.TopicFileReports)
	}
	cl.AddConsumePartitions(map[string]map[int32]kgo.Offset{schemas.TopicFileReports: offsets})
	srCl, err := sr.NewClient(sr.URLs(cfg.registryURL))
	if err != nil {
		cl.Close()
		return nil, err
	}
	return &reportWatcher{cl: cl, serde: avrox.New(srCl, internalv1.NewAPI())}, nil
}

func (w *reportWatcher) close() { w.cl.Close() }

// await prints the report of each file as it arrives and returns an error
// naming the rejected and held files, or the files still without a report when ctx
// ends. A DUPLICATE (the same bytes already accepted) is success: nothing
// was left undone, and stderr says which file it repeats.
func (w *reportWatcher) await(ctx context.Context, tenant string, files []handed, stdout, stderr io.Writer) error {
	reader, _, err := schemas.Latest(schemas.FileReport)
	if err != nil {
		return err
	}
	waiting := map[string]string{} // sha256 -> name
	for _, f := range files {
		waiting[f.sha] = f.name
	}
	var rejected, held []string
	enc := json.NewEncoder(stdout)
	for len(waiting) > 0 {
		fetches := w.cl.PollFetches(ctx)
		if ctx.Err() != nil {
			var names []string
			for _, n := range waiting {
				names = append(names, observe.Printable(n))
			}
			sort.Strings(names)
			return fmt.Errorf("no report within the timeout for %s (is `esrflow up` running, with tenant %s configured?)", strings.Join(names, ", "), tenant)
		}
		for _, fe := range fetches.Errors() {
			return fmt.Errorf("reading %s: %w", schemas.TopicFileReports, fe.Err)
		}
		var ferr error
		fetches.EachRecord(func(rec *kgo.Record) {
			if ferr != nil || string(rec.Key) != tenant {
				return
			}
			var rep internalv1.FileReport
			if _, err := w.serde.Decode(ctx, rec.Value, reader, &rep); err != nil {
				ferr = fmt.Errorf("decoding a report at offset %d: %w", rec.Offset, err)
				return
			}
			name, ok := waiting[rep.File.Sha256]
			if rep.Tenant != tenant || !ok {
				return
			}
			delete(waiting, rep.File.Sha256)
			// Print the report as the api and `esrflow tail` do: fields in
			// schema order, dates as YYYY-MM-DD.
			_, payload, err := avrox.SplitHeader(rec.Value)
			if err != nil {
				ferr = err
				return
			}
			doc, err := avrojson.Decode(reader, payload)
			if err != nil {
				ferr = fmt.Errorf("rendering the report of %s: %w", observe.Printable(name), err)
				return
			}
			if err := enc.Encode(doc); err != nil {
				ferr = err
				return
			}
			switch rep.Status {
			case internalv1.FileStatusAccepted:
			case internalv1.FileStatusDuplicate:
				of := "an accepted file"
				if rep.DuplicateOf != nil {
					of = observe.Printable(rep.DuplicateOf.Name) + " (accepted " + rep.DuplicateOf.AcceptedAt.UTC().Format(time.RFC3339) + ")"
				}
				fmt.Fprintf(stderr, "%s: duplicate of %s: nothing new to ingest\n", observe.Printable(name), of)
			case internalv1.FileStatusHeld:
				// Not read: it waits for an earlier file of its feed. The
				// reason names the rule and what is awaited, no row values.
				held = append(held, observe.Printable(name))
				if rep.Reason != nil {
					fmt.Fprintf(stderr, "%s: held: %s\n", observe.Printable(name), observe.Printable(*rep.Reason))
				}
			default: // REJECTED, or a status this binary does not know
				rejected = append(rejected, observe.Printable(name))
			}
		})
		if ferr != nil {
			return ferr
		}
	}
	var errs []string
	if len(rejected) > 0 {
		errs = append(errs, fmt.Sprintf("%d of %d files rejected: %s", len(rejected), len(files), strings.Join(rejected, ", ")))
	}
	if len(held) > 0 {
		errs = append(errs, fmt.Sprintf("%d of %d files held (an earlier file of the feed is missing): %s", len(held), len(files), strings.Join(held, ", ")))
	}
	if len(errs) > 0 {
		return errors.New(strings.Join(errs, "; "))
	}
	return nil
}
