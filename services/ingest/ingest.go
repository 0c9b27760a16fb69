// Package ingest watches the drop folder, runs file-level checks and writes file markers and raw records to esr.raw.v1.
//
// Today it is a placeholder with the full operational shape (see
// platform/service.Placeholder); the pipeline issue builds its processing.
package ingest

import "github.com/esrflow/esrflow/platform/service"

// Spec describes the ingest binary.
func Spec() service.Spec { return service.Placeholder("ingest") }
