import assert from "node:assert/strict";
import { join } from "node:path";
import { describe, it } from "node:test";
import ts from "typescript";
import { REPO_ROOT } from "./helpers/run.js";

const CORE = join(REPO_ROOT, "packages", "core");

/** Every name @gatehouse-proxy/core's entry point exports, with whether it carries a TSDoc comment. */
function coreExports(): { name: string; documented: boolean }[] {
  const config = ts.getParsedCommandLineOfConfigFile(
    join(CORE, "tsconfig.json"),
    {},
    {
      ...ts.sys,
      onUnRecoverableConfigFileDiagnostic: (diagnostic) => {
        throw new Error(ts.flattenDiagnosticMessageText(diagnostic.messageText, "\n"));
      },
    },
  );
  assert.ok(config);
  const program = ts.createProgram({ rootNames: config.fileNames, options: { ...config.options, noEmit: true } });
  const checker = program.getTypeChecker();
  const index = program.getSourceFile(join(CORE, "src", "index.ts"));
  assert.ok(index, "packages/core/src/index.ts");
  const module = checker.getSymbolAtLocation(index);
  assert.ok(module);
  return checker.getExportsOfModule(module).map((symbol) => {
    const target = symbol.flags & ts.SymbolFlags.Alias ? checker.getAliasedSymbol(symbol) : symbol;
    const own = ts.displayPartsToString(target.getDocumentationComment(checker)).trim() !== "";
    // A re-export of another package's value (zod's z) is documented where it is re-exported.
    const atReExport = (symbol.declarations ?? []).some(
      (declaration) =>
        ts.isExportSpecifier(declaration) && ts.getJSDocCommentsAndTags(declaration.parent.parent).length > 0,
    );
    return { name: symbol.name, documented: own || atReExport };
  });
}

describe("@gatehouse-proxy/core's public API", () => {
  it("every export of the entry point has a TSDoc comment", () => {
    const exports = coreExports();
    assert.ok(exports.length > 50, `only ${String(exports.length)} exports found`);
    for (const name of ["AuthProvider", "AuthRequest", "AuthInfo", "definePlugin", "Tokens", "verifyPassword", "z"]) {
      assert.ok(
        exports.some((entry) => entry.name === name),
        `${name} is exported`,
      );
    }
    const undocumented = exports.filter((entry) => !entry.documented).map((entry) => entry.name);
    assert.deepEqual(undocumented, [], `exports without TSDoc: ${undocumented.join(", ")}`);
  });
});
