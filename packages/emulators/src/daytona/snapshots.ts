/**
 * Snapshots: `POST /sandbox/{id}/snapshot { name }` saves the sandbox's home (files and directories, through the
 * engine) under that name, passing through the `snapshotting` state; `GET /snapshots` (paged), `GET /snapshots/{id
 * or name}`, `DELETE /snapshots/{id}`; a create naming a saved snapshot starts with its files. Base snapshots (the
 * images a real account has) are names the emulator accepts without files; any other unknown name is a 404.
 */
import type { ServerResponse } from "node:http"
import { posix } from "node:path"
import type { IncomingMessage } from "node:http"
import { readJson, sendEmpty, sendJson } from "../HttpServer.ts"
import { engine } from "./files.ts"
import { transition } from "./lifecycle.ts"
import type { DaytonaSandbox, World } from "./state.ts"
import { apiError, ORGANIZATION_ID, toRecord } from "./state.ts"

export interface SavedFile {
  /** Relative to the home directory, `/`-separated. */
  readonly path: string
  /** `undefined` for a directory. */
  readonly data: Uint8Array | undefined
}

export interface SnapshotEntry {
  readonly id: string
  readonly name: string
  readonly createdAt: Date
  readonly sourceSandboxId: string | undefined
  readonly files: ReadonlyArray<SavedFile>
  readonly size: number
}

const view = (entry: SnapshotEntry) => ({
  id: entry.id,
  organizationId: ORGANIZATION_ID,
  general: false,
  name: entry.name,
  state: "active",
  // Daytona reports GB.
  size: entry.size / 1e9,
  entrypoint: null,
  cpu: 1,
  gpu: 0,
  mem: 1,
  disk: 3,
  errorReason: null,
  createdAt: entry.createdAt.toISOString(),
  updatedAt: entry.createdAt.toISOString(),
  lastUsedAt: null,
  sourceSandboxId: entry.sourceSandboxId ?? null
})

const baseView = (name: string) => ({ ...view({ id: name, name, createdAt: new Date(0), sourceSandboxId: undefined, files: [], size: 0 }), general: true })

export const findSnapshot = (world: World, idOrName: string): SnapshotEntry | undefined =>
  world.snapshots.get(idOrName) ?? [...world.snapshots.values()].find((s) => s.name === idOrName)

/** Every file and directory under the home, relative paths. */
const capture = async (sandbox: DaytonaSandbox): Promise<Array<SavedFile>> => {
  const out: Array<SavedFile> = []
  const walk = async (dir: string, prefix: string): Promise<void> => {
    for (const entry of await engine(sandbox.engine.files!.list(dir))) {
      const relative = prefix === "" ? entry.name : `${prefix}/${entry.name}`
      if (entry.type === "directory") {
        out.push({ path: relative, data: undefined })
        await walk(entry.path, relative)
      } else if (entry.type === "file") {
        out.push({ path: relative, data: await engine(sandbox.engine.files!.read(entry.path)) })
      }
    }
  }
  await walk(sandbox.home, "")
  return out
}

/** Put a snapshot's files into a fresh sandbox's home. */
export const restore = async (sandbox: DaytonaSandbox, snapshot: SnapshotEntry): Promise<void> => {
  for (const file of snapshot.files) {
    const path = posix.join(sandbox.home, file.path)
    if (file.data === undefined) await engine(sandbox.engine.files!.mkdir(path))
    else await engine(sandbox.engine.files!.write(path, file.data))
  }
}

/** `POST /sandbox/{id}/snapshot { name }`. */
export const snapshotSandbox = async (world: World, sandbox: DaytonaSandbox, req: IncomingMessage, res: ServerResponse) => {
  const name = (await readJson(req) as { name?: unknown }).name
  if (typeof name !== "string" || !/^[A-Za-z0-9][A-Za-z0-9._:/-]{0,254}$/.test(name)) {
    return sendJson(res, 400, apiError(400, "name must be a valid snapshot name"))
  }
  if (findSnapshot(world, name) !== undefined || world.baseSnapshots.has(name)) {
    return sendJson(res, 409, apiError(409, `Snapshot with name ${name} already exists`))
  }
  if (sandbox.ext.state !== "started") return sendJson(res, 400, apiError(400, `Sandbox ${sandbox.id} is not started`))
  transition(world, sandbox, "snapshotting")
  try {
    const files = await capture(sandbox)
    const entry: SnapshotEntry = {
      id: globalThis.crypto.randomUUID(),
      name,
      createdAt: new Date(),
      sourceSandboxId: sandbox.id,
      files,
      size: files.reduce((n, f) => n + (f.data?.byteLength ?? 0), 0)
    }
    world.snapshots.set(entry.id, entry)
  } finally {
    if (world.registry.get(sandbox.id) === sandbox) transition(world, sandbox, "started")
  }
  sendJson(res, 200, toRecord(world, sandbox))
}

export const list = async (world: World, url: URL, res: ServerResponse) => {
  const page = Number(url.searchParams.get("page") ?? 1)
  const limit = Number(url.searchParams.get("limit") ?? 100)
  if (!Number.isInteger(page) || page < 1 || !Number.isInteger(limit) || limit < 1) {
    return sendJson(res, 400, apiError(400, "page and limit must be positive integers"))
  }
  const name = url.searchParams.get("name")
  const source = url.searchParams.get("sourceSandboxId")
  const all = [...[...world.baseSnapshots].map(baseView), ...[...world.snapshots.values()].map(view)].filter((s) =>
    (name === null || s.name.includes(name)) && (source === null || s.sourceSandboxId === source)
  )
  const items = all.slice((page - 1) * limit, page * limit)
  sendJson(res, 200, { items, total: all.length, page, totalPages: Math.max(1, Math.ceil(all.length / limit)) })
}

export const get = async (world: World, res: ServerResponse, idOrName: string) => {
  const entry = findSnapshot(world, idOrName)
  if (entry !== undefined) return sendJson(res, 200, view(entry))
  if (world.baseSnapshots.has(idOrName)) return sendJson(res, 200, baseView(idOrName))
  sendJson(res, 404, apiError(404, `Snapshot ${idOrName} not found`))
}

export const remove = async (world: World, res: ServerResponse, id: string) => {
  const entry = findSnapshot(world, id)
  if (entry === undefined) return sendJson(res, 404, apiError(404, `Snapshot ${id} not found`))
  world.snapshots.delete(entry.id)
  sendEmpty(res, 200)
}
