// `npm run lint` (with `prettier --check .`): eslint's recommended rules for
// every file, typescript-eslint's recommended rules plus a few type-aware bug
// catchers for the TypeScript. Type information comes from the tsconfig files;
// it is complete once `npm run build` has made proto/gen and the packages' dist.
import js from '@eslint/js';
import globals from 'globals';
import { defineConfig } from 'eslint/config';
import tseslint from 'typescript-eslint';

export default defineConfig(
  {
    // Generated and built output, and what the tests and commands write.
    ignores: ['**/dist/**', 'proto/gen/**', '**/node_modules/**', 'reports/**', '.vcpuctl/**'],
  },
  {
    linterOptions: { reportUnusedDisableDirectives: 'error' },
    languageOptions: { globals: globals.node },
  },
  js.configs.recommended,
  {
    files: ['**/*.js', '**/*.cjs'],
    // bench/, packaging/, the bin launchers and the test reporter are plain CommonJS run by node.
    languageOptions: { sourceType: 'commonjs' },
  },
  {
    files: ['**/*.ts', '**/*.tsx'],
    extends: [tseslint.configs.recommended],
    languageOptions: { parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname } },
    rules: {
      // Type-aware: promises dropped or misused, awaits of non-promises, throws of non-errors.
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/no-misused-promises': 'error',
      '@typescript-eslint/await-thenable': 'error',
      '@typescript-eslint/only-throw-error': 'error',
      eqeqeq: ['error', 'smart'],
      // A variable a closure reads before its one assignment cannot be const (the closure would hit the TDZ).
      'prefer-const': ['error', { ignoreReadBeforeAssign: true }],
      'no-duplicate-imports': ['error', { allowSeparateTypeImports: true }],
      // As tsc's noUnusedParameters: `_name` is unused on purpose; `{ drop: _, ...rest }` omits a field.
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_', caughtErrorsIgnorePattern: '^_', ignoreRestSiblings: true }],
      // Input validation and terminal-output checks match control characters on purpose.
      'no-control-regex': 'off',
    },
  },
  {
    // Hand-written entry-point declarations (proto/*.d.ts) are in no tsconfig and hold no code to type-check.
    files: ['**/*.d.ts'],
    extends: [tseslint.configs.disableTypeChecked],
  },
  {
    files: ['packages/*/src/**/*.ts'],
    rules: {
      // Heavy dependencies are require()d on first use so commands that do not need them start without them.
      '@typescript-eslint/no-require-imports': ['error', { allow: ['^ws$', '^bcryptjs$', '^yaml$'] }],
    },
  },
  {
    // The Cockpit page runs in the browser, with Cockpit's own `cockpit` object.
    files: ['packages/cockpit/src/**'],
    languageOptions: { globals: { ...globals.browser, cockpit: 'readonly' } },
  },
  {
    files: ['test/**/*.ts'],
    rules: {
      // Tests walk the CLI's parsed JSON output as Record<string, any>, as loosely typed as JSON.parse's result.
      '@typescript-eslint/no-explicit-any': 'off',
    },
  },
);
