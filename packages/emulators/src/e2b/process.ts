/**
 * envd's `process.Process` service: Start / Connect (server streams), SendInput, CloseStdin, SendSignal, List.
 * Every process really runs through the local engine (`spawn`, its own process group); its output is broadcast to
 * every stream subscribed to it. As in envd, a process outlives the request that started it (only the
 * `Connect-Timeout-Ms` deadline, when non-zero, kills it).
 */
import { Effect, Scope, Stream } from "effect"
import type { IncomingMessage, ServerResponse } from "node:http"
import { base64, fromBase64, readStreamRequest, readUnaryRequest, RpcError, sendUnary, sendUnaryError, ServerStream } from "./connect.ts"
import {
  closeScope,
  type E2bSandbox,
  type ProcessConfig,
  type ProcessEvent,
  type ProcessRecord,
  resolvePath,
  runEngine
} from "./state.ts"

const asRecord = (u: unknown): Record<string, unknown> => (typeof u === "object" && u !== null ? u as Record<string, unknown> : {})
const asString = (u: unknown): string | undefined => (typeof u === "string" ? u : undefined)

const signalStatus = { SIGKILL: "signal: killed", SIGTERM: "signal: terminated" } as const

/** The end event envd sends: Go's `ProcessState` rendering of the exit. */
const endEvent = (record: ProcessRecord, code: number): ProcessEvent => {
  if (record.signalled !== undefined) {
    const status = signalStatus[record.signalled]
    return { end: { exitCode: -1, status, error: status } }
  }
  const status = `exit status ${code}`
  return { end: { ...(code === 0 ? {} : { exitCode: code, error: status }), exited: true, status } }
}

const broadcast = (record: ProcessRecord, event: ProcessEvent) => {
  for (const subscriber of record.subscribers) subscriber(event)
}

/** The record a selector (`{ pid }` or `{ tag }`) names. */
const select = (sandbox: E2bSandbox, selector: unknown): ProcessRecord => {
  const s = asRecord(selector)
  const pid = typeof s["pid"] === "number" ? s["pid"] : undefined
  const tag = asString(s["tag"])
  const found = pid !== undefined
    ? sandbox.ext.processes.get(pid)
    : [...sandbox.ext.processes.values()].find((p) => tag !== undefined && p.tag === tag)
  if (found === undefined) throw new RpcError("not_found", `process with ${pid !== undefined ? `pid ${pid}` : `tag ${tag}`} not found`)
  return found
}

/** Start a process through the engine and pump its output to the subscribers until it exits. */
const startProcess = async (
  sandbox: E2bSandbox,
  request: Record<string, unknown>,
  timeoutMs: number,
  first: { readonly onEvent: (event: ProcessEvent) => void; readonly onEnd: () => void }
): Promise<ProcessRecord> => {
  if (request["pty"] !== undefined) throw new RpcError("unimplemented", "the emulator does not support pty processes")
  const spec = asRecord(request["process"])
  const cmd = asString(spec["cmd"])
  if (cmd === undefined || cmd === "") throw new RpcError("invalid_argument", "process.cmd is required")
  const args = Array.isArray(spec["args"]) ? spec["args"].map(String) : []
  const envs: Record<string, string> = {}
  for (const [k, v] of Object.entries(asRecord(spec["envs"]))) envs[k] = String(v)
  const cwd = resolvePath(sandbox, asString(spec["cwd"]))
  const exists = await runEngine(sandbox.engine.files!.stat(cwd)).then(() => true, () => false)
  if (!exists) throw new RpcError("invalid_argument", `cwd '${cwd}' does not exist`)

  const scope = Effect.runSync(Scope.make())
  const process = await runEngine(
    sandbox.engine.spawn!([cmd, ...args], { cwd, env: envs }).pipe(Scope.provide(scope))
  ).catch(async (error: unknown) => {
    await closeScope(scope)
    throw error
  })
  const config: ProcessConfig = { cmd, args, envs, cwd }
  const record: ProcessRecord = {
    pid: Number(process.pid),
    tag: asString(request["tag"]),
    config,
    process,
    scope,
    subscribers: new Set([first.onEvent]),
    endSubscribers: new Set([first.onEnd]),
    stdinOpen: request["stdin"] !== false
  }
  if (!record.stdinOpen) await Effect.runPromise(process.closeStdin).catch(() => undefined)
  sandbox.ext.processes.set(record.pid, record)
  first.onEvent({ start: { pid: record.pid } })

  const deadline = timeoutMs > 0
    ? setTimeout(() => {
      record.signalled ??= "SIGKILL"
      void Effect.runPromise(process.kill("SIGKILL")).catch(() => undefined)
    }, timeoutMs)
    : undefined
  void (async () => {
    await Effect.runPromise(
      Stream.runForEach(process.output, (chunk) =>
        Effect.sync(() =>
          broadcast(record, { data: chunk._tag === "Stdout" ? { stdout: base64(chunk.data) } : { stderr: base64(chunk.data) } })
        ))
    ).catch(() => undefined)
    const code = await Effect.runPromise(process.wait).catch(() => -1)
    if (deadline !== undefined) clearTimeout(deadline)
    sandbox.ext.processes.delete(record.pid)
    broadcast(record, endEvent(record, code))
    for (const done of record.endSubscribers) done()
    await closeScope(scope).catch(() => undefined)
  })()
  return record
}

/** Serve one stream for `record`: every event from now on, then the end-of-stream frame. */
const subscribe = (sandbox: E2bSandbox, stream: ServerStream, keepaliveSeconds: number) => {
  const tracked = { abort: () => stream.abort() }
  sandbox.ext.streams.add(tracked)
  const keepalive = keepaliveSeconds > 0
    ? setInterval(() => stream.send({ event: { keepalive: {} } }), keepaliveSeconds * 1000)
    : undefined
  const finish = () => {
    if (keepalive !== undefined) clearInterval(keepalive)
    sandbox.ext.streams.delete(tracked)
  }
  return {
    onEvent: (event: ProcessEvent) => stream.send({ event }),
    onEnd: () => {
      finish()
      stream.end()
    },
    onGone: finish
  }
}

const keepaliveOf = (req: IncomingMessage): number => {
  const value = Number(req.headers["keepalive-ping-interval"] ?? 0)
  return Number.isFinite(value) && value > 0 ? value : 0
}

export const start = async (sandbox: E2bSandbox, req: IncomingMessage, res: ServerResponse): Promise<void> => {
  const request = await readStreamRequest(req)
  const timeoutMs = Number(req.headers["connect-timeout-ms"] ?? 0)
  const stream = new ServerStream(res)
  const served = subscribe(sandbox, stream, keepaliveOf(req))
  let record: ProcessRecord
  try {
    record = await startProcess(sandbox, request, Number.isFinite(timeoutMs) ? timeoutMs : 0, served)
  } catch (error) {
    served.onGone()
    stream.end(error instanceof RpcError ? error : new RpcError("internal", String(error)))
    return
  }
  stream.onClientGone(() => {
    record.subscribers.delete(served.onEvent)
    record.endSubscribers.delete(served.onEnd)
    served.onGone()
  })
}

export const connect = async (sandbox: E2bSandbox, req: IncomingMessage, res: ServerResponse): Promise<void> => {
  const request = await readStreamRequest(req)
  const stream = new ServerStream(res)
  let record: ProcessRecord
  try {
    record = select(sandbox, request["process"])
  } catch (error) {
    stream.end(error as RpcError)
    return
  }
  const served = subscribe(sandbox, stream, keepaliveOf(req))
  served.onEvent({ start: { pid: record.pid } })
  record.subscribers.add(served.onEvent)
  record.endSubscribers.add(served.onEnd)
  stream.onClientGone(() => {
    record.subscribers.delete(served.onEvent)
    record.endSubscribers.delete(served.onEnd)
    served.onGone()
  })
}

const unary = (f: (sandbox: E2bSandbox, request: Record<string, unknown>) => Promise<unknown>) =>
async (sandbox: E2bSandbox, req: IncomingMessage, res: ServerResponse): Promise<void> => {
  try {
    sendUnary(res, await f(sandbox, await readUnaryRequest(req)))
  } catch (error) {
    sendUnaryError(res, error instanceof RpcError ? error : new RpcError("internal", String(error)))
  }
}

export const sendInput = unary(async (sandbox, request) => {
  const record = select(sandbox, request["process"])
  const input = asRecord(request["input"])
  const data = asString(input["stdin"])
  if (input["pty"] !== undefined) throw new RpcError("failed_precondition", "the process has no pty")
  if (!record.stdinOpen) throw new RpcError("failed_precondition", "stdin not enabled or closed")
  if (data !== undefined) await runEngine(record.process.write(fromBase64(data)))
  return {}
})

export const closeStdin = unary(async (sandbox, request) => {
  const record = select(sandbox, request["process"])
  record.stdinOpen = false
  await Effect.runPromise(record.process.closeStdin).catch(() => undefined)
  return {}
})

export const sendSignal = unary(async (sandbox, request) => {
  const record = select(sandbox, request["process"])
  const signal = request["signal"] === "SIGNAL_SIGTERM" || request["signal"] === 15 ? "SIGTERM" : "SIGKILL"
  record.signalled ??= signal
  await runEngine(record.process.kill(signal))
  return {}
})

export const list = unary(async (sandbox) => ({
  processes: [...sandbox.ext.processes.values()].map((p) => ({
    pid: p.pid,
    config: { cmd: p.config.cmd, args: p.config.args, envs: p.config.envs, ...(p.config.cwd === undefined ? {} : { cwd: p.config.cwd }) },
    ...(p.tag === undefined ? {} : { tag: p.tag })
  }))
}))

export const unimplemented = async (_sandbox: E2bSandbox, req: IncomingMessage, res: ServerResponse): Promise<void> => {
  await readUnaryRequest(req).catch(() => undefined)
  sendUnaryError(res, new RpcError("unimplemented", "not supported by the emulator"))
}
