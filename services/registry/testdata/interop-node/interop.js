// Registers, encodes and decodes through @kafkajs/confluent-schema-registry
// against the registry at process.argv[2], then prints what it saw as JSON
// for the Go test to check.
'use strict'
const { SchemaRegistry, SchemaType } = require('@kafkajs/confluent-schema-registry')

async function main() {
  const host = process.argv[2]
  const registry = new SchemaRegistry({ host })
  const subject = 'esr.rxx.leaver-confirmed.v1-value'
  const v1 = {
    type: 'record', name: 'Leaver', namespace: 'uk.nhs.esr',
    fields: [{ name: 'person_id', type: 'string' }],
  }
  const { id } = await registry.register({ type: SchemaType.AVRO, schema: JSON.stringify(v1) }, { subject })
  const again = await registry.register({ type: SchemaType.AVRO, schema: JSON.stringify(v1) }, { subject })
  const latestId = await registry.getLatestSchemaId(subject)

  const encoded = await registry.encode(id, { person_id: 'P1' })
  // A fresh client has no cache: decode must fetch the schema by id.
  const decoded = await new SchemaRegistry({ host }).decode(encoded)

  let incompatible = null
  try {
    const v2 = { ...v1, fields: [...v1.fields, { name: 'reason', type: 'string' }] }
    await registry.register({ type: SchemaType.AVRO, schema: JSON.stringify(v2) }, { subject })
  } catch (e) {
    incompatible = { status: e.status ?? null, message: String(e.message) }
  }
  console.log(JSON.stringify({ id, againId: again.id, latestId, magic: encoded[0], wireId: encoded.readInt32BE(1), decoded, incompatible }))
}

main().catch((e) => { console.error(e && e.stack ? e.stack : e); process.exit(1) })
