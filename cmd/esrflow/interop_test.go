package main

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hamba/avro/v2"
	"github.com/linkedin/goavro/v2"
	kafkago "github.com/segmentio/kafka-go"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sr"

	"github.com/esrflow/esrflow/cmd/esrflow/internal/observe"
	"github.com/esrflow/esrflow/esr/gen"
	"github.com/esrflow/esrflow/schemas"
)

// seen is one public event as a client read it, in a form every client
// can produce: the value is the Avro value decoded with its writer schema,
// as plain JSON (the convention of scripts/read-events: unions unwrapped,
// dates "YYYY-MM-DD", timestamp-millis RFC 3339 UTC with milliseconds).
type seen struct {
	Key      string            `json:"key"`
	Headers  map[string]string `json:"headers"`
	SchemaID int               `json:"schema_id"`
	Value    string            `json:"value"` // canonical JSON
}

// where names a record: topic/partition/offset.
func where(topic string, partition int, offset int64) string {
	return topic + "/" + strconv.Itoa(partition) + "/" + strconv.FormatInt(offset, 10)
}

// TestInteropReaders runs a generated trust through the whole embedded
// stack and reads its public topics with four clients that share no code:
// franz-go + hamba/avro (ours), segmentio/kafka-go + linkedin/goavro (the
// independent implementation the design names), librdkafka + Apache Avro in
// Python (scripts/read-events, the demo's reader) and kafkajs +
// @kafkajs/confluent-schema-registry in Node (no codec plugin: it reads gzip
// or uncompressed batches only). Each must see the same committed records
// with identical keys, headers and decoded values. Then kafkajs' register()
// with its defaults must leave a public subject at BACKWARD_TRANSITIVE.
// The Python and Node clients are installed by `make test-deps`; without
// them the test skips that client, except in CI (CI=true), where it fails.
func TestInteropReaders(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end run")
	}
	python, node := interopPython(t), interopNode(t)
	tr := generate(t, gen.Config{Tenant: "RXX", VPD: "412", Staff: 1000, Days: 6, Seed: 3, Faults: true})
	st, rd, _ := runTrust(t, tr, 3*time.Minute)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	events, err := rd.Events(ctx, "RXX")
	if err != nil {
		t.Fatal(err)
	}
	published, _ := tr.expectedEvents()
	compareEvents(t, events, published)

	ours := readFranz(ctx, t, rd, st.RegistryURL())
	if len(ours) != len(events) || len(ours) == 0 {
		t.Fatalf("franz-go read %d public records, %d events published", len(ours), len(events))
	}
	for w, a := range ours {
		if want := fmt.Sprintf("%s/schemas/ids/%d", st.RegistryURL(), a.SchemaID); a.Headers["ce_dataschema"] != want {
			t.Fatalf("%s: ce_dataschema %q, want %q", w, a.Headers["ce_dataschema"], want)
		}
	}
	last := map[string]int64{} // topic/partition → last committed offset
	for w := range ours {
		i := strings.LastIndexByte(w, '/')
		off, _ := strconv.ParseInt(w[i+1:], 10, 64)
		last[w[:i]] = max(off, last[w[:i]])
	}
	sameRecords(t, "segmentio/kafka-go + linkedin/goavro", ours, readKafkaGo(ctx, t, st.Seeds(), st.RegistryURL(), last), true)
	if python != "" {
		sameRecords(t, "librdkafka + Apache Avro (scripts/read-events)", ours, readPython(ctx, t, python, st.Seeds(), st.RegistryURL()), false)
	}
	if node != "" {
		sameRecords(t, "kafkajs + @kafkajs/confluent-schema-registry", ours, readKafkajs(ctx, t, node, st.Seeds(), st.RegistryURL()), false)
		kafkajsCannotDowngrade(ctx, t, node, st.RegistryURL())
	}
	t.Logf("%d events read identically by every client", len(ours))
}

// interopPython returns Debian's python3 with confluent_kafka and avro, or
// "" (skipping that client) outside CI.
func interopPython(t *testing.T) string {
	const py = "/usr/bin/python3"
	err := exec.Command(py, "-c", "import confluent_kafka, avro.io").Run()
	if err == nil {
		return py
	}
	if os.Getenv("CI") == "true" {
		t.Fatalf("CI: %s cannot import confluent_kafka and avro (%v): `make test-deps` installs python3-confluent-kafka and python3-avro", py, err)
	}
	t.Logf("skipping the librdkafka reader: %s cannot import confluent_kafka and avro (%v); `make test-deps` installs them", py, err)
	return ""
}

// readFranz reads the public topics with franz-go (read committed) and
// decodes each value with hamba/avro and the writer schema from the
// registry.
func readFranz(ctx context.Context, t *testing.T, rd *observe.Reader, registryURL string) map[string]seen {
	t.Helper()
	cl, err := sr.NewClient(sr.URLs(registryURL))
	if err != nil {
		t.Fatal(err)
	}
	type writer struct {
		schema avro.Schema
		tree   any
	}
	writers := map[int]writer{}
	out := map[string]seen{}
	err = rd.Records(ctx, publicTopics, func(rec *kgo.Record) error {
		if platformNamespaces[strings.Split(rec.Topic, ".")[1]] {
			return nil
		}
		id, body, err := wire(rec.Value)
		if err != nil {
			return err
		}
		w, ok := writers[id]
		if !ok {
			s, err := cl.SchemaByID(ctx, id)
			if err != nil {
				return err
			}
			if w.schema, err = avro.Parse(s.Schema); err != nil {
				return err
			}
			if err := json.Unmarshal([]byte(s.Schema), &w.tree); err != nil {
				return err
			}
			writers[id] = w
		}
		var v any
		if err := avro.Unmarshal(w.schema, body, &v); err != nil {
			return fmt.Errorf("hamba: %w", err)
		}
		if c := rec.Attrs.CompressionType(); c > 1 {
			return fmt.Errorf("%s: a batch compressed with codec %d, which kafkajs cannot read without a plugin (want gzip or none)", rec.Topic, c)
		}
		hd := map[string]string{}
		for _, h := range rec.Headers {
			hd[h.Key] = string(h.Value)
		}
		out[where(rec.Topic, int(rec.Partition), rec.Offset)] = seen{Key: string(rec.Key), Headers: hd, SchemaID: id,
			Value: canonicalJSON(t, plainAvro(w.tree, v, "", map[string]any{}))}
		return nil
	})
	if err != nil {
		t.Fatalf("franz-go: %v", err)
	}
	return out
}

// publicTopics matches esr.<tenant>.<event>.v1 for any event name, as
// scripts/read-events does, less the platform's own namespaces.
const publicTopics = `^esr\.(?:[a-z0-9]+)\.(?:[a-z0-9-]+)\.v1$`

// platformNamespaces are the second parts of internal topic names that
// publicTopics also matches (esr.ops.file-reports.v1 ...).
var platformNamespaces = map[string]bool{"ops": true, "ingest": true, "normalise": true, "validate": true, "publish": true}

// readKafkaGo reads each partition in last with segmentio/kafka-go's
// Reader (read committed) up to its last committed offset, and decodes with
// linkedin/goavro and the writer schema fetched over plain HTTP.
//
// kafka-go is told where to stop by franz-go's reading: a Reader blocks at
// the end of a partition, and transaction markers leave it no offset of
// its own to stop at.
//
// kafka-go (v0.4.51) implements read_committed only on the broker's side:
// its Reader hands out transaction markers as messages and does not drop
// the records of aborted transactions. So a kafka-go consumer of our topics
// skips markers (isControl) and de-duplicates by ce_id, which a retried
// transaction reproduces (docs/publish.md); sameRecords allows it a record
// franz-go did not see only when its ce_id is a committed one.
func readKafkaGo(ctx context.Context, t *testing.T, seeds []string, registryURL string, last map[string]int64) map[string]seen {
	t.Helper()
	codecs := map[int]*goavro.Codec{}
	trees := map[int]any{}
	out := map[string]seen{}
	for tp, end := range last {
		i := strings.LastIndexByte(tp, '/')
		topic := tp[:i]
		part, _ := strconv.Atoi(tp[i+1:])
		r := kafkago.NewReader(kafkago.ReaderConfig{Brokers: seeds, Topic: topic, Partition: part,
			IsolationLevel: kafkago.ReadCommitted, MaxWait: 200 * time.Millisecond, MinBytes: 1, MaxBytes: 10 << 20})
		if err := r.SetOffset(kafkago.FirstOffset); err != nil {
			t.Fatal(err)
		}
		for {
			m, err := r.ReadMessage(ctx)
			if err != nil {
				r.Close()
				t.Fatalf("kafka-go %s: %v", tp, err)
			}
			if isControl(m) {
				if m.Offset >= end {
					break
				}
				continue
			}
			id, body, err := wire(m.Value)
			if err != nil {
				t.Fatalf("kafka-go %s@%d: %v", tp, m.Offset, err)
			}
			codec := codecs[id]
			if codec == nil {
				text := schemaByHTTP(t, registryURL, id)
				if codec, err = goavro.NewCodec(text); err != nil {
					t.Fatalf("goavro: %v", err)
				}
				var tree any
				if err := json.Unmarshal([]byte(text), &tree); err != nil {
					t.Fatal(err)
				}
				codecs[id], trees[id] = codec, tree
			}
			v, rest, err := codec.NativeFromBinary(body)
			if err != nil || len(rest) != 0 {
				t.Fatalf("goavro %s@%d: %v (%d bytes left)", tp, m.Offset, err, len(rest))
			}
			hd := map[string]string{}
			for _, h := range m.Headers {
				hd[h.Key] = string(h.Value)
			}
			out[where(m.Topic, m.Partition, m.Offset)] = seen{Key: string(m.Key), Headers: hd, SchemaID: id,
				Value: canonicalJSON(t, plainAvro(trees[id], v, "", map[string]any{}))}
			if m.Offset >= end {
				break
			}
		}
		r.Close()
	}
	return out
}

// readPython runs scripts/read-events (librdkafka + Apache Avro).
func readPython(ctx context.Context, t *testing.T, python string, seeds []string, registryURL string) map[string]seen {
	t.Helper()
	script, err := filepath.Abs(filepath.Join("..", "..", "scripts", "read-events"))
	if err != nil {
		t.Fatal(err)
	}
	return readJSONLines(t, "read-events", exec.CommandContext(ctx, python, script,
		"--bootstrap", strings.Join(seeds, ","), "--registry", registryURL, "--tenant", "RXX"))
}

// kafkajsDir holds the kafkajs client, installed by `make test-deps`.
var kafkajsDir = filepath.Join("testdata", "interop-kafkajs")

// interopNode returns node when kafkajs is installed, or "" (skipping
// that client) outside CI.
func interopNode(t *testing.T) string {
	node, err := exec.LookPath("node")
	if err == nil {
		_, err = os.Stat(filepath.Join(kafkajsDir, "node_modules", "kafkajs"))
	}
	if err == nil {
		return node
	}
	if os.Getenv("CI") == "true" {
		t.Fatalf("CI: node with kafkajs is required (%v): `make test-deps` runs npm ci in %s", err, kafkajsDir)
	}
	t.Logf("skipping the kafkajs reader (%v): `make test-deps` runs npm ci in %s", err, kafkajsDir)
	return ""
}

// readKafkajs runs testdata/interop-kafkajs/read.js: kafkajs with no codec
// plugin, and @kafkajs/confluent-schema-registry (avsc).
func readKafkajs(ctx context.Context, t *testing.T, node string, seeds []string, registryURL string) map[string]seen {
	t.Helper()
	cmd := exec.CommandContext(ctx, node, "read.js", strings.Join(seeds, ","), registryURL, "RXX")
	cmd.Dir = kafkajsDir
	return readJSONLines(t, "kafkajs", cmd)
}

// kafkajsCannotDowngrade registers a public subject's latest schema with
// @kafkajs/confluent-schema-registry's defaults, as a consumer team might,
// and requires the subject to keep BACKWARD_TRANSITIVE: with a level of its
// own, register() refuses (BACKWARD != BACKWARD_TRANSITIVE) instead of
// setting BACKWARD on it.
func kafkajsCannotDowngrade(ctx context.Context, t *testing.T, node, registryURL string) {
	t.Helper()
	subject := schemas.Subject(schemas.EventTopic("RXX", schemas.EventStarterCreated))
	_, text, err := schemas.Latest(schemas.StarterCreated)
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "schema.avsc")
	if err := os.WriteFile(file, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.CommandContext(ctx, node, "register.js", registryURL, subject, file)
	cmd.Dir = kafkajsDir
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("register.js: %v\n%s", err, out)
	}
	var level struct {
		CompatibilityLevel string `json:"compatibilityLevel"`
	}
	if code := getJSON(t, registryURL+"/config/"+subject, &level); code != http.StatusOK || level.CompatibilityLevel != "BACKWARD_TRANSITIVE" {
		t.Errorf("after kafkajs register() (%s): %s has level %q (HTTP %d), want its own BACKWARD_TRANSITIVE", strings.TrimSpace(string(out)), subject, level.CompatibilityLevel, code)
	}
	t.Logf("kafkajs register() with its defaults: %s", strings.TrimSpace(string(out)))
}

// readJSONLines runs a reader that prints scripts/read-events' format.
func readJSONLines(t *testing.T, name string, cmd *exec.Cmd) map[string]seen {
	t.Helper()
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	stdout, err := cmd.Output()
	if err != nil {
		t.Fatalf("%s: %v\n%s", name, err, stderr.String())
	}
	out := map[string]seen{}
	dec := json.NewDecoder(bytes.NewReader(stdout))
	dec.UseNumber()
	for {
		var line struct {
			Topic     string
			Partition int
			Offset    int64
			Key       string
			CEID      string `json:"ce_id"`
			CEType    string `json:"ce_type"`
			Headers   map[string]string
			SchemaID  int `json:"schema_id"`
			Value     any
		}
		if err := dec.Decode(&line); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			t.Fatalf("%s output: %v", name, err)
		}
		if line.CEID != line.Headers["ce_id"] || line.CEType != line.Headers["ce_type"] {
			t.Errorf("%s: ce_id/ce_type %q/%q, headers %v", name, line.CEID, line.CEType, line.Headers)
		}
		out[where(line.Topic, line.Partition, line.Offset)] = seen{Key: line.Key, Headers: line.Headers, SchemaID: line.SchemaID,
			Value: canonicalJSON(t, line.Value)}
	}
	return out
}

// sameRecords requires got to hold exactly the records of want, identical.
// With dedupByID, got may hold more records whose ce_id is a committed
// one (aborted copies, for a client that cannot drop them).
func sameRecords(t *testing.T, client string, want, got map[string]seen, dedupByID bool) {
	t.Helper()
	var diffs []string
	ids := map[string]bool{}
	for _, a := range want {
		ids[a.Headers["ce_id"]] = true
	}
	aborted := 0
	for w, a := range want {
		b, ok := got[w]
		switch {
		case !ok:
			diffs = append(diffs, w+": not read")
		case a.Key != b.Key || a.SchemaID != b.SchemaID:
			diffs = append(diffs, fmt.Sprintf("%s: key/schema %q/%d, franz-go %q/%d", w, b.Key, b.SchemaID, a.Key, a.SchemaID))
		case fmt.Sprint(a.Headers) != fmt.Sprint(b.Headers):
			diffs = append(diffs, fmt.Sprintf("%s: headers %v\n  franz-go %v", w, b.Headers, a.Headers))
		case a.Value != b.Value:
			diffs = append(diffs, fmt.Sprintf("%s: value %s\n  franz-go %s", w, b.Value, a.Value))
		}
	}
	for w, b := range got {
		if _, ok := want[w]; !ok {
			if dedupByID && ids[b.Headers["ce_id"]] {
				aborted++
				continue
			}
			diffs = append(diffs, w+": read, but not a committed record")
		}
	}
	if aborted > 0 {
		t.Logf("%s: %d records of aborted transactions, each a copy of a committed ce_id", client, aborted)
	}
	sort.Strings(diffs)
	if len(diffs) > 0 {
		t.Errorf("%s: %d of %d records differ from franz-go + hamba/avro", client, len(diffs), len(want))
		for i, d := range diffs {
			if i == 10 {
				break
			}
			t.Errorf("  %s", d)
		}
	}
}

// isControl tells a transaction marker that kafka-go returns as a message:
// a control record's key is its version (0) and type (0 abort, 1 commit) as
// two int16, its value a version and the coordinator epoch (6 bytes). An
// event's key is a person id and its value at least the 5-byte header and a
// record.
func isControl(m kafkago.Message) bool {
	return len(m.Key) == 4 && m.Key[0] == 0 && m.Key[1] == 0 && m.Key[2] == 0 && m.Key[3] <= 1 && len(m.Value) == 6 && len(m.Headers) == 0
}

// wire splits a Confluent wire-format value.
func wire(b []byte) (int, []byte, error) {
	if len(b) < 5 || b[0] != 0 {
		return 0, nil, errors.New("value is not in the Confluent wire format")
	}
	return int(binary.BigEndian.Uint32(b[1:5])), b[5:], nil
}

func schemaByHTTP(t *testing.T, registryURL string, id int) string {
	t.Helper()
	resp, err := http.Get(fmt.Sprintf("%s/schemas/ids/%d", registryURL, id))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body struct{ Schema string }
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("schema %d: HTTP %d %v", id, resp.StatusCode, err)
	}
	return body.Schema
}

// canonicalJSON is v as JSON with sorted keys and numbers as written.
func canonicalJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var x any
	if err := dec.Decode(&x); err != nil {
		t.Fatal(err)
	}
	b, _ = json.Marshal(x)
	return string(b)
}

// plainAvro turns a value decoded generically by an Avro library (hamba or
// goavro) into plain JSON types, led by the writer schema (parsed JSON):
// unions unwrapped, date as YYYY-MM-DD, timestamp-millis as RFC 3339 UTC
// with milliseconds, integers as int64, bytes and fixed as hex. names holds
// the named types seen so far (by full and short name); ns is the enclosing
// namespace.
func plainAvro(schema, v any, ns string, names map[string]any) any {
	switch s := schema.(type) {
	case string:
		if def, ok := names[s]; ok {
			return plainAvro(def, v, ns, names)
		}
		if def, ok := names[ns+"."+s]; ok {
			return plainAvro(def, v, ns, names)
		}
		return plainPrimitive(s, "", v)
	case []any: // union
		if v == nil {
			return nil
		}
		if m, ok := v.(map[string]any); ok && len(m) == 1 {
			for k, x := range m {
				for _, branch := range s {
					if branchName(branch, ns) == k || branchName(branch, "") == k {
						return plainAvro(branch, x, ns, names)
					}
				}
			}
		}
		for _, branch := range s {
			if branch != "null" {
				return plainAvro(branch, v, ns, names)
			}
		}
		return v
	case map[string]any:
		typ, _ := s["type"].(string)
		if name, ok := s["name"].(string); ok {
			full := name
			if !strings.Contains(name, ".") {
				if n, ok := s["namespace"].(string); ok {
					full = n + "." + name
				} else if ns != "" {
					full = ns + "." + name
				}
			}
			names[full], names[name] = s, s
			if i := strings.LastIndexByte(full, '.'); i > 0 {
				ns = full[:i]
			}
		}
		switch typ {
		case "record":
			m, _ := v.(map[string]any)
			out := map[string]any{}
			for _, f := range s["fields"].([]any) {
				fd := f.(map[string]any)
				name := fd["name"].(string)
				out[name] = plainAvro(fd["type"], m[name], ns, names)
			}
			return out
		case "enum":
			return fmt.Sprint(v)
		case "array":
			var out []any
			switch xs := v.(type) {
			case []any:
				for _, x := range xs {
					out = append(out, plainAvro(s["items"], x, ns, names))
				}
			}
			return out
		case "map":
			out := map[string]any{}
			if m, ok := v.(map[string]any); ok {
				for k, x := range m {
					out[k] = plainAvro(s["values"], x, ns, names)
				}
			}
			return out
		case "fixed":
			return plainPrimitive("bytes", "", v)
		default:
			if sub, ok := s["type"].(map[string]any); ok {
				return plainAvro(sub, v, ns, names)
			}
			logical, _ := s["logicalType"].(string)
			return plainPrimitive(typ, logical, v)
		}
	}
	return v
}

func branchName(branch any, ns string) string {
	switch b := branch.(type) {
	case string:
		return b
	case map[string]any:
		if n, ok := b["name"].(string); ok {
			if nn, ok := b["namespace"].(string); ok && !strings.Contains(n, ".") {
				return nn + "." + n
			}
			if ns != "" && !strings.Contains(n, ".") {
				return ns + "." + n
			}
			return n
		}
		if tp, ok := b["type"].(string); ok {
			if l, ok := b["logicalType"].(string); ok {
				return tp + "." + l
			}
			return tp
		}
	}
	return ""
}

func plainPrimitive(typ, logical string, v any) any {
	if tm, ok := v.(time.Time); ok {
		switch logical {
		case "date":
			return tm.UTC().Format(time.DateOnly)
		default:
			return tm.UTC().Format("2006-01-02T15:04:05.000Z")
		}
	}
	switch x := v.(type) {
	case int:
		return int64(x)
	case int32:
		return int64(x)
	case []byte:
		return hex.EncodeToString(x)
	case float32:
		return float64(x)
	}
	return v
}
