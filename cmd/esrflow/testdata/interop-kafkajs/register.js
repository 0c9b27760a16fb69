// Registers a schema under a subject with @kafkajs/confluent-schema-registry's
// defaults (compatibility BACKWARD: on a subject without a level of its own,
// register() PUTs BACKWARD to /config/{subject} after registering), then
// prints {"registered": id} or {"error": message}. The Go test then checks the
// subject's level.
//
//   node register.js <registry url> <subject> <schema file>
'use strict'
const fs = require('fs')
const { SchemaRegistry, SchemaType } = require('@kafkajs/confluent-schema-registry')

async function main() {
  const [host, subject, file] = process.argv.slice(2)
  const registry = new SchemaRegistry({ host })
  try {
    const { id } = await registry.register({ type: SchemaType.AVRO, schema: fs.readFileSync(file, 'utf8') }, { subject })
    console.log(JSON.stringify({ registered: id }))
  } catch (e) {
    console.log(JSON.stringify({ error: String(e.message) }))
  }
}

main().catch((e) => { console.error(e && e.stack ? e.stack : e); process.exit(1) })
