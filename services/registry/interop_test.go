package registry_test

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestInteropNodeConfluentClient runs @kafkajs/confluent-schema-registry (a
// Confluent client in another language) against the registry. It needs node
// and the package installed:
//
//	cd services/registry/testdata/interop-node && npm install
func TestInteropNodeConfluentClient(t *testing.T) {
	t.Parallel()
	dir := filepath.Join("testdata", "interop-node")
	if _, err := os.Stat(filepath.Join(dir, "node_modules", "@kafkajs", "confluent-schema-registry")); err != nil {
		t.Skip("skipping node interop: run `npm install` in services/registry/testdata/interop-node first")
	}
	node, err := exec.LookPath("node")
	if err != nil {
		t.Skip("skipping node interop: node is not installed")
	}
	in := newRegistry(t)
	cmd := exec.CommandContext(ctxT(t), node, "interop.js", in.srv.URL)
	cmd.Dir = dir
	out, err := cmd.Output()
	if err != nil {
		var stderr string
		if ee, ok := err.(*exec.ExitError); ok {
			stderr = string(ee.Stderr)
		}
		t.Fatalf("node interop: %v\n%s", err, stderr)
	}
	var got struct {
		ID, AgainID, LatestID, Magic, WireID int
		Decoded                              map[string]any
		Incompatible                         *struct {
			Status  *int
			Message string
		}
	}
	if err := json.Unmarshal(out, &got); err != nil {
		t.Fatalf("node output %q: %v", out, err)
	}
	if got.ID != 1 || got.AgainID != 1 || got.LatestID != 1 || got.Magic != 0 || got.WireID != 1 {
		t.Fatalf("node client ids/wire format: %+v", got)
	}
	if got.Decoded["person_id"] != "P1" {
		t.Fatalf("node decode: %+v", got.Decoded)
	}
	if got.Incompatible == nil || !strings.Contains(got.Incompatible.Message, "incompatible") {
		t.Fatalf("node client should see the 409 for an incompatible schema: %+v", got.Incompatible)
	}
}
