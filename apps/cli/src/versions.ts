/**
 * Versions of the runtime and of the packages the CLI runs on (for `doctor` and `--version`).
 */
import { existsSync, readFileSync } from "node:fs"
import { createRequire } from "node:module"
import { dirname, join } from "node:path"
import { fileURLToPath } from "node:url"

const require = createRequire(import.meta.url)

const readJson = (file: string): { readonly name?: string; readonly version?: string } =>
  JSON.parse(readFileSync(file, "utf8")) as { name?: string; version?: string }

/** The installed version of `name`, or undefined when it cannot be found. */
export const packageVersion = (name: string): string | undefined => {
  try {
    return readJson(require.resolve(`${name}/package.json`)).version
  } catch {
    // no "./package.json" export: walk up from the entry point
  }
  try {
    let dir = dirname(fileURLToPath(import.meta.resolve(name)))
    for (let depth = 0; depth < 8; depth++) {
      const file = join(dir, "package.json")
      if (existsSync(file)) {
        const pkg = readJson(file)
        if (pkg.name === name) return pkg.version
      }
      dir = dirname(dir)
    }
  } catch {
    // not installed
  }
  return undefined
}

/** This CLI's version, from its package.json (one directory above both `src/` and `dist/`). */
export const cliVersion = (): string => {
  try {
    return readJson(join(dirname(fileURLToPath(import.meta.url)), "..", "package.json")).version ?? "unknown"
  } catch {
    return "unknown"
  }
}

export interface RuntimeInfo {
  readonly name: "Node.js" | "Bun" | "Deno"
  readonly version: string
  readonly platform: string
  readonly arch: string
}

export const runtimeInfo = (): RuntimeInfo => {
  const g = globalThis as { readonly Bun?: { readonly version: string }; readonly Deno?: { readonly version: { readonly deno: string } } }
  const base = { platform: process.platform, arch: process.arch }
  if (g.Bun !== undefined) return { name: "Bun", version: g.Bun.version, ...base }
  if (g.Deno !== undefined) return { name: "Deno", version: g.Deno.version.deno, ...base }
  return { name: "Node.js", version: process.versions.node, ...base }
}

/** The packages every `doctor` reports, in order. */
export const corePackages = ["@sandkit/core", "@sandkit/local", "effect", "@effect/platform-node"] as const
