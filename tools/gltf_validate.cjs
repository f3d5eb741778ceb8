// Validates a .glb/.gltf with the Khronos glTF validator (npm package gltf-validator).
// Usage: NODE_PATH="$(npm root -g)" node tools/gltf_validate.cjs FILE
// Exit: 0 valid, 1 errors found (they are printed), 77 validator not installed (skip).
'use strict';
const fs = require('fs');
let validator;
try {
  validator = require('gltf-validator');
} catch (e) {
  console.error('gltf-validator is not installed (tools/deps.sh installs it with npm)');
  process.exit(77);
}
const file = process.argv[2];
if (!file) {
  console.error('usage: gltf_validate.cjs FILE');
  process.exit(2);
}
const bytes = new Uint8Array(fs.readFileSync(file));
validator.validateBytes(bytes, { uri: file, maxIssues: 100 }).then((report) => {
  const i = report.issues;
  console.log(`${file}: ${i.numErrors} errors, ${i.numWarnings} warnings, ${i.numInfos} infos`);
  for (const m of i.messages) if (m.severity <= 1) console.log(`  ${m.severity === 0 ? 'error' : 'warning'} ${m.code} ${m.pointer || ''}: ${m.message}`);
  process.exit(i.numErrors > 0 ? 1 : 0);
}, (err) => {
  console.error(`${file}: validator failed: ${err}`);
  process.exit(1);
});
