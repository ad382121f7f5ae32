/**
 * A tiny program per `runCode` language that prints 2, and how to recognise its answer.
 */
export interface CodeSample {
  readonly code: string
  /** Expected in stdout or in a `text/plain` result. */
  readonly expected: string
}

const samples: Readonly<Record<string, CodeSample>> = {
  python: { code: "print(1 + 1)", expected: "2" },
  python3: { code: "print(1 + 1)", expected: "2" },
  javascript: { code: "console.log(1 + 1)", expected: "2" },
  js: { code: "console.log(1 + 1)", expected: "2" },
  node: { code: "console.log(1 + 1)", expected: "2" },
  typescript: { code: "const n: number = 1 + 1; console.log(n)", expected: "2" },
  ts: { code: "const n: number = 1 + 1; console.log(n)", expected: "2" },
  bash: { code: "echo $((1 + 1))", expected: "2" },
  sh: { code: "echo $((1 + 1))", expected: "2" },
  r: { code: "print(1 + 1)", expected: "2" },
  ruby: { code: "puts 1 + 1", expected: "2" },
  java: { code: "System.out.println(1 + 1);", expected: "2" }
}

export const sampleFor = (language: string): CodeSample | undefined => samples[language]
