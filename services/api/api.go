// Package api materialises current state and the audit trail into a database and serves the REST API.
//
// Today it is a placeholder with the full operational shape (see
// platform/service.Placeholder); the pipeline issue builds its processing.
package api

import "github.com/esrflow/esrflow/platform/service"

// Spec describes the api binary.
func Spec() service.Spec { return service.Placeholder("api") }
