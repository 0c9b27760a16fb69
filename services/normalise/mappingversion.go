package normalise

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"sync"

	"github.com/esrflow/esrflow/esr/tenant"
)

// mappingCodeVersion names the behaviour of this package's mapping code
// (MapRow, mapCSV, the GO v1 linker). Bump it in any change that maps the
// same row differently, so records mapped before and after it carry
// different mapping versions.
const mappingCodeVersion = "normalise-mapping-1"

// MappingVersion is the mapping version that travels with every entity
// record (lineage): a content hash, like the rule-set version, of everything
// that decides how a row of the dialect is mapped for the tenant — the
// mapping code version, the dialect, the tenant's mapping settings and, for
// a CSV staff list, the list's layout. Same settings, same version; any
// change to them, a new one.
func MappingVersion(t tenant.Tenant, dialect string) string {
	h := sha256.New()
	h.Write([]byte(mappingCodeVersion + "\x00" + dialect + "\x00"))
	b, _ := json.Marshal(t.Mapping) // maps marshal with sorted keys: stable
	h.Write(b)
	if l, ok := t.CSVList(dialect); ok {
		b, _ = json.Marshal(l)
		h.Write(b)
	}
	return "mp-" + hex.EncodeToString(h.Sum(nil))[:12]
}

// mappingVersions caches MappingVersion per tenant and dialect: the tenants
// are fixed for a processor's life, and hashing JSON per row would cost.
type mappingVersions struct{ m sync.Map }

func (c *mappingVersions) get(t tenant.Tenant, dialect string) string {
	key := t.Code + "\x00" + dialect
	if v, ok := c.m.Load(key); ok {
		return v.(string)
	}
	v := MappingVersion(t, dialect)
	c.m.Store(key, v)
	return v
}
