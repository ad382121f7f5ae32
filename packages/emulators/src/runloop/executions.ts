/**
 * Executions: each command really runs through the local engine (`spawn`, its own process group) in the devbox's
 * home, with the devbox's environment. Its output is kept whole, byte-addressed, so the server-sent streams can
 * resume from any `offset`; the JSON views carry the last `last_n` lines (default 100) and say `*_truncated` when
 * lines or bytes were left out, as Runloop's do.
 */
import type { SandboxProcess } from "@sandkit/core"
import { Effect, Exit, Scope, Stream } from "effect"
import { type Devbox, randomId } from "./state.ts"

export type ExecutionStatus = "queued" | "running" | "completed"

/** Bytes of one output stream, growing until the process ends. */
export class Output {
  private chunks: Array<Uint8Array> = []
  private size = 0
  private done = false
  private readonly listeners = new Set<() => void>()

  get length(): number {
    return this.size
  }
  get ended(): boolean {
    return this.done
  }

  append(data: Uint8Array): void {
    if (data.byteLength === 0) return
    this.chunks.push(data)
    this.size += data.byteLength
    this.notify()
  }

  end(): void {
    this.done = true
    this.notify()
  }

  /** Bytes `[from, to)`. */
  bytes(from = 0, to = this.size): Uint8Array {
    const start = Math.max(0, Math.min(from, this.size))
    const stop = Math.max(start, Math.min(to, this.size))
    const out = new Uint8Array(stop - start)
    let offset = 0
    let position = 0
    for (const chunk of this.chunks) {
      const chunkEnd = position + chunk.byteLength
      if (chunkEnd > start && position < stop) {
        const part = chunk.subarray(Math.max(0, start - position), Math.min(chunk.byteLength, stop - position))
        out.set(part, offset)
        offset += part.byteLength
      }
      position = chunkEnd
      if (position >= stop) break
    }
    return out
  }

  /** Call `listener` on every append and at the end; returns the unsubscribe function. */
  watch(listener: () => void): () => void {
    this.listeners.add(listener)
    return () => this.listeners.delete(listener)
  }

  private notify(): void {
    for (const listener of [...this.listeners]) listener()
  }
}

export interface Execution {
  readonly id: string
  readonly devboxId: string
  readonly command: string
  readonly shellName: string | null
  status: ExecutionStatus
  exitStatus: number | null
  readonly stdout: Output
  readonly stderr: Output
  process: SandboxProcess | undefined
  readonly scope: Scope.Closeable
  stdinOpen: boolean
  /** Resolves once the process has exited and its output is complete. */
  readonly done: Promise<void>
  /** Called on every status change (long polls). */
  readonly watchers: Set<() => void>
}

export interface ExecutionOptions {
  /** The execution id (`execute` uses the client's `command_id`). */
  readonly id?: string | undefined
  readonly shellName?: string | null | undefined
  /** Keep stdin open for `send_std_in`; otherwise the command reads EOF at once. */
  readonly attachStdin: boolean
  /** The shell every command runs through (Runloop devboxes run bash). */
  readonly shell: string
}

const setExecStatus = (execution: Execution, status: ExecutionStatus) => {
  execution.status = status
  for (const watcher of [...execution.watchers]) watcher()
}

/** Start `command` in the devbox. Resolves once the process runs (or failed to start, then it is completed with 127). */
export const startExecution = async (devbox: Devbox, command: string, options: ExecutionOptions): Promise<Execution> => {
  const scope = Effect.runSync(Scope.make())
  let finish!: () => void
  const done = new Promise<void>((resolve) => {
    finish = resolve
  })
  const execution: Execution = {
    id: options.id ?? randomId("exe"),
    devboxId: devbox.id,
    command,
    shellName: options.shellName ?? null,
    status: "queued",
    exitStatus: null,
    stdout: new Output(),
    stderr: new Output(),
    process: undefined,
    scope,
    stdinOpen: options.attachStdin,
    done,
    watchers: new Set()
  }
  devbox.ext.executions.set(execution.id, execution)
  const complete = async (code: number) => {
    execution.stdout.end()
    execution.stderr.end()
    execution.exitStatus = code
    execution.stdinOpen = false
    setExecStatus(execution, "completed")
    finish()
    await Effect.runPromise(Scope.close(scope, Exit.void)).catch(() => undefined)
  }
  const spawned = await Effect.runPromiseExit(
    devbox.engine.spawn!([options.shell, "-c", command], { cwd: devbox.home }).pipe(Scope.provide(scope))
  )
  if (Exit.isFailure(spawned)) {
    execution.stderr.append(new TextEncoder().encode(`${options.shell}: cannot start the command\n`))
    await complete(127)
    return execution
  }
  const process = spawned.value
  execution.process = process
  if (!options.attachStdin) await Effect.runPromise(process.closeStdin).catch(() => undefined)
  setExecStatus(execution, "running")
  void (async () => {
    await Effect.runPromise(
      Stream.runForEach(process.output, (chunk) =>
        Effect.sync(() => (chunk._tag === "Stdout" ? execution.stdout : execution.stderr).append(chunk.data)))
    ).catch(() => undefined)
    const code = await Effect.runPromise(process.wait).catch(() => 137)
    await complete(code)
  })()
  return execution
}

/** SIGKILL the execution's process group (the engine kills the group); resolves once it has ended. */
export const killExecution = async (execution: Execution, signal: "SIGKILL" | "SIGINT" = "SIGKILL"): Promise<void> => {
  if (execution.status === "completed" || execution.process === undefined) return
  await Effect.runPromise(execution.process.kill(signal)).catch(() => undefined)
  if (signal === "SIGKILL") await execution.done
}

/** End every execution of a devbox (suspend, shutdown). */
export const killAll = async (devbox: Devbox): Promise<void> => {
  await Promise.all([...devbox.ext.executions.values()].map((e) => killExecution(e)))
}

/** Release every execution's resources and forget them (the devbox is gone). */
export const releaseAll = async (devbox: Devbox): Promise<void> => {
  await killAll(devbox)
  await Promise.all(
    [...devbox.ext.executions.values()].map((e) => Effect.runPromise(Scope.close(e.scope, Exit.void)).catch(() => undefined))
  )
  devbox.ext.executions.clear()
}

/** The longest prefix of `bytes` that does not end inside a UTF-8 sequence. */
export const completeUtf8 = (bytes: Uint8Array): number => {
  const n = bytes.byteLength
  for (let back = 1; back <= Math.min(3, n); back++) {
    const b = bytes[n - back]!
    if ((b & 0xc0) === 0x80) continue // continuation byte: keep looking for the lead
    const need = (b & 0xe0) === 0xc0 ? 2 : (b & 0xf0) === 0xe0 ? 3 : (b & 0xf8) === 0xf0 ? 4 : 1
    return need > back ? n - back : n
  }
  return n
}

const decoder = new TextDecoder()

/** The last `lastN` lines of `text` (a trailing newline does not start a line). */
export const lastLines = (text: string, lastN: number): { readonly text: string; readonly cut: boolean } => {
  if (lastN <= 0) return { text: "", cut: text.length > 0 }
  let index = text.length
  if (text.endsWith("\n")) index--
  for (let seen = 0; index > 0; index--) {
    if (text[index - 1] === "\n" && ++seen === lastN) return { text: text.slice(index), cut: true }
  }
  return { text, cut: false }
}

/** One stream's text for a view: at most `limitBytes` (the tail), then the last `lastN` lines. */
export const outputText = (output: Output, limitBytes: number, lastN: number | undefined) => {
  const over = output.length > limitBytes
  const bytes = output.bytes(over ? output.length - limitBytes : 0)
  const full = decoder.decode(bytes)
  const lines = lastN === undefined ? { text: full, cut: false } : lastLines(full, lastN)
  return { text: lines.text, truncated: over || lines.cut }
}

export interface ViewOptions {
  readonly lastN?: number | undefined
  readonly limitBytes: number
}

/** `DevboxAsyncExecutionDetailView`: output only once completed. */
export const executionView = (execution: Execution, options: ViewOptions): Record<string, unknown> => {
  const completed = execution.status === "completed"
  const stdout = completed ? outputText(execution.stdout, options.limitBytes, options.lastN ?? 100) : undefined
  const stderr = completed ? outputText(execution.stderr, options.limitBytes, options.lastN ?? 100) : undefined
  return {
    devbox_id: execution.devboxId,
    execution_id: execution.id,
    status: execution.status,
    exit_status: completed ? execution.exitStatus : null,
    shell_name: execution.shellName,
    stdout: stdout?.text ?? null,
    stderr: stderr?.text ?? null,
    stdout_truncated: stdout?.truncated ?? null,
    stderr_truncated: stderr?.truncated ?? null
  }
}

/** `DevboxExecutionDetailView` (`execute_sync`): the whole output, up to the byte limit. */
export const syncView = (execution: Execution, limitBytes: number): Record<string, unknown> => ({
  devbox_id: execution.devboxId,
  exit_status: execution.exitStatus ?? 0,
  stdout: outputText(execution.stdout, limitBytes, undefined).text,
  stderr: outputText(execution.stderr, limitBytes, undefined).text,
  shell_name: execution.shellName
})
