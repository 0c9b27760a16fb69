module github.com/esrflow/esrflow/cmd/esrflow

go 1.26.0

require (
	github.com/esrflow/esrflow/esr v0.0.0
	github.com/esrflow/esrflow/platform v0.0.0
	go.uber.org/zap v1.28.0
)

require (
	github.com/klauspost/compress v1.20.3 // indirect
	github.com/pierrec/lz4/v4 v4.1.33 // indirect
	github.com/twmb/franz-go v1.22.2 // indirect
	github.com/twmb/franz-go/pkg/kadm v1.19.0 // indirect
	github.com/twmb/franz-go/pkg/kfake v0.0.0-20260918054303-01f206a7e32c // indirect
	github.com/twmb/franz-go/pkg/kmsg v1.15.0 // indirect
	go.uber.org/multierr v1.10.0 // indirect
)

replace github.com/esrflow/esrflow/platform => ../../platform

replace github.com/esrflow/esrflow/esr => ../../esr
