/**
 * E2B's control plane (JSON over HTTP): create, connect (also resumes), get info, list (paged, filtered by
 * metadata and state), kill, set timeout, pause.
 */
import type { IncomingMessage, ServerResponse } from "node:http"
import { readJson, sendEmpty, sendJson } from "../HttpServer.ts"
import { QuotaReached } from "../Registry.ts"
import { type E2bRegistry, type E2bSandbox, makeState } from "./state.ts"

export interface ControlPlaneOptions {
  readonly envdVersion: string
  /** Template names a create may use (anything else: 404); `undefined` accepts any name. */
  readonly templates: ReadonlyArray<string> | undefined
  /** Lifetime of a sandbox created or resumed without `timeout`, in ms (E2B: 300 s). */
  readonly defaultTimeoutMs: number
  /** Page size of `GET /v2/sandboxes` when the client gives no `limit`. */
  readonly pageSize: number
}

const asRecord = (u: unknown): Record<string, unknown> => (typeof u === "object" && u !== null ? u as Record<string, unknown> : {})

const stringRecord = (u: unknown): Record<string, string> => {
  const out: Record<string, string> = {}
  for (const [k, v] of Object.entries(asRecord(u))) if (typeof v === "string") out[k] = v
  return out
}

const notFound = (res: ServerResponse, id: string) => sendJson(res, 404, { code: 404, message: `sandbox "${id}" not found` })

const badRequest = (res: ServerResponse, message: string) => sendJson(res, 400, { code: 400, message })

/** A `timeout` field in seconds, or `undefined`; throws on a bad value. */
const timeoutSeconds = (body: Record<string, unknown>): number | undefined => {
  const t = body["timeout"]
  if (t === undefined || t === null) return undefined
  if (typeof t !== "number" || !Number.isInteger(t) || t < 0) throw new Error("timeout must be a non-negative integer number of seconds")
  return t
}

const connection = (sandbox: E2bSandbox, options: ControlPlaneOptions) => ({
  sandboxID: sandbox.id,
  templateID: sandbox.template,
  clientID: sandbox.ext.clientID,
  envdVersion: options.envdVersion,
  envdAccessToken: sandbox.ext.envdAccessToken,
  trafficAccessToken: null,
  domain: null
})

const detail = (sandbox: E2bSandbox, options: ControlPlaneOptions) => ({
  sandboxID: sandbox.id,
  templateID: sandbox.template,
  clientID: sandbox.ext.clientID,
  metadata: sandbox.metadata,
  startedAt: sandbox.createdAt.toISOString(),
  // E2B always reports an end; a sandbox without a lifetime here reports a far one.
  endAt: (sandbox.endAt ?? new Date(sandbox.createdAt.getTime() + 86_400_000)).toISOString(),
  state: sandbox.state,
  cpuCount: 2,
  memoryMB: 512,
  diskSizeMB: 512,
  envdVersion: options.envdVersion,
  domain: null
})

export const create = async (
  registry: E2bRegistry,
  options: ControlPlaneOptions,
  req: IncomingMessage,
  res: ServerResponse
): Promise<void> => {
  const body = asRecord(await readJson(req))
  const template = body["templateID"]
  if (typeof template !== "string" || template === "") return badRequest(res, "templateID is required")
  if (options.templates !== undefined && !options.templates.includes(template)) {
    return sendJson(res, 404, { code: 404, message: `template '${template}' not found` })
  }
  let timeout: number | undefined
  try {
    timeout = timeoutSeconds(body)
  } catch (error) {
    return badRequest(res, (error as Error).message)
  }
  try {
    const sandbox = await registry.create({
      template,
      metadata: stringRecord(body["metadata"]),
      env: stringRecord(body["envVars"]),
      network: body["allow_internet_access"] !== false,
      timeoutMs: (timeout ?? options.defaultTimeoutMs / 1000) * 1000,
      ext: makeState
    })
    sendJson(res, 201, connection(sandbox, options))
  } catch (error) {
    if (error instanceof QuotaReached) {
      const { failure } = error
      sendJson(res, failure.status, { code: failure.status, message: failure.message ?? "quota reached" }, {
        ...(failure.retryAfter === undefined ? {} : { "Retry-After": String(failure.retryAfter) }),
        ...failure.headers
      })
      return
    }
    throw error
  }
}

export const connect = async (
  registry: E2bRegistry,
  options: ControlPlaneOptions,
  id: string,
  req: IncomingMessage,
  res: ServerResponse
): Promise<void> => {
  const body = asRecord(await readJson(req))
  const sandbox = registry.get(id)
  if (sandbox === undefined) return notFound(res, id)
  let timeout: number | undefined
  try {
    timeout = timeoutSeconds(body)
  } catch (error) {
    return badRequest(res, (error as Error).message)
  }
  if (sandbox.state === "paused") {
    registry.setState(id, "running", (timeout ?? options.defaultTimeoutMs / 1000) * 1000)
    return sendJson(res, 201, connection(sandbox, options))
  }
  // A running sandbox's timeout only ever grows on connect.
  if (timeout !== undefined) {
    const wanted = Date.now() + timeout * 1000
    if (sandbox.endAt === undefined || sandbox.endAt.getTime() < wanted) registry.setTimeout(id, timeout * 1000)
  }
  sendJson(res, 200, connection(sandbox, options))
}

export const getInfo = async (registry: E2bRegistry, options: ControlPlaneOptions, id: string, res: ServerResponse) => {
  const sandbox = registry.get(id)
  if (sandbox === undefined) return notFound(res, id)
  sendJson(res, 200, detail(sandbox, options))
}

/** `metadata` is one query parameter holding `k=v&k2=v2`, keys and values URI-encoded. */
const metadataFilter = (url: URL): Record<string, string> => {
  const raw = url.searchParams.get("metadata")
  const out: Record<string, string> = {}
  if (raw === null || raw === "") return out
  for (const [k, v] of new URLSearchParams(raw)) out[decodeURIComponent(k)] = decodeURIComponent(v)
  return out
}

export const list = async (registry: E2bRegistry, options: ControlPlaneOptions, url: URL, res: ServerResponse) => {
  const wanted = metadataFilter(url)
  const states = url.searchParams.getAll("state").flatMap((s) => s.split(",")).filter((s) => s !== "")
  const limit = Number(url.searchParams.get("limit") ?? options.pageSize)
  if (!Number.isInteger(limit) || limit < 1) return badRequest(res, "limit must be a positive integer")
  const offset = Number(url.searchParams.get("nextToken") ?? 0)
  if (!Number.isInteger(offset) || offset < 0) return badRequest(res, "invalid nextToken")
  const matching = registry.list().filter((s) =>
    (states.length === 0 ? s.state === "running" || s.state === "paused" : states.includes(s.state)) &&
    Object.entries(wanted).every(([k, v]) => s.metadata[k] === v)
  )
  const page = matching.slice(offset, offset + limit)
  const next = offset + limit < matching.length ? String(offset + limit) : undefined
  sendJson(res, 200, page.map((s) => detail(s, options)), next === undefined ? {} : { "x-next-token": next })
}

export const kill = async (registry: E2bRegistry, id: string, res: ServerResponse) =>
  (await registry.destroy(id)) ? sendEmpty(res, 204) : notFound(res, id)

export const setTimeout = async (registry: E2bRegistry, id: string, req: IncomingMessage, res: ServerResponse) => {
  const body = asRecord(await readJson(req))
  let timeout: number | undefined
  try {
    timeout = timeoutSeconds(body)
  } catch (error) {
    return badRequest(res, (error as Error).message)
  }
  if (timeout === undefined) return badRequest(res, "timeout is required")
  const sandbox = registry.get(id)
  if (sandbox === undefined) return notFound(res, id)
  if (sandbox.state === "paused") return sendJson(res, 409, { code: 409, message: `sandbox "${id}" is paused` })
  registry.setTimeout(id, timeout * 1000)
  sendEmpty(res, 204)
}

export const pause = async (registry: E2bRegistry, id: string, req: IncomingMessage, res: ServerResponse) => {
  await readJson(req).catch(() => undefined)
  const sandbox = registry.get(id)
  if (sandbox === undefined) return notFound(res, id)
  if (sandbox.state === "paused") return sendJson(res, 409, { code: 409, message: `sandbox "${id}" is already paused` })
  registry.setState(id, "paused")
  sendEmpty(res, 204)
}
