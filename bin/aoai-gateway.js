#!/usr/bin/env node
// The CLI entry. The sources are TypeScript run as they are (Node's type
// stripping), so this needs Node 24: npm scripts and npx in a checkout use the
// pinned one from node_modules/.bin.
const [major] = process.versions.node.split('.').map(Number);
if (major < 24) {
  console.error(
    `aoai-gateway needs Node.js 24 or later; this is ${process.version}.\n` +
      'In a checkout, run it through npm (npm start, npx aoai-gateway …), which uses the pinned Node.',
  );
  process.exit(1);
}
const { main } = await import('../src/cli/main.ts');
process.exitCode = await main(process.argv.slice(2));
