#!/usr/bin/env node
// A stand-in for `vacunometro up`, for developing the dashboard before (or
// without) the Go binary: it speaks the same HTTP/WebSocket contract
// (GET /readyz, GET /api/stats, POST /api/records, GET /ws, the built
// dashboard at /) and keeps its counts in <data>/mock-state.json, so a
// SIGKILL and restart keeps them. It is NOT used by the final e2e run, which
// needs the real binary; run it as
//   VAC_BIN=e2e/mock-server.mjs npm run e2e
// or by hand: node e2e/mock-server.mjs up --addr 127.0.0.1:8080 --data /tmp/x --web dist
import { createReadStream, existsSync, mkdirSync, readFileSync, renameSync, statSync, writeFileSync } from 'node:fs'
import http from 'node:http'
import { extname, join, resolve } from 'node:path'
import { WebSocketServer } from 'ws'

const args = process.argv.slice(2)
if (args[0] === 'up') args.shift()
const flag = (name, def) => {
  const i = args.indexOf(name)
  return i >= 0 ? args[i + 1] : def
}
const addr = flag('--addr', '127.0.0.1:8080')
const dataDir = resolve(flag('--data', '.mock-data'))
const webDir = resolve(flag('--web', 'dist'))
const split = Object.fromEntries(
  flag('--split', 'grpc=34,redis=33,pubsub=33')
    .split(',')
    .map((kv) => kv.split('='))
    .map(([k, v]) => [k, Number(v)]),
)

const DEPTS = {"GT-01":["Guatemala",3015081],"GT-02":["El Progreso",176632],"GT-03":["Sacatepéquez",330469],"GT-04":["Chimaltenango",615776],"GT-05":["Escuintla",733181],"GT-06":["Santa Rosa",396607],"GT-07":["Sololá",421583],"GT-08":["Totonicapán",418569],"GT-09":["Quetzaltenango",799101],"GT-10":["Suchitepéquez",554695],"GT-11":["Retalhuleu",326828],"GT-12":["San Marcos",1032277],"GT-13":["Huehuetenango",1170669],"GT-14":["Quiché",949261],"GT-15":["Baja Verapaz",299476],"GT-16":["Alta Verapaz",1215038],"GT-17":["Petén",545600],"GT-18":["Izabal",408688],"GT-19":["Zacapa",245374],"GT-20":["Chiquimula",415063],"GT-21":["Jalapa",342923],"GT-22":["Jutiapa",488395]}
const VACCINES = ['Moderna', 'Oxford/AstraZeneca', 'Sputnik V', 'Pfizer-BioNTech']
const BANDS = [[0, 11, '0-11'], [12, 17, '12-17'], [18, 29, '18-29'], [30, 39, '30-39'], [40, 49, '40-49'], [50, 59, '50-59'], [60, 69, '60-69'], [70, 79, '70-79'], [80, 200, '80+']]
const fold = (s) => s.normalize('NFD').replace(/[\u0300-\u036f]/g, '').toLowerCase().replace(/[^a-z0-9]+/g, ' ').trim()
const deptByName = new Map(Object.entries(DEPTS).map(([code, [name]]) => [fold(name), code]))
deptByName.set('quezaltenango', 'GT-09')
for (const [k, v] of [...deptByName]) deptByName.set('el ' + k, v)
const vaccineByName = new Map(VACCINES.map((v) => [fold(v), v]))

const stateFile = join(dataDir, 'mock-state.json')
mkdirSync(dataDir, { recursive: true })
const empty = () => ({ ids: {}, dept: {}, vaccines: {}, doses: [0, 0, 0, 0], bands: {}, routes: {}, latest: [], total: 0, updatedAt: null })
const state = existsSync(stateFile) ? JSON.parse(readFileSync(stateFile, 'utf8')) : empty()
const save = () => {
  writeFileSync(stateFile + '.tmp', JSON.stringify(state))
  renameSync(stateFile + '.tmp', stateFile)
}
const recent = [] // receive times, for records/s

const mask = (name) => {
  const [first, ...rest] = name.trim().split(/\s+/)
  return [first, ...rest.map((w) => w[0].toUpperCase() + '.')].join(' ')
}

function snapshot() {
  const pop = Object.values(DEPTS).reduce((s, [, p]) => s + p, 0)
  const now = Date.now()
  while (recent.length && recent[0] < now - 10_000) recent.shift()
  const departments = Object.entries(DEPTS).map(([code, [name, population]]) => {
    const doses = state.dept[code] ?? [0, 0, 0, 0]
    return {
      code, name, population, total: doses.reduce((a, b) => a + b, 0), doses,
      people_vaccinated: doses[0], fully_vaccinated: doses[1],
      people_vaccinated_pct: (doses[0] / population) * 100, fully_vaccinated_pct: (doses[1] / population) * 100,
    }
  })
  return {
    total: state.total, population: pop, people_vaccinated: state.doses[0], fully_vaccinated: state.doses[1],
    boosters: state.doses[2] + state.doses[3],
    people_vaccinated_pct: (state.doses[0] / pop) * 100, fully_vaccinated_pct: (state.doses[1] / pop) * 100,
    departments,
    vaccines: VACCINES.map((name) => ({ name, count: state.vaccines[name] ?? 0 })),
    doses: state.doses.map((count, i) => ({ name: String(i + 1), count })),
    age_bands: BANDS.map(([, , name]) => ({ name, count: state.bands[name] ?? 0 })),
    routes: Object.entries(split).map(([name, weight]) => ({ name, weight, count: state.routes[name] ?? 0 })),
    latest: state.latest,
    records_per_second: recent.length / 10,
    updated_at: state.updatedAt,
    generated_at: new Date().toISOString(),
  }
}

let rr = 0
const routeNames = Object.keys(split)
function accept(rec) {
  const errs = []
  const code = typeof rec.location === 'string' ? deptByName.get(fold(rec.location)) : undefined
  if (!code) errs.push({ field: 'location', message: 'unknown department' })
  const vaccine = typeof rec.vaccine_type === 'string' ? vaccineByName.get(fold(rec.vaccine_type)) : undefined
  if (!vaccine) errs.push({ field: 'vaccine_type', message: 'unknown vaccine' })
  if (!Number.isInteger(rec.age) || rec.age < 0 || rec.age > 120) errs.push({ field: 'age', message: 'must be 0..120' })
  if (!Number.isInteger(rec.n_dose) || rec.n_dose < 1 || rec.n_dose > 4) errs.push({ field: 'n_dose', message: 'must be 1..4' })
  if (typeof rec.name !== 'string' || !rec.name.trim()) errs.push({ field: 'name', message: 'required' })
  return { errs, code, vaccine }
}

function ingest(records) {
  const ids = []
  for (const rec of records) {
    const { code, vaccine } = accept(rec)
    const id = rec.id ?? `mock-${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 8)}`
    ids.push(id)
    if (state.ids[id]) continue
    state.ids[id] = 1
    const route = routeNames[rr++ % routeNames.length]
    const d = (state.dept[code] ??= [0, 0, 0, 0])
    d[rec.n_dose - 1]++
    state.doses[rec.n_dose - 1]++
    state.vaccines[vaccine] = (state.vaccines[vaccine] ?? 0) + 1
    const band = BANDS.find(([lo, hi]) => rec.age >= lo && rec.age <= hi)[2]
    state.bands[band] = (state.bands[band] ?? 0) + 1
    state.routes[route] = (state.routes[route] ?? 0) + 1
    state.total++
    state.updatedAt = new Date().toISOString()
    state.latest = [
      { id, name: mask(rec.name), department_code: code, department: DEPTS[code][0], age: rec.age, vaccine, dose: rec.n_dose, route, received_at: state.updatedAt },
      ...state.latest,
    ].slice(0, 5)
    recent.push(Date.now())
  }
  save()
  return ids
}

const TYPES = { '.html': 'text/html; charset=utf-8', '.js': 'text/javascript', '.css': 'text/css', '.svg': 'image/svg+xml', '.json': 'application/json' }
const send = (res, code, body) => {
  res.writeHead(code, { 'Content-Type': 'application/json' })
  res.end(JSON.stringify(body))
}

const server = http.createServer((req, res) => {
  const url = new URL(req.url, 'http://x')
  if (url.pathname === '/healthz' || url.pathname === '/readyz') return send(res, 200, { status: 'ok' })
  if (url.pathname === '/api/stats') return send(res, 200, snapshot())
  if (url.pathname === '/api/records' && req.method === 'POST') {
    let body = ''
    req.on('data', (c) => (body += c))
    req.on('end', () => {
      let recs
      try {
        recs = (req.headers['content-type'] ?? '').includes('ndjson')
          ? body.split('\n').filter((l) => l.trim()).map((l) => JSON.parse(l))
          : JSON.parse(body)
      } catch {
        return send(res, 400, { error: 'malformed JSON' })
      }
      if (!Array.isArray(recs)) recs = [recs]
      const errors = recs.flatMap((r, index) => accept(r).errs.map((e) => ({ index, ...e })))
      if (errors.length) return send(res, 422, { error: 'invalid records', errors })
      const ids = ingest(recs)
      send(res, 202, { accepted: ids.length, ids, route: 'mock' })
      broadcast()
    })
    return
  }
  let file = join(webDir, url.pathname === '/' ? 'index.html' : url.pathname)
  if (!file.startsWith(webDir) || !existsSync(file) || statSync(file).isDirectory()) file = join(webDir, 'index.html')
  if (!existsSync(file)) return send(res, 404, { error: 'not found' })
  res.writeHead(200, { 'Content-Type': TYPES[extname(file)] ?? 'application/octet-stream' })
  createReadStream(file).pipe(res)
})

const wss = new WebSocketServer({ server, path: '/ws' })
wss.on('connection', (ws) => ws.send(JSON.stringify(snapshot())))
function broadcast() {
  const msg = JSON.stringify(snapshot())
  for (const c of wss.clients) if (c.readyState === 1) c.send(msg)
}

const [host, port] = addr.split(':')
server.listen(Number(port), host, () => console.error(`mock vacunometro on http://${addr} (data ${dataDir}, web ${webDir})`))
