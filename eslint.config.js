// @ts-check
import js from "@eslint/js";
import { defineConfig, globalIgnores } from "eslint/config";
import prettier from "eslint-config-prettier";
import globals from "globals";
import tseslint from "typescript-eslint";

const unused = { argsIgnorePattern: "^_", varsIgnorePattern: "^_", caughtErrors: "none" };

export default defineConfig(
  globalIgnores(["dist/", "node_modules/", ".agora/", "coverage/", "test-output/", "scratch/", "**/generated/**"]),
  {
    files: ["**/*.ts", "gateway/console/*.js"],
    extends: [js.configs.recommended],
    rules: {
      eqeqeq: ["error", "smart"],
      "no-empty": ["error", { allowEmptyCatch: true }],
      // The facts parser matches YAML indentation; literal spaces read better there than {2}.
      "no-regex-spaces": "off",
      "no-unused-vars": ["error", unused],
    },
  },
  {
    files: ["**/*.ts"],
    extends: [tseslint.configs.recommended],
    rules: {
      "@typescript-eslint/no-unused-vars": ["error", unused],
      "@typescript-eslint/no-non-null-assertion": "off",
      "@typescript-eslint/no-explicit-any": "error",
      "@typescript-eslint/consistent-type-imports": "error",
    },
  },
  {
    files: ["gateway/console/*.js"],
    languageOptions: { globals: globals.browser, sourceType: "module" },
  },
  prettier,
);
