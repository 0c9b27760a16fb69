// Package validate applies record and cross-record rules: accepted entities to esr.validated.v1, rejected ones to esr.quarantine.v1.
//
// Today it is a placeholder with the full operational shape (see
// platform/service.Placeholder); the pipeline issue builds its processing.
package validate

import "github.com/esrflow/esrflow/platform/service"

// Spec describes the validate binary.
func Spec() service.Spec { return service.Placeholder("validate") }
