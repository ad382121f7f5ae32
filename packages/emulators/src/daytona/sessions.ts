/**
 * The toolbox's process sessions: `POST /process/session`, `…/exec` (sync or async), command status, logs (JSON or
 * the follow WebSocket with stdout/stderr markers), input, delete. Each command really runs through the local
 * engine (`sh -c`, its own process group); deleting a session kills its commands.
 *
 * Differences from the real daemon: commands of one session do not share a shell (a `cd` or `export` does not carry
 * over to the next command) and each runs as soon as it is submitted.
 */
import { Effect, Exit, Scope, Stream } from "effect"
import type { IncomingMessage, ServerResponse } from "node:http"
import type { WebSocket } from "ws"
import { readJson, sendEmpty, sendJson } from "../HttpServer.ts"
import type { CommandRecord, DaytonaSandbox, LogChunk, Session } from "./state.ts"
import { daemonError } from "./state.ts"

export const STDOUT_MARKER = Uint8Array.of(1, 1, 1)
export const STDERR_MARKER = Uint8Array.of(2, 2, 2)
/** Payload bytes per WebSocket frame (the SDK's demultiplexer copies frames through a spread). */
const FRAME_BYTES = 16 * 1024
/** Finished commands a session remembers (a long-lived session would otherwise keep every log forever). */
const KEPT_FINISHED = 100

const encoder = new TextEncoder()
const decoder = new TextDecoder()

const asRecord = (u: unknown): Record<string, unknown> => (typeof u === "object" && u !== null ? u as Record<string, unknown> : {})

const closeScope = (scope: Scope.Closeable) => Effect.runPromise(Scope.close(scope, Exit.void))

const concat = (chunks: ReadonlyArray<Uint8Array>): Uint8Array => {
  const out = new Uint8Array(chunks.reduce((n, c) => n + c.byteLength, 0))
  let offset = 0
  for (const c of chunks) {
    out.set(c, offset)
    offset += c.byteLength
  }
  return out
}

/** `{ output, stdout, stderr }` of a command so far. */
export const logsOf = (record: CommandRecord) => ({
  output: decoder.decode(concat(record.logs.map((c) => c.data))),
  stdout: decoder.decode(concat(record.logs.filter((c) => c.stream === 1).map((c) => c.data))),
  stderr: decoder.decode(concat(record.logs.filter((c) => c.stream === 2).map((c) => c.data)))
})

const commandView = (record: CommandRecord) => ({
  id: record.id,
  command: record.command,
  ...(record.exitCode === undefined ? {} : { exitCode: record.exitCode })
})

const sessionView = (session: Session) => ({ sessionId: session.id, commands: [...session.commands.values()].map(commandView) })

let commandCounter = 0
const newCommandId = () => `cmd-${Date.now().toString(36)}-${(++commandCounter).toString(36)}`

/** Start `command` under `sh -c` through the engine; its output is logged and passed to the followers. */
const startCommand = async (sandbox: DaytonaSandbox, command: string): Promise<CommandRecord> => {
  const scope = Effect.runSync(Scope.make())
  const process = await Effect.runPromise(
    sandbox.engine.spawn!(["sh", "-c", command], { cwd: sandbox.home }).pipe(Scope.provide(scope))
  ).catch(async (error: unknown) => {
    await closeScope(scope).catch(() => undefined)
    throw error
  })
  let finish: () => void = () => undefined
  const done = new Promise<void>((resolve) => {
    finish = resolve
  })
  const record: CommandRecord = {
    id: newCommandId(),
    command,
    exitCode: undefined,
    logs: [],
    process,
    scope,
    followers: new Set(),
    done
  }
  void (async () => {
    await Effect.runPromise(
      Stream.runForEach(process.output, (chunk) =>
        Effect.sync(() => {
          const entry: LogChunk = { stream: chunk._tag === "Stdout" ? 1 : 2, data: chunk.data }
          record.logs.push(entry)
          for (const follower of record.followers) follower(entry)
        }))
    ).catch(() => undefined)
    record.exitCode = await Effect.runPromise(process.wait).catch(() => 137)
    for (const follower of record.followers) follower(undefined)
    record.followers.clear()
    await closeScope(scope).catch(() => undefined)
    finish()
  })()
  return record
}

/** Kill every command of the session (SIGKILL to each process group) and wait until they have ended. */
export const killSession = async (session: Session): Promise<void> => {
  await Promise.all([...session.commands.values()].map(async (record) => {
    if (record.exitCode === undefined) await Effect.runPromise(record.process.kill("SIGKILL")).catch(() => undefined)
    await record.done
  }))
}

/** Kill every session's commands and forget the sessions (sandbox stopped or removed). */
export const killAllSessions = async (sandbox: DaytonaSandbox): Promise<void> => {
  const sessions = [...sandbox.ext.sessions.values()]
  sandbox.ext.sessions.clear()
  await Promise.all(sessions.map(killSession))
}

const missingSession = (res: ServerResponse, path: string, id: string) =>
  sendJson(res, 404, daemonError(404, `session ${id} not found`, path, "NOT_FOUND"))

const findCommand = (sandbox: DaytonaSandbox, sessionId: string, commandId: string) =>
  sandbox.ext.sessions.get(sessionId)?.commands.get(commandId)

export const createSession = async (sandbox: DaytonaSandbox, req: IncomingMessage, res: ServerResponse, url: URL) => {
  const sessionId = asRecord(await readJson(req))["sessionId"]
  if (typeof sessionId !== "string" || sessionId === "") {
    return sendJson(res, 400, daemonError(400, "sessionId is required", url.pathname, "BAD_REQUEST"))
  }
  if (sandbox.ext.sessions.has(sessionId)) {
    return sendJson(res, 409, daemonError(409, `session ${sessionId} already exists`, url.pathname, "CONFLICT"))
  }
  sandbox.ext.sessions.set(sessionId, { id: sessionId, commands: new Map() })
  sendEmpty(res, 201)
}

export const listSessions = async (sandbox: DaytonaSandbox, _req: IncomingMessage, res: ServerResponse) =>
  sendJson(res, 200, [...sandbox.ext.sessions.values()].map(sessionView))

export const getSession = async (sandbox: DaytonaSandbox, res: ServerResponse, url: URL, sessionId: string) => {
  const session = sandbox.ext.sessions.get(sessionId)
  if (session === undefined) return missingSession(res, url.pathname, sessionId)
  sendJson(res, 200, sessionView(session))
}

export const deleteSession = async (sandbox: DaytonaSandbox, res: ServerResponse, url: URL, sessionId: string) => {
  const session = sandbox.ext.sessions.get(sessionId)
  if (session === undefined) return missingSession(res, url.pathname, sessionId)
  sandbox.ext.sessions.delete(sessionId)
  await killSession(session)
  sendEmpty(res, 204)
}

export const execute = async (sandbox: DaytonaSandbox, req: IncomingMessage, res: ServerResponse, url: URL, sessionId: string) => {
  const body = asRecord(await readJson(req))
  const session = sandbox.ext.sessions.get(sessionId)
  if (session === undefined) return missingSession(res, url.pathname, sessionId)
  const command = body["command"]
  if (typeof command !== "string" || command.trim() === "") {
    return sendJson(res, 400, daemonError(400, "command is required", url.pathname, "BAD_REQUEST"))
  }
  const record = await startCommand(sandbox, command)
  session.commands.set(record.id, record)
  const finished = [...session.commands.values()].filter((c) => c.exitCode !== undefined)
  for (const old of finished.slice(0, Math.max(0, finished.length - KEPT_FINISHED))) session.commands.delete(old.id)
  if (body["runAsync"] === true || body["async"] === true) return sendJson(res, 202, { cmdId: record.id })
  await record.done
  sendJson(res, 200, { cmdId: record.id, ...logsOf(record), exitCode: record.exitCode })
}

export const getCommand = async (sandbox: DaytonaSandbox, res: ServerResponse, url: URL, sessionId: string, commandId: string) => {
  const record = findCommand(sandbox, sessionId, commandId)
  if (record === undefined) return sendJson(res, 404, daemonError(404, `command ${commandId} not found`, url.pathname, "NOT_FOUND"))
  sendJson(res, 200, commandView(record))
}

export const getLogs = async (sandbox: DaytonaSandbox, res: ServerResponse, url: URL, sessionId: string, commandId: string) => {
  const record = findCommand(sandbox, sessionId, commandId)
  if (record === undefined) return sendJson(res, 404, daemonError(404, `command ${commandId} not found`, url.pathname, "NOT_FOUND"))
  sendJson(res, 200, logsOf(record))
}

export const sendInput = async (sandbox: DaytonaSandbox, req: IncomingMessage, res: ServerResponse, url: URL, sessionId: string, commandId: string) => {
  const data = asRecord(await readJson(req))["data"]
  const record = findCommand(sandbox, sessionId, commandId)
  if (record === undefined) return sendJson(res, 404, daemonError(404, `command ${commandId} not found`, url.pathname, "NOT_FOUND"))
  if (record.exitCode !== undefined) {
    return sendJson(res, 410, daemonError(410, `command ${commandId} already completed`, url.pathname, "COMMAND_ALREADY_COMPLETED"))
  }
  if (typeof data !== "string") return sendJson(res, 400, daemonError(400, "data is required", url.pathname, "BAD_REQUEST"))
  await Effect.runPromise(record.process.write(encoder.encode(data))).catch(() => undefined)
  sendEmpty(res, 200)
}

/** Whether a follow-logs upgrade names an existing command. */
export const hasCommand = (sandbox: DaytonaSandbox, sessionId: string, commandId: string): boolean =>
  findCommand(sandbox, sessionId, commandId) !== undefined

const frames = (chunk: LogChunk): Array<Uint8Array> => {
  const marker = chunk.stream === 1 ? STDOUT_MARKER : STDERR_MARKER
  const out: Array<Uint8Array> = []
  for (let offset = 0; offset < chunk.data.byteLength; offset += FRAME_BYTES) {
    out.push(concat([marker, chunk.data.subarray(offset, offset + FRAME_BYTES)]))
  }
  return out
}

/**
 * The follow stream: everything logged so far, then live output, each chunk behind its stream's marker; the socket
 * closes (1000) when the command ends, which is what the SDK waits for.
 */
export const followLogs = (sandbox: DaytonaSandbox, sessionId: string, commandId: string, socket: WebSocket): void => {
  const record = findCommand(sandbox, sessionId, commandId)
  if (record === undefined) {
    socket.close(1008, "command not found")
    return
  }
  const send = (chunk: LogChunk) => {
    for (const frame of frames(chunk)) if (socket.readyState === socket.OPEN) socket.send(frame)
  }
  for (const chunk of record.logs) send(chunk)
  if (record.exitCode !== undefined) {
    socket.close(1000)
    return
  }
  const follower = (chunk: LogChunk | undefined) => {
    if (chunk === undefined) socket.close(1000)
    else send(chunk)
  }
  record.followers.add(follower)
  socket.once("close", () => record.followers.delete(follower))
  socket.on("error", () => undefined)
}
