// Command normalise runs the esrflow normalise service.
package main

import (
	"os"

	"github.com/esrflow/esrflow/platform/service"
	"github.com/esrflow/esrflow/services/normalise"
)

func main() { os.Exit(service.Main(normalise.Spec(), os.Args[1:], os.Stderr)) }
