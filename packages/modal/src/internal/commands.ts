/**
 * Commands through `sandbox.exec`. Modal's exec has no kill, and its own timeout is whole seconds only, so every
 * command is marked with `SANDKIT_EXEC=<token>` in its environment (inherited by everything it starts); killing (on
 * timeout, interruption, `kill`, scope close) is a second exec that signals every process carrying the mark
 * (`/proc/<pid>/environ`), which reaches children that left the process group too. Output is read in binary mode and
 * decoded here. A command without the stdin option reads EOF: a shell command gets `exec </dev/null` first, an argv
 * command has its stdin closed.
 *
 * One exec is one promise (start, stdin, both streams, wait) rather than a fiber per part: the adapter's overhead
 * over the raw SDK stays small. While a command runs, the sandbox is polled every `livenessInterval`: if it ended (its
 * lifetime ran out, someone terminated it), the command fails with `SandboxNotFound` instead of waiting on a router
 * that will not answer.
 */
import type { Command, ExecEvent, ExecOptions, ExecResult, OutputChunk, SandboxError, SandboxProcess, SpawnOptions } from "@sandkit/core"
import { CommandOutput, CommandTimeout, isSandboxError, ProviderError, SandboxNotFound, toMillis } from "@sandkit/core"
import type { ContainerProcess, Sandbox as SdkSandbox } from "modal"
import { Cause, Deferred, Effect, Exit, Queue, type Scope, Stream } from "effect"
import { type ErrorContext, fromSdkError, grpcCode, PROVIDER, type Secrets, Status } from "./errors.ts"

export interface CommandContext {
  readonly sandboxId: string
  readonly sdk: SdkSandbox
  readonly secrets: Secrets
  /** Absolute path of a (possibly relative) sandbox path. */
  readonly resolve: (path: string) => string
  readonly workdir: string
  readonly livenessIntervalMs: number
}

const encoder = new TextEncoder()

/** The environment variable that marks a command and its descendants. */
export const MARK = "SANDKIT_EXEC"

/** Signals every process marked with the token, a few passes (a dying shell may still start a child). */
const KILL = [
  "t=$1; s=$2; n=0",
  "while [ $n -lt 3 ]; do n=$((n+1)); found=0",
  "for d in /proc/[0-9]*; do p=${d#/proc/}; [ \"$p\" = \"$$\" ] && continue; [ -r \"$d/environ\" ] || continue",
  `if { tr '\\0' '\\n' < "$d/environ" | grep -qx "${MARK}=$t"; } 2>/dev/null; then kill -s "$s" "$p" 2>/dev/null && found=1; fi`,
  "done; [ $found = 0 ] && break; done; exit 0"
].join("\n")

type Signal = "SIGTERM" | "SIGKILL" | "SIGINT" | "SIGHUP"

const newToken = (): string => globalThis.crypto.randomUUID().replaceAll("-", "")

/** The argv sent to Modal: a shell command runs under `/bin/sh -c` (with stdin from `/dev/null` unless fed). */
const argvOf = (command: Command, stdin: boolean): Array<string> =>
  typeof command === "string" ? ["/bin/sh", "-c", stdin ? command : `exec </dev/null\n${command}`] : [...command]

const errorContext = (ctx: CommandContext, operation: string): ErrorContext => ({
  operation,
  sandboxId: ctx.sandboxId,
  secrets: ctx.secrets
})

const toSandboxError = (ctx: CommandContext, operation: string) => (error: unknown): SandboxError =>
  isSandboxError(error) ? error : fromSdkError(error, errorContext(ctx, operation))

/** The sandbox's exit code once it has ended (`-1`: unknown to Modal), `null` while it runs or cannot be told. */
export const pollState = (sdk: SdkSandbox): Promise<number | null> =>
  sdk.poll().then(
    (code) => code,
    (error: unknown) => {
      const code = grpcCode(error)
      return code === Status.NOT_FOUND || code === Status.INVALID_ARGUMENT || (error as { name?: unknown })?.name === "NotFoundError" ? -1 : null
    }
  )

const goneError = (sandboxId: string, code: number, cause?: unknown) =>
  new SandboxNotFound({
    provider: PROVIDER,
    sandboxId,
    message: code === 124
      ? `modal sandbox ${sandboxId} reached its lifetime (timeout) while the command ran`
      : `modal sandbox ${sandboxId} is no longer running`,
    cause
  })

/** Errors that may mean the sandbox is gone; only these are checked against the sandbox's state. */
const MAYBE_GONE: ReadonlySet<string> = new Set(["SandboxNotFound", "ProviderError", "ProviderUnavailable"])

/** `SandboxNotFound` when the sandbox has ended; a "not found" from a sandbox still running is a `ProviderError`. */
export const refine = (ctx: Pick<CommandContext, "sandboxId" | "sdk" | "secrets">, error: SandboxError): Effect.Effect<never, SandboxError> => {
  if (!MAYBE_GONE.has(error._tag)) return Effect.fail(error)
  return Effect.flatMap(Effect.promise(() => pollState(ctx.sdk)), (code): Effect.Effect<never, SandboxError> => {
    if (code !== null) return Effect.fail(goneError(ctx.sandboxId, code, error))
    return Effect.fail(
      error._tag === "SandboxNotFound"
        ? new ProviderError({ provider: PROVIDER, sandboxId: ctx.sandboxId, message: `${error.message} (the sandbox is still running)`, cause: error.cause })
        : error
    )
  })
}

const start = (ctx: CommandContext, token: string, command: Command, options: { cwd?: string | undefined; env?: Readonly<Record<string, string>> | undefined; stdin: boolean }) =>
  Effect.suspend(() => {
    const workdir = options.cwd === undefined ? ctx.workdir : ctx.resolve(options.cwd)
    return Effect.tryPromise({
      try: () =>
        ctx.sdk.exec(argvOf(command, options.stdin), { mode: "binary", workdir, env: { ...options.env, [MARK]: token } }) as Promise<
          ContainerProcess<Uint8Array>
        >,
      // A working directory that does not exist is a FileNotFound naming it.
      catch: (error) => isSandboxError(error) ? error : fromSdkError(error, { ...errorContext(ctx, "exec"), path: workdir })
    }).pipe(Effect.catch((error) => refine(ctx, error)))
  })

/** Signal every process of the command; never fails (the sandbox may be gone already). */
export const signal = (ctx: Pick<CommandContext, "sdk">, token: string, sig: Signal = "SIGKILL"): Effect.Effect<void> =>
  Effect.promise(async () => {
    const killer = await ctx.sdk.exec(["/bin/sh", "-c", KILL, "sandkit-kill", token, sig.replace(/^SIG/, "")], { stdout: "ignore", stderr: "ignore" })
    await killer.wait()
  }).pipe(Effect.catchCause(() => Effect.void))

interface Io {
  /** Bytes fed to stdin, then closed. */
  readonly stdin?: string | Uint8Array | undefined
  /** Close stdin right away (an argv command without the stdin option). */
  readonly closeStdin: boolean
  readonly onStdout: (data: Uint8Array) => void
  readonly onStderr: (data: Uint8Array) => void
  readonly timeoutMs?: number | undefined
}

/**
 * Feed stdin, drain both streams, wait for the exit code: one promise. Fails with `CommandTimeout` past the timeout,
 * with `SandboxNotFound` when a liveness check finds the sandbox ended, or when `signal` aborts.
 */
const runToEnd = (ctx: CommandContext, process: ContainerProcess<Uint8Array>, io: Io, abort: AbortSignal): Promise<number> =>
  new Promise<number>((resolve, reject) => {
    const readers: Array<ReadableStreamDefaultReader<Uint8Array>> = []
    const timers: Array<ReturnType<typeof setTimeout>> = []
    let settled = false
    const settle = (f: () => void) => {
      if (settled) return
      settled = true
      for (const timer of timers) clearTimeout(timer)
      abort.removeEventListener("abort", onAbort)
      f()
    }
    const fail = (error: unknown) =>
      settle(() => {
        for (const reader of readers) void reader.cancel().catch(() => undefined)
        reject(error)
      })
    const onAbort = () => fail(new Error("interrupted"))
    abort.addEventListener("abort", onAbort, { once: true })
    if (io.timeoutMs !== undefined) {
      const ms = io.timeoutMs
      timers.push(setTimeout(() => fail(new CommandTimeout({ provider: PROVIDER, sandboxId: ctx.sandboxId, timeoutMs: ms, message: `command timed out after ${ms} ms and was killed` })), ms))
    }
    const checkLater = () =>
      timers.push(setTimeout(() => {
        void pollState(ctx.sdk).then((code) => {
          if (settled) return
          if (code !== null) fail(goneError(ctx.sandboxId, code))
          else checkLater()
        })
      }, ctx.livenessIntervalMs))
    checkLater()
    const drain = async (stream: ReadableStream<Uint8Array>, onChunk: (data: Uint8Array) => void) => {
      const reader = stream.getReader()
      readers.push(reader)
      for (;;) {
        const { done, value } = await reader.read()
        if (done) return
        if (value !== undefined && value.byteLength > 0) onChunk(value)
      }
    }
    const feed = async () => {
      if (io.stdin === undefined && !io.closeStdin) return
      const writer = process.stdin.getWriter()
      if (io.stdin !== undefined) await writer.write(typeof io.stdin === "string" ? encoder.encode(io.stdin) : io.stdin)
      await writer.close()
    }
    Promise.all([feed(), drain(process.stdout, io.onStdout), drain(process.stderr, io.onStderr), process.wait()]).then(
      ([, , , code]) => settle(() => resolve(code)),
      fail
    )
  })

const runEffect = (ctx: CommandContext, process: ContainerProcess<Uint8Array>, io: Io) =>
  Effect.tryPromise({ try: (abort) => runToEnd(ctx, process, io, abort), catch: toSandboxError(ctx, "exec") }).pipe(
    Effect.catch((error) => refine(ctx, error))
  )


export const exec = (ctx: CommandContext, command: Command, options: ExecOptions): Effect.Effect<ExecResult, SandboxError> =>
  Effect.suspend(() => {
    const output = new CommandOutput(options.maxOutputBytes)
    const token = newToken()
    const fed = options.stdin !== undefined
    return Effect.acquireUseRelease(
      start(ctx, token, command, { cwd: options.cwd, env: options.env, stdin: fed }),
      (process) =>
        runEffect(ctx, process, {
          stdin: options.stdin,
          closeStdin: !fed && typeof command !== "string",
          onStdout: (c) => output.stdout.push(c),
          onStderr: (c) => output.stderr.push(c),
          timeoutMs: options.timeout === undefined ? undefined : toMillis(options.timeout)
        }),
      // Failed, timed out or interrupted: the process must not outlive the call.
      (_, exit) => Exit.isSuccess(exit) ? Effect.void : signal(ctx, token)
    ).pipe(Effect.map((exitCode) => output.result(exitCode)))
  })

export const execStream = (ctx: CommandContext, command: Command, options: ExecOptions): Stream.Stream<ExecEvent, SandboxError> =>
  Stream.callback<ExecEvent, SandboxError>((queue) => {
    const token = newToken()
    const fed = options.stdin !== undefined
    let finished = false
    return Effect.acquireRelease(
      start(ctx, token, command, { cwd: options.cwd, env: options.env, stdin: fed }),
      // However the stream ends before the process does (consumer done, failure, interruption), the process goes.
      () => finished ? Effect.void : signal(ctx, token)
    ).pipe(
      Effect.flatMap((process) =>
        runEffect(ctx, process, {
          stdin: options.stdin,
          closeStdin: !fed && typeof command !== "string",
          onStdout: (data) => void Queue.offerUnsafe(queue, { _tag: "Stdout", data }),
          onStderr: (data) => void Queue.offerUnsafe(queue, { _tag: "Stderr", data }),
          timeoutMs: options.timeout === undefined ? undefined : toMillis(options.timeout)
        }).pipe(
          Effect.exit,
          Effect.flatMap((exit) =>
            Effect.sync(() => {
              if (Exit.isSuccess(exit)) {
                finished = true
                Queue.offerUnsafe(queue, { _tag: "Exit", exitCode: exit.value })
                Queue.endUnsafe(queue)
              } else {
                Queue.failCauseUnsafe(queue, exit.cause)
              }
            })
          ),
          Effect.forkScoped
        )
      )
    )
  })

export const spawn = (ctx: CommandContext, command: Command, options: SpawnOptions): Effect.Effect<SandboxProcess, SandboxError, Scope.Scope> =>
  Effect.gen(function*() {
    const token = newToken()
    const output = yield* Queue.unbounded<OutputChunk, Cause.Done>()
    const exited = yield* Deferred.make<number, SandboxError>()
    const process = yield* Effect.acquireRelease(
      start(ctx, token, command, { cwd: options.cwd, env: options.env, stdin: true }),
      () => Effect.flatMap(Deferred.isDone(exited), (done) => done ? Effect.void : signal(ctx, token))
    )
    const writer = process.stdin.getWriter()
    yield* runEffect(ctx, process, {
      closeStdin: false,
      onStdout: (data) => void Queue.offerUnsafe(output, { _tag: "Stdout", data }),
      onStderr: (data) => void Queue.offerUnsafe(output, { _tag: "Stderr", data })
    }).pipe(
      Effect.exit,
      Effect.flatMap((exit) =>
        Effect.sync(() => {
          Queue.endUnsafe(output)
          Deferred.doneUnsafe(exited, exit)
        })
      ),
      Effect.forkScoped
    )
    const stdinCall = (operation: string, f: () => Promise<void>) => Effect.tryPromise({ try: f, catch: toSandboxError(ctx, operation) })
    const handle: SandboxProcess = {
      pid: token,
      write: (data) => stdinCall("stdin", () => writer.write(typeof data === "string" ? encoder.encode(data) : data)),
      closeStdin: stdinCall("closeStdin", () => writer.close()),
      output: Stream.fromQueue(output),
      wait: Deferred.await(exited),
      kill: (sig = "SIGTERM") => signal(ctx, token, sig)
    }
    return handle
  })
