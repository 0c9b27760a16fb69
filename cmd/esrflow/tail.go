package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/hamba/avro/v2"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sr"

	"github.com/esrflow/esrflow/platform/avrox"
	"github.com/esrflow/esrflow/platform/config"
	"github.com/esrflow/esrflow/schemas"
	"github.com/esrflow/esrflow/services/api/avrojson"
)

// tailLine is one printed record.
type tailLine struct {
	Topic     string            `json:"topic"`
	Partition int32             `json:"partition"`
	Offset    int64             `json:"offset"`
	Timestamp string            `json:"timestamp"`
	Key       string            `json:"key"`
	Headers   map[string]string `json:"headers"`
	SchemaID  int               `json:"schema_id,omitempty"`
	Value     any               `json:"value"`
	// Error says why the value could not be decoded; Value is then null.
	Error string `json:"error,omitempty"`
}

var eventNames = []string{schemas.EventStarterCreated, schemas.EventLeaverConfirmed, schemas.EventPositionUpdated, schemas.EventLeaverReversed}

// tailPattern is the regex of the event topics to read.
func tailPattern(tenant, event string) (string, error) {
	t := `[a-z0-9]+`
	if tenant != "" {
		if !regexp.MustCompile(`^[A-Za-z0-9]+$`).MatchString(tenant) {
			return "", fmt.Errorf("--tenant %q: want an ODS code (letters and digits)", tenant)
		}
		t = strings.ToLower(tenant)
	}
	e := `(` + strings.Join(eventNames, "|") + `)`
	if event != "" {
		found := false
		for _, n := range eventNames {
			found = found || n == event
		}
		if !found {
			return "", fmt.Errorf("--type %q: want one of %s", event, strings.Join(eventNames, ", "))
		}
		e = event
	}
	return `^esr\.` + t + `\.` + e + `\.v1$`, nil
}

// runTail prints published events as JSON lines: where each record is, its
// key and CloudEvents headers, and its value decoded through the registry
// with the schema it was written with (dates YYYY-MM-DD, timestamps RFC 3339).
// It reads committed records only and joins no consumer group.
func runTail(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("tail", flag.ContinueOnError)
	fs.SetOutput(stderr)
	brokers := config.StringList{"127.0.0.1:9092"}
	fs.Var(&brokers, "kafka.brokers", "comma-separated Kafka bootstrap brokers")
	registryURL := fs.String("registry.url", "http://127.0.0.1:8081", "schema registry URL")
	tenant := fs.String("tenant", "", "only this tenant's events (ODS code, e.g. RXX); default every tenant")
	event := fs.String("type", "", "only this event: starter-created, leaver-confirmed, position-updated or leaver-reversed")
	from := fs.String("from", "end", "where to start: start (everything kept) or end (new events only)")
	max := fs.Int("max", 0, "stop after this many events (0: run until interrupted)")
	connectTimeout := fs.Duration("connect.timeout", 10*time.Second, "how long to try the brokers and the registry before giving up")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: esrflow tail [flags]\n\nPrints published events as JSON lines, decoded through the schema registry.\n\nflags:")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	pattern, err := tailPattern(*tenant, *event)
	if err != nil {
		return err
	}
	var reset kgo.Offset
	switch *from {
	case "start":
		reset = kgo.NewOffset().AtStart()
	case "end":
		reset = kgo.NewOffset().AtEnd()
	default:
		return fmt.Errorf("--from %q: want start or end", *from)
	}
	if *max < 0 {
		return errors.New("--max must be 0 or more")
	}
	srCl, err := sr.NewClient(sr.URLs(*registryURL))
	if err != nil {
		return fmt.Errorf("registry client: %w", err)
	}
	cl, err := kgo.NewClient(
		kgo.SeedBrokers(brokers...),
		kgo.ClientID("esrflow-tail"),
		kgo.ConsumeRegex(),
		kgo.ConsumeTopics(pattern),
		kgo.ConsumeResetOffset(reset),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		kgo.MetadataMaxAge(5*time.Second),
	)
	if err != nil {
		return fmt.Errorf("kafka client: %w", err)
	}
	defer cl.Close()
	// Fail fast, naming what was tried, rather than poll forever in
	// silence when no stack is running.
	if err := reachable(ctx, cl, srCl, brokers, *registryURL, *connectTimeout); err != nil {
		return err
	}

	dec := &writerSchemas{cl: srCl, byID: map[int]avro.Schema{}}
	enc := json.NewEncoder(stdout)
	enc.SetEscapeHTML(false)
	printed := 0
	for *max == 0 || printed < *max {
		fetches := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			return nil // interrupted: a normal way to stop tailing
		}
		fetches.EachError(func(topic string, p int32, err error) {
			fmt.Fprintf(stderr, "esrflow tail: fetching %s[%d]: %v\n", topic, p, err)
		})
		for _, r := range fetches.Records() {
			if *max > 0 && printed >= *max {
				break
			}
			if err := enc.Encode(dec.line(ctx, r)); err != nil {
				return err
			}
			printed++
		}
	}
	return nil
}

// writerSchemas decodes values with the schema they were written with,
// fetched from the registry by id once.
type writerSchemas struct {
	cl   *sr.Client
	mu   sync.Mutex
	byID map[int]avro.Schema
}

func (w *writerSchemas) line(ctx context.Context, r *kgo.Record) tailLine {
	l := tailLine{
		Topic: r.Topic, Partition: r.Partition, Offset: r.Offset,
		Timestamp: r.Timestamp.UTC().Format(time.RFC3339Nano),
		Key:       string(r.Key), Headers: map[string]string{},
	}
	for _, h := range r.Headers {
		if strings.HasPrefix(h.Key, "ce_") {
			l.Headers[h.Key] = string(h.Value)
		}
	}
	id, payload, err := avrox.SplitHeader(r.Value)
	if err != nil {
		l.Error = err.Error()
		return l
	}
	l.SchemaID = id
	schema, err := w.schema(ctx, id)
	if err != nil {
		l.Error = err.Error()
		return l
	}
	if l.Value, err = avrojson.Decode(schema, payload); err != nil {
		l.Error = fmt.Sprintf("decoding with schema id %d: %v", id, err)
	}
	return l
}

func (w *writerSchemas) schema(ctx context.Context, id int) (avro.Schema, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if s, ok := w.byID[id]; ok {
		return s, nil
	}
	ss, err := w.cl.SchemaByID(ctx, id)
	if err != nil {
		return nil, fmt.Errorf("fetching schema id %d: %w", id, err)
	}
	s, err := avro.ParseWithCache(ss.Schema, "", &avro.SchemaCache{})
	if err != nil {
		return nil, fmt.Errorf("parsing schema id %d: %w", id, err)
	}
	w.byID[id] = s
	return s, nil
}

// reachable checks that a broker answers and the registry too, within
// timeout, and names the addresses it tried when not.
func reachable(ctx context.Context, cl *kgo.Client, srCl *sr.Client, brokers []string, registryURL string, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	if err := cl.Ping(ctx); err != nil {
		return fmt.Errorf("no Kafka broker answers at %s (is esrflow up running? --kafka.brokers sets the address): %w", strings.Join(brokers, ","), err)
	}
	if _, err := srCl.Subjects(ctx); err != nil {
		return fmt.Errorf("the schema registry does not answer at %s (--registry.url sets it): %w", registryURL, err)
	}
	return nil
}
