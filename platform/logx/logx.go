// Package logx builds the zap loggers every esrflow binary uses and defines the
// fixed vocabulary of log fields.
//
// The vocabulary exists so that no call site invents its own field for a value
// that might carry personal data: the helpers here only accept identifiers that
// are safe to log (tenants, file names, topics, offsets, counts, rule codes).
// Names, NI numbers and dates of birth have no helper on purpose.
package logx

import (
	"fmt"
	"os"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

// Config selects the level and encoding of a logger.
type Config struct {
	Level  string // debug, info, warn, error
	Format string // json (default, for machines) or console (for a person at a terminal)
}

// New returns a logger writing to stderr.
func New(cfg Config) (*zap.Logger, error) { return newTo(cfg, os.Stderr) }

// newTo returns a logger writing to out. The console format colours its
// levels only when out is a terminal and NO_COLOR (no-color.org) is unset:
// a pipe or a file gets plain text, never escape codes.
func newTo(cfg Config, out *os.File) (*zap.Logger, error) {
	level := zapcore.InfoLevel
	if cfg.Level != "" {
		if err := level.Set(cfg.Level); err != nil {
			return nil, fmt.Errorf("parsing log level %q: %w", cfg.Level, err)
		}
	}
	encCfg := zap.NewProductionEncoderConfig()
	encCfg.TimeKey = "ts"
	encCfg.EncodeTime = zapcore.ISO8601TimeEncoder
	var enc zapcore.Encoder
	switch cfg.Format {
	case "", "json":
		enc = zapcore.NewJSONEncoder(encCfg)
	case "console":
		encCfg.EncodeLevel = zapcore.CapitalLevelEncoder
		if isTerminal(out) && os.Getenv("NO_COLOR") == "" {
			encCfg.EncodeLevel = zapcore.CapitalColorLevelEncoder
		}
		enc = zapcore.NewConsoleEncoder(encCfg)
	default:
		return nil, fmt.Errorf("unknown log format %q (want json or console)", cfg.Format)
	}
	core := zapcore.NewCore(enc, zapcore.Lock(out), level)
	return zap.New(core, zap.AddCaller()), nil
}

// isTerminal reports whether f is a character device (a terminal; also
// /dev/null, where colour does no harm), without a terminal library.
func isTerminal(f *os.File) bool {
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

// Service names the component that writes the line.
func Service(name string) zap.Field { return zap.String("service", name) }

// Tenant is the ODS code of the trust the line is about.
func Tenant(ods string) zap.Field { return zap.String("tenant", ods) }

// File is an ESR file name; ESR names carry only VPD, type, date and sequence.
func File(name string) zap.Field { return zap.String("file", name) }

// Line is a 1-based line number inside an ESR file.
func Line(n int) zap.Field { return zap.Int("line", n) }

// Topic is a Kafka topic.
func Topic(t string) zap.Field { return zap.String("topic", t) }

// Partition is a Kafka partition.
func Partition(p int32) zap.Field { return zap.Int32("partition", p) }

// Offset is a Kafka offset.
func Offset(o int64) zap.Field { return zap.Int64("offset", o) }

// Rule is the stable code of a validation or parse rule.
func Rule(code string) zap.Field { return zap.String("rule", code) }

// Count is a number of things (rows, records, events).
func Count(key string, n int64) zap.Field { return zap.Int64(key, n) }
