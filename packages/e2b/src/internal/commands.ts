/**
 * Commands through the SDK's `commands` module. Every command starts in the background (so we know its pid and
 * can kill it on timeout or interruption), with the SDK's own deadline off (`timeoutMs: 0`): the timeout is ours.
 * A non-zero exit arrives from the SDK as `CommandExitError`; here it is data again.
 */
import type { Command, ExecEvent, ExecOptions, ExecResult, OutputChunk, SandboxError, SandboxProcess, SpawnOptions } from "@sandkit/core"
import { CommandOutput, CommandTimeout, toMillis } from "@sandkit/core"
import type { Sandbox as SdkSandbox } from "@e2b/code-interpreter"
import { Cause, Deferred, Effect, Exit, Queue, type Scope, Stream } from "effect"
import { type ErrorContext, fromSdkError, PROVIDER, type Secrets } from "./errors.ts"

type CommandHandle = Awaited<ReturnType<SdkSandbox["commands"]["connect"]>>

export interface CommandContext {
  readonly sandboxId: string
  readonly sdk: SdkSandbox
  readonly secrets: Secrets
  /** Absolute path of a (possibly relative) sandbox path. */
  readonly resolve: (path: string) => string
  readonly workdir: string
}

const encoder = new TextEncoder()

/** POSIX single quotes, for the argv form (E2B runs every command through `bash -c`). */
const quote = (arg: string): string => /^[\w@%+=:,./-]+$/.test(arg) ? arg : `'${arg.replaceAll("'", `'\\''`)}'`

export const commandLine = (command: Command): string => typeof command === "string" ? command : command.map(quote).join(" ")

/** Go's rendering of a signal death (`signal: killed`), as envd reports it, to 128+N. */
const SIGNALS: Readonly<Record<string, number>> = { hangup: 1, interrupt: 2, quit: 3, aborted: 6, killed: 9, terminated: 15 }

/** The exit code as data: envd reports a signal death as `-1` with `error: "signal: killed"`. */
export const exitCodeOf = (result: { readonly exitCode: number; readonly error?: string | undefined }): number => {
  if (result.exitCode >= 0) return result.exitCode
  const signal = /signal: (\w+)/.exec(result.error ?? "")?.[1]
  return 128 + (signal === undefined ? 9 : SIGNALS[signal] ?? 9)
}

const isExitError = (error: unknown): error is { exitCode: number; error?: string } =>
  typeof error === "object" && error !== null && (error as { name?: unknown }).name === "CommandExitError"


interface StartOptions {
  readonly cwd?: string | undefined
  readonly env?: Readonly<Record<string, string>> | undefined
  readonly stdin: boolean
  readonly onStdout: (text: string) => void
  readonly onStderr: (text: string) => void
}

const errorContext = (ctx: CommandContext, operation: string, timeoutMs?: number): ErrorContext => ({
  operation,
  sandboxId: ctx.sandboxId,
  secrets: ctx.secrets,
  timeoutMs
})

const start = (ctx: CommandContext, command: Command, options: StartOptions): Effect.Effect<CommandHandle, SandboxError> =>
  Effect.tryPromise({
    try: () =>
      ctx.sdk.commands.run(commandLine(command), {
        background: true,
        cwd: options.cwd === undefined ? ctx.workdir : ctx.resolve(options.cwd),
        ...(options.env === undefined ? {} : { envs: { ...options.env } }),
        stdin: options.stdin,
        timeoutMs: 0,
        onStdout: options.onStdout,
        onStderr: options.onStderr
      }),
    catch: (error) => fromSdkError(error, errorContext(ctx, "exec"))
  })

/** The exit code once the process ends (a non-zero exit is a value, not an error). */
const waitFor = (ctx: CommandContext, handle: CommandHandle): Effect.Effect<number, SandboxError> =>
  Effect.tryPromise({
    try: () =>
      handle.wait().then(
        (result) => exitCodeOf(result),
        (error: unknown) => {
          if (isExitError(error)) return exitCodeOf(error)
          throw error
        }
      ),
    catch: (error) => fromSdkError(error, errorContext(ctx, "wait"))
  })

/** SIGKILL the process (E2B's only signal) and stop listening; never fails. */
const stop = (ctx: CommandContext, handle: CommandHandle) =>
  Effect.promise(async () => {
    await ctx.sdk.commands.kill(handle.pid).catch(() => false)
    await handle.disconnect().catch(() => undefined)
  })

const writeStdin = (ctx: CommandContext, pid: number, data: string | Uint8Array) =>
  Effect.tryPromise({
    try: () => ctx.sdk.commands.sendStdin(pid, typeof data === "string" ? encoder.encode(data) : data),
    catch: (error) => fromSdkError(error, errorContext(ctx, "stdin"))
  })

const closeStdin = (ctx: CommandContext, pid: number) =>
  Effect.tryPromise({
    try: () => ctx.sdk.commands.closeStdin(pid),
    catch: (error) => fromSdkError(error, errorContext(ctx, "closeStdin"))
  })

const timeoutError = (ctx: CommandContext, timeoutMs: number) =>
  new CommandTimeout({
    provider: PROVIDER,
    sandboxId: ctx.sandboxId,
    timeoutMs,
    message: `command timed out after ${timeoutMs} ms and was killed`
  })

/**
 * Write `stdin` then close it. Best effort, like a pipe: a process that exits without reading its input is not an
 * error (its exit code tells the story), so failures here are dropped.
 */
const feed = (ctx: CommandContext, pid: number, stdin: ExecOptions["stdin"]) =>
  stdin === undefined ? Effect.void : Effect.ignore(Effect.andThen(writeStdin(ctx, pid, stdin), closeStdin(ctx, pid)))

export const exec = (ctx: CommandContext, command: Command, options: ExecOptions): Effect.Effect<ExecResult, SandboxError> =>
  Effect.suspend(() => {
    const output = new CommandOutput(options.maxOutputBytes)
    const timeoutMs = options.timeout === undefined ? undefined : toMillis(options.timeout)
    return Effect.acquireUseRelease(
      start(ctx, command, {
        cwd: options.cwd,
        env: options.env,
        stdin: options.stdin !== undefined,
        onStdout: (text) => output.stdout.push(text),
        onStderr: (text) => output.stderr.push(text)
      }),
      (handle) => {
        // Input is written while the process runs: it may produce output (or exit) before reading it all.
        const run = options.stdin === undefined
          ? waitFor(ctx, handle)
          : Effect.map(
            Effect.all([feed(ctx, handle.pid, options.stdin), waitFor(ctx, handle)], { concurrency: 2 }),
            ([, code]) => code
          )
        return timeoutMs === undefined
          ? run
          : Effect.timeoutOrElse(run, { duration: timeoutMs, orElse: () => Effect.fail(timeoutError(ctx, timeoutMs)) })
      },
      // Done: the stream is over. Failed, timed out or interrupted: the process must not outlive the call.
      (handle, exit) => Exit.isSuccess(exit) ? Effect.promise(() => handle.disconnect().catch(() => undefined)) : stop(ctx, handle)
    ).pipe(Effect.map((exitCode) => output.result(exitCode)))
  })

export const execStream = (ctx: CommandContext, command: Command, options: ExecOptions): Stream.Stream<ExecEvent, SandboxError> =>
  Stream.callback<ExecEvent, SandboxError>((queue) => {
    const timeoutMs = options.timeout === undefined ? undefined : toMillis(options.timeout)
    let finished = false
    return Effect.acquireRelease(
      start(ctx, command, {
        cwd: options.cwd,
        env: options.env,
        stdin: options.stdin !== undefined,
        onStdout: (text) => void Queue.offerUnsafe(queue, { _tag: "Stdout", data: encoder.encode(text) }),
        onStderr: (text) => void Queue.offerUnsafe(queue, { _tag: "Stderr", data: encoder.encode(text) })
      }),
      // However the stream ends (consumer done, failure, interruption), the process is gone.
      (handle) => finished ? Effect.promise(() => handle.disconnect().catch(() => undefined)) : stop(ctx, handle)
    ).pipe(
      Effect.tap((handle) => Effect.forkScoped(feed(ctx, handle.pid, options.stdin))),
      Effect.tap((handle) => {
        const timer = timeoutMs === undefined ? undefined : setTimeout(() => {
          void ctx.sdk.commands.kill(handle.pid).catch(() => false)
          Queue.failCauseUnsafe(queue, Cause.fail(timeoutError(ctx, timeoutMs)))
        }, timeoutMs)
        void Effect.runPromiseExit(waitFor(ctx, handle)).then((exit) => {
          if (timer !== undefined) clearTimeout(timer)
          finished = Exit.isSuccess(exit)
          if (Exit.isSuccess(exit)) {
            Queue.offerUnsafe(queue, { _tag: "Exit", exitCode: exit.value })
            Queue.endUnsafe(queue)
          } else {
            Queue.failCauseUnsafe(queue, exit.cause)
          }
        })
        return Effect.addFinalizer(() => Effect.sync(() => timer !== undefined && clearTimeout(timer)))
      })
    )
  })

export const spawn = (ctx: CommandContext, command: Command, options: SpawnOptions): Effect.Effect<SandboxProcess, SandboxError, Scope.Scope> =>
  Effect.gen(function*() {
    const output = yield* Queue.unbounded<OutputChunk, Cause.Done>()
    const exited = yield* Deferred.make<number, SandboxError>()
    const handle = yield* Effect.acquireRelease(
      start(ctx, command, {
        cwd: options.cwd,
        env: options.env,
        stdin: true,
        onStdout: (text) => void Queue.offerUnsafe(output, { _tag: "Stdout", data: encoder.encode(text) }),
        onStderr: (text) => void Queue.offerUnsafe(output, { _tag: "Stderr", data: encoder.encode(text) })
      }),
      (handle) => Effect.flatMap(Deferred.isDone(exited), (done) => done ? Effect.promise(() => handle.disconnect()) : stop(ctx, handle))
    )
    void Effect.runPromiseExit(waitFor(ctx, handle)).then((exit) => {
      Queue.endUnsafe(output)
      Deferred.doneUnsafe(exited, exit)
    })
    const process: SandboxProcess = {
      pid: String(handle.pid),
      write: (data) => writeStdin(ctx, handle.pid, data),
      closeStdin: closeStdin(ctx, handle.pid),
      output: Stream.fromQueue(output),
      wait: Deferred.await(exited),
      // E2B delivers SIGKILL only; every requested signal ends the process that way.
      kill: () =>
        Effect.tryPromise({
          try: () => ctx.sdk.commands.kill(handle.pid),
          catch: (error) => fromSdkError(error, errorContext(ctx, "kill"))
        }).pipe(Effect.asVoid)
    }
    return process
  })
