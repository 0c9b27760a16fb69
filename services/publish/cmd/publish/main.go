// Command publish runs the esrflow publish service.
package main

import (
	"os"

	"github.com/esrflow/esrflow/platform/service"
	"github.com/esrflow/esrflow/services/publish"
)

func main() { os.Exit(service.Main(publish.Spec(), os.Args[1:], os.Stderr)) }
