/**
 * The local fallback for `runCode`: a fresh interpreter per snippet, the code fed on standard input. No contexts
 * (state between calls) — that needs a code-interpreter provider such as E2B.
 */
import type { RunCodeResult } from "@sandkit/core"

/** Interpreters the local fallback for `runCode` can use, by the in-sandbox path it runs them from. */
export const interpreters: ReadonlyArray<{ readonly language: string; readonly binaries: ReadonlyArray<string>; readonly argv: (bin: string) => ReadonlyArray<string> }> = [
  { language: "python", binaries: ["/usr/bin/python3", "/usr/local/bin/python3"], argv: (bin) => [bin, "-"] },
  { language: "javascript", binaries: ["/usr/bin/node", "/usr/local/bin/node"], argv: (bin) => [bin, "-"] },
  { language: "bash", binaries: ["/bin/bash", "/usr/bin/bash"], argv: (bin) => [bin, "-s"] },
  { language: "sh", binaries: ["/bin/sh"], argv: (bin) => [bin, "-s"] }
]

/** Python's last traceback line, `NameError: name 'x' is not defined` → name and value. */
export const parseError = (stderr: string, exitCode: number): RunCodeResult["error"] => {
  const last = stderr.trim().split("\n").at(-1) ?? ""
  const match = /^([A-Za-z_][\w.]*(?:Error|Exception|Exit|Interrupt)):\s?(.*)$/.exec(last)
  return match
    ? { name: match[1]!, value: match[2]!, traceback: stderr }
    : { name: "ExitCode", value: String(exitCode), traceback: stderr }
}

