// Package normalise maps raw ESR rows from esr.raw.v1 to canonical entities on esr.normalised.v1.
//
// Today it is a placeholder with the full operational shape (see
// platform/service.Placeholder); the pipeline issue builds its processing.
package normalise

import "github.com/esrflow/esrflow/platform/service"

// Spec describes the normalise binary.
func Spec() service.Spec { return service.Placeholder("normalise") }
