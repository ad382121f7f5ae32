/**
 * The task command router (`modal.task_command_router.TaskCommandRouter`): exec start, stdio read by offset, wait,
 * poll, stdin (unary writes at an offset, the client stream the filesystem writes use, and its status). Calls carry
 * `authorization: Bearer <jwt>` for the task's sandbox. A task whose sandbox has ended answers `NOT_FOUND`; calls
 * made before a slow sandbox is ready wait for it.
 */
import { ExecRecord, startProcess } from "./exec.ts"
import { envOf, hostPath } from "./controlPlane.ts"
import { FS_TOOLS_PATH, startFsTool } from "./fsTools.ts"
import { type CallContext, GrpcError, type Handler, type Message } from "./grpc.ts"
import { Code } from "./schema.ts"
import type { ModalRegistry, ModalSandbox, World } from "./state.ts"

const str = (u: unknown): string => (typeof u === "string" ? u : "")
const asRecord = (u: unknown): Record<string, unknown> => (typeof u === "object" && u !== null ? u as Record<string, unknown> : {})

/** Largest data message sent on a stdio stream. */
const MAX_CHUNK = 4 * 1024 * 1024

const sleep = (ms: number, signal: AbortSignal) =>
  new Promise<void>((resolve) => {
    const timer = setTimeout(resolve, ms)
    signal.addEventListener("abort", () => {
      clearTimeout(timer)
      resolve()
    }, { once: true })
  })

export const commandRouter = (registry: ModalRegistry, world: World): Map<string, Handler> => {
  /** The running sandbox of a task, once it is ready, checked against the call's bearer token. */
  const task = async (taskId: string, call: CallContext): Promise<ModalSandbox> => {
    const sandboxId = world.tasks.get(taskId)
    const sandbox = sandboxId === undefined ? undefined : registry.get(sandboxId)
    if (sandbox === undefined) {
      const finished = sandboxId !== undefined && world.tombstones.has(sandboxId)
      throw new GrpcError(Code.NOT_FOUND, finished ? `task ${taskId} has finished` : `task ${taskId} not found`)
    }
    const auth = call.metadata["authorization"]
    if (auth !== `Bearer ${sandbox.ext.routerJwt}`) throw new GrpcError(Code.UNAUTHENTICATED, "invalid command router token")
    const wait = sandbox.readyAt - Date.now()
    if (wait > 0) await sleep(wait, call.signal)
    if (registry.get(sandbox.id) === undefined) throw new GrpcError(Code.NOT_FOUND, `task ${taskId} has finished`)
    return sandbox
  }
  const exec = async (request: Message, call: CallContext): Promise<ExecRecord> => {
    const sandbox = await task(str(request["taskId"]), call)
    const record = sandbox.ext.execs.get(str(request["execId"]))
    if (record === undefined) throw new GrpcError(Code.NOT_FOUND, `exec ${str(request["execId"])} not found`)
    return record
  }
  const unary = (handle: (request: Message, call: CallContext) => Promise<object>): Handler => ({ kind: "unary", handle })
  const exitOf = (record: ExecRecord) =>
    record.exit === undefined ? {} : record.exit.signal !== undefined ? { signal: record.exit.signal } : { code: record.exit.code ?? 0 }

  const handlers: Record<string, Handler> = {
    TaskExecStart: unary(async (request, call) => {
      const sandbox = await task(str(request["taskId"]), call)
      const execId = str(request["execId"])
      if (execId === "") throw new GrpcError(Code.INVALID_ARGUMENT, "exec_id is required")
      // The client picks the exec id, so a start retried after a lost answer finds its exec and starts nothing.
      if (sandbox.ext.execs.has(execId)) return {}
      const argv = Array.isArray(request["commandArgs"]) ? request["commandArgs"].map(String) : []
      if (argv.length === 0) throw new GrpcError(Code.INVALID_ARGUMENT, "command_args must not be empty")
      if (asRecord(request["ptyInfo"])["enabled"] === true) throw new GrpcError(Code.UNIMPLEMENTED, "the emulator does not support PTYs")
      const record = new ExecRecord(execId)
      record.stdout.discard = request["stdoutConfig"] === 0
      record.stderr.discard = request["stderrConfig"] === 0
      sandbox.ext.execs.set(execId, record)
      try {
        if (argv[0] === FS_TOOLS_PATH) {
          startFsTool(sandbox.engine.files!, record, argv[1])
        } else {
          const workdir = str(request["workdir"])
          const env: Record<string, string> = {}
          for (const [k, v] of Object.entries(asRecord(request["env"]))) env[k] = String(v)
          await startProcess(sandbox.engine, record, argv, {
            cwd: workdir === "" ? sandbox.ext.workdir : hostPath(sandbox.home, workdir),
            env: { ...env, ...envOf(request["secretSources"]) },
            timeoutSecs: Number(request["timeoutSecs"]) || 0
          })
        }
      } catch (error) {
        sandbox.ext.execs.delete(execId)
        throw error
      }
      if (registry.get(sandbox.id) === undefined) record.abandon("the sandbox ended")
      return {}
    }),
    TaskExecStdioRead: {
      kind: "serverStream",
      handle: async (request, call, send) => {
        const record = await exec(request, call)
        const fd = Number(request["fileDescriptor"])
        if (fd !== 0 && fd !== 1) throw new GrpcError(Code.INVALID_ARGUMENT, `unsupported file descriptor ${fd}`)
        const buffer = fd === 0 ? record.stdout : record.stderr
        for await (const data of buffer.follow(Number(request["offset"]) || 0, call.signal)) {
          for (let i = 0; i < data.byteLength; i += MAX_CHUNK) await send({ data: data.subarray(i, i + MAX_CHUNK) })
        }
        if (record.exit === undefined && record.gone !== undefined) throw new GrpcError(Code.NOT_FOUND, `task is gone: ${record.gone}`)
      }
    },
    TaskExecWait: unary(async (request, call) => {
      const record = await exec(request, call)
      await record.waitExit(call.signal)
      return exitOf(record)
    }),
    TaskExecPoll: unary(async (request, call) => exitOf(await exec(request, call))),
    TaskExecStdinWrite: unary(async (request, call) => {
      const record = await exec(request, call)
      const data = request["data"] instanceof Uint8Array ? request["data"] : new Uint8Array(0)
      await record.writeStdin(Number(request["offset"]) || 0, data, request["eof"] === true)
      return {}
    }),
    TaskExecStdinWriteStream: {
      kind: "clientStream",
      handle: async (requests, call) => {
        let record: ExecRecord | undefined
        let offset = 0
        for await (const message of requests) {
          const start = message["start"]
          if (record === undefined) {
            if (start === undefined || start === null) throw new GrpcError(Code.INVALID_ARGUMENT, "the first message must be start")
            record = await exec(asRecord(start), call)
            offset = Number(asRecord(start)["offset"]) || 0
            continue
          }
          if (message["end"] !== undefined && message["end"] !== null) {
            await record.writeStdin(offset, new Uint8Array(0), true)
            continue
          }
          const data = message["data"] instanceof Uint8Array ? message["data"] : new Uint8Array(0)
          await record.writeStdin(offset, data, false)
          offset += data.byteLength
        }
        return {}
      }
    },
    TaskExecStdinStatus: unary(async (request, call) => {
      const record = await exec(request, call)
      return { numBytesWritten: record.stdinWritten, closed: record.stdinClosed }
    })
  }
  return new Map(Object.entries(handlers))
}
