package schemas

import _ "embed"

// asyncAPI is the AsyncAPI 3.0 document of the public event topics
// (asyncapi.yaml): channels, Kafka bindings, CloudEvents headers, registry
// subjects and delivery guarantees. Its message payloads reference the .avsc
// files under avro/ by relative path.
//
//go:embed asyncapi.yaml
var asyncAPI []byte

// AsyncAPI returns the AsyncAPI document as written (YAML). The api serves
// it as JSON with the payload schemas inlined (GET /asyncapi.json).
func AsyncAPI() []byte { return append([]byte(nil), asyncAPI...) }
