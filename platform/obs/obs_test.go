package obs_test

import (
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/esrflow/esrflow/platform/obs"
)

func TestReadinessAndMetrics(t *testing.T) {
	var ready obs.Readiness
	caughtUp := false
	ready.Add("changelog", func() error {
		if !caughtUp {
			return errors.New("restoring")
		}
		return nil
	})
	srv := httptest.NewServer(obs.Handler(obs.NewRegistry(), &ready, nil))
	defer srv.Close()

	get := func(path string) (int, string) {
		resp, err := http.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if code, body := get("/readyz"); code != 503 || !strings.Contains(body, "changelog: restoring") {
		t.Errorf("readyz before catch-up = %d %q", code, body)
	}
	caughtUp = true
	if code, _ := get("/readyz"); code != 200 {
		t.Errorf("readyz after catch-up = %d", code)
	}
	if code, _ := get("/healthz"); code != 200 {
		t.Errorf("healthz = %d", code)
	}
	if code, body := get("/metrics"); code != 200 || !strings.Contains(body, "go_goroutines") {
		t.Errorf("metrics = %d, missing go_goroutines", code)
	}
}
