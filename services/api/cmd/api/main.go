// Command api runs the esrflow api service.
package main

import (
	"os"

	"github.com/esrflow/esrflow/platform/service"
	"github.com/esrflow/esrflow/services/api"
)

func main() { os.Exit(service.Main(api.Spec(), os.Args[1:], os.Stderr)) }
