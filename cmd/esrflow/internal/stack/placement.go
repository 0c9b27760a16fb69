package stack

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/esrflow/esrflow/esr/tenant"
	"github.com/esrflow/esrflow/schemas"
)

// PlacementFile, in the data folder, lists the tenants whose records keep
// the murmur2 placement because the store held their state before the
// tenant → partition assignment existed (docs/partitioning.md). It is
// written once, at the first start of a version with the assignment.
const PlacementFile = "tenant-placement"

// tenantPlacement returns the tenants as the services must place them. A
// store created before the assignment, with records on more than one
// partition, has every tenant's state where murmur2 put it; moving them
// would leave validate's and publish's state behind. So on the first start
// of such a store every tenant configured then keeps the hash (the file
// records which); tenants added later get the assignment. A new store (or
// one of a single partition, where both rules agree) records none.
func tenantPlacement(ctx context.Context, dataDir string, seeds []string, tenants *tenant.Set) (*tenant.Set, []string, error) {
	path := filepath.Join(dataDir, PlacementFile)
	hashed, err := readPlacement(path)
	if err == nil {
		return tenants.WithHashPlacement(hashed...), hashed, nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return nil, nil, err
	}
	legacy, err := storeHasHashedRecords(ctx, seeds)
	if err != nil {
		return nil, nil, err
	}
	if legacy {
		hashed = tenants.Codes()
	}
	var b strings.Builder
	b.WriteString("# Tenants whose records keep the murmur2 placement of a store created before the\n")
	b.WriteString("# tenant -> partition assignment (docs/partitioning.md). Written once; do not edit.\n")
	for _, code := range hashed {
		b.WriteString(code + "\n")
	}
	if err := os.WriteFile(path, []byte(b.String()), 0o640); err != nil {
		return nil, nil, err
	}
	return tenants.WithHashPlacement(hashed...), hashed, nil
}

func readPlacement(path string) ([]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var codes []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if line := strings.TrimSpace(sc.Text()); line != "" && !strings.HasPrefix(line, "#") {
			codes = append(codes, line)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return codes, nil
}

// storeHasHashedRecords reports whether esr.raw.v1 has more than one
// partition and holds records: a store an earlier version placed by hash.
func storeHasHashedRecords(ctx context.Context, seeds []string) (bool, error) {
	cl, err := kgo.NewClient(kgo.SeedBrokers(seeds...))
	if err != nil {
		return false, err
	}
	defer cl.Close()
	ends, err := kadm.NewClient(cl).ListEndOffsets(ctx, schemas.TopicRaw)
	if err == nil {
		err = ends.Error()
	}
	if err != nil {
		return false, fmt.Errorf("reading the end of %s: %w", schemas.TopicRaw, err)
	}
	parts, records := 0, false
	ends.Each(func(o kadm.ListedOffset) {
		parts++
		records = records || o.Offset > 0
	})
	return parts > 1 && records, nil
}
