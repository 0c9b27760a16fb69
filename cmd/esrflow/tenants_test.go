package main

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/esrflow/esrflow/cmd/esrflow/internal/observe"
	"github.com/esrflow/esrflow/esr/gen"
	"github.com/esrflow/esrflow/esr/tenant"
)

// TestTenantsAreIsolated runs two trusts through one stack at the same
// time. They are generated from the same seed, so every person id exists in
// both: any state shared between tenants (a person "already known", a
// leaver held for the other trust) would change the events of one of them.
func TestTenantsAreIsolated(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end run")
	}
	trusts := map[string]trust{
		"RXX": generate(t, gen.Config{Tenant: "RXX", VPD: "412", Staff: 600, Days: 4, Seed: 7}),
		"RYY": generate(t, gen.Config{Tenant: "RYY", VPD: "413", Staff: 600, Days: 4, Seed: 7}),
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
	files := 0
	for code, tr := range trusts {
		for _, f := range tr.res.Files {
			dropFile(t, st.DropDir(), code, f.Name, tr.sink.Bytes(f.Name))
			files++
		}
	}
	waitReports(t, rd, files, 3*time.Minute)

	overlap := 0
	for code, tr := range trusts {
		events, err := rd.Events(context.Background(), code)
		if err != nil {
			t.Fatal(err)
		}
		published, _ := tr.expectedEvents()
		compareEvents(t, events, published)
		for _, e := range events {
			if e.Tenant != code {
				t.Fatalf("%s topic %s carries a %s event", code, e.Topic, e.Tenant)
			}
		}
		// The api serves each tenant's person from that tenant's events.
		for _, l := range published {
			overlap++
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
	if overlap == 0 {
		t.Fatal("no events: the test proves nothing")
	}
	t.Logf("%d events checked through the api, across both tenants", overlap)
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
