// Command ingest runs the esrflow ingest service.
package main

import (
	"os"

	"github.com/esrflow/esrflow/platform/service"
	"github.com/esrflow/esrflow/services/ingest"
)

func main() { os.Exit(service.Main(ingest.Spec(), os.Args[1:], os.Stderr)) }
