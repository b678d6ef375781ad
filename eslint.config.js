import js from "@eslint/js";
import tseslint from "typescript-eslint";

export default tseslint.config(
  // examples/plugin-template is a standalone package: its types resolve only once it is built
  // (it imports itself by name), which packages/plugin-testkit/test/e2e/template.test.ts does with tsc.
  { ignores: ["**/dist/**", "**/dist-test/**", "**/node_modules/**", ".bench/**", "examples/plugin-template/**"] },
  js.configs.recommended,
  ...tseslint.configs.strictTypeChecked,
  {
    languageOptions: {
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      "@typescript-eslint/restrict-template-expressions": ["error", { allowNumber: true }],
      "@typescript-eslint/no-confusing-void-expression": "off",
      "@typescript-eslint/no-non-null-assertion": "off",
      "@typescript-eslint/no-extraneous-class": "off",
      "@typescript-eslint/no-floating-promises": [
        "error",
        {
          allowForKnownSafeCalls: [
            { from: "package", package: "node:test", name: ["describe", "it", "test", "suite"] },
          ],
        },
      ],
    },
  },
  {
    files: ["**/*.js"],
    extends: [tseslint.configs.disableTypeChecked],
    languageOptions: {
      globals: { process: "readonly", console: "readonly", setTimeout: "readonly", clearTimeout: "readonly" },
    },
  },
  {
    // The status page's script runs in the browser.
    files: ["packages/observability/status-page/**/*.js"],
    languageOptions: {
      globals: { document: "readonly", sessionStorage: "readonly", fetch: "readonly", URLSearchParams: "readonly" },
    },
  },
);
