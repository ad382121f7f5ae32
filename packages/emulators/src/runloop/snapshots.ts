/**
 * Disk snapshots: `snapshot_disk` (held until the copy is complete), `snapshot_disk_async` (answers at once; the
 * status endpoint says when it is complete), `GET disk_snapshots` (by devbox, blueprint or metadata, cursor pages),
 * `disk_snapshots/{id}/delete`, and `create({ snapshot_id })`, whose devbox starts with the files of that moment.
 * The copy is every regular file under the devbox home, kept in memory (empty directories and file modes are not
 * kept: this is an emulator, not a disk image).
 */
import type { FileData } from "@sandkit/core"
import { Effect, Stream } from "effect"
import type { Req } from "./transport.ts"
import { type Ctx, fail, intParam, ok, type Reply, usable } from "./context.ts"
import { asRecord, type Devbox, randomId, stringMap } from "./state.ts"

export interface SnapshotRecord {
  readonly view: {
    readonly id: string
    readonly create_time_ms: number
    readonly metadata: Record<string, string>
    readonly source_devbox_id: string
    readonly name: string | null
    readonly commit_message: string | null
    size_bytes: number | null
    readonly source_blueprint_id: string | null
  }
  status: "in_progress" | "complete" | "error" | "deleted"
  error: string | null
  files: ReadonlyArray<FileData>
  readonly done: Promise<void>
}

const copyHome = (devbox: Devbox): Promise<ReadonlyArray<FileData>> =>
  Effect.runPromise(Stream.runCollect(devbox.engine.files!.download!(devbox.home)))

export const create = async (ctx: Ctx, id: string, req: Req, async: boolean): Promise<Reply> => {
  const body = asRecord(await req.json())
  const metadata = stringMap(body["metadata"], "metadata")
  if (typeof metadata === "string") return fail(400, metadata)
  const found = usable(ctx, id, ["running", "suspended"])
  if ("reply" in found) return found.reply
  const { devbox } = found
  let finish!: () => void
  const record: SnapshotRecord = {
    view: {
      id: randomId("snp"),
      create_time_ms: Date.now(),
      metadata,
      source_devbox_id: id,
      name: typeof body["name"] === "string" ? body["name"] : null,
      commit_message: typeof body["commit_message"] === "string" ? body["commit_message"] : null,
      size_bytes: null,
      source_blueprint_id: devbox.ext.blueprintId
    },
    status: "in_progress",
    error: null,
    files: [],
    done: new Promise<void>((resolve) => {
      finish = resolve
    })
  }
  ctx.snapshots.set(record.view.id, record)
  void copyHome(devbox).then(
    (files) => {
      record.files = files
      record.view.size_bytes = files.reduce((n, f) => n + f.data.byteLength, 0)
      if (record.status === "in_progress") record.status = "complete"
    },
    (error: unknown) => {
      record.status = "error"
      record.error = `snapshot failed: ${String(error)}`
    }
  ).finally(finish)
  if (!async) {
    await record.done
    if (record.status === "error") return fail(500, record.error ?? "snapshot failed")
  }
  return ok({ ...record.view })
}

export const status = (ctx: Ctx, sid: string): Reply => {
  const record = ctx.snapshots.get(sid)
  if (record === undefined) return fail(404, `Snapshot ${sid} not found`)
  return ok({ status: record.status, error_message: record.error, snapshot: record.status === "deleted" ? null : { ...record.view } })
}

export const remove = async (ctx: Ctx, sid: string, req: Req): Promise<Reply> => {
  await req.body()
  const record = ctx.snapshots.get(sid)
  if (record === undefined || record.status === "deleted") return fail(404, `Snapshot ${sid} not found`)
  record.status = "deleted"
  record.files = []
  return ok({})
}

export const list = (ctx: Ctx, url: URL): Reply => {
  const limit = intParam(url, "limit")
  if (limit === null || limit === 0) return fail(400, "limit must be a positive integer")
  const devboxId = url.searchParams.get("devbox_id")
  const blueprint = url.searchParams.get("source_blueprint_id")
  const wanted: Array<[string, ReadonlyArray<string>]> = []
  for (const [key, value] of url.searchParams) {
    const m = /^metadata\[(.+?)\](\[in\])?$/.exec(key)
    if (m !== null) wanted.push([m[1]!, m[2] === undefined ? [value] : value.split(",")])
  }
  const all = [...ctx.snapshots.values()]
    .filter((r) => r.status !== "deleted" && r.status !== "error")
    .filter((r) => devboxId === null || r.view.source_devbox_id === devboxId)
    .filter((r) => blueprint === null || r.view.source_blueprint_id === blueprint)
    .filter((r) => wanted.every(([k, values]) => values.includes(r.view.metadata[k] ?? "\u0000")))
    .sort((a, b) => b.view.create_time_ms - a.view.create_time_ms || (a.view.id < b.view.id ? 1 : -1))
  const after = url.searchParams.get("starting_after")
  const start = after === null || after === "" ? 0 : all.findIndex((r) => r.view.id === after) + 1
  const page = after !== null && after !== "" && start === 0 ? [] : all.slice(start, start + Math.min(limit ?? ctx.options.pageSize, 5000))
  return ok({
    snapshots: page.map((r) => ({ ...r.view })),
    has_more: page.length > 0 && start + page.length < all.length,
    total_count: all.length
  })
}

/** The snapshot a new devbox starts from, once its copy is complete; `undefined` when it is unknown or deleted. */
export const restorable = async (ctx: Ctx, sid: string): Promise<SnapshotRecord | undefined> => {
  const record = ctx.snapshots.get(sid)
  if (record === undefined || record.status === "deleted") return undefined
  await record.done
  return record.status === "complete" ? record : undefined
}

/** Put a snapshot's files into a devbox's home. */
export const restore = async (devbox: Devbox, record: SnapshotRecord): Promise<void> => {
  const files = devbox.engine.files!
  const upload = files.upload
  if (upload !== undefined) {
    await Effect.runPromise(upload(devbox.home, Stream.fromIterable(record.files)))
    return
  }
  for (const file of record.files) await Effect.runPromise(files.write(`${devbox.home}/${file.path}`, file.data))
}
