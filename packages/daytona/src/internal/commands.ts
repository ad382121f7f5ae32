/**
 * Commands through toolbox sessions, which keep stdout and stderr apart (the plain `executeCommand` merges them).
 * Every command gets a session of its own: created, used once, deleted, so `cd`/`export` never leak between
 * commands and deleting the session is how a command is killed (timeout, interruption, `kill`, scope close).
 *
 * Each command is wrapped in a POSIX shell script run in a subshell of the session's shell: `cd` to its directory,
 * `export` its env, then `eval` a command line (quoted as one word) or `exec` an argv, standard input from
 * `/dev/null` unless given. Standard input
 * travels as files, since the session input API is text-only and cannot send EOF: `exec` uploads it and
 * redirects; `spawn` runs the command behind a FIFO fed by a small reader loop that cats numbered chunk files
 * (`write` uploads chunk N and its `N.done` marker in one request) until an `eof` file appears.
 */
import type { Command, ExecEvent, ExecOptions, ExecResult, OutputChunk, SandboxError, SandboxProcess, SpawnOptions } from "@sandkit/core"
import { CommandTimeout, ProviderError, toMillis, joinSandboxPath } from "@sandkit/core"
import type { Sandbox as SdkSandbox } from "@daytonaio/sdk"
import { Cause, Deferred, Effect, Exit, Queue, Schedule, type Scope, Semaphore, Stream } from "effect"
import { Buffer } from "node:buffer"
import type { Secrets } from "./config.ts"
import { type ErrorContext, fromSdkError, PROVIDER } from "./errors.ts"
import * as Logs from "./logs.ts"

export interface CommandContext {
  readonly sandboxId: string
  readonly sdk: SdkSandbox
  readonly secrets: Secrets
  /** The directory commands start in (absolute), once known. */
  readonly workdir: Effect.Effect<string, SandboxError>
  /** The sandbox's preview token (authenticates the log WebSocket). */
  readonly previewToken: Effect.Effect<string, SandboxError>
  /** Idle sessions of this sandbox, reused by `exec`. */
  readonly sessions: SessionPool
}

/**
 * Idle exec sessions of one sandbox, shared by every handle on it. A session goes back only after its command
 * finished cleanly; each command runs in a subshell, so the session's shell is as it was. At most `max` are kept.
 */
export interface SessionPool {
  readonly take: () => string | undefined
  /** False when the pool is full: delete the session instead. */
  readonly give: (sessionId: string) => boolean
  /** Forget every idle session (they died with the sandbox, or are about to be deleted); returns them. */
  readonly drain: () => ReadonlyArray<string>
}

export const makeSessionPool = (max = 4): SessionPool => {
  const idle: Array<string> = []
  return {
    take: () => idle.pop(),
    give: (id) => idle.length < max && idle.push(id) > 0,
    drain: () => idle.splice(0)
  }
}

const DEFAULT_MAX_OUTPUT = 16 * 1024 * 1024
/** No exec timeout: the HTTP wait of a synchronous session command is capped at a day. */
const NO_TIMEOUT_SECONDS = 24 * 60 * 60
/** Where stdin files live, under the sandbox's work dir. */
const SCRATCH = ".sandkit"

const encoder = new TextEncoder()
const decoder = new TextDecoder()

const SIGNALS = { SIGHUP: 1, SIGINT: 2, SIGKILL: 9, SIGTERM: 15 } as const

/** POSIX single quotes. */
export const quote = (s: string): string => `'${s.replaceAll("'", `'\\''`)}'`

const randomHex = (bytes: number) => {
  const data = new Uint8Array(bytes)
  globalThis.crypto.getRandomValues(data)
  return Array.from(data, (b) => b.toString(16).padStart(2, "0")).join("")
}

/** The command in its directory with its env, as the body of a subshell. */
export const commandBody = (command: Command, cwd: string, env: Readonly<Record<string, string>> | undefined): string => {
  const exports = Object.entries(env ?? {}).map(([k, v]) => `${k}=${quote(v)}`)
  // A command line is evaluated by the (sub)shell itself: quoted as one word, so it cannot break the wrapper.
  const run = typeof command === "string" ? `eval ${quote(command)}` : `exec ${command.map(quote).join(" ")}`
  return `cd ${quote(cwd)} && ${exports.length === 0 ? "" : `export ${exports.join(" ")} && `}${run}`
}

/** Run to completion, stdin from `stdinFile` (removed afterwards) or `/dev/null`. */
export const execScript = (body: string, stdinFile: string | undefined): string =>
  stdinFile === undefined
    ? `(${body}) < /dev/null`
    : `( (${body}) < ${quote(stdinFile)}; rc=$?; rm -f ${quote(stdinFile)}; exit $rc )`

/** A background command whose stdin is a FIFO fed from the chunk files of `dir` (see the module comment). */
export const spawnScript = (body: string, dir: string): string =>
  [
    `( d=${quote(dir)}; mkdir -p "$d" && rm -f "$d/in" && mkfifo "$d/in" || exit 125`,
    `( n=0; i=0; while :; do if [ -e "$d/$n.done" ]; then cat "$d/$n"; rm -f "$d/$n" "$d/$n.done"; n=$((n+1)); i=0;` +
    ` elif [ -e "$d/eof" ]; then break; else i=$((i+1)); if [ $i -lt 50 ]; then sleep 0.02; elif [ $i -lt 100 ];` +
    ` then sleep 0.1; else sleep 0.5; fi; fi; done ) > "$d/in" &`,
    `r=$!; (${body}) < "$d/in"; c=$?; kill $r 2>/dev/null; rm -rf "$d"; exit $c )`
  ].join("\n")

const errorContext = (ctx: CommandContext, operation: string, timeoutMs?: number): ErrorContext => ({
  operation,
  sandboxId: ctx.sandboxId,
  secrets: ctx.secrets,
  timeoutMs
})

const call = <A>(ctx: CommandContext, operation: string, f: () => Promise<A>) =>
  Effect.tryPromise({ try: f, catch: (error) => fromSdkError(error, errorContext(ctx, operation)) })

const toBuffer = (data: string | Uint8Array) => Buffer.from(typeof data === "string" ? encoder.encode(data) : data)

const createSession = (ctx: CommandContext, id: string) => call(ctx, "exec", () => ctx.sdk.process.createSession(id))

/** Delete the session (killing whatever still runs in it); never fails. */
const deleteSession = (ctx: CommandContext, id: string) =>
  Effect.ignore(call(ctx, "exec", () => ctx.sdk.process.deleteSession(id)))

export const newSessionId = () => `sandkit-${randomHex(8)}`

/** A session the daemon no longer knows (the sandbox was restarted): the daemon's own 404. */
const isStaleSession = (error: SandboxError) => error._tag === "ProviderError" && error.status === 404

/**
 * Run `use` in an idle session (or a new one); afterwards the session goes back to the pool if `use` succeeded,
 * and is deleted otherwise (which kills a command still running in it). A stale pooled session is replaced once.
 */
const withExecSession = <A>(ctx: CommandContext, use: (sessionId: string) => Effect.Effect<A, SandboxError>) => {
  const release = (id: string, exit: Exit.Exit<A, SandboxError>) =>
    Exit.isSuccess(exit) && ctx.sessions.give(id) ? Effect.void : deleteSession(ctx, id)
  const fresh = Effect.suspend(() => {
    const id = newSessionId()
    return Effect.acquireUseRelease(Effect.as(createSession(ctx, id), id), use, release)
  })
  const pooled = ctx.sessions.take()
  if (pooled === undefined) return fresh
  const stale = (exit: Exit.Exit<A, SandboxError>) => {
    const error = Exit.isFailure(exit) ? Exit.findErrorOption(exit) : undefined
    return error !== undefined && error._tag === "Some" && isStaleSession(error.value)
  }
  return Effect.acquireUseRelease(Effect.succeed(pooled), use, (id, exit) => stale(exit) ? Effect.void : release(id, exit)).pipe(
    Effect.catchIf(isStaleSession, () => fresh)
  )
}

/** Upload stdin to a scratch file under the work dir; its absolute path. */
const writeStdinFile = (ctx: CommandContext, workdir: string, data: string | Uint8Array) => {
  const path = `${workdir}/${SCRATCH}/in-${randomHex(8)}`
  return Effect.as(call(ctx, "stdin", () => ctx.sdk.fs.uploadFile(toBuffer(data), path)), path)
}

const removeQuietly = (ctx: CommandContext, path: string | undefined) =>
  path === undefined ? Effect.void : Effect.ignore(call(ctx, "stdin", () => ctx.sdk.fs.deleteFile(path, true)))

const timeoutError = (ctx: CommandContext, timeoutMs: number) =>
  new CommandTimeout({ provider: PROVIDER, sandboxId: ctx.sandboxId, timeoutMs, message: `command timed out after ${timeoutMs} ms and was killed` })

/** Keep at most `limit` bytes of `text`. */
const cap = (text: string, limit: number): { readonly text: string; readonly truncated: boolean } => {
  const bytes = encoder.encode(text)
  return bytes.byteLength <= limit ? { text, truncated: false } : { text: decoder.decode(bytes.subarray(0, limit)), truncated: true }
}

const cwdOf = (workdir: string, cwd: string | undefined) => cwd === undefined ? workdir : joinSandboxPath(workdir, cwd)

export const exec = (ctx: CommandContext, command: Command, options: ExecOptions): Effect.Effect<ExecResult, SandboxError> =>
  Effect.gen(function*() {
    const limit = options.maxOutputBytes ?? DEFAULT_MAX_OUTPUT
    const timeoutMs = options.timeout === undefined ? undefined : toMillis(options.timeout)
    const workdir = yield* ctx.workdir
    const started = performance.now()
    const stdinFile = options.stdin === undefined ? undefined : yield* writeStdinFile(ctx, workdir, options.stdin)
    const script = execScript(commandBody(command, cwdOf(workdir, options.cwd), options.env), stdinFile)
    const httpSeconds = timeoutMs === undefined ? NO_TIMEOUT_SECONDS : Math.ceil(timeoutMs / 1000) + 30
    const response = yield* withExecSession(ctx, (sessionId) => {
      const run = call(ctx, "exec", () => ctx.sdk.process.executeSessionCommand(sessionId, { command: script, runAsync: false }, httpSeconds))
      return timeoutMs === undefined
        ? run
        : Effect.timeoutOrElse(run, { duration: timeoutMs, orElse: () => Effect.fail(timeoutError(ctx, timeoutMs)) })
    }).pipe(Effect.onError(() => removeQuietly(ctx, stdinFile)))
    if (typeof response.exitCode !== "number") {
      return yield* new ProviderError({ provider: PROVIDER, sandboxId: ctx.sandboxId, message: "daytona exec: the session command reported no exit code" })
    }
    const stdout = cap(response.stdout ?? "", limit)
    const stderr = cap(response.stderr ?? "", limit)
    return {
      exitCode: response.exitCode,
      stdout: stdout.text,
      stderr: stderr.text,
      durationMs: performance.now() - started,
      truncated: stdout.truncated || stderr.truncated
    }
  })

/** The exit code once the session reports it (it may trail the end of the log stream by a moment). */
const exitCodeOf = (ctx: CommandContext, sessionId: string, commandId: string) =>
  call(ctx, "exec", () => ctx.sdk.process.getSessionCommand(sessionId, commandId)).pipe(
    Effect.flatMap((c) =>
      typeof c.exitCode === "number"
        ? Effect.succeed(c.exitCode)
        : Effect.fail(new ProviderError({ provider: PROVIDER, sandboxId: ctx.sandboxId, message: "daytona exec: no exit code yet" }))
    ),
    Effect.retry({ schedule: Schedule.spaced("50 millis").pipe(Schedule.upTo({ times: 100 })), while: (e) => e._tag === "ProviderError" })
  )

interface Started {
  readonly sessionId: string
  readonly commandId: string
}

/** Start `script` asynchronously in a fresh session; the session is deleted when the scope closes. */
const startAsync = (ctx: CommandContext, script: string): Effect.Effect<Started, SandboxError, Scope.Scope> =>
  Effect.gen(function*() {
    const sessionId = newSessionId()
    yield* Effect.acquireRelease(createSession(ctx, sessionId), () => deleteSession(ctx, sessionId))
    const response = yield* call(ctx, "exec", () => ctx.sdk.process.executeSessionCommand(sessionId, { command: script, runAsync: true }))
    return { sessionId, commandId: response.cmdId }
  })

/** Follow the command's output over the logs WebSocket; the socket is closed when the scope closes. */
const follow = (ctx: CommandContext, started: Started, onChunk: (chunk: OutputChunk) => void) =>
  Effect.flatMap(ctx.previewToken, (token) => {
    const base = `${(ctx.sdk.toolboxProxyUrl ?? "").replace(/\/+$/, "")}/${encodeURIComponent(ctx.sandboxId)}`
    const url = `${base}/process/session/${encodeURIComponent(started.sessionId)}/command/${encodeURIComponent(started.commandId)}/logs`
    return Effect.acquireRelease(
      Effect.sync(() => Logs.follow(url, token, (stream, data) => onChunk({ _tag: stream === 1 ? "Stdout" : "Stderr", data }))),
      (following) => Effect.sync(following.close)
    )
  })

export const execStream = (ctx: CommandContext, command: Command, options: ExecOptions): Stream.Stream<ExecEvent, SandboxError> =>
  Stream.callback<ExecEvent, SandboxError>((queue) =>
    Effect.gen(function*() {
      const timeoutMs = options.timeout === undefined ? undefined : toMillis(options.timeout)
      const workdir = yield* ctx.workdir
      const stdinFile = options.stdin === undefined ? undefined : yield* writeStdinFile(ctx, workdir, options.stdin)
      // Registered first, so it runs after the session is gone (the script removes the file when it gets to).
      if (stdinFile !== undefined) yield* Effect.addFinalizer(() => removeQuietly(ctx, stdinFile))
      const started = yield* startAsync(ctx, execScript(commandBody(command, cwdOf(workdir, options.cwd), options.env), stdinFile))
      let open = true
      const following = yield* follow(ctx, started, (chunk) => open && void Queue.offerUnsafe(queue, chunk))
      // Registered after the socket, so it runs first: nothing is offered once the stream is over.
      yield* Effect.addFinalizer(() => Effect.sync(() => void (open = false)))
      const timer = timeoutMs === undefined ? undefined : setTimeout(() => {
        open = false
        void Effect.runPromise(deleteSession(ctx, started.sessionId))
        Queue.failCauseUnsafe(queue, Cause.fail(timeoutError(ctx, timeoutMs)))
      }, timeoutMs)
      yield* Effect.addFinalizer(() => Effect.sync(() => timer !== undefined && clearTimeout(timer)))
      void following.done.then(
        () => (open ? Effect.runPromiseExit(exitCodeOf(ctx, started.sessionId, started.commandId)) : undefined),
        (error: unknown) => Exit.fail(fromSdkError(error, errorContext(ctx, "execStream")))
      ).then((exit) => {
        if (exit === undefined || !open) return
        if (timer !== undefined) clearTimeout(timer)
        if (Exit.isSuccess(exit)) {
          Queue.offerUnsafe(queue, { _tag: "Exit", exitCode: exit.value })
          Queue.endUnsafe(queue)
        } else {
          Queue.failCauseUnsafe(queue, exit.cause)
        }
      })
    })
  )

export const spawn = (ctx: CommandContext, command: Command, options: SpawnOptions): Effect.Effect<SandboxProcess, SandboxError, Scope.Scope> =>
  Effect.gen(function*() {
    const workdir = yield* ctx.workdir
    const dir = `${workdir}/${SCRATCH}/p-${randomHex(8)}`
    const output = yield* Queue.unbounded<OutputChunk, Cause.Done>()
    const exited = yield* Deferred.make<number, SandboxError>()
    let killedWith: number | undefined
    // Registered before the session, so it runs once the process is gone (a killed script cannot clean up).
    yield* Effect.addFinalizer(() => removeQuietly(ctx, dir))
    const started = yield* startAsync(ctx, spawnScript(commandBody(command, cwdOf(workdir, options.cwd), options.env), dir))
    const settle = (exit: Exit.Exit<number, SandboxError>) => {
      Queue.endUnsafe(output)
      Deferred.doneUnsafe(exited, killedWith === undefined ? exit : Exit.succeed(killedWith))
    }
    const following = yield* follow(ctx, started, (chunk) => void Queue.offerUnsafe(output, chunk))
    void following.done.then(
      () => (killedWith === undefined ? Effect.runPromiseExit(exitCodeOf(ctx, started.sessionId, started.commandId)) : Exit.succeed(killedWith)),
      (error: unknown) => Exit.fail(fromSdkError(error, errorContext(ctx, "spawn")))
    ).then(settle)
    let chunk = 0
    let stdinClosed = false
    const lock = yield* Semaphore.make(1)
    const upload = (files: ReadonlyArray<{ readonly name: string; readonly data: Uint8Array }>) =>
      call(ctx, "stdin", () => ctx.sdk.fs.uploadFiles(files.map((f) => ({ source: Buffer.from(f.data), destination: `${dir}/${f.name}` }))))
    const refuseAfterExit = Effect.flatMap(Deferred.isDone(exited), (done) =>
      done || stdinClosed
        ? Effect.fail(new ProviderError({ provider: PROVIDER, sandboxId: ctx.sandboxId, message: "daytona stdin: the process has ended or its stdin is closed" }))
        : Effect.void)
    const process: SandboxProcess = {
      pid: started.commandId,
      write: (data) =>
        lock.withPermits(1)(Effect.gen(function*() {
          yield* refuseAfterExit
          const n = chunk++
          yield* upload([{ name: String(n), data: typeof data === "string" ? encoder.encode(data) : data }, { name: `${n}.done`, data: new Uint8Array(0) }])
        })),
      closeStdin: lock.withPermits(1)(Effect.gen(function*() {
        if (stdinClosed || (yield* Deferred.isDone(exited))) return
        stdinClosed = true
        yield* upload([{ name: "eof", data: new Uint8Array(0) }])
      })),
      output: Stream.fromQueue(output),
      wait: Deferred.await(exited),
      // Deleting the session kills the process group; the daemon has no per-command signal.
      kill: (signal = "SIGTERM") =>
        Effect.suspend(() => {
          killedWith ??= 128 + SIGNALS[signal]
          return deleteSession(ctx, started.sessionId)
        })
    }
    return process
  })
