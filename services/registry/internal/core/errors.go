// Package core holds the registry's rules: registration, lookup, deletion,
// compatibility, config and mode, on top of the topic-backed store.
package core

import (
	"errors"
	"fmt"
	"net/http"
)

// Confluent Schema Registry error codes. The HTTP status is the code's
// first three digits.
const (
	CodeSubjectNotFound            = 40401
	CodeVersionNotFound            = 40402
	CodeSchemaNotFound             = 40403
	CodeSubjectSoftDeleted         = 40404
	CodeSubjectNotSoftDeleted      = 40405
	CodeVersionSoftDeleted         = 40406
	CodeVersionNotSoftDeleted      = 40407
	CodeSubjectCompatNotConfigured = 40408
	CodeSubjectModeNotConfigured   = 40409
	CodeIncompatible               = 409
	CodeInvalidSchema              = 42201
	CodeInvalidVersion             = 42202
	CodeInvalidCompatibility       = 42203
	CodeInvalidMode                = 42204
	CodeOperationNotPermitted      = 42205
	CodeReferenceExists            = 42206
	CodeIDDoesNotMatch             = 42207
	CodeStoreError                 = 50001
	CodeUnprocessable              = 422
	CodeBadRequest                 = 400
	CodeNotFound                   = 404
	CodeMethodNotAllowed           = 405
	CodeUnsupportedMediaType       = 415
	CodeNotReady                   = 50003
)

// Error is an error the API reports with a Confluent error code.
type Error struct {
	Code    int
	Message string
	Err     error // cause, for logs; never shown to clients
}

func (e *Error) Error() string {
	if e.Err != nil {
		return fmt.Sprintf("%s: %v", e.Message, e.Err)
	}
	return e.Message
}

func (e *Error) Unwrap() error { return e.Err }

// Status is the HTTP status for the code: 40401 → 404, 409 → 409.
func (e *Error) Status() int {
	if e.Code == CodeNotReady {
		// 503 so load balancers and clients retry elsewhere or later.
		return http.StatusServiceUnavailable
	}
	c := e.Code
	for c >= 1000 {
		c /= 10
	}
	if c < 100 || c > 599 {
		return http.StatusInternalServerError
	}
	return c
}

func errorf(code int, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// storeError wraps a backend failure; clients see a generic message.
func storeError(err error) error {
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	return &Error{Code: CodeStoreError, Message: "Error while writing to the schemas topic; the write may be retried", Err: err}
}
