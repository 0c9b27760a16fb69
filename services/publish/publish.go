// Package publish diffs validated entities against state and publishes starter-created, leaver-confirmed and position-updated events.
//
// Today it is a placeholder with the full operational shape (see
// platform/service.Placeholder); the pipeline issue builds its processing.
package publish

import "github.com/esrflow/esrflow/platform/service"

// Spec describes the publish binary.
func Spec() service.Spec { return service.Placeholder("publish") }
