/**
 * envd's `filesystem.Filesystem` RPCs (Stat, ListDir, MakeDir, Remove, Move) and the plain-HTTP `/files` upload and
 * download, all through the local engine's file API (paths stay inside the sandbox's workspace).
 */
import type { FileEntry } from "@sandkit/core"
import { stat as fsStat } from "node:fs/promises"
import type { IncomingMessage, ServerResponse } from "node:http"
import { posix } from "node:path"
import { gunzipSync } from "node:zlib"
import { readBody, sendJson } from "../HttpServer.ts"
import { readUnaryRequest, RpcError, sendUnary, sendUnaryError } from "./connect.ts"
import { type E2bSandbox, resolvePath, runEngine } from "./state.ts"

const asString = (u: unknown): string | undefined => (typeof u === "string" ? u : undefined)

const fileType = { file: "FILE_TYPE_FILE", directory: "FILE_TYPE_DIRECTORY", symlink: "FILE_TYPE_SYMLINK" } as const

/** A core `FileEntry` as envd's proto3-JSON `EntryInfo` (`undefined` for kinds envd does not report). */
const entryInfo = (entry: FileEntry): Record<string, unknown> | undefined => {
  if (entry.type === "other") return undefined
  const dir = entry.type === "directory"
  return {
    name: entry.name,
    type: fileType[entry.type],
    path: entry.path,
    size: String(entry.size),
    mode: dir ? 0o755 : 0o644,
    permissions: dir ? "drwxr-xr-x" : "-rw-r--r--",
    owner: "user",
    group: "user",
    ...(entry.modifiedAt === undefined ? {} : { modifiedTime: entry.modifiedAt.toISOString() })
  }
}

const files = (sandbox: E2bSandbox) => sandbox.engine.files!

const stat = (sandbox: E2bSandbox, path: string) => runEngine(files(sandbox).stat(path))

const listDeep = async (sandbox: E2bSandbox, path: string, depth: number): Promise<Array<Record<string, unknown>>> => {
  const out: Array<Record<string, unknown>> = []
  for (const entry of await runEngine(files(sandbox).list(path))) {
    const info = entryInfo(entry)
    if (info !== undefined) out.push(info)
    if (entry.type === "directory" && depth > 1) out.push(...await listDeep(sandbox, entry.path, depth - 1))
  }
  return out
}

const unary = (f: (sandbox: E2bSandbox, request: Record<string, unknown>) => Promise<unknown>) =>
async (sandbox: E2bSandbox, req: IncomingMessage, res: ServerResponse): Promise<void> => {
  try {
    sendUnary(res, await f(sandbox, await readUnaryRequest(req)))
  } catch (error) {
    sendUnaryError(res, error instanceof RpcError ? error : new RpcError("internal", String(error)))
  }
}

/** The home (the workspace itself) exists as long as the sandbox does: one `stat`, no path checks. */
const statHome = async (sandbox: E2bSandbox): Promise<FileEntry> => {
  const info = await fsStat(sandbox.home)
  return { name: posix.basename(sandbox.home), path: sandbox.home, type: "directory", size: info.size, modifiedAt: info.mtime }
}

export const statRpc = unary(async (sandbox, request) => {
  const path = resolvePath(sandbox, asString(request["path"]))
  // `Stat("")` (the default workdir) is how clients learn the home: answer it on the fast path.
  const entry = entryInfo(path === sandbox.home ? await statHome(sandbox) : await stat(sandbox, path))
  if (entry === undefined) throw new RpcError("invalid_argument", "unsupported file type")
  return { entry }
})

export const listDir = unary(async (sandbox, request) => {
  const path = resolvePath(sandbox, asString(request["path"]))
  const depth = typeof request["depth"] === "number" && request["depth"] > 0 ? request["depth"] : 1
  const target = await stat(sandbox, path)
  if (target.type !== "directory") throw new RpcError("invalid_argument", `path '${path}' is not a directory`)
  return { entries: await listDeep(sandbox, path, depth) }
})

export const makeDir = unary(async (sandbox, request) => {
  const path = resolvePath(sandbox, asString(request["path"]))
  const existing = await stat(sandbox, path).catch(() => undefined)
  if (existing !== undefined) throw new RpcError("already_exists", `path '${path}' already exists`)
  await runEngine(files(sandbox).mkdir(path))
  return { entry: entryInfo(await stat(sandbox, path)) }
})

export const remove = unary(async (sandbox, request) => {
  await runEngine(files(sandbox).remove(resolvePath(sandbox, asString(request["path"]))))
  return {}
})

export const move = unary(async (sandbox, request) => {
  const source = resolvePath(sandbox, asString(request["source"]))
  const destination = resolvePath(sandbox, asString(request["destination"]))
  await stat(sandbox, source)
  const result = await runEngine(sandbox.engine.exec(["mv", "-f", "--", source, destination], {}))
  if (result.exitCode !== 0) throw new RpcError("internal", result.stderr.trim() || `mv exited ${result.exitCode}`)
  return { entry: entryInfo(await stat(sandbox, destination)) }
})

/** `/files` errors use the control-plane shape `{ code, message }`. */
const httpError = (res: ServerResponse, error: unknown) => {
  const rpc = error instanceof RpcError ? error : new RpcError("internal", String(error))
  const status = rpc.code === "not_found" ? 404 : rpc.code === "invalid_argument" ? 400 : rpc.code === "permission_denied" ? 403 : 500
  sendJson(res, status, { code: status, message: rpc.message })
}

/** `GET /files?path=P`: the raw bytes. */
export const download = async (sandbox: E2bSandbox, _req: IncomingMessage, res: ServerResponse, url: URL): Promise<void> => {
  try {
    const path = resolvePath(sandbox, url.searchParams.get("path") ?? undefined)
    const info = await stat(sandbox, path)
    if (info.type === "directory") throw new RpcError("invalid_argument", `path '${path}' is a directory`)
    const data = await runEngine(files(sandbox).read(path))
    res.writeHead(200, { "Content-Type": "application/octet-stream", "Content-Length": String(data.byteLength) })
    res.end(data)
  } catch (error) {
    httpError(res, error)
  }
}

const decode = (req: IncomingMessage, body: Uint8Array): Uint8Array =>
  String(req.headers["content-encoding"] ?? "").toLowerCase() === "gzip" ? new Uint8Array(gunzipSync(body)) : body

/** `POST /files?path=P`: multipart (one part per file, file name = target path) or a raw octet stream. */
export const upload = async (sandbox: E2bSandbox, req: IncomingMessage, res: ServerResponse, url: URL): Promise<void> => {
  try {
    const queryPath = url.searchParams.get("path") ?? undefined
    const contentType = String(req.headers["content-type"] ?? "")
    const body = decode(req, await readBody(req))
    const targets: Array<{ path: string; data: Uint8Array }> = []
    if (contentType.startsWith("multipart/form-data")) {
      const form = await new Response(body as Uint8Array<ArrayBuffer>, { headers: { "content-type": contentType } }).formData()
      const parts = form.getAll("file").filter((part): part is File => typeof part !== "string")
      for (const part of parts) {
        const target = parts.length === 1 && queryPath !== undefined ? queryPath : part.name
        targets.push({ path: target, data: new Uint8Array(await part.arrayBuffer()) })
      }
    } else {
      if (queryPath === undefined) throw new RpcError("invalid_argument", "path is required for an octet-stream upload")
      targets.push({ path: queryPath, data: body })
    }
    if (targets.length === 0) throw new RpcError("invalid_argument", "no file in the upload")
    const written: Array<Record<string, unknown>> = []
    for (const target of targets) {
      const path = resolvePath(sandbox, target.path)
      await runEngine(files(sandbox).write(path, target.data))
      written.push({ name: posix.basename(path), type: "file", path })
    }
    sendJson(res, 200, written)
  } catch (error) {
    httpError(res, error)
  }
}
