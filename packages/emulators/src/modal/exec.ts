/**
 * Execs as the task command router keeps them: every exec (by the client-chosen `execId`) has append-only stdout and
 * stderr buffers that any number of readers can follow from any byte offset, an exit status, and a stdin that accepts
 * writes at an offset (a retried write is not applied twice). A real exec is a process started through the local
 * engine's `spawn`; a virtual one (the filesystem tool) is carried out by the emulator itself.
 */
import type { DriverSandbox, SandboxError, SandboxProcess } from "@sandkit/core"
import { Cause, Effect, Exit, Option, Scope, Stream } from "effect"
import { GrpcError } from "./grpc.ts"
import { Code } from "./schema.ts"

/** An engine (local provider) failure as the status the router would answer. */
export const grpcErrorOf = (error: SandboxError): GrpcError => {
  switch (error._tag) {
    case "FileNotFound":
      return new GrpcError(Code.INVALID_ARGUMENT, `workdir '${error.path}' does not exist`)
    case "PermissionDenied":
      return new GrpcError(Code.PERMISSION_DENIED, error.message)
    case "InvalidRequest":
      return new GrpcError(Code.INVALID_ARGUMENT, error.message)
    case "SandboxNotFound":
      return new GrpcError(Code.NOT_FOUND, "the sandbox is not running")
    default:
      return new GrpcError(Code.INTERNAL, error.message)
  }
}

/** Run an engine effect; its failure becomes a `GrpcError`. */
export const runEngine = async <A>(effect: Effect.Effect<A, SandboxError>): Promise<A> => {
  const exit = await Effect.runPromiseExit(effect)
  if (Exit.isSuccess(exit)) return exit.value
  const error = Cause.findErrorOption(exit.cause)
  if (Option.isSome(error)) throw grpcErrorOf(error.value)
  throw new GrpcError(Code.INTERNAL, `engine failure: ${Cause.pretty(exit.cause)}`)
}

/** Resolves when `notify` is called or `signal` aborts (whichever first). */
const changed = (listeners: Set<() => void>, signal: AbortSignal | undefined): Promise<void> =>
  new Promise((resolve) => {
    const done = () => {
      listeners.delete(done)
      signal?.removeEventListener("abort", done)
      resolve()
    }
    listeners.add(done)
    signal?.addEventListener("abort", done, { once: true })
  })

const notifyAll = (listeners: Set<() => void>) => {
  for (const listener of [...listeners]) listener()
}

/** One output stream of an exec: bytes appended as they come, readable from any offset, closed at exit. */
export class OutputBuffer {
  private readonly chunks: Array<{ readonly start: number; readonly data: Uint8Array }> = []
  private readonly listeners = new Set<() => void>()
  length = 0
  closed = false
  /** `/dev/null`: appends are dropped. */
  discard = false

  append(data: Uint8Array): void {
    if (this.closed || this.discard || data.byteLength === 0) return
    this.chunks.push({ start: this.length, data })
    this.length += data.byteLength
    notifyAll(this.listeners)
  }

  close(): void {
    this.closed = true
    notifyAll(this.listeners)
  }

  /** Everything from byte `offset` to the current end. */
  slice(offset: number): Uint8Array {
    const out = new Uint8Array(Math.max(0, this.length - offset))
    for (const chunk of this.chunks) {
      const end = chunk.start + chunk.data.byteLength
      if (end <= offset) continue
      const from = Math.max(0, offset - chunk.start)
      out.set(chunk.data.subarray(from), chunk.start + from - offset)
    }
    return out
  }

  /** The bytes from `offset` on, as they arrive, until the buffer is closed and drained (or `signal` aborts). */
  async *follow(offset: number, signal?: AbortSignal): AsyncGenerator<Uint8Array> {
    let position = offset
    while (signal?.aborted !== true) {
      if (position < this.length) {
        const data = this.slice(position)
        position = this.length
        yield data
        continue
      }
      if (this.closed) return
      await changed(this.listeners, signal)
    }
  }
}

export interface ExecExit {
  readonly code?: number
  readonly signal?: number
}

/** What a started exec does with its stdin. */
export interface StdinSink {
  readonly write: (data: Uint8Array) => Promise<void>
  readonly close: () => Promise<void>
}

export class ExecRecord {
  readonly execId: string
  readonly stdout = new OutputBuffer()
  readonly stderr = new OutputBuffer()
  exit: ExecExit | undefined
  /** Why the exec can no longer be reached (its sandbox ended), if so. */
  gone: string | undefined
  stdinWritten = 0
  stdinClosed = false
  sink: StdinSink | undefined
  /** Stops the process (sandbox removal, exec timeout). */
  stop: (() => Promise<void>) | undefined
  private readonly exitListeners = new Set<() => void>()
  private stdinQueue: Promise<void> = Promise.resolve()

  constructor(execId: string) {
    this.execId = execId
  }

  finish(exit: ExecExit): void {
    if (this.exit !== undefined) return
    this.exit = exit
    this.stdout.close()
    this.stderr.close()
    notifyAll(this.exitListeners)
  }

  /** The sandbox ended: readers and waiters are told so. */
  abandon(reason: string): void {
    this.gone ??= reason
    this.stdout.close()
    this.stderr.close()
    notifyAll(this.exitListeners)
  }

  /** The exit status once known; `NOT_FOUND` when the sandbox ends first. */
  async waitExit(signal?: AbortSignal): Promise<ExecExit | undefined> {
    while (this.exit === undefined && this.gone === undefined && signal?.aborted !== true) await changed(this.exitListeners, signal)
    if (this.exit !== undefined) return this.exit
    if (this.gone !== undefined) throw new GrpcError(Code.NOT_FOUND, `task is gone: ${this.gone}`)
    return undefined
  }

  /** Apply a stdin write at `offset`: bytes already written are skipped, so a retried write is applied once. */
  writeStdin(offset: number, data: Uint8Array, eof: boolean): Promise<void> {
    const run = async () => {
      if (this.gone !== undefined) throw new GrpcError(Code.NOT_FOUND, `task is gone: ${this.gone}`)
      if (offset > this.stdinWritten) {
        throw new GrpcError(Code.OUT_OF_RANGE, `stdin offset ${offset} is past the ${this.stdinWritten} bytes written`)
      }
      const fresh = data.subarray(Math.min(data.byteLength, this.stdinWritten - offset))
      if (fresh.byteLength > 0) {
        if (this.stdinClosed) throw new GrpcError(Code.FAILED_PRECONDITION, "stdin is closed")
        this.stdinWritten += fresh.byteLength
        // A process that has exited no longer reads: the bytes are accepted and dropped, as a closed pipe would.
        if (this.exit === undefined) await this.sink?.write(fresh).catch(() => undefined)
      }
      if (eof && !this.stdinClosed) {
        this.stdinClosed = true
        await this.sink?.close().catch(() => undefined)
      }
    }
    const result = this.stdinQueue.then(run)
    this.stdinQueue = result.catch(() => undefined)
    return result
  }
}

const SIGNALS: Readonly<Record<string, number>> = { SIGKILL: 9, SIGTERM: 15 }

/**
 * Start `argv` through the engine. Output is pumped into the record's buffers until the process ends; a
 * `timeoutSecs` above zero kills it (reported as signal 9).
 */
export const startProcess = async (
  engine: DriverSandbox,
  record: ExecRecord,
  argv: ReadonlyArray<string>,
  options: { readonly cwd: string; readonly env: Readonly<Record<string, string>>; readonly timeoutSecs: number }
): Promise<void> => {
  const scope = Effect.runSync(Scope.make())
  const close = () => Effect.runPromise(Scope.close(scope, Exit.void)).catch(() => undefined)
  let process: SandboxProcess
  try {
    process = await runEngine(engine.spawn!(argv as [string, ...Array<string>], { cwd: options.cwd, env: { ...options.env } }).pipe(Scope.provide(scope)))
  } catch (error) {
    await close()
    throw error
  }
  let killedWith: number | undefined
  const kill = async (signal: "SIGKILL" | "SIGTERM") => {
    killedWith ??= SIGNALS[signal]
    await Effect.runPromise(Effect.ignore(process.kill(signal)))
  }
  record.sink = {
    write: (data) => Effect.runPromise(process.write(data)),
    close: () => Effect.runPromise(process.closeStdin)
  }
  record.stop = async () => {
    await kill("SIGKILL")
    await close()
  }
  const timer = options.timeoutSecs > 0 ? setTimeout(() => void kill("SIGKILL"), options.timeoutSecs * 1000) : undefined
  void (async () => {
    await Effect.runPromise(
      Stream.runForEach(process.output, (chunk) =>
        Effect.sync(() => (chunk._tag === "Stdout" ? record.stdout : record.stderr).append(chunk.data)))
    ).catch(() => undefined)
    const code = await Effect.runPromise(process.wait).catch(() => -1)
    if (timer !== undefined) clearTimeout(timer)
    record.finish(killedWith !== undefined ? { signal: killedWith } : { code })
    await close()
  })()
}
