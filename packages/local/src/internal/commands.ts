/**
 * Running commands in a local sandbox: `exec` (collected, capped, timed), `execStream` (interruptible) and `spawn`
 * (background, stdin, kill). Every process gets its own process group and is registered with the sandbox, so
 * destroying the sandbox kills whatever is still running.
 */
import type { Command, ExecEvent, ExecOptions, ExecResult, OutputChunk, SandboxError, SandboxProcess, SpawnOptions } from "@sandkit/core"
import { CommandOutput, CommandTimeout, FileNotFound, ProviderError, toMillis } from "@sandkit/core"
import { Cause, Deferred, Effect, Queue, Scope, Stream } from "effect"
import { stat } from "node:fs/promises"
import { startChild, type RunningChild } from "./child.ts"
import { resolveInWorkspace } from "./files.ts"
import { wrapArgv, type Limits, type Tier } from "./isolation.ts"

const PROVIDER = "local"

/** What a command needs to know about its sandbox. */
export interface CommandContext {
  readonly sandboxId: string
  readonly tier: Tier
  readonly workspace: string
  readonly tmp: string
  readonly env: () => Readonly<Record<string, string>>
  readonly cwd: () => string
  readonly network: boolean
  readonly limits: Limits | undefined
  readonly uid: number | undefined
  /** Track a started process until the sandbox is destroyed (or, where the tier ends it with the command, exit). */
  readonly register: (child: RunningChild) => void
}

const SYSTEM_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

const commandArgv = (command: Command): ReadonlyArray<string> =>
  typeof command === "string" ? ["/bin/sh", "-c", command] : command

/** Resolve cwd, build the argv for the tier and the environment. The host environment is never passed through. */
const prepare = (ctx: CommandContext, command: Command, options: { readonly cwd?: string; readonly env?: Readonly<Record<string, string>> }) =>
  Effect.gen(function*() {
    const requested = options.cwd ?? ctx.cwd()
    const cwd = yield* resolveInWorkspace(ctx.workspace, ctx.sandboxId, requested)
    const info = yield* Effect.tryPromise({
      try: () => stat(cwd),
      catch: () => new FileNotFound({ provider: PROVIDER, sandboxId: ctx.sandboxId, path: requested, message: `working directory ${requested} does not exist` })
    })
    if (!info.isDirectory()) {
      return yield* new FileNotFound({ provider: PROVIDER, sandboxId: ctx.sandboxId, path: requested, message: `working directory ${requested} is not a directory` })
    }
    const env = {
      PATH: SYSTEM_PATH,
      HOME: ctx.workspace,
      // Only bubblewrap gives the sandbox a /tmp of its own; elsewhere its TMPDIR is a private directory.
      TMPDIR: ctx.tier === "bubblewrap" ? "/tmp" : ctx.tmp,
      LANG: "C.UTF-8",
      SANDKIT_SANDBOX_ID: ctx.sandboxId,
      ...ctx.env(),
      ...options.env
    }
    const argv = wrapArgv(ctx.tier, commandArgv(command), {
      workspace: ctx.workspace,
      cwd,
      network: ctx.network,
      limits: ctx.limits,
      uid: ctx.uid
    })
    // bubblewrap changes directory inside (--chdir); the host side starts in the workspace, which always exists.
    return { argv, env, hostCwd: ctx.tier === "bubblewrap" ? ctx.workspace : cwd }
  })

const startFailed = (ctx: CommandContext, cause: unknown) =>
  new ProviderError({ provider: PROVIDER, sandboxId: ctx.sandboxId, message: `could not start the command: ${String(cause)}`, cause })


const timeoutError = (ctx: CommandContext, timeoutMs: number) =>
  new CommandTimeout({
    provider: PROVIDER,
    sandboxId: ctx.sandboxId,
    timeoutMs,
    message: `command timed out after ${timeoutMs} ms and was killed`
  })

/** How a supervised command ended: by itself, or killed by its timeout. */
type CommandEnd = { readonly _tag: "Exited"; readonly exitCode: number } | { readonly _tag: "TimedOut"; readonly timeoutMs: number }

/**
 * Track a started command: register it with the sandbox, feed its stdin (then close it), arm its timeout, and report
 * its end once. Returns `stop`, which kills the process group and resolves when it is really gone.
 */
const supervise = (
  ctx: CommandContext,
  child: RunningChild,
  options: ExecOptions,
  onEnd: (end: CommandEnd) => void
): (() => Promise<number>) => {
  ctx.register(child)
  if (options.stdin !== undefined) {
    const input = typeof options.stdin === "string" ? new TextEncoder().encode(options.stdin) : options.stdin
    child.write(input).catch(() => undefined).finally(() => child.closeStdin())
  }
  const timeoutMs = options.timeout === undefined ? undefined : toMillis(options.timeout)
  let timedOut = false
  const timer = timeoutMs === undefined ? undefined : setTimeout(() => {
    timedOut = true
    child.kill("SIGKILL")
  }, timeoutMs)
  void child.exited.then((exitCode) => {
    if (timer !== undefined) clearTimeout(timer)
    onEnd(timedOut ? { _tag: "TimedOut", timeoutMs: timeoutMs! } : { _tag: "Exited", exitCode })
  })
  return () => {
    if (timer !== undefined) clearTimeout(timer)
    child.kill("SIGKILL")
    return child.exited
  }
}

export const exec = (ctx: CommandContext, command: Command, options: ExecOptions): Effect.Effect<ExecResult, SandboxError> =>
  Effect.flatMap(prepare(ctx, command, options), (prepared) =>
    Effect.callback<ExecResult, SandboxError>((resume) => {
      const output = new CommandOutput(options.maxOutputBytes)
      let child: RunningChild
      try {
        child = startChild({
          argv: prepared.argv,
          cwd: prepared.hostCwd,
          env: prepared.env,
          stdin: options.stdin === undefined ? "ignore" : "pipe",
          onStdout: (chunk) => output.stdout.push(chunk),
          onStderr: (chunk) => output.stderr.push(chunk)
        })
      } catch (error) {
        resume(Effect.fail(startFailed(ctx, error)))
        return
      }
      const stop = supervise(ctx, child, options, (end) => {
        if (end._tag === "TimedOut") resume(Effect.fail(timeoutError(ctx, end.timeoutMs)))
        else resume(Effect.succeed(output.result(end.exitCode)))
      })
      // Interrupted: kill the process group and wait until it is really gone.
      return Effect.promise(stop)
    }))

export const execStream = (ctx: CommandContext, command: Command, options: ExecOptions): Stream.Stream<ExecEvent, SandboxError> =>
  Stream.unwrap(Effect.map(prepare(ctx, command, options), (prepared) =>
    Stream.callback<ExecEvent, SandboxError>((queue) =>
      Effect.acquireRelease(
        Effect.try({
          try: () => {
            const child = startChild({
              argv: prepared.argv,
              cwd: prepared.hostCwd,
              env: prepared.env,
              stdin: options.stdin === undefined ? "ignore" : "pipe",
              onStdout: (data) => void Queue.offerUnsafe(queue, { _tag: "Stdout", data }),
              onStderr: (data) => void Queue.offerUnsafe(queue, { _tag: "Stderr", data })
            })
            return supervise(ctx, child, options, (end) => {
              if (end._tag === "TimedOut") Queue.failCauseUnsafe(queue, Cause.fail(timeoutError(ctx, end.timeoutMs)))
              else {
                Queue.offerUnsafe(queue, { _tag: "Exit", exitCode: end.exitCode })
                Queue.endUnsafe(queue)
              }
            })
          },
          catch: (error) => startFailed(ctx, error)
        }),
        // The stream ended, failed or was interrupted: make sure the process group is gone.
        (stop) => Effect.promise(stop)
      )
    )
  ))

export const spawnProcess = (
  ctx: CommandContext,
  command: Command,
  options: SpawnOptions
): Effect.Effect<SandboxProcess, SandboxError, Scope.Scope> =>
  Effect.gen(function*() {
    const prepared = yield* prepare(ctx, command, options)
    const output = yield* Queue.unbounded<OutputChunk, Cause.Done>()
    const exit = yield* Deferred.make<number>()
    const child = yield* Effect.acquireRelease(
      Effect.try({
        try: () =>
          startChild({
            argv: prepared.argv,
            cwd: prepared.hostCwd,
            env: prepared.env,
            stdin: "pipe",
            onStdout: (data) => void Queue.offerUnsafe(output, { _tag: "Stdout", data }),
            onStderr: (data) => void Queue.offerUnsafe(output, { _tag: "Stderr", data })
          }),
        catch: (error) => startFailed(ctx, error)
      }),
      (child) =>
        Effect.promise(() => {
          child.kill("SIGKILL")
          return child.exited
        })
    )
    ctx.register(child)
    void child.exited.then((code) => {
      Queue.endUnsafe(output)
      Deferred.doneUnsafe(exit, Effect.succeed(code))
    })
    const stdinError = (cause: unknown) =>
      new ProviderError({ provider: PROVIDER, sandboxId: ctx.sandboxId, message: `cannot write to process ${child.pid}: ${String(cause)}`, cause })
    const process: SandboxProcess = {
      pid: String(child.pid),
      write: (data) =>
        Effect.tryPromise({
          try: () => child.write(typeof data === "string" ? new TextEncoder().encode(data) : data),
          catch: stdinError
        }),
      closeStdin: Effect.sync(() => child.closeStdin()),
      output: Stream.fromQueue(output),
      wait: Deferred.await(exit),
      kill: (signal = "SIGTERM") => Effect.sync(() => child.kill(signal))
    }
    return process
  })
