package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/twmb/franz-go/pkg/sr"
	"go.uber.org/zap"

	"github.com/esrflow/esrflow/platform/kafka/embedded"
	"github.com/esrflow/esrflow/platform/lifecycle"
	"github.com/esrflow/esrflow/platform/logx"
	"github.com/esrflow/esrflow/platform/obs"
	"github.com/esrflow/esrflow/schemas"
	"github.com/esrflow/esrflow/schemas/registrar"
	"github.com/esrflow/esrflow/services/registry"
)

// upConfig is `esrflow up`'s configuration.
type upConfig struct {
	dataDir      string
	kafkaPort    int
	registryAddr string
	partitions   int
	logLevel     string
}

// internalTopics are the pipeline's internal topics (DESIGN.md), keyed by
// tenant; their partition count bounds how many instances of a stage can
// share the work. Partition counts are fixed at creation: changing them would
// move tenants between partitions and break per-tenant order.
func internalTopics(partitions int32) []embedded.TopicSpec {
	return []embedded.TopicSpec{
		{Name: schemas.TopicRaw, Partitions: partitions},
		{Name: schemas.TopicNormalised, Partitions: partitions},
		{Name: schemas.TopicValidated, Partitions: partitions},
		{Name: schemas.TopicQuarantine, Partitions: partitions},
		{Name: schemas.TopicFileReports, Partitions: 1},
	}
}

func runUp(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var cfg upConfig
	fs := flag.NewFlagSet("up", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&cfg.dataDir, "data", ".esrflow", "folder holding Kafka data (and later the drop folder and databases); a second `up` on it resumes")
	fs.IntVar(&cfg.kafkaPort, "kafka.port", 9092, "port of the embedded Kafka broker (0 picks a free one)")
	fs.StringVar(&cfg.registryAddr, "registry.addr", "127.0.0.1:8081", "listen address of the schema registry (port 0 picks a free one)")
	fs.IntVar(&cfg.partitions, "partitions", 6, "partitions of each internal topic (applied on first start only)")
	fs.StringVar(&cfg.logLevel, "log.level", "info", "log level: debug, info, warn, error")
	if err := fs.Parse(args); err != nil {
		return err
	}
	log, err := logx.New(logx.Config{Level: cfg.logLevel, Format: "console"})
	if err != nil {
		return err
	}
	defer func() { _ = log.Sync() }()

	kafkaDir := filepath.Join(cfg.dataDir, "kafka")
	if err := os.MkdirAll(kafkaDir, 0o750); err != nil {
		return err
	}
	broker, err := embedded.Start(ctx, embedded.Config{
		DataDir: kafkaDir,
		Port:    cfg.kafkaPort,
		Topics:  internalTopics(int32(cfg.partitions)),
	})
	if err != nil {
		return err
	}
	defer broker.Close()
	log.Info("embedded kafka started", zap.Strings("seeds", broker.Seeds()))

	reg, err := registry.New(registry.Config{
		// Public events evolve BACKWARD_TRANSITIVE (DESIGN.md); the internal
		// topics are held to the same bar so no stage is ever surprised.
		DefaultCompatibility: "BACKWARD_TRANSITIVE",
	}, registry.Deps{Brokers: broker.Seeds(), Logger: log.With(logx.Service("registry"))})
	if err != nil {
		return err
	}
	defer reg.Close()
	if err := reg.Start(ctx); err != nil {
		return fmt.Errorf("starting schema registry: %w", err)
	}
	regSrv, err := obs.Listen(cfg.registryAddr, reg.Handler())
	if err != nil {
		return fmt.Errorf("schema registry listen: %w", err)
	}

	parts := []lifecycle.Part{
		lifecycle.Named("registry", lifecycle.Func(reg.Run)),
		lifecycle.Named("registry-http", lifecycle.Func(regSrv.Run)),
		lifecycle.Named("announce", lifecycle.Func(func(ctx context.Context) error {
			if err := registerInternalSchemas(ctx, regSrv.URL()); err != nil {
				return err
			}
			fmt.Fprintf(stdout, "esrflow is up\n  kafka bootstrap: %s\n  schema registry: %s\n  data folder:     %s\nCtrl-C stops it; `esrflow up --data %s` again resumes.\n",
				broker.Seeds()[0], regSrv.URL(), cfg.dataDir, cfg.dataDir)
			<-ctx.Done()
			return ctx.Err()
		})),
	}
	// lifecycle.Run treats a part stopping because ctx ended as a clean stop.
	err = lifecycle.Run(ctx, log, parts...)
	log.Info("esrflow stopped")
	return err
}

// registerInternalSchemas puts every version of the internal topics' schemas
// in the registry, so `esrflow tail` and any consumer can decode them; it is
// idempotent across restarts.
func registerInternalSchemas(ctx context.Context, url string) error {
	cl, err := sr.NewClient(sr.URLs(url))
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	_, err = registrar.RegisterTopics(ctx, cl,
		schemas.TopicRaw, schemas.TopicNormalised, schemas.TopicValidated, schemas.TopicQuarantine, schemas.TopicFileReports)
	return err
}
