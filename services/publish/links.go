package publish

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"
)

// This file links a person to their other records: a rehire in the same
// tenant (new person id, same human) and a transfer between tenants (TUPE,
// mergers), so identity teams can skip disable-then-re-enable churn.

// matchDigest is the salted digest publish keeps instead of the NI number
// and date of birth ("" unless both are known). The tenant is part of the
// salt: rehire matching is within a tenant, and equal digests in two
// tenants reveal nothing.
func matchDigest(tenant, ni string, dob *time.Time) string {
	ni = strings.ToUpper(strings.ReplaceAll(ni, " ", ""))
	if ni == "" || dob == nil || dob.IsZero() {
		return ""
	}
	sum := sha256.Sum256([]byte("esrflow/rehire/v1\x00" + tenant + "\x00" + ni + "\x00" + dob.UTC().Format(time.DateOnly)))
	return hex.EncodeToString(sum[:16])
}

// rehire: another person id of the tenant is the same human, by NHS Unique
// ID, or by NI number and date of birth when either record has no NHS
// Unique ID (two different NHS Unique IDs are two people).
func (t *tenantState) rehire(p *person) bool {
	if p.NHSUniqueID != "" {
		for _, id := range t.ids(prefixKey(t.code, keyNHS, p.NHSUniqueID)) {
			if id != p.ID {
				return true
			}
		}
	}
	if p.Match != "" {
		for _, id := range t.ids(prefixKey(t.code, keyMatch, p.Match)) {
			if q := t.person(id); id != p.ID && q != nil && (p.NHSUniqueID == "" || q.NHSUniqueID == "") {
				return true
			}
		}
	}
	return false
}

// transferReasons are the ESR leaving reasons that mean the person moves
// to another NHS organisation rather than leaving the NHS.
var transferReasons = map[string]bool{
	"Employee Transfer":                      true,
	"Merged Organisation - Duplicate Record": true,
}

// transferFrom names the tenant a starter transferred from: one holding a
// person with the same NHS Unique ID who is leaving, or has left, for a
// transfer reason.
func (p *processor) transferFrom(code string, a *person) string {
	return p.linkedTenant(code, a.NHSUniqueID, func(f linkFacts) bool { return f.TransferLeaving })
}

// transferTo names the tenant a transfer leaver moves to: one where a person
// with the same NHS Unique ID is employed (a future start included).
func (p *processor) transferTo(code string, e *event) string {
	if !transferReasons[e.LeavingReason] {
		return ""
	}
	t := p.tenants[code]
	if t == nil {
		return ""
	}
	a := t.person(e.PersonID)
	if a == nil {
		return ""
	}
	return p.linkedTenant(code, a.NHSUniqueID, func(f linkFacts) bool { return f.Employed })
}

// linkedTenant is the lowest ODS code other than code whose facts about nhs
// match: from the state of the tenants this instance holds, and from the
// link index for the others.
func (p *processor) linkedTenant(code, nhs string, match func(linkFacts) bool) string {
	if nhs == "" {
		return ""
	}
	best := ""
	consider := func(c string, f linkFacts) {
		if c != code && match(f) && (best == "" || c < best) {
			best = c
		}
	}
	// A tenant this instance holds answers from its own state, unless its
	// indexes are not written yet (a changelog of layout 1, until its
	// partition's next transaction): then the link index answers for it.
	for _, t := range p.localHolders(code, nhs) {
		consider(t.code, t.linkFacts(nhs))
	}
	if p.index != nil {
		for c, f := range p.index.tenants(nhs) {
			if t, local := p.tenants[c]; !local || !t.indexed {
				consider(c, f)
			}
		}
	}
	return best
}

// localHolders are the tenants this instance holds, other than code and
// with their indexes written, that have a person with the NHS Unique ID:
// one seek into the partition-wide index per partition held (nationally
// an instance holds dozens of tenants, and every starter asks).
func (p *processor) localHolders(code, nhs string) []*tenantState {
	if p.rd.tx == nil {
		p.rd.fail(fmt.Errorf("publish: state read outside a transaction"))
		return nil
	}
	partitions := map[int32]bool{}
	for _, t := range p.tenants {
		partitions[t.partition] = true
	}
	prefix := holdersOf(nhs)
	var out []*tenantState
	for _, part := range slices.Sorted(maps.Keys(partitions)) {
		err := p.rd.tx.ScanIn(part, prefix, func(k, _ []byte) error {
			c, _, _ := strings.Cut(string(k[len(prefix):]), "/")
			if t := p.tenants[c]; t != nil && c != code && t.indexed && t.partition == part &&
				(len(out) == 0 || out[len(out)-1] != t) {
				out = append(out, t)
			}
			return nil
		})
		if err != nil {
			p.rd.fail(err)
			return nil
		}
	}
	return out
}
