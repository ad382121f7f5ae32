/**
 * The toolbox's file API through the local engine: list (with depth), info, folder, delete, move, raw download, and
 * the bulk transfers the SDK uses for every read and write — `bulk-upload` (multipart in: `files[i].path` +
 * `files[i].file`) and `bulk-download` (multipart out: one `file` part per path named by the requested path, or an
 * `error` part with the daemon's JSON error). Relative paths resolve against the home directory; paths outside the
 * sandbox's workspace are refused (`FILE_ACCESS_DENIED`), unlike a real sandbox, where `/tmp` and friends exist.
 */
import type { FileEntry, SandboxError } from "@sandkit/core"
import Busboy from "busboy"
import { Cause, Effect, Exit, Option } from "effect"
import type { IncomingMessage, ServerResponse } from "node:http"
import { posix } from "node:path"
import { readJson, sendEmpty, sendJson } from "../HttpServer.ts"
import type { DaytonaSandbox } from "./state.ts"
import { daemonError, randomToken } from "./state.ts"

/** An engine failure as the daemon's error (status, message, code). */
export class DaemonFailure extends Error {
  readonly status: number
  readonly code: string
  constructor(status: number, code: string, message: string) {
    super(message)
    this.status = status
    this.code = code
  }
}

const fromEngine = (error: SandboxError): DaemonFailure => {
  switch (error._tag) {
    case "FileNotFound":
      return new DaemonFailure(404, "FILE_NOT_FOUND", `file not found: ${error.path}`)
    case "PermissionDenied":
      return new DaemonFailure(403, "FILE_ACCESS_DENIED", error.message)
    case "InvalidRequest":
      return new DaemonFailure(400, "BAD_REQUEST", error.message)
    default:
      return new DaemonFailure(500, "INTERNAL_SERVER_ERROR", error.message)
  }
}

/** Run an engine effect; a failure becomes a `DaemonFailure`. */
export const engine = async <A>(effect: Effect.Effect<A, SandboxError>): Promise<A> => {
  const exit = await Effect.runPromiseExit(effect)
  if (Exit.isSuccess(exit)) return exit.value
  const error = Cause.findErrorOption(exit.cause)
  if (Option.isSome(error)) throw fromEngine(error.value)
  throw new DaemonFailure(500, "INTERNAL_SERVER_ERROR", Cause.pretty(exit.cause))
}

/** Answer a failure in the daemon's shape. */
export const fail = (res: ServerResponse, url: URL, error: unknown): void => {
  const failure = error instanceof DaemonFailure ? error : new DaemonFailure(500, "INTERNAL_SERVER_ERROR", String(error))
  sendJson(res, failure.status, daemonError(failure.status, failure.message, url.pathname, failure.code))
}

/** A daemon path: relative → under the home directory; `~` → home. */
export const resolvePath = (sandbox: DaytonaSandbox, path: string | null | undefined): string => {
  if (path === null || path === undefined || path === "" || path === "~") return sandbox.home
  return posix.resolve(sandbox.home, path.startsWith("~/") ? path.slice(2) : path)
}

const required = (url: URL, name: string): string => {
  const value = url.searchParams.get(name)
  if (value === null || value === "") throw new DaemonFailure(400, "BAD_REQUEST", `${name} is required`)
  return value
}

const files = (sandbox: DaytonaSandbox) => sandbox.engine.files!

/** A core `FileEntry` as the daemon's `FileInfo`. */
const fileInfo = (entry: FileEntry) => {
  const dir = entry.type === "directory"
  const modified = (entry.modifiedAt ?? new Date(0)).toISOString()
  return {
    name: entry.name,
    path: entry.path,
    isDir: dir,
    size: entry.size,
    mode: dir ? "drwxr-xr-x" : entry.type === "symlink" ? "Lrwxrwxrwx" : "-rw-r--r--",
    permissions: dir ? "0755" : "0644",
    owner: "daytona",
    group: "daytona",
    modTime: modified,
    modifiedAt: modified
  }
}

const stat = (sandbox: DaytonaSandbox, path: string) => engine(files(sandbox).stat(path))

const listDeep = async (sandbox: DaytonaSandbox, path: string, depth: number): Promise<Array<ReturnType<typeof fileInfo>>> => {
  const out: Array<ReturnType<typeof fileInfo>> = []
  for (const entry of await engine(files(sandbox).list(path))) {
    out.push(fileInfo(entry))
    if (entry.type === "directory" && depth > 1) out.push(...await listDeep(sandbox, entry.path, depth - 1))
  }
  return out
}

type Handler = (sandbox: DaytonaSandbox, req: IncomingMessage, res: ServerResponse, url: URL) => Promise<void>

const guarded = (f: Handler): Handler => async (sandbox, req, res, url) => {
  try {
    await f(sandbox, req, res, url)
  } catch (error) {
    fail(res, url, error)
  }
}

export const list = guarded(async (sandbox, _req, res, url) => {
  const path = resolvePath(sandbox, url.searchParams.get("path"))
  const depth = Number(url.searchParams.get("depth") ?? 1)
  const target = await stat(sandbox, path)
  if (target.type !== "directory") throw new DaemonFailure(400, "BAD_REQUEST", `${path} is not a directory`)
  sendJson(res, 200, await listDeep(sandbox, path, Number.isInteger(depth) && depth > 0 ? depth : 1))
})

export const info = guarded(async (sandbox, _req, res, url) => {
  sendJson(res, 200, fileInfo(await stat(sandbox, resolvePath(sandbox, required(url, "path")))))
})

export const createFolder = guarded(async (sandbox, _req, res, url) => {
  await engine(files(sandbox).mkdir(resolvePath(sandbox, required(url, "path"))))
  sendEmpty(res, 201)
})

export const remove = guarded(async (sandbox, _req, res, url) => {
  const path = resolvePath(sandbox, required(url, "path"))
  const target = await stat(sandbox, path)
  if (path === sandbox.home) throw new DaemonFailure(403, "FILE_ACCESS_DENIED", "refusing to delete the home directory")
  if (target.type === "directory" && url.searchParams.get("recursive") !== "true") {
    const entries = await engine(files(sandbox).list(path))
    if (entries.length > 0) throw new DaemonFailure(409, "CONFLICT", `directory ${path} is not empty`)
  }
  await engine(files(sandbox).remove(path))
  sendEmpty(res, 204)
})

export const move = guarded(async (sandbox, _req, res, url) => {
  const source = resolvePath(sandbox, required(url, "source"))
  const destination = resolvePath(sandbox, required(url, "destination"))
  await stat(sandbox, source)
  await engine(files(sandbox).stat(posix.dirname(destination)))
  const result = await engine(sandbox.engine.exec(["mv", "-f", "--", source, destination], {}))
  if (result.exitCode !== 0) throw new DaemonFailure(500, "INTERNAL_SERVER_ERROR", result.stderr.trim() || `mv exited ${result.exitCode}`)
  sendEmpty(res, 200)
})

/** `GET /files/download?path=`: the raw bytes. */
export const download = guarded(async (sandbox, _req, res, url) => {
  const path = resolvePath(sandbox, required(url, "path"))
  if ((await stat(sandbox, path)).type === "directory") throw new DaemonFailure(400, "BAD_REQUEST", `${path} is a directory`)
  const data = await engine(files(sandbox).read(path))
  res.writeHead(200, { "Content-Type": "application/octet-stream", "Content-Length": String(data.byteLength) })
  res.end(data)
})

/** The parts of a bulk upload: `files[i].path` fields and `files[i].file` files, matched by index. */
const readUploadParts = (req: IncomingMessage): Promise<Array<{ path: string; data: Uint8Array }>> =>
  new Promise((resolve, reject) => {
    const paths = new Map<number, string>()
    const datas = new Map<number, Uint8Array>()
    const reading: Array<Promise<void>> = []
    let parser: Busboy.Busboy
    try {
      parser = Busboy({ headers: req.headers, preservePath: true, limits: { fieldSize: 64 * 1024 } })
    } catch (error) {
      reject(new DaemonFailure(400, "BAD_REQUEST", `not a multipart upload: ${String(error)}`))
      return
    }
    const index = (name: string, kind: "path" | "file") => {
      const m = new RegExp(`^files\\[(\\d+)\\]\\.${kind}$`).exec(name)
      return m === null ? undefined : Number(m[1])
    }
    parser.on("field", (name, value) => {
      const i = index(name, "path")
      if (i !== undefined) paths.set(i, value)
    })
    parser.on("file", (name, stream, details) => {
      const i = index(name, "file")
      const chunks: Array<Uint8Array> = []
      reading.push(new Promise((done, failed) => {
        stream.on("data", (chunk: Uint8Array) => chunks.push(chunk))
        stream.once("error", failed)
        stream.once("end", () => {
          const data = new Uint8Array(chunks.reduce((n, c) => n + c.byteLength, 0))
          let offset = 0
          for (const c of chunks) {
            data.set(c, offset)
            offset += c.byteLength
          }
          if (i !== undefined) datas.set(i, data)
          else if (details.filename !== undefined && details.filename !== "") datas.set(-1 - datas.size, data)
          done()
        })
      }))
    })
    parser.once("error", (error) => reject(new DaemonFailure(400, "BAD_REQUEST", `bad multipart body: ${String(error)}`)))
    parser.once("close", () => {
      Promise.all(reading).then(() => {
        const out: Array<{ path: string; data: Uint8Array }> = []
        for (const [i, data] of [...datas.entries()].sort((a, b) => a[0] - b[0])) {
          const path = paths.get(i)
          if (path === undefined) return reject(new DaemonFailure(400, "BAD_REQUEST", `files[${i}].path is missing`))
          out.push({ path, data })
        }
        resolve(out)
      }, reject)
    })
    req.pipe(parser)
  })

export const bulkUpload = guarded(async (sandbox, req, res) => {
  const parts = await readUploadParts(req)
  for (const part of parts) await engine(files(sandbox).write(resolvePath(sandbox, part.path), part.data))
  sendEmpty(res, 200)
})

/** A header-safe quoted file name (the SDK matches parts by the requested path, verbatim). */
const quoted = (name: string) => `"${name.replace(/[\\"]/g, (c) => `\\${c}`).replace(/[\r\n]/g, " ")}"`

/** `POST /files/bulk-download { paths }` → multipart/form-data, one part per path, in order. */
export const bulkDownload = guarded(async (sandbox, req, res, url) => {
  const paths = (await readJson(req) as { paths?: unknown }).paths
  if (!Array.isArray(paths) || !paths.every((p) => typeof p === "string")) {
    throw new DaemonFailure(400, "BAD_REQUEST", "paths must be an array of strings")
  }
  const boundary = `daytona-emulator-${randomToken(12)}`
  const encoder = new TextEncoder()
  const parts: Array<Uint8Array> = []
  for (const requested of paths as Array<string>) {
    let head: string
    let body: Uint8Array
    try {
      const path = resolvePath(sandbox, requested)
      if ((await stat(sandbox, path)).type === "directory") throw new DaemonFailure(400, "BAD_REQUEST", `${path} is a directory`)
      body = await engine(files(sandbox).read(path))
      head = `Content-Disposition: form-data; name="file"; filename=${quoted(requested)}\r\nContent-Type: application/octet-stream\r\n`
    } catch (error) {
      const failure = error instanceof DaemonFailure ? error : new DaemonFailure(500, "INTERNAL_SERVER_ERROR", String(error))
      body = encoder.encode(JSON.stringify(daemonError(failure.status, failure.message, url.pathname, failure.code)))
      head = `Content-Disposition: form-data; name="error"; filename=${quoted(requested)}\r\nContent-Type: application/json\r\n`
    }
    parts.push(encoder.encode(`--${boundary}\r\n${head}Content-Length: ${body.byteLength}\r\n\r\n`), body, encoder.encode("\r\n"))
  }
  parts.push(encoder.encode(`--${boundary}--\r\n`))
  const total = parts.reduce((n, p) => n + p.byteLength, 0)
  res.writeHead(200, { "Content-Type": `multipart/form-data; boundary=${boundary}`, "Content-Length": String(total) })
  for (const part of parts) res.write(part)
  res.end()
})
