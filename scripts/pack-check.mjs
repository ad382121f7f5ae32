#!/usr/bin/env node
// Checks that every publishable package (packages/*, and the apps/* that are not private) works when installed from
// its tarball, the way a user gets it.
//
//   pnpm pack:check                                  builds the packages first, then runs this
//   node scripts/pack-check.mjs [@sandkit/core ...]  after `pnpm build`; Node >= 22.18; optionally only some packages
//
// Per package: the package.json shape (exports with `types` first, files, sideEffects: false, README.md; for a CLI
// without exports, its bin files with a #! line), `pnpm pack`, the tarball's contents; then, in a scratch project
// outside the repo (`npm install` of all the tarballs + effect): import every `exports` entry under Node, Bun and Deno
// (a runtime that is not on PATH is skipped with a note), run each bin with --help, run a local sandbox from the
// tarballs, and type-check a consumer with `tsc` (NodeNext, strict, skipLibCheck: false). Prints PASS/FAIL per
// package and exits 1 on any FAIL. PACK_CHECK_KEEP=1 keeps the scratch directory.
import { spawnSync } from "node:child_process"
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join, resolve } from "node:path"

const root = resolve(import.meta.dirname, "..")
const only = process.argv.slice(2)
const rootPkg = readJson(join(root, "package.json"))

function readJson(file) {
  return JSON.parse(readFileSync(file, "utf8"))
}

function run(command, args, options = {}) {
  const started = Date.now()
  const result = spawnSync(command, args, { encoding: "utf8", maxBuffer: 64 * 1024 * 1024, ...options })
  const output = `${result.stdout ?? ""}${result.stderr ?? ""}${result.error ? String(result.error) : ""}`
  return { ok: result.status === 0, status: result.status, output, ms: Date.now() - started }
}

function has(command) {
  return run(command, ["--version"]).ok
}

/** pnpm the way we were started (`pnpm pack:check` sets npm_execpath), else pnpm from PATH. */
function pnpmCommand() {
  const execpath = process.env.npm_execpath ?? ""
  if (/pnpm/.test(execpath) && existsSync(execpath)) {
    return /\.c?js$/.test(execpath) ? [process.execPath, [execpath]] : [execpath, []]
  }
  return ["pnpm", []]
}

function indent(text, lines = 40) {
  const all = text.trimEnd().split("\n")
  const shown = all.length > lines ? [...all.slice(0, lines), `… (${all.length - lines} more lines)`] : all
  return shown.map((l) => `      ${l}`).join("\n")
}

// ---------------------------------------------------------------------------------------------------------------
// Collect the packages
// ---------------------------------------------------------------------------------------------------------------

// Libraries live in packages/; apps/ holds programs, some of them published (a CLI with a `bin`).
const packages = ["packages", "apps"]
  .flatMap((group) =>
    readdirSync(join(root, group), { withFileTypes: true })
      .filter((d) => d.isDirectory() && existsSync(join(root, group, d.name, "package.json")))
      .map((d) => ({ group, name: d.name }))
  )
  .map(({ group, name }) => {
    const dir = join(root, group, name)
    return { dir, folder: `${group}/${name}`, pkg: readJson(join(dir, "package.json")), problems: [], warnings: [], notes: [] }
  })
  .filter((p) => !p.pkg.private)
  .filter((p) => only.length === 0 || only.includes(p.pkg.name))

if (packages.length === 0) {
  console.error("pack-check: no publishable packages found" + (only.length ? ` among ${only.join(", ")}` : ""))
  process.exit(1)
}

// ---------------------------------------------------------------------------------------------------------------
// 1. package.json shape
// ---------------------------------------------------------------------------------------------------------------

const standardConditions = new Set(["import", "require", "default", "node", "module", "browser", "deno", "bun", "worker"])

/** Every export entry: subpath -> conditions object (or a plain string target). */
function exportEntries(pkg) {
  const exp = pkg.exports
  if (typeof exp === "string") return [[".", exp]]
  if (exp === null || typeof exp !== "object") return []
  const keys = Object.keys(exp)
  if (keys.length > 0 && !keys[0].startsWith(".")) return [[".", exp]] // conditions at the top level
  return Object.entries(exp)
}

/** `bin` as [command, file] pairs. */
function binEntries(pkg) {
  if (typeof pkg.bin === "string") return [[pkg.name.split("/").pop(), pkg.bin]]
  return Object.entries(pkg.bin ?? {})
}

/** Leaf targets of a conditions tree, with the condition path that leads to each. */
function targets(value, path = []) {
  if (typeof value === "string") return [{ path, target: value }]
  if (value === null || typeof value !== "object") return []
  return Object.entries(value).flatMap(([k, v]) => targets(v, [...path, k]))
}

for (const p of packages) {
  const { pkg } = p
  const entries = exportEntries(pkg)
  const bins = binEntries(pkg)
  p.isCli = entries.length === 0 && bins.length > 0
  if (entries.length === 0 && bins.length === 0) p.problems.push(`package.json has neither "exports" nor "bin"`)
  for (const [subpath, conditions] of entries) {
    if (typeof conditions !== "object" || conditions === null) continue
    const keys = Object.keys(conditions)
    const typesAt = keys.indexOf("types")
    const firstStandard = keys.findIndex((k) => standardConditions.has(k))
    if (typesAt === -1) p.problems.push(`exports["${subpath}"] has no "types" condition`)
    else if (firstStandard !== -1 && typesAt > firstStandard) {
      p.problems.push(`exports["${subpath}"]: "types" must come before "${keys[firstStandard]}"`)
    }
  }
  if (!Array.isArray(pkg.files) || pkg.files.length === 0) p.problems.push(`package.json has no "files"`)
  if (!p.isCli && pkg.sideEffects !== false) p.problems.push(`package.json "sideEffects" is ${JSON.stringify(pkg.sideEffects)}, want false`)
  if (!existsSync(join(p.dir, "README.md"))) p.problems.push(`${p.folder}/README.md is missing`)
  if (pkg.type !== "module") p.problems.push(`package.json "type" is ${JSON.stringify(pkg.type)}, want "module"`)
  if (!pkg.license) p.warnings.push(`package.json has no "license"`)
}

// ---------------------------------------------------------------------------------------------------------------
// 2. pnpm pack + tarball contents
// ---------------------------------------------------------------------------------------------------------------

const scratch = mkdtempSync(join(tmpdir(), "sandkit-pack-check-"))
const tarballs = join(scratch, "tarballs")
const project = join(scratch, "consumer")
const [pnpm, pnpmArgs] = pnpmCommand()
console.log(`pack-check: ${packages.length} package(s), scratch ${scratch}`)

for (const p of packages) {
  const packed = run(pnpm, [...pnpmArgs, "pack", "--pack-destination", tarballs], { cwd: p.dir })
  if (!packed.ok) {
    p.problems.push(`pnpm pack failed:\n${indent(packed.output)}`)
    continue
  }
  const prefix = p.pkg.name.replace(/^@/, "").replace("/", "-") + "-" + p.pkg.version
  const file = readdirSync(tarballs).find((f) => f === `${prefix}.tgz`)
  if (file === undefined) {
    p.problems.push(`pnpm pack wrote no ${prefix}.tgz`)
    continue
  }
  p.tarball = join(tarballs, file)
  const list = run("tar", ["-tzf", p.tarball])
  const files = new Set(list.output.split("\n").filter(Boolean).map((f) => f.replace(/^package\//, "")))
  p.fileCount = files.size
  const packedPkg = JSON.parse(run("tar", ["-xzOf", p.tarball, "package/package.json"]).output)
  if (!files.has("README.md")) p.problems.push("README.md is not in the tarball")
  const workspaceRefs = ["dependencies", "peerDependencies", "optionalDependencies"]
    .flatMap((field) => Object.entries(packedPkg[field] ?? {}).filter(([, v]) => String(v).startsWith("workspace:")))
  if (workspaceRefs.length > 0) p.problems.push(`packed package.json still has workspace: ranges: ${workspaceRefs.map(([k]) => k)}`)
  for (const [command, file] of binEntries(packedPkg)) {
    const inTarball = file.replace(/^\.\//, "")
    if (!files.has(inTarball)) {
      p.problems.push(`bin "${command}" -> ${file} is not in the tarball`)
      continue
    }
    const head = run("tar", ["-xzOf", p.tarball, `package/${inTarball}`]).output.split("\n")[0]
    if (!head.startsWith("#!")) p.problems.push(`bin "${command}" -> ${file} has no #! line`)
  }
  const customMissing = new Map()
  for (const [subpath, conditions] of exportEntries(packedPkg)) {
    for (const { path, target } of targets(conditions)) {
      if (files.has(target.replace(/^\.\//, ""))) continue
      // A custom condition (like the repo-internal "@sandkit/source") only matters to whoever enables it.
      if (path.length > 0 && path.every((c) => !standardConditions.has(c) && c !== "types")) {
        const key = path.join(".")
        customMissing.set(key, [...(customMissing.get(key) ?? []), target])
      } else {
        p.problems.push(`exports["${subpath}"]${path.map((c) => `["${c}"]`).join("")} -> ${target} is not in the tarball`)
      }
    }
  }
  for (const [condition, missing] of customMissing) {
    p.warnings.push(`"${condition}" condition targets not shipped (${missing.join(", ")}); harmless unless a consumer enables that condition`)
  }
  p.notes.push(`packed ${file} (${files.size} files)`)
}

// ---------------------------------------------------------------------------------------------------------------
// 3. Scratch project: npm install the tarballs
// ---------------------------------------------------------------------------------------------------------------

const installable = packages.filter((p) => p.tarball !== undefined)
const peerRange = (name, fallback) => {
  for (const p of packages) {
    const range = p.pkg.peerDependencies?.[name]
    if (range && !range.startsWith("workspace:")) return range
  }
  return fallback
}
const extraDeps = {
  effect: peerRange("effect", "^4.1.0"),
  typescript: rootPkg.devDependencies?.typescript ?? "~5.9.3",
  "@types/node": rootPkg.devDependencies?.["@types/node"] ?? "^24.0.0"
}
// Optional peers (e.g. vitest for @sandkit/conformance/vitest) are installed so those entries can be imported too.
for (const p of packages) {
  for (const [name, range] of Object.entries(p.pkg.peerDependencies ?? {})) {
    if (!range.startsWith("workspace:") && !(name in extraDeps) && !packages.some((q) => q.pkg.name === name)) extraDeps[name] = range
  }
}

let installed = false
if (installable.length > 0) {
  writeFileSync(join(scratch, ".npmrc"), "") // keep the repo's settings out of the way
  mkdirSync(project, { recursive: true })
  writeFileSync(join(project, "package.json"), JSON.stringify({ name: "sandkit-pack-consumer", private: true, type: "module" }, null, 2))
  const specs = [...installable.map((p) => p.tarball), ...Object.entries(extraDeps).map(([n, r]) => `${n}@${r}`)]
  console.log(`npm install ${installable.map((p) => p.tarball.split("/").pop()).join(" ")} ${Object.entries(extraDeps).map(([n, r]) => `${n}@${r}`).join(" ")}`)
  const npmInstall = run("npm", ["install", "--no-audit", "--no-fund", "--loglevel=error", ...specs], { cwd: project })
  console.log(`  ${npmInstall.ok ? "ok" : "FAILED"} (${(npmInstall.ms / 1000).toFixed(1)} s)`)
  if (!npmInstall.ok) {
    for (const p of installable) p.problems.push(`npm install of the tarballs failed:\n${indent(npmInstall.output)}`)
  } else {
    installed = true
  }
}

// ---------------------------------------------------------------------------------------------------------------
// 4. Import every export entry under Node, Bun, Deno
// ---------------------------------------------------------------------------------------------------------------

const runtimes = [
  { name: "node", command: process.execPath, args: (f) => [f], version: process.versions.node },
  { name: "bun", command: "bun", args: (f) => [f] },
  { name: "deno", command: "deno", args: (f) => ["run", "-A", "--quiet", f] }
]
for (const rt of runtimes) {
  if (rt.version === undefined) {
    const v = run(rt.command, ["--version"])
    rt.available = v.ok
    rt.version = v.ok ? v.output.split("\n")[0].replace(/^deno /, "").split(" ")[0] : undefined
  } else {
    rt.available = true
  }
}

if (installed) {
  for (const p of installable.filter((p) => !p.isCli)) {
    const specs = exportEntries(p.pkg).map(([subpath]) => subpath === "." ? p.pkg.name : `${p.pkg.name}${subpath.slice(1)}`)
    const lines = specs.map((spec, i) =>
      spec.endsWith(".json")
        ? `const m${i} = await import(${JSON.stringify(spec)}, { with: { type: "json" } }); out.push([${JSON.stringify(spec)}, Object.keys(m${i}.default).length])`
        : `const m${i} = await import(${JSON.stringify(spec)}); out.push([${JSON.stringify(spec)}, Object.keys(m${i}).length])`
    )
    const file = join(project, `import-${p.pkg.name.replace(/\W+/g, "_")}.mjs`)
    writeFileSync(file, ["const out = []", ...lines, "console.log(out.map(([s, n]) => `${s} (${n} exports)`).join(', '))", ""].join("\n"))
    for (const rt of runtimes) {
      if (!rt.available) {
        p.notes.push(`${rt.name}: skipped (not on PATH)`)
        continue
      }
      const r = run(rt.command, rt.args(file), { cwd: project })
      if (r.ok) p.notes.push(`import on ${rt.name} ${rt.version}: ${r.output.trim().split("\n").pop()}`)
      else p.problems.push(`import on ${rt.name} ${rt.version} failed:\n${indent(r.output)}`)
    }
  }
}

// Each `bin` of the installed packages answers `--help` (through npm's .bin link, as a user would run it).
if (installed) {
  for (const p of installable) {
    for (const [command] of binEntries(p.pkg)) {
      const r = run(join(project, "node_modules", ".bin", command), ["--help"], { cwd: project })
      if (r.ok) p.notes.push(`bin ${command} --help: ok (${r.output.trim().split("\n").length} lines)`)
      else p.problems.push(`bin ${command} --help failed (exit ${r.status}):\n${indent(r.output)}`)
    }
  }
}

// ---------------------------------------------------------------------------------------------------------------
// 5. tsc on a consumer: NodeNext, strict, skipLibCheck false
// ---------------------------------------------------------------------------------------------------------------

if (installed) {
  const names = new Set(installable.map((p) => p.pkg.name))
  const importLines = []
  const useLines = []
  installable.forEach((p, i) => {
    exportEntries(p.pkg).forEach(([subpath], j) => {
      if (subpath.endsWith(".json")) return
      const spec = subpath === "." ? p.pkg.name : `${p.pkg.name}${subpath.slice(1)}`
      importLines.push(`import * as ns${i}_${j} from ${JSON.stringify(spec)}`)
      useLines.push(`export const keys${i}_${j}: ReadonlyArray<string> = Object.keys(ns${i}_${j})`)
    })
  })
  // A typed program through the public API, when core and local are both being checked.
  if (names.has("@sandkit/core") && names.has("@sandkit/local")) {
    importLines.push(
      `import { Effect } from "effect"`,
      `import { SandboxProvider, type ExecResult, type SandboxError } from "@sandkit/core"`,
      `import { LocalProvider } from "@sandkit/local"`
    )
    useLines.push(
      `export const program = Effect.gen(function*() {`,
      `  const provider = yield* SandboxProvider`,
      `  const sandbox = yield* provider.create({ labels: { purpose: "pack-check" } })`,
      `  const result: ExecResult = yield* sandbox.exec("echo hello")`,
      `  return result`,
      `}).pipe(`,
      `  Effect.scoped,`,
      `  Effect.provide(LocalProvider.layer())`,
      `)`,
      `export const main = (): Promise<ExecResult> => Effect.runPromise(program)`,
      `export const tags: ReadonlyArray<SandboxError["_tag"]> = ["CommandTimeout", "SandboxNotFound"]`
    )
  }
  writeFileSync(join(project, "consumer.ts"), [...importLines, "", ...useLines, ""].join("\n"))
  writeFileSync(
    join(project, "tsconfig.json"),
    JSON.stringify({
      compilerOptions: {
        target: "ES2022",
        // effect's own .d.ts name Web Crypto types (CryptoKey, JsonWebKey) that only lib "DOM" declares.
        lib: ["ES2022", "DOM"],
        module: "NodeNext",
        moduleResolution: "NodeNext",
        strict: true,
        skipLibCheck: false,
        types: ["node"],
        noEmit: true
      },
      files: ["consumer.ts"]
    }, null, 2)
  )
  const tsc = run(process.execPath, [join(project, "node_modules/typescript/bin/tsc"), "-p", "tsconfig.json"], { cwd: project })

  // Run the typed program for real (a local sandbox, `echo hello`) from the installed tarballs, on each runtime.
  if (names.has("@sandkit/core") && names.has("@sandkit/local")) {
    writeFileSync(
      join(project, "run.ts"),
      `import { main } from "./consumer.ts"\nconst r = await main()\nconsole.log(\`exit \${r.exitCode}, stdout \${JSON.stringify(r.stdout)}\`)\n`
    )
    const local = installable.find((p) => p.pkg.name === "@sandkit/local")
    for (const rt of runtimes) {
      if (!rt.available) continue
      const r = run(rt.command, rt.args("run.ts"), { cwd: project })
      const ok = r.ok && r.output.includes(`exit 0, stdout "hello\\n"`)
      if (ok) local.notes.push(`ran a sandbox from the tarballs on ${rt.name}: ${r.output.trim().split("\n").pop()}`)
      else local.problems.push(`running a sandbox from the tarballs on ${rt.name} failed:\n${indent(r.output)}`)
    }
  }
  const tscVersion = readJson(join(project, "node_modules/typescript/package.json")).version
  const errorLines = tsc.output.split("\n").filter((l) => /error TS\d+/.test(l))
  const blamed = installable.filter((p) => errorLines.some((l) => l.includes(`node_modules/${p.pkg.name}/`)))
  for (const p of installable.filter((p) => !p.isCli)) {
    if (tsc.ok) p.notes.push(`tsc ${tscVersion} (NodeNext, strict, skipLibCheck false): ok`)
    else if (blamed.length === 0 || blamed.includes(p)) {
      const mine = errorLines.filter((l) => l.includes(`node_modules/${p.pkg.name}/`))
      p.problems.push(`tsc ${tscVersion} (NodeNext, skipLibCheck false) failed:\n${indent(mine.length > 0 ? mine.join("\n") : tsc.output)}`)
    } else {
      p.notes.push(`tsc: nothing in this package's types (errors are elsewhere)`)
    }
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Report
// ---------------------------------------------------------------------------------------------------------------

console.log("")
let failed = 0
for (const p of packages) {
  const ok = p.problems.length === 0
  if (!ok) failed++
  console.log(`${ok ? "PASS" : "FAIL"}  ${p.pkg.name}@${p.pkg.version}`)
  for (const n of p.notes) console.log(`      ${n}`)
  for (const w of p.warnings) console.log(`  warn ${w}`)
  for (const e of p.problems) console.log(`  FAIL ${e}`)
}
console.log("")
console.log(`pack-check: ${packages.length - failed} passed, ${failed} failed`)

if (process.env.PACK_CHECK_KEEP) console.log(`scratch kept at ${scratch}`)
else rmSync(scratch, { recursive: true, force: true })
process.exit(failed > 0 ? 1 : 0)
