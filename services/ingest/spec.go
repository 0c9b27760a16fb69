package ingest

import (
	"context"
	"flag"
	"fmt"

	"github.com/twmb/franz-go/pkg/kgo"
	"go.uber.org/zap"

	"github.com/esrflow/esrflow/platform/kafka/kafkax"
	"github.com/esrflow/esrflow/platform/lifecycle"
	"github.com/esrflow/esrflow/platform/service"
	"github.com/esrflow/esrflow/services/ingest/sftpd"
)

// Spec describes the ingest binary: the common service flags, the Kafka
// flags, Config's flags and the built-in SFTP server's sftp.* flags
// (environment ESRFLOW_INGEST_<FLAG>).
func Spec() service.Spec {
	var (
		cfg   Config
		kafka kafkax.Config
		sftp  sftpd.Config
	)
	return service.Spec{
		Name:            "ingest",
		DefaultHTTPAddr: ":8080",
		RegisterFlags: func(fs *flag.FlagSet) {
			kafka.RegisterFlags(fs, "esrflow-ingest")
			cfg.RegisterFlags(fs)
			sftp.RegisterFlags(fs)
		},
		Build: func(ctx context.Context, env service.Env) (service.Built, error) {
			if err := kafka.Validate(); err != nil {
				return service.Built{}, err
			}
			cfg.Brokers = kafka.Brokers
			if kafka.ClientID != "" {
				cfg.ClientOpts = append(cfg.ClientOpts, kgo.ClientID(kafka.ClientID))
			}
			if cfg.Tenants == nil {
				// Resolved here rather than in New: the SFTP server
				// needs the same tenants.
				tenants, err := cfg.tenantFlags.Load()
				if err != nil {
					return service.Built{}, fmt.Errorf("tenants: %w", err)
				}
				cfg.Tenants = tenants
			}
			// Refresh requests for held files go where the tenant's SFTP
			// accounts read (/outbound), with the SFTP server on or off.
			cfg.Outbound = sftp.Outbound
			svc, err := New(cfg, Deps{Log: env.Log, Metrics: env.Metrics, Tracing: env.Tracing})
			if err != nil {
				return service.Built{}, err
			}
			env.Ready.Add("ingest", svc.Ready)
			parts := []lifecycle.Part{lifecycle.Named("ingest", svc)}
			if sftp.Addr != "" {
				// The built-in SFTP server writes into the drop folder
				// ingest watches; it stops with the process.
				sftp.Drop, sftp.Tenants = cfg.Drop, cfg.Tenants
				srv, err := sftpd.New(sftp, env.Log.With(zap.String("part", "sftp")), env.Metrics)
				if err != nil {
					return service.Built{}, err
				}
				env.Log.Info("sftp listening", zap.String("addr", srv.Addr()))
				parts = append(parts, lifecycle.Named("sftp", srv))
			}
			return service.Built{Parts: parts}, nil
		},
	}
}
