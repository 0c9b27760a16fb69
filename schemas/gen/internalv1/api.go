package internalv1

import "github.com/hamba/avro/v2"

// NewAPI returns an Avro API that decodes EntityRecord.Entity into the typed
// structs (Person, Assignment, Position, Organisation, Location, Correction,
// OperatorCommand) and encodes them back. Without it the union field, which avrogen types as
// `any`, decodes into generic maps and encoding a struct fails.
//
// Put values, not pointers, in Entity: the union branch is chosen by the
// registered Go type. Each call builds a fresh API so no process-wide
// registration is needed; build it once per service and reuse it (it caches
// codecs).
func NewAPI() avro.API {
	api := avro.Config{}.Freeze()
	api.Register("uk.nhs.esr.Person", Person{})
	api.Register("uk.nhs.esr.Assignment", Assignment{})
	api.Register("uk.nhs.esr.Position", Position{})
	api.Register("uk.nhs.esr.Organisation", Organisation{})
	api.Register("uk.nhs.esr.Location", Location{})
	api.Register("uk.nhs.esr.Correction", Correction{})
	api.Register("uk.nhs.esr.OperatorCommand", OperatorCommand{})
	return api
}
