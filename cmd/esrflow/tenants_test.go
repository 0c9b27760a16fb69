package main

import (
	"bytes"
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/esrflow/esrflow/cmd/esrflow/internal/observe"
	"github.com/esrflow/esrflow/esr/gen"
	"github.com/esrflow/esrflow/esr/tenant"
	"github.com/esrflow/esrflow/schemas/gen/eventsv1"
)

// TestRegionThroughOneStack runs a generated region of two trusts, with
// staff transferring between them, through one stack. The files are
// dropped day by day in lockstep, as the truth assumes: both trusts' files
// of day d are reported before any file of day d+1 is dropped. Each
// tenant's events must equal its part of the region's truth exactly,
// transfer links included, and stay on its own topics.
func TestRegionThroughOneStack(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end run")
	}
	rc := gen.RegionConfig{
		Trusts: []gen.Trust{{Tenant: "RXX", VPD: "412", Staff: 600}, {Tenant: "RYY", VPD: "413", Staff: 500}},
		Days:   6, Seed: 7, FullEvery: 3, TransfersPerDay: 2,
	}
	sink := &gen.MemSink{}
	rr, err := gen.GenerateRegion(rc, sink)
	if err != nil {
		t.Fatal(err)
	}
	truth, err := gen.ReadTruth(bytes.NewReader(sink.Bytes(gen.TruthFile)))
	if err != nil {
		t.Fatal(err)
	}
	trusts := map[string]trust{}
	for _, res := range rr.Trusts {
		tr := trust{res: res, sink: sink}
		for _, l := range truth {
			if l.Tenant == res.Tenant {
				tr.truth = append(tr.truth, l)
			}
		}
		trusts[res.Tenant] = tr
	}
	tenants, err := tenant.Parse("RXX=412,RYY=413")
	if err != nil {
		t.Fatal(err)
	}
	st := startStackWith(t, t.TempDir(), tenants)
	rd, err := observe.NewReader(st.Seeds(), st.RegistryURL())
	if err != nil {
		t.Fatal(err)
	}
	for day := 0; day <= rc.Days; day++ {
		for _, res := range rr.Trusts {
			f := res.Files[day]
			dropFile(t, st.DropDir(), res.Tenant, f.Name, sink.Bytes(f.Path))
		}
		waitReports(t, rd, (day+1)*len(rr.Trusts), 3*time.Minute)
	}

	links, checked := 0, 0
	for code, tr := range trusts {
		events, err := rd.Events(context.Background(), code)
		if err != nil {
			t.Fatal(err)
		}
		withTransferLinks(events)
		published, _ := tr.expectedEvents()
		compareEvents(t, events, published)
		for _, e := range events {
			if e.Tenant != code {
				t.Fatalf("%s topic %s carries a %s event", code, e.Topic, e.Tenant)
			}
		}
		for _, l := range published {
			if l.TransferFromTenant != "" || l.TransferToTenant != "" {
				links++
			}
		}
		// The api serves each tenant's person from that tenant's events.
		for _, l := range published {
			checked++
			var p apiPerson
			deadline := time.Now().Add(30 * time.Second)
			for getJSON(t, st.APIURL()+"/v1/tenants/"+code+"/people/"+l.PersonID, &p) != http.StatusOK || p.EmployeeNumber != lastEmployeeNumber(published, l.PersonID) {
				if time.Now().After(deadline) {
					t.Fatalf("api %s person %s: %+v", code, l.PersonID, p)
				}
				time.Sleep(50 * time.Millisecond)
			}
		}
	}
	if checked == 0 || links == 0 {
		t.Fatalf("%d events, %d with a transfer link: the test proves nothing", checked, links)
	}
	t.Logf("%d events checked, %d of them transfer links, across both tenants", checked, links)
}

// withTransferLinks copies the transfer links, which observe's truth view
// leaves out, from the decoded events into it, so compareEvents sees them.
func withTransferLinks(events []observe.Event) {
	for i := range events {
		switch v := events[i].Value.(type) {
		case eventsv1.StarterCreated:
			if v.TransferFromTenant != nil {
				events[i].TransferFromTenant = *v.TransferFromTenant
			}
		case eventsv1.LeaverConfirmed:
			if v.TransferToTenant != nil {
				events[i].TransferToTenant = *v.TransferToTenant
			}
		}
	}
}

func lastEmployeeNumber(lines []gen.TruthLine, personID string) string {
	var en string
	for _, l := range lines {
		if l.PersonID == personID {
			en = l.EmployeeNumber
		}
	}
	return en
}
