// Shared by the harness scripts: loading the reference protos, JSON lines on stdin/stdout.
'use strict';

const path = require('path');
const readline = require('readline');
const grpc = require('@grpc/grpc-js');
const protoLoader = require('@grpc/proto-loader');

// Bytes travel as base64 text and 64-bit integers as strings in the JSON lines.
const LOADER_OPTIONS = {keepCase: true, longs: String, enums: String, bytes: String,
                        defaults: false, oneofs: true};

function load(file, pkg) {
  const dir = path.join(__dirname, 'reference');
  const definition = protoLoader.loadSync(path.join(dir, file), LOADER_OPTIONS);
  let root = grpc.loadPackageDefinition(definition);
  for (const part of pkg.split('.')) root = root[part];
  return root;
}

function emit(obj) {
  process.stdout.write(JSON.stringify(obj) + '\n');
}

function commands(handle) {
  const rl = readline.createInterface({input: process.stdin});
  rl.on('line', (line) => {
    if (!line.trim()) return;
    let cmd;
    try {
      cmd = JSON.parse(line);
    } catch (err) {
      emit({ok: false, error: 'bad command: ' + err.message});
      return;
    }
    Promise.resolve(handle(cmd)).then((out) => emit({id: cmd.id, ...out}),
      (err) => emit({id: cmd.id, ok: false, error: String(err && err.stack || err)}));
  });
  rl.on('close', () => process.exit(0));
}

function metadataFrom(obj) {
  const md = new grpc.Metadata();
  for (const [key, value] of Object.entries(obj || {})) {
    md.add(key, key.endsWith('-bin') ? Buffer.from(value, 'base64') : value);
  }
  return md;
}

module.exports = {grpc, load, emit, commands, metadataFrom};
