/**
 * Commands. Runloop runs a command line through the devbox shell, from the user's home, so `cwd` and `env` become a
 * short script prefix (`cd …; export …`), and `stdin` a file uploaded beside it (binary-safe) that the script reads
 * from. Every command gets a client-made id (UUIDv7): `exec` uses `execute` with it (a retried request finds the
 * same execution, never starts a second one) and can kill it on timeout or interruption even before the first
 * answer. The answer carries the last 100 lines of each stream; when output may have been cut, the whole of it is
 * read from the server-sent streams instead.
 */
import type { Command, ExecEvent, ExecOptions, ExecResult, OutputChunk, SandboxError, SandboxProcess, SpawnOptions } from "@sandkit/core"
import { CommandTimeout, DEFAULT_MAX_OUTPUT_BYTES, InvalidRequest, OutputCollector, toMillis, withTransientRetry, joinSandboxPath } from "@sandkit/core"
import { toFile } from "@runloop/api-client"
import { Cause, Deferred, Effect, Exit, Queue, type Scope, Stream } from "effect"
import { awaitCompleted, call, type ExecutionView, longPoll, transfer } from "./api.ts"
import type { ResolvedConfig } from "./config.ts"
import { PROVIDER } from "./errors.ts"
import { quote } from "./spec.ts"

/** Where a devbox's commands start: learnt from the devbox itself once it runs. */
export interface Paths {
  /** Where commands start (absolute), and what relative `cwd`s resolve against. */
  workdir: string
  /** The devbox user's home (absolute): where staged stdin files go. */
  home: string
}

export interface CommandContext {
  readonly config: ResolvedConfig
  readonly devboxId: string
  readonly paths: Paths
  /** Learns `paths` when they are not known yet (a devbox opened while suspended); then nothing. */
  readonly ready: Effect.Effect<void, SandboxError>
  /** A failure of a call about this devbox, refined (a devbox that is gone → `SandboxNotFound`). */
  readonly refine: (error: SandboxError) => Effect.Effect<never, SandboxError>
}

/** Runloop answers with this many lines of each stream unless asked otherwise. */
const DEFAULT_LAST_N = 100
const encoder = new TextEncoder()

/** A UUIDv7 (time-ordered), the form Runloop wants for `command_id`. */
export const uuidv7 = (): string => {
  const bytes = new Uint8Array(16)
  globalThis.crypto.getRandomValues(bytes)
  let ms = Date.now()
  for (let i = 5; i >= 0; i--) {
    bytes[i] = ms % 256
    ms = Math.floor(ms / 256)
  }
  bytes[6] = (bytes[6]! & 0x0f) | 0x70
  bytes[8] = (bytes[8]! & 0x3f) | 0x80
  const hex = Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("")
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`
}

export const commandLine = (command: Command): string => typeof command === "string" ? command : command.map(quote).join(" ")

/** The script Runloop runs: stdin redirected (then unlinked), the working directory, the environment, the command. */
export const script = (command: Command, options: { readonly cwd: string; readonly env?: Readonly<Record<string, string>> | undefined; readonly stdinFile?: string | undefined }): string => {
  const lines: Array<string> = []
  if (options.stdinFile !== undefined) lines.push(`exec 0<${quote(options.stdinFile)} && rm -f -- ${quote(options.stdinFile)} || exit 126`)
  lines.push(`cd -- ${quote(options.cwd)} || exit 1`)
  for (const [name, value] of Object.entries(options.env ?? {})) lines.push(`export ${name}=${quote(value)}`)
  lines.push(commandLine(command))
  return lines.join("\n")
}

/** Runloop's exit status as data: a process that was killed (no status, or a negative one) is 128+9. */
export const exitCodeOf = (status: number | null | undefined): number => (typeof status === "number" && status >= 0 ? status : 137)

const timeoutError = (ctx: CommandContext, timeoutMs: number) =>
  new CommandTimeout({ provider: PROVIDER, sandboxId: ctx.devboxId, timeoutMs, message: `command timed out after ${timeoutMs} ms and was killed` })

/**
 * Kill the execution and its process group; never fails (it may have ended, or never started). Killing twice is
 * harmless, so a kill that did not get through (a reset connection) is sent again under the `transient` schedule.
 */
const killQuietly = (ctx: CommandContext, executionId: string) =>
  Effect.ignore(withTransientRetry(call(ctx.config, "kill", ctx.devboxId, (client, options) =>
    client.devboxes.executions.kill(ctx.devboxId, executionId, { kill_process_group: true }, options))))

/** Upload `data` as the command's stdin; returns its absolute path. */
const stageStdin = (ctx: CommandContext, commandId: string, data: string | Uint8Array) => {
  const path = joinSandboxPath(ctx.paths.home, `.sandkit-stdin-${commandId}`)
  const bytes = typeof data === "string" ? encoder.encode(data) : data
  return call(ctx.config, "exec", ctx.devboxId, async (client, options) =>
    client.devboxes.uploadFile(ctx.devboxId, { path, file: await toFile(bytes, "stdin") }, options), transfer(ctx.config)).pipe(Effect.as(path))
}

/** Call `onText` with each chunk of one output stream from its start, until the execution has completed. */
const follow = (ctx: CommandContext, executionId: string, which: "stdout" | "stderr", onText: (text: string) => void) =>
  call(ctx.config, "exec", ctx.devboxId, async (client, options) => {
    const executions = client.devboxes.executions
    const stream = await (which === "stdout"
      ? executions.streamStdoutUpdates(ctx.devboxId, executionId, { offset: "0" }, options)
      : executions.streamStderrUpdates(ctx.devboxId, executionId, { offset: "0" }, options))
    for await (const chunk of stream) if (chunk.output !== "") onText(chunk.output)
  }, { timeoutMs: undefined })

const mayBeCut = (text: string | null | undefined): boolean => (text ?? "").split("\n").length > DEFAULT_LAST_N - 1

/** The result of a completed execution, its whole output read from the streams when the answer may have cut it. */
const resultOf = (ctx: CommandContext, view: ExecutionView, limit: number) =>
  Effect.gen(function*() {
    const stdout = new OutputCollector(limit)
    const stderr = new OutputCollector(limit)
    if (view.stdout_truncated === true || view.stderr_truncated === true || mayBeCut(view.stdout) || mayBeCut(view.stderr)) {
      yield* Effect.all([
        follow(ctx, view.execution_id, "stdout", (t) => stdout.push(t)),
        follow(ctx, view.execution_id, "stderr", (t) => stderr.push(t))
      ], { concurrency: 2, discard: true })
    } else {
      stdout.push(view.stdout ?? "")
      stderr.push(view.stderr ?? "")
    }
    return { exitCode: exitCodeOf(view.exit_status), stdout: stdout.text(), stderr: stderr.text(), truncated: stdout.truncated || stderr.truncated }
  })

/** Start `command` under `commandId`, answering at once (`optimisticSeconds` 0) or once done (up to 25 s). */
const startExecute = (ctx: CommandContext, commandId: string, text: string, optimisticSeconds: number) =>
  call(ctx.config, "exec", ctx.devboxId, (client, options) =>
    client.devboxes.execute(ctx.devboxId, { command: text, command_id: commandId, optimistic_timeout: optimisticSeconds }, options), longPoll(ctx.config))

const timeoutOf = (options: ExecOptions) => (options.timeout === undefined ? undefined : toMillis(options.timeout))

/** Run to completion. `raw`: the command line as given, from the home, without the `cd` / `env` prefix. */
export const exec = (ctx: CommandContext, command: Command, options: ExecOptions, raw = false): Effect.Effect<ExecResult, SandboxError> => {
  // Made once per call: a retry of this effect (core retries RateLimited) reuses the id, so Runloop runs it once.
  const commandId = uuidv7()
  return Effect.suspend(() => {
    const started = performance.now()
    const timeoutMs = timeoutOf(options)
    const run = Effect.gen(function*() {
      if (!raw) yield* ctx.ready
      const stdinFile = options.stdin === undefined ? undefined : yield* stageStdin(ctx, commandId, options.stdin)
      const text = raw ? commandLine(command) : script(command, { cwd: joinSandboxPath(ctx.paths.workdir, options.cwd ?? "."), env: options.env, stdinFile })
      const first = yield* startExecute(ctx, commandId, text, 25)
      const done = yield* awaitCompleted(ctx.config, ctx.devboxId, first)
      return yield* resultOf(ctx, done, options.maxOutputBytes ?? DEFAULT_MAX_OUTPUT_BYTES)
    }).pipe(Effect.onExit((exit) => (Exit.isSuccess(exit) ? Effect.void : killQuietly(ctx, commandId))))
    const timed = timeoutMs === undefined
      ? run
      : Effect.timeoutOrElse(run, { duration: timeoutMs, orElse: () => Effect.fail(timeoutError(ctx, timeoutMs)) })
    return timed.pipe(
      Effect.catch((error) => (error._tag === "CommandTimeout" ? Effect.fail(error) : ctx.refine(error))),
      Effect.map((result): ExecResult => ({ ...result, durationMs: performance.now() - started }))
    )
  })
}

/** Pump both output streams into `offer`, then the exit code. */
const pumpOutput = (ctx: CommandContext, first: ExecutionView, offer: (chunk: OutputChunk) => void) =>
  Effect.all([
    follow(ctx, first.execution_id, "stdout", (t) => offer({ _tag: "Stdout", data: encoder.encode(t) })),
    follow(ctx, first.execution_id, "stderr", (t) => offer({ _tag: "Stderr", data: encoder.encode(t) }))
  ], { concurrency: 2, discard: true }).pipe(
    Effect.andThen(awaitCompleted(ctx.config, ctx.devboxId, first)),
    Effect.map((done) => exitCodeOf(done.exit_status))
  )

export const execStream = (ctx: CommandContext, command: Command, options: ExecOptions): Stream.Stream<ExecEvent, SandboxError> =>
  Stream.callback<ExecEvent, SandboxError>((queue) =>
    Effect.gen(function*() {
      const commandId = uuidv7()
      let completed = false
      yield* ctx.ready
      const stdinFile = options.stdin === undefined ? undefined : yield* stageStdin(ctx, commandId, options.stdin)
      const text = script(command, { cwd: joinSandboxPath(ctx.paths.workdir, options.cwd ?? "."), env: options.env, stdinFile })
      // However the stream ends (consumer done, failure, interruption, timeout), the process does not outlive it.
      const first = yield* Effect.acquireRelease(startExecute(ctx, commandId, text, 0), () => (completed ? Effect.void : killQuietly(ctx, commandId)))
      yield* Effect.forkScoped(
        pumpOutput(ctx, first, (chunk) => Queue.offerUnsafe(queue, chunk)).pipe(
          Effect.matchEffect({
            onSuccess: (exitCode) =>
              Effect.sync(() => {
                completed = true
                Queue.offerUnsafe(queue, { _tag: "Exit", exitCode })
                Queue.endUnsafe(queue)
              }),
            onFailure: (error) => Effect.flatMap(Effect.exit(ctx.refine(error)), (exit) => Effect.sync(() => Queue.failCauseUnsafe(queue, Exit.isFailure(exit) ? exit.cause : Cause.fail(error))))
          })
        )
      )
      const timeoutMs = timeoutOf(options)
      if (timeoutMs !== undefined) {
        yield* Effect.forkScoped(Effect.sleep(timeoutMs).pipe(
          Effect.andThen(killQuietly(ctx, commandId)),
          Effect.andThen(Effect.sync(() => Queue.failCauseUnsafe(queue, Cause.fail(timeoutError(ctx, timeoutMs)))))
        ))
      }
    }).pipe(
      // Starting failed (a devbox that is shut down answers 400): refined like every other call, so it reads SandboxNotFound.
      Effect.catch((error) =>
        Effect.flatMap(Effect.exit(error._tag === "CommandTimeout" ? Effect.fail(error) : ctx.refine(error)), (exit) =>
          Effect.sync(() => Queue.failCauseUnsafe(queue, Exit.isFailure(exit) ? exit.cause : Cause.fail(error))))
      )
    )
  )

const fatalDecoder = new TextDecoder("utf-8", { fatal: true })

export const spawn = (ctx: CommandContext, command: Command, options: SpawnOptions): Effect.Effect<SandboxProcess, SandboxError, Scope.Scope> =>
  Effect.gen(function*() {
    const output = yield* Queue.unbounded<OutputChunk, SandboxError | Cause.Done>()
    const exited = yield* Deferred.make<number, SandboxError>()
    yield* ctx.ready
    const text = script(command, { cwd: joinSandboxPath(ctx.paths.workdir, options.cwd ?? "."), env: options.env })
    const first = yield* Effect.acquireRelease(
      call(ctx.config, "spawn", ctx.devboxId, (client, o) =>
        client.devboxes.executions.executeAsync(ctx.devboxId, { command: text, attach_stdin: true }, o)).pipe(Effect.catch(ctx.refine)),
      (view) => Effect.flatMap(Deferred.isDone(exited), (done) => (done ? Effect.void : killQuietly(ctx, view.execution_id)))
    )
    yield* Effect.forkScoped(
      pumpOutput(ctx, first, (chunk) => Queue.offerUnsafe(output, chunk)).pipe(
        Effect.catch(ctx.refine),
        Effect.exit,
        Effect.flatMap((exit) =>
          Effect.sync(() => {
            if (Exit.isSuccess(exit)) Queue.endUnsafe(output)
            else Queue.failCauseUnsafe(output, exit.cause)
            Deferred.doneUnsafe(exited, exit)
          })
        )
      )
    )
    // `text: null` beside a signal matters: the SDK (1.32.0) takes a body whose only key is `signal` for request
    // options, and sends nothing.
    const stdIn = (body: { readonly text: string | null; readonly signal?: "EOF" | "INTERRUPT" }) =>
      call(ctx.config, "stdin", ctx.devboxId, (client, o) => client.devboxes.executions.sendStdIn(ctx.devboxId, first.execution_id, body, o)).pipe(
        Effect.catch(ctx.refine),
        Effect.asVoid
      )
    const process: SandboxProcess = {
      pid: first.execution_id,
      write: (data) =>
        Effect.suspend(() => {
          if (typeof data === "string") return stdIn({ text: data })
          try {
            return stdIn({ text: fatalDecoder.decode(data) })
          } catch {
            return Effect.fail(new InvalidRequest({
              provider: PROVIDER,
              sandboxId: ctx.devboxId,
              field: "stdin",
              message: "Runloop carries a running process's stdin as text: these bytes are not UTF-8"
            }))
          }
        }),
      closeStdin: stdIn({ text: null, signal: "EOF" }),
      output: Stream.fromQueue(output),
      wait: Deferred.await(exited),
      kill: (signal) =>
        signal === "SIGINT"
          ? stdIn({ text: null, signal: "INTERRUPT" })
          : call(ctx.config, "kill", ctx.devboxId, (client, o) =>
            client.devboxes.executions.kill(ctx.devboxId, first.execution_id, { kill_process_group: true }, o)).pipe(
              Effect.catch(ctx.refine),
              Effect.asVoid
            )
    }
    return process
  })
