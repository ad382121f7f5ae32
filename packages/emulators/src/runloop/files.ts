/**
 * File routes, through the local engine's file API (paths relative to the devbox home, `/home/user` its alias):
 * `write_file_contents` / `read_file_contents` (UTF-8 text; the read answers `text/plain`, never JSON),
 * `upload_file` (multipart: a `path` field and a `file` part) and `download_file` (raw bytes).
 */
import type { SandboxError } from "@sandkit/core"
import { Cause, Effect, Exit, Option } from "effect"
import { sendJson, sendRaw, type Req, type Res } from "./transport.ts"
import { type Ctx, fail, ok, type Reply, usable } from "./context.ts"
import { asRecord, type Devbox, resolvePath } from "./state.ts"

/** An engine failure as Runloop would answer it. */
const replyOf = (error: SandboxError, path: string): Reply => {
  switch (error._tag) {
    case "FileNotFound":
      return fail(404, `File not found: ${path}`)
    case "PermissionDenied":
      return fail(403, `Permission denied: ${path}`)
    case "InvalidRequest":
      return fail(400, error.message)
    default:
      return fail(500, `file operation failed: ${error.message}`)
  }
}

/** Run an engine effect: its value, or the reply for its failure. */
const run = async <A>(effect: Effect.Effect<A, SandboxError>, path: string): Promise<{ readonly value: A } | { readonly reply: Reply }> => {
  const exit = await Effect.runPromiseExit(effect)
  if (Exit.isSuccess(exit)) return { value: exit.value }
  const error = Cause.findErrorOption(exit.cause)
  return { reply: Option.isSome(error) ? replyOf(error.value, path) : fail(500, Cause.pretty(exit.cause)) }
}

const filePath = (body: Record<string, unknown>, key: string): string | undefined =>
  typeof body[key] === "string" && body[key] !== "" && !(body[key] as string).includes("\u0000") ? body[key] as string : undefined

/** Read a regular file's bytes; a directory is a 400. */
const readBytes = async (devbox: Devbox, path: string) => {
  const absolute = resolvePath(devbox, path)
  const stat = await run(devbox.engine.files!.stat(absolute), path)
  if ("reply" in stat) return stat
  if (stat.value.type === "directory") return { reply: fail(400, `${path} is a directory`) }
  return run(devbox.engine.files!.read(absolute), path)
}

export const writeContents = async (ctx: Ctx, id: string, req: Req): Promise<Reply> => {
  const body = asRecord(await req.json())
  const path = filePath(body, "file_path")
  if (path === undefined) return fail(400, "file_path is required")
  if (typeof body["contents"] !== "string") return fail(400, "contents must be a string")
  const found = usable(ctx, id)
  if ("reply" in found) return found.reply
  const written = await run(found.devbox.engine.files!.write(resolvePath(found.devbox, path), new TextEncoder().encode(body["contents"])), path)
  if ("reply" in written) return written.reply
  return ok({ devbox_id: id, exit_status: 0, stdout: "", stderr: "" })
}

/** Answers `text/plain` (the SDK would parse a JSON content type as JSON). */
export const readContents = async (ctx: Ctx, id: string, req: Req, res: Res): Promise<Reply | undefined> => {
  const body = asRecord(await req.json())
  const path = filePath(body, "file_path")
  if (path === undefined) return fail(400, "file_path is required")
  const found = usable(ctx, id)
  if ("reply" in found) return found.reply
  const read = await readBytes(found.devbox, path)
  if ("reply" in read) return read.reply
  sendRaw(res, 200, "text/plain; charset=utf-8", read.value)
  return undefined
}

export const download = async (ctx: Ctx, id: string, req: Req, res: Res): Promise<Reply | undefined> => {
  const body = asRecord(await req.json())
  const path = filePath(body, "path")
  if (path === undefined) return fail(400, "path is required")
  const found = usable(ctx, id)
  if ("reply" in found) return found.reply
  const read = await readBytes(found.devbox, path)
  if ("reply" in read) return read.reply
  sendRaw(res, 200, "application/octet-stream", read.value)
  return undefined
}

/** `multipart/form-data` with a `path` field and a `file` part; parent directories are created. */
export const upload = async (ctx: Ctx, id: string, req: Req): Promise<Reply> => {
  const contentType = String(req.headers["content-type"] ?? "")
  if (!contentType.startsWith("multipart/form-data")) return fail(400, "upload_file takes multipart/form-data")
  const raw = await req.body()
  let form: FormData
  try {
    form = await new Response(raw as Uint8Array<ArrayBuffer>, { headers: { "content-type": contentType } }).formData()
  } catch {
    return fail(400, "malformed multipart body")
  }
  const path = form.get("path")
  const file = form.get("file")
  if (typeof path !== "string" || path === "" || path.includes("\u0000")) return fail(400, "path is required")
  if (file === null || typeof file === "string") return fail(400, "file is required")
  const found = usable(ctx, id)
  if ("reply" in found) return found.reply
  const data = new Uint8Array(await file.arrayBuffer())
  const written = await run(found.devbox.engine.files!.write(resolvePath(found.devbox, path), data), path)
  return "reply" in written ? written.reply : ok({})
}

/** Write a handler's reply, unless the handler answered itself (raw bodies). */
export const answer = (res: Res, reply: Reply | undefined): void => {
  if (reply !== undefined) sendJson(res, reply.status, reply.body, reply.headers)
}
