#!/usr/bin/env node
// prebuildify calls node-gyp; this stands in for it and runs cmake-js, so prebuilds come
// from the same CMakeLists.txt as every other build. It maps the node-gyp arguments that
// prebuildify passes (rebuild --target=X --arch=Y --release|--debug --devdir=D).
import { spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';

const argv = process.argv.slice(2);
const get = (name) => argv.find((a) => a.startsWith(`--${name}=`))?.split('=')[1];
const debug = argv.includes('--debug');
const cmakeJs = createRequire(import.meta.url).resolve('cmake-js/bin/cmake-js');
const args = [cmakeJs, argv.includes('rebuild') ? 'rebuild' : 'compile', `--CDCMAKE_BUILD_TYPE=${debug ? 'Debug' : 'Release'}`];
if (get('arch')) args.push(`--arch=${get('arch')}`);
if (debug) args.push('--debug');
const r = spawnSync(process.execPath, args, { stdio: 'inherit' });
process.exit(r.status ?? 1);
