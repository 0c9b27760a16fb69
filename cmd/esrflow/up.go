package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"go.uber.org/zap"

	"github.com/esrflow/esrflow/platform/kafka/embedded"
	"github.com/esrflow/esrflow/platform/lifecycle"
	"github.com/esrflow/esrflow/platform/logx"
)

// upConfig is `esrflow up`'s configuration.
type upConfig struct {
	dataDir    string
	kafkaPort  int
	partitions int
	logLevel   string
}

// pipelineTopics are the internal topics of DESIGN.md, keyed by tenant. Their
// partition count bounds how many instances of a stage can share the work.
func pipelineTopics(partitions int32) []embedded.TopicSpec {
	return []embedded.TopicSpec{
		{Name: "esr.raw.v1", Partitions: partitions},
		{Name: "esr.normalised.v1", Partitions: partitions},
		{Name: "esr.validated.v1", Partitions: partitions},
		{Name: "esr.quarantine.v1", Partitions: partitions},
		{Name: "esr.ops.file-reports.v1", Partitions: 1},
	}
}

func runUp(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var cfg upConfig
	fs := flag.NewFlagSet("up", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&cfg.dataDir, "data", ".esrflow", "folder holding Kafka data, the drop folder and databases; a second `up` on it resumes")
	fs.IntVar(&cfg.kafkaPort, "kafka.port", 9092, "port of the embedded Kafka broker (0 picks a free one)")
	fs.IntVar(&cfg.partitions, "partitions", 6, "partitions of each internal topic (created on first start only)")
	fs.StringVar(&cfg.logLevel, "log.level", "info", "log level")
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
		Topics:  pipelineTopics(int32(cfg.partitions)),
	})
	if err != nil {
		return err
	}
	defer broker.Close()

	fmt.Fprintf(stdout, "esrflow is up\n  kafka bootstrap: %s\n  data folder:     %s\nCtrl-C stops it; `esrflow up --data %s` again resumes.\n",
		broker.Seeds()[0], cfg.dataDir, cfg.dataDir)
	log.Info("embedded kafka started", zap.Strings("seeds", broker.Seeds()))
	return lifecycle.Run(ctx, log, lifecycle.Named("kafka", lifecycle.Func(func(ctx context.Context) error {
		<-ctx.Done()
		return ctx.Err()
	})))
}
