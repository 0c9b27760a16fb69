// Command validate runs the esrflow validate service.
package main

import (
	"os"

	"github.com/esrflow/esrflow/platform/service"
	"github.com/esrflow/esrflow/services/validate"
)

func main() { os.Exit(service.Main(validate.Spec(), os.Args[1:], os.Stderr)) }
