// Command healthcheck is the container health probe of the esrflow images:
// the runtime image is distroless (no shell, curl or wget), so compose and
// Kubernetes exec probes run this instead. It GETs a URL and exits 0 on a 2xx
// answer within the timeout, 1 otherwise.
//
//	healthcheck [-timeout 3s] http://127.0.0.1:8080/readyz
//
// It is its own module, standard library only, so it builds in the image
// without the workspace.
package main

import (
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"time"
)

func main() {
	timeout := flag.Duration("timeout", 3*time.Second, "give up after this long")
	flag.Usage = func() {
		fmt.Fprintln(os.Stderr, "usage: healthcheck [-timeout 3s] URL")
		flag.PrintDefaults()
	}
	flag.Parse()
	if flag.NArg() != 1 {
		flag.Usage()
		os.Exit(2)
	}
	os.Exit(check(flag.Arg(0), *timeout))
}

func check(url string, timeout time.Duration) int {
	cl := &http.Client{Timeout: timeout}
	resp, err := cl.Get(url)
	if err != nil {
		fmt.Fprintln(os.Stderr, "healthcheck:", err)
		return 1
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		fmt.Fprintf(os.Stderr, "healthcheck: %s: %s %s\n", url, resp.Status, body)
		return 1
	}
	return 0
}
