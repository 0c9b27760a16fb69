// Reads esrflow's public event topics of one tenant with kafkajs (no codec
// plugin registered: it reads gzip or uncompressed batches only) and decodes
// the values with @kafkajs/confluent-schema-registry, then prints one JSON line
// per event in scripts/read-events' format (topic, partition, offset, key,
// ce_id, ce_type, headers, schema_id, value as plain JSON).
//
//   node read.js <bootstrap> <registry url> <tenant>
//
// kafkajs reads committed records only by default (readUncommitted: false). It
// stops once the partitions have been quiet for 2 s.
'use strict'
const { Kafka, logLevel } = require('kafkajs')
const { SchemaRegistry } = require('@kafkajs/confluent-schema-registry')

const PLATFORM = new Set(['ops', 'ingest', 'normalise', 'validate', 'publish'])

// plain turns avsc's decoded value into scripts/read-events' plain JSON:
// date (avsc gives the day count) as YYYY-MM-DD, timestamp-millis (a Date) as
// RFC 3339 UTC with milliseconds, led by the writer schema.
function plain(schema, v, names) {
  if (typeof schema === 'string') {
    if (names[schema]) return plain(names[schema], v, names)
    return prim(schema, undefined, v)
  }
  if (Array.isArray(schema)) {
    if (v === null || v === undefined) return null
    const branch = schema.find((b) => b !== 'null')
    return plain(branch, v, names)
  }
  if (schema.name) {
    const full = schema.name.includes('.') || !schema.namespace ? schema.name : `${schema.namespace}.${schema.name}`
    names[full] = schema
    names[schema.name] = schema
  }
  switch (schema.type) {
    case 'record': {
      const out = {}
      for (const f of schema.fields) out[f.name] = plain(f.type, v[f.name], names)
      return out
    }
    case 'enum': return v
    case 'array': return v.map((x) => plain(schema.items, x, names))
    case 'map': return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, plain(schema.values, x, names)]))
    default:
      if (typeof schema.type === 'object') return plain(schema.type, v, names)
      return prim(schema.type, schema.logicalType, v)
  }
}

function prim(type, logical, v) {
  if (logical === 'date') {
    const d = typeof v === 'number' ? new Date(v * 86400000) : v
    return d.toISOString().slice(0, 10)
  }
  if (logical === 'timestamp-millis') return (v instanceof Date ? v : new Date(Number(v))).toISOString()
  if (Buffer.isBuffer(v)) return v.toString('hex')
  if (typeof v === 'bigint') return Number(v)
  return v
}

async function main() {
  const [bootstrap, host, tenant] = process.argv.slice(2)
  const kafka = new Kafka({ clientId: 'esrflow-interop-kafkajs', brokers: bootstrap.split(','), logLevel: logLevel.NOTHING })
  const registry = new SchemaRegistry({ host })
  const admin = kafka.admin()
  await admin.connect()
  const topics = (await admin.listTopics()).filter((t) => {
    const m = /^esr\.([a-z0-9]+)\.([a-z0-9-]+)\.v1$/.exec(t)
    return m && !PLATFORM.has(m[1]) && m[1] === tenant.toLowerCase()
  }).sort()
  await admin.disconnect()

  const consumer = kafka.consumer({ groupId: `esrflow-interop-kafkajs-${process.pid}-${Date.now()}` })
  await consumer.connect()
  await consumer.subscribe({ topics, fromBeginning: true })
  const schemas = {}
  const out = []
  let last = Date.now()
  let failure = null
  await consumer.run({
    eachMessage: async ({ topic, partition, message }) => {
      last = Date.now()
      const v = message.value
      const id = v.readInt32BE(1)
      if (!schemas[id]) schemas[id] = JSON.parse((await (await fetch(`${host}/schemas/ids/${id}`)).json()).schema)
      const decoded = await registry.decode(v)
      const headers = {}
      for (const [k, h] of Object.entries(message.headers || {})) headers[k] = Buffer.isBuffer(h) ? h.toString('utf8') : String(h)
      out.push({
        topic, partition, offset: Number(message.offset),
        key: message.key === null ? null : message.key.toString('utf8'),
        ce_id: headers.ce_id, ce_type: headers.ce_type, headers, schema_id: id,
        value: plain(schemas[id], decoded, {}),
      })
    },
  })
  consumer.on(consumer.events.CRASH, (e) => { failure = e.payload.error })
  while (Date.now() - last < 2000 && !failure) await new Promise((r) => setTimeout(r, 200))
  await consumer.disconnect()
  if (failure) throw failure
  out.sort((a, b) => (a.topic < b.topic ? -1 : a.topic > b.topic ? 1 : a.partition - b.partition || a.offset - b.offset))
  for (const r of out) process.stdout.write(JSON.stringify(r) + '\n')
}

main().catch((e) => { console.error(e && e.stack ? e.stack : e); process.exit(1) })
