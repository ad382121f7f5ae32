/**
 * Command routes: `execute_sync`, `execute_async`, `execute` (client-chosen `command_id`, optimistic wait),
 * `executions/{id}` (retrieve, `wait_for_status` long poll, kill, `send_std_in`) and the server-sent output streams
 * (`stream_stdout_updates` / `stream_stderr_updates`, resumable from any byte `offset`).
 */
import { Effect } from "effect"
import type { Req, Res } from "./transport.ts"
import { type Ctx, fail, hold, intParam, notFound, ok, type Reply, usable } from "./context.ts"
import { completeUtf8, type Execution, executionView, killExecution, type Output, startExecution, syncView } from "./executions.ts"
import { asRecord, type Devbox } from "./state.ts"

const MAX_HOLD_MS = 25_000
const STATUSES = ["queued", "running", "completed"]

const commandOf = (body: Record<string, unknown>): string | undefined =>
  typeof body["command"] === "string" && body["command"].trim() !== "" ? body["command"] : undefined

const shellOf = (body: Record<string, unknown>): string | null => typeof body["shell_name"] === "string" ? body["shell_name"] : null

const lastN = (url: URL): number | undefined | null => {
  const n = intParam(url, "last_n")
  return n === 0 ? null : n
}

/** Wait (at most `ms`) for the execution to complete. */
const settle = (req: Req, execution: Execution, ms: number): Promise<boolean> =>
  hold(req, ms, (wake) => {
    execution.watchers.add(wake)
    return () => execution.watchers.delete(wake)
  }, () => execution.status === "completed")

const viewOf = (ctx: Ctx, execution: Execution, n: number | undefined) =>
  executionView(execution, { lastN: n, limitBytes: ctx.options.outputLimitBytes })

export const executeSync = async (ctx: Ctx, id: string, req: Req): Promise<Reply> => {
  const body = asRecord(await req.json())
  const command = commandOf(body)
  if (command === undefined) return fail(400, "command is required")
  const found = usable(ctx, id)
  if ("reply" in found) return found.reply
  const execution = await startExecution(found.devbox, command, { attachStdin: false, shellName: shellOf(body), shell: ctx.options.shell })
  await execution.done
  return ok(syncView(execution, ctx.options.outputLimitBytes))
}

export const executeAsync = async (ctx: Ctx, id: string, req: Req): Promise<Reply> => {
  const body = asRecord(await req.json())
  const command = commandOf(body)
  if (command === undefined) return fail(400, "command is required")
  const found = usable(ctx, id)
  if ("reply" in found) return found.reply
  const execution = await startExecution(found.devbox, command, {
    attachStdin: body["attach_stdin"] === true,
    shellName: shellOf(body),
    shell: ctx.options.shell
  })
  return ok(viewOf(ctx, execution, undefined))
}

/** `execute`: the execution id is the client's `command_id` (a retry finds the same execution, never a second one). */
export const execute = async (ctx: Ctx, id: string, req: Req): Promise<Reply> => {
  const body = asRecord(await req.json())
  const command = commandOf(body)
  if (command === undefined) return fail(400, "command is required")
  const commandId = body["command_id"]
  if (typeof commandId !== "string" || !/^[A-Za-z0-9_-]{1,128}$/.test(commandId)) return fail(400, "command_id must be a UUIDv7 string")
  const optimistic = body["optimistic_timeout"] ?? 25
  if (typeof optimistic !== "number" || optimistic < 0) return fail(400, "optimistic_timeout must be a non-negative number of seconds")
  const n = lastN(req.url)
  if (n === null) return fail(400, "last_n must be a positive integer")
  const found = usable(ctx, id)
  if ("reply" in found) return found.reply
  const existing = found.devbox.ext.executions.get(commandId)
  const execution = existing ??
    await startExecution(found.devbox, command, { id: commandId, attachStdin: false, shellName: shellOf(body), shell: ctx.options.shell })
  await settle(req, execution, Math.min(optimistic * 1000, MAX_HOLD_MS, ctx.options.longPollMs))
  return ok(viewOf(ctx, execution, n))
}

/** The devbox's execution `eid` (the devbox may be suspended: its finished executions stay readable). */
const findExecution = (ctx: Ctx, id: string, eid: string): { readonly execution: Execution; readonly devbox: Devbox } | { readonly reply: Reply } => {
  const devbox = ctx.registry.get(id)
  if (devbox === undefined) return { reply: ctx.tombstones.has(id) ? fail(400, `Devbox ${id} is not running (status: ${ctx.tombstones.get(id)!.status})`) : notFound(id) }
  const execution = devbox.ext.executions.get(eid)
  return execution === undefined ? { reply: fail(404, `Execution ${eid} not found`) } : { execution, devbox }
}

export const retrieve = (ctx: Ctx, id: string, eid: string, url: URL): Reply => {
  const n = lastN(url)
  if (n === null) return fail(400, "last_n must be a positive integer")
  const found = findExecution(ctx, id, eid)
  return "reply" in found ? found.reply : ok(viewOf(ctx, found.execution, n))
}

export const waitForStatus = async (ctx: Ctx, id: string, eid: string, req: Req): Promise<Reply> => {
  const body = asRecord(await req.json())
  const statuses = Array.isArray(body["statuses"]) ? body["statuses"].map(String) : []
  if (statuses.length === 0 || statuses.some((s) => !STATUSES.includes(s))) return fail(400, "statuses must list queued, running or completed")
  const seconds = body["timeout_seconds"] ?? 25
  if (typeof seconds !== "number" || seconds <= 0) return fail(400, "timeout_seconds must be a positive number")
  const n = lastN(req.url)
  if (n === null) return fail(400, "last_n must be a positive integer")
  const found = findExecution(ctx, id, eid)
  if ("reply" in found) return found.reply
  const { execution } = found
  const matched = await hold(req, Math.min(seconds * 1000, MAX_HOLD_MS, ctx.options.longPollMs), (wake) => {
    execution.watchers.add(wake)
    return () => execution.watchers.delete(wake)
  }, () => statuses.includes(execution.status))
  return matched
    ? ok(viewOf(ctx, execution, n))
    : fail(408, `Execution ${eid} did not reach ${statuses.join("|")} in time`, { "x-should-retry": "true" })
}

export const kill = async (ctx: Ctx, id: string, eid: string, req: Req): Promise<Reply> => {
  await req.json()
  const found = findExecution(ctx, id, eid)
  if ("reply" in found) return found.reply
  await killExecution(found.execution)
  return ok(viewOf(ctx, found.execution, undefined))
}

export const sendStdIn = async (ctx: Ctx, id: string, eid: string, req: Req): Promise<Reply> => {
  const body = asRecord(await req.json())
  const found = findExecution(ctx, id, eid)
  if ("reply" in found) return found.reply
  const { execution } = found
  const process = execution.process
  if (execution.status === "completed" || process === undefined) return fail(400, `Execution ${eid} has completed`)
  const text = body["text"]
  const signal = body["signal"]
  if (text !== undefined && text !== null) {
    if (typeof text !== "string") return fail(400, "text must be a string")
    if (!execution.stdinOpen) return fail(400, `Execution ${eid} has no stdin attached (or it was closed)`)
    await Effect.runPromise(process.write(text)).catch(() => undefined)
  }
  if (signal === "EOF") {
    execution.stdinOpen = false
    await Effect.runPromise(process.closeStdin).catch(() => undefined)
  } else if (signal === "INTERRUPT") {
    await killExecution(execution, "SIGINT")
  } else if (signal !== undefined && signal !== null) {
    return fail(400, "signal must be EOF or INTERRUPT")
  }
  return ok({ devbox_id: id, execution_id: eid, success: true })
}

const sseEvent = (data: unknown, event?: string) => `${event === undefined ? "" : `event: ${event}\n`}data: ${JSON.stringify(data)}\n\n`

/**
 * One output stream as server-sent events from byte `offset`: `{ output, offset }` per chunk, `offset` being the
 * position after the chunk (what a reconnect passes back). The response ends once the execution has completed and
 * everything was sent. With `streamCutMs`, the stream is cut by a 408 `error` event, as a server idle timeout would.
 */
export const stream = async (ctx: Ctx, id: string, eid: string, which: "stdout" | "stderr", req: Req, res: Res): Promise<void> => {
  const found = findExecution(ctx, id, eid)
  if ("reply" in found) {
    const { status, body } = found.reply
    const data = new TextEncoder().encode(JSON.stringify(body))
    res.writeHead(status, { "content-type": "application/json", "content-length": String(data.byteLength) })
    res.end(data)
    return
  }
  const offset = intParam(req.url, "offset")
  if (offset === null) {
    res.writeHead(400, { "content-type": "application/json" })
    res.end(JSON.stringify({ code: 400, message: "offset must be a non-negative integer" }))
    return
  }
  const output: Output = which === "stdout" ? found.execution.stdout : found.execution.stderr
  const decoder = new TextDecoder()
  let position = Math.min(offset ?? 0, output.length)
  let finished = false
  res.writeHead(200, { "content-type": "text/event-stream", "cache-control": "no-cache" })
  res.write(": stream open\n\n")
  const close = (tail?: string) => {
    if (finished) return
    finished = true
    unwatch()
    clearTimeout(cutTimer)
    found.devbox.ext.open.delete(tracked)
    res.end(tail)
  }
  const flush = () => {
    if (finished) return
    const available = output.bytes(position)
    const usableLength = output.ended ? available.byteLength : completeUtf8(available)
    if (usableLength > 0) {
      position += usableLength
      res.write(sseEvent({ output: decoder.decode(available.subarray(0, usableLength)), offset: position }))
    }
    if (output.ended && position >= output.length) close()
  }
  const tracked = { abort: () => close() }
  found.devbox.ext.open.add(tracked)
  const unwatch = output.watch(flush)
  const cutTimer = ctx.options.streamCutMs === undefined
    ? undefined
    : setTimeout(() => close(sseEvent({ code: 408, message: "stream idle timeout, reconnect from your last offset" }, "error")), ctx.options.streamCutMs)
  req.gone.addEventListener("abort", () => close())
  flush()
}
