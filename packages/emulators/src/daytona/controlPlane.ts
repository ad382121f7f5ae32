/**
 * Daytona's control plane (JSON under `/api`): create (the `creating → started` walk), get by id or name, list
 * (labels as a JSON object, states, id/name prefixes, cursor paging), delete, start, stop, the interval setters
 * (auto-stop, auto-archive, auto-delete, TTL), labels, preview links, the toolbox proxy URL, last activity.
 */
import type { IncomingMessage, ServerResponse } from "node:http"
import { readJson, sendEmpty, sendJson } from "../HttpServer.ts"
import { QuotaReached } from "../Registry.ts"
import { beginStart, rearm, setTtl, stopSandbox, touch } from "./lifecycle.ts"
import { findSnapshot, restore } from "./snapshots.ts"
import type { DaytonaSandbox, DaytonaState, DaytonaStateName, World } from "./state.ts"
import {
  apiError,
  DEFAULT_USER,
  PREVIEW_PREFIX,
  randomToken,
  SANDBOX_STATES,
  toListItem,
  toolboxProxyUrl,
  toRecord
} from "./state.ts"

const asRecord = (u: unknown): Record<string, unknown> => (typeof u === "object" && u !== null && !Array.isArray(u) ? u as Record<string, unknown> : {})

class BadRequest extends Error {}

const stringRecord = (u: unknown, field: string): Record<string, string> => {
  if (u === undefined || u === null) return {}
  const out: Record<string, string> = {}
  for (const [k, v] of Object.entries(asRecord(u))) {
    if (typeof v !== "string") throw new BadRequest(`${field}.${k} must be a string`)
    out[k] = v
  }
  return out
}

const integer = (u: unknown, field: string, fallback: number, minimum: number): number => {
  if (u === undefined || u === null) return fallback
  if (typeof u !== "number" || !Number.isInteger(u) || u < minimum) throw new BadRequest(`${field} must be an integer ≥ ${minimum}`)
  return u
}

const positive = (u: unknown, field: string, fallback: number): number => {
  if (u === undefined || u === null) return fallback
  if (typeof u !== "number" || !Number.isFinite(u) || u <= 0) throw new BadRequest(`${field} must be a positive number`)
  return u
}

export const notFound = (res: ServerResponse, idOrName: string) =>
  sendJson(res, 404, apiError(404, `Sandbox with ID or name ${idOrName} not found`))

/** By id, else by name. */
export const find = (world: World, idOrName: string): DaytonaSandbox | undefined =>
  world.registry.get(idOrName) ?? world.registry.list().find((s) => s.ext.name === idOrName)

export const create = async (world: World, req: IncomingMessage, res: ServerResponse): Promise<void> => {
  const body = asRecord(await readJson(req))
  let ext: Omit<DaytonaState, "state" | "desiredState"> & { ttl: number }
  let env: Record<string, string>
  try {
    const name = body["name"]
    if (name !== undefined && name !== null && (typeof name !== "string" || name === "")) throw new BadRequest("name must be a non-empty string")
    if (typeof name === "string" && find(world, name) !== undefined) {
      return sendJson(res, 409, apiError(409, `Sandbox with name ${name} already exists`))
    }
    env = stringRecord(body["env"], "env")
    const now = new Date()
    ext = {
      name: typeof name === "string" ? name : "",
      labels: stringRecord(body["labels"], "labels"),
      snapshot: typeof body["snapshot"] === "string" ? body["snapshot"] : undefined,
      user: typeof body["user"] === "string" ? body["user"] : DEFAULT_USER,
      target: typeof body["target"] === "string" ? body["target"] : "us",
      public: body["public"] === true,
      cpu: positive(body["cpu"], "cpu", 1),
      gpu: integer(body["gpu"], "gpu", 0, 0),
      memory: positive(body["memory"], "memory", 1),
      disk: positive(body["disk"], "disk", 3),
      networkBlockAll: body["networkBlockAll"] === true,
      buildInfo: body["buildInfo"] ?? undefined,
      errorReason: undefined,
      autoStopInterval: integer(body["autoStopInterval"], "autoStopInterval", world.defaultAutoStopMinutes, 0),
      autoArchiveInterval: integer(body["autoArchiveInterval"], "autoArchiveInterval", 7 * 24 * 60, 0),
      autoDeleteInterval: integer(body["autoDeleteInterval"], "autoDeleteInterval", -1, -1),
      autoDestroyAt: undefined,
      updatedAt: now,
      lastActivityAt: now,
      previewToken: randomToken(16),
      sessions: new Map(),
      timers: {},
      stoppedBy: undefined,
      ttl: integer(body["ttlMinutes"], "ttlMinutes", 0, 0)
    }
  } catch (error) {
    if (error instanceof BadRequest) return sendJson(res, 400, apiError(400, error.message))
    throw error
  }
  const saved = ext.snapshot === undefined ? undefined : findSnapshot(world, ext.snapshot)
  if (ext.snapshot !== undefined && saved === undefined && !world.baseSnapshots.has(ext.snapshot)) {
    return sendJson(res, 404, apiError(404, `Snapshot ${ext.snapshot} not found`))
  }
  let sandbox: DaytonaSandbox
  try {
    const { ttl, ...state } = ext
    sandbox = await world.registry.create({
      template: state.snapshot ?? "daytona-default",
      metadata: state.labels,
      env,
      network: !state.networkBlockAll,
      ext: (base) => ({ ...state, name: state.name === "" ? base.id : state.name, state: "creating", desiredState: "started" })
    })
    setTtl(world, sandbox, ttl)
  } catch (error) {
    if (error instanceof QuotaReached) {
      const { failure } = error
      return sendJson(res, failure.status, apiError(failure.status, failure.message ?? "quota reached"), {
        ...(failure.retryAfter === undefined ? {} : { "Retry-After": String(failure.retryAfter) }),
        ...failure.headers
      })
    }
    throw error
  }
  if (saved !== undefined) {
    try {
      await restore(sandbox, saved)
    } catch (error) {
      await world.registry.destroy(sandbox.id)
      return sendJson(res, 500, apiError(500, `could not restore snapshot ${saved.name}: ${String(error)}`))
    }
  }
  if (world.knobs.events) world.hub.emit("sandbox.created", toRecord(world, sandbox))
  beginStart(world, sandbox, "creating")
  sendJson(res, 200, toRecord(world, sandbox))
}

export const get = async (world: World, res: ServerResponse, idOrName: string) => {
  const sandbox = find(world, idOrName)
  if (sandbox === undefined) return notFound(res, idOrName)
  sendJson(res, 200, toRecord(world, sandbox))
}

export const list = async (world: World, url: URL, res: ServerResponse) => {
  let labels: Record<string, string>
  try {
    const raw = url.searchParams.get("labels")
    labels = raw === null || raw === "" ? {} : stringRecord(JSON.parse(raw), "labels")
  } catch {
    return sendJson(res, 400, apiError(400, "labels must be a JSON object of strings"))
  }
  const states = url.searchParams.getAll("states").flatMap((s) => s.split(",")).filter((s) => s !== "")
  const unknown = states.find((s) => !SANDBOX_STATES.includes(s as DaytonaStateName))
  if (unknown !== undefined) return sendJson(res, 400, apiError(400, `unknown state ${unknown}`))
  const limit = Number(url.searchParams.get("limit") ?? world.pageSize)
  if (!Number.isInteger(limit) || limit < 1 || limit > 200) return sendJson(res, 400, apiError(400, "limit must be an integer from 1 to 200"))
  const offset = Number(url.searchParams.get("cursor") ?? 0)
  if (!Number.isInteger(offset) || offset < 0) return sendJson(res, 400, apiError(400, "invalid cursor"))
  const idPrefix = url.searchParams.get("id")?.toLowerCase()
  const namePrefix = url.searchParams.get("name")?.toLowerCase()
  const withErrored = url.searchParams.get("includeErroredDeleted") === "true"
  const matching = world.registry.list().filter((s) =>
    (states.length > 0 ? states.includes(s.ext.state) : withErrored || (s.ext.state !== "error" && s.ext.state !== "build_failed")) &&
    Object.entries(labels).every(([k, v]) => s.ext.labels[k] === v) &&
    (idPrefix === undefined || s.id.toLowerCase().startsWith(idPrefix)) &&
    (namePrefix === undefined || s.ext.name.toLowerCase().startsWith(namePrefix))
  )
  const items = matching.slice(offset, offset + limit).map((s) => toListItem(world, s))
  sendJson(res, 200, { items, nextCursor: offset + limit < matching.length ? String(offset + limit) : null })
}

export const remove = async (world: World, res: ServerResponse, idOrName: string) => {
  const sandbox = find(world, idOrName)
  if (sandbox === undefined) return notFound(res, idOrName)
  await world.registry.destroy(sandbox.id)
  sendJson(res, 200, toRecord(world, sandbox))
}

export const start = async (world: World, res: ServerResponse, idOrName: string) => {
  const sandbox = find(world, idOrName)
  if (sandbox === undefined) return notFound(res, idOrName)
  const state = sandbox.ext.state
  if (state === "error" || state === "build_failed") {
    return sendJson(res, 409, apiError(409, `Sandbox ${sandbox.id} is in ${state} state: ${sandbox.ext.errorReason ?? "unknown error"}`))
  }
  if (state === "stopping") return sendJson(res, 409, apiError(409, `Sandbox ${sandbox.id} is stopping`))
  if (state !== "started" && state !== "creating" && state !== "starting") beginStart(world, sandbox, "starting")
  sendJson(res, 200, toRecord(world, sandbox))
}

export const stop = async (world: World, res: ServerResponse, idOrName: string) => {
  const sandbox = find(world, idOrName)
  if (sandbox === undefined) return notFound(res, idOrName)
  if (sandbox.ext.state !== "stopped" && sandbox.ext.state !== "archived") await stopSandbox(world, sandbox, "api")
  sendJson(res, 200, toRecord(world, sandbox))
}

/** `POST /sandbox/{id}/{autostop|autoarchive|autodelete|autopause|ttl}/{n}`. */
export const setInterval = async (world: World, res: ServerResponse, idOrName: string, kind: string, raw: string) => {
  const sandbox = find(world, idOrName)
  if (sandbox === undefined) return notFound(res, idOrName)
  const n = Number(raw)
  if (!Number.isInteger(n) || n < (kind === "autodelete" ? -1 : 0)) return sendJson(res, 400, apiError(400, `invalid interval ${raw}`))
  if (kind === "autostop") sandbox.ext.autoStopInterval = n
  else if (kind === "autoarchive") sandbox.ext.autoArchiveInterval = n
  else if (kind === "autodelete") sandbox.ext.autoDeleteInterval = n
  else if (kind === "ttl") setTtl(world, sandbox, n)
  rearm(world, sandbox)
  sendJson(res, 200, toRecord(world, sandbox))
}

export const replaceLabels = async (world: World, req: IncomingMessage, res: ServerResponse, idOrName: string) => {
  const body = asRecord(await readJson(req))
  const sandbox = find(world, idOrName)
  if (sandbox === undefined) return notFound(res, idOrName)
  try {
    sandbox.ext.labels = stringRecord(body["labels"], "labels")
  } catch (error) {
    return sendJson(res, 400, apiError(400, (error as Error).message))
  }
  sandbox.ext.updatedAt = new Date()
  sendJson(res, 200, { labels: sandbox.ext.labels })
}

export const previewUrl = async (world: World, res: ServerResponse, idOrName: string, rawPort: string) => {
  const sandbox = find(world, idOrName)
  if (sandbox === undefined) return notFound(res, idOrName)
  const port = Number(rawPort)
  if (!Number.isInteger(port) || port < 1 || port > 65535) return sendJson(res, 400, apiError(400, `invalid port ${rawPort}`))
  sendJson(res, 200, { sandboxId: sandbox.id, url: `${world.baseUrl}${PREVIEW_PREFIX}${sandbox.id}/${port}`, token: sandbox.ext.previewToken })
}

export const proxyUrl = async (world: World, res: ServerResponse, idOrName: string) => {
  if (find(world, idOrName) === undefined) return notFound(res, idOrName)
  sendJson(res, 200, { url: toolboxProxyUrl(world) })
}

export const lastActivity = async (world: World, res: ServerResponse, idOrName: string) => {
  const sandbox = find(world, idOrName)
  if (sandbox === undefined) return notFound(res, idOrName)
  touch(world, sandbox)
  sendEmpty(res, 201)
}

export const setPublic = async (world: World, res: ServerResponse, idOrName: string, value: string) => {
  const sandbox = find(world, idOrName)
  if (sandbox === undefined) return notFound(res, idOrName)
  sandbox.ext.public = value === "true"
  sendJson(res, 200, toRecord(world, sandbox))
}


