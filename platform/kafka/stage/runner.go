package stage

import (
	"context"
	"errors"
)

// Runner runs a Processor over its input topic.
type Runner struct {
	cfg  Config
	proc Processor
	deps Deps
}

// New builds a stage runner.
func New(cfg Config, proc Processor, deps Deps) (*Runner, error) {
	return &Runner{cfg: cfg, proc: proc, deps: deps}, nil
}

// Run consumes and processes until ctx ends or processing fails.
func (r *Runner) Run(ctx context.Context) error { return errors.New("stage: not implemented yet") }

// Ready reports whether the stage has joined its group and restored state.
func (r *Runner) Ready() error { return nil }
