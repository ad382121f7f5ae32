/**
 * A long-lived Python interpreter per code context, run in the sandbox through the local engine. A small driver
 * program reads one JSON request per line on stdin, executes the code in a persistent namespace (the value of a
 * final expression becomes the main result, like a notebook cell) and writes messages on stdout, each prefixed with
 * a per-session marker so raw output from child processes can be told apart.
 */
import { Effect, Scope, Stream } from "effect"
import { closeScope, type E2bSandbox, runEngine } from "./state.ts"

/** One NDJSON message of the code interpreter's `/execute` reply. */
export type ExecMessage = Record<string, unknown> & { readonly type: string }

const DRIVER = String.raw`
import ast, base64, json, os, sys, traceback
MARK = "\x1e" + sys.argv[1]
_out = os.fdopen(os.dup(1), "w", encoding="utf-8", errors="replace")
_in = os.fdopen(os.dup(0), "r", encoding="utf-8")
sys.stdin = open(os.devnull)

def emit(msg):
    _out.write(MARK + json.dumps(msg) + "\n")
    _out.flush()

class _Stream:
    encoding = "utf-8"
    def __init__(self, kind):
        self.kind, self.buf = kind, ""
    def write(self, s):
        s = s if isinstance(s, str) else str(s)
        self.buf += s
        if "\n" in self.buf:
            head, _, self.buf = self.buf.rpartition("\n")
            emit({"type": self.kind, "text": head + "\n"})
        return len(s)
    def flush(self):
        if self.buf:
            emit({"type": self.kind, "text": self.buf})
            self.buf = ""
    def isatty(self):
        return False
    def writable(self):
        return True

_stdout, _stderr = _Stream("stdout"), _Stream("stderr")
sys.stdout, sys.stderr = _stdout, _stderr
NS = {"__name__": "__main__", "__builtins__": __builtins__}
REPRS = (("_repr_html_", "html"), ("_repr_markdown_", "markdown"), ("_repr_svg_", "svg"), ("_repr_png_", "png"),
         ("_repr_jpeg_", "jpeg"), ("_repr_latex_", "latex"), ("_repr_json_", "json"), ("_repr_javascript_", "javascript"))

def formats(value):
    data = {"text": repr(value)}
    for attr, key in REPRS:
        fn = getattr(value, attr, None)
        if callable(fn):
            try:
                r = fn()
            except Exception:
                continue
            if r is not None:
                data[key] = base64.b64encode(r).decode() if isinstance(r, bytes) else r
    return data

def run(code):
    tree = ast.parse(code, "<cell>", "exec")
    last = None
    if tree.body and isinstance(tree.body[-1], ast.Expr):
        last = ast.Expression(tree.body.pop().value)
    exec(compile(tree, "<cell>", "exec"), NS)
    if last is not None:
        value = eval(compile(last, "<cell>", "eval"), NS)
        if value is not None:
            NS["_"] = value
            emit(dict(type="result", is_main_result=True, **formats(value)))

count = 0
for line in _in:
    req = json.loads(line)
    count += 1
    env = req.get("env") or {}
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        run(req["code"])
    except BaseException as e:
        tb = e.__traceback__
        while tb is not None and tb.tb_frame.f_code.co_filename != "<cell>":
            tb = tb.tb_next
        text = "".join(traceback.format_exception(type(e), e, tb))
        emit({"type": "error", "name": type(e).__name__, "value": str(e), "traceback": text})
    finally:
        _stdout.flush()
        _stderr.flush()
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    emit({"type": "number_of_executions", "execution_count": count})
    emit({"type": "done"})
`

interface Running {
  readonly onMessage: (message: ExecMessage) => void
  readonly done: () => void
}

export class PythonSession {
  private current: Running | undefined
  private buffer = ""
  private readonly decoder = new TextDecoder()
  private exited = false

  private readonly scope: Scope.Closeable
  private readonly write: (data: Uint8Array) => Promise<void>
  private readonly mark: string

  private constructor(scope: Scope.Closeable, write: (data: Uint8Array) => Promise<void>, mark: string) {
    this.scope = scope
    this.write = write
    this.mark = mark
  }

  /** Start `python3` with the driver in the sandbox, in `cwd`. */
  static async start(sandbox: E2bSandbox, cwd: string): Promise<PythonSession> {
    const scope = Effect.runSync(Scope.make())
    const mark = Array.from(globalThis.crypto.getRandomValues(new Uint8Array(8)), (b) => b.toString(16).padStart(2, "0")).join("")
    const process = await runEngine(
      sandbox.engine.spawn!(["python3", "-u", "-c", DRIVER, mark], { cwd }).pipe(Scope.provide(scope))
    ).catch(async (error: unknown) => {
      await closeScope(scope)
      throw error
    })
    const session = new PythonSession(scope, (data) => Effect.runPromise(process.write(data)), "\x1e" + mark)
    void Effect.runPromise(
      Stream.runForEach(process.output, (chunk) =>
        Effect.sync(() => chunk._tag === "Stdout" ? session.onStdout(chunk.data) : session.onRaw("stderr", chunk.data)))
    ).catch(() => undefined).finally(() => session.onExit())
    return session
  }

  get alive(): boolean {
    return !this.exited
  }

  /** Run one cell; `onMessage` gets stdout/stderr/result/error/number_of_executions in order. */
  execute(code: string, env: Readonly<Record<string, string>>, onMessage: (message: ExecMessage) => void): Promise<void> {
    if (this.exited) return Promise.reject(new Error("the interpreter has exited"))
    return new Promise<void>((resolve, reject) => {
      this.current = { onMessage, done: resolve }
      this.write(new TextEncoder().encode(JSON.stringify({ code, env }) + "\n")).catch((error: unknown) => {
        this.current = undefined
        reject(error)
      })
    })
  }

  /** Kill the interpreter (its state is lost). */
  close(): Promise<void> {
    this.exited = true
    return closeScope(this.scope)
  }

  private onRaw(type: "stdout" | "stderr", data: Uint8Array | string): void {
    const text = typeof data === "string" ? data : new TextDecoder().decode(data)
    if (text !== "") this.current?.onMessage({ type, text })
  }

  private onStdout(data: Uint8Array): void {
    this.buffer += this.decoder.decode(data, { stream: true })
    for (;;) {
      const at = this.buffer.indexOf(this.mark)
      if (at === -1) {
        // Raw output (a child process writing to fd 1): pass whole lines, keep a tail that may start a marker.
        const cut = this.buffer.lastIndexOf("\n") + 1
        if (cut > 0) {
          this.onRaw("stdout", this.buffer.slice(0, cut))
          this.buffer = this.buffer.slice(cut)
        }
        return
      }
      if (at > 0) this.onRaw("stdout", this.buffer.slice(0, at))
      const end = this.buffer.indexOf("\n", at)
      if (end === -1) {
        this.buffer = this.buffer.slice(at)
        return
      }
      const message = JSON.parse(this.buffer.slice(at + this.mark.length, end)) as ExecMessage
      this.buffer = this.buffer.slice(end + 1)
      this.dispatch(message)
    }
  }

  private dispatch(message: ExecMessage): void {
    const current = this.current
    if (current === undefined) return
    if (message.type === "done") {
      this.current = undefined
      current.done()
    } else {
      current.onMessage(message)
    }
  }

  private onExit(): void {
    this.exited = true
    const current = this.current
    this.current = undefined
    if (current !== undefined) {
      if (this.buffer !== "") current.onMessage({ type: "stdout", text: this.buffer })
      current.onMessage({ type: "error", name: "DeadKernelError", value: "the interpreter exited", traceback: "" })
      current.done()
    }
  }
}
