// A stand-in for Centrifugo's gRPC server API, on @grpc/grpc-js with the reference api.proto.
// It checks `authorization: apikey KEY` on every call (UNAUTHENTICATED otherwise), records each
// call as a JSON line on stdout, and answers like Centrifugo: errors in the response body.
// A channel starting with "missing:" gets error 102 (unknown channel), as Centrifugo would.
//
// usage: node api.js --key KEY          (listens on 127.0.0.1, an ephemeral port)
'use strict';

const {grpc, load, emit} = require('./common');

const api = load('api.proto', 'centrifugal.centrifugo.api');
const keyIndex = process.argv.indexOf('--key');
const KEY = keyIndex > 0 ? process.argv[keyIndex + 1] : null;
const UNKNOWN_CHANNEL = {code: 102, message: 'unknown channel'};
let offset = 0;

function missing(channel) {
  return typeof channel === 'string' && channel.startsWith('missing:');
}

// The result each method answers with, or an error for a channel that does not exist.
const ANSWERS = {
  Publish: (req) => missing(req.channel) ? {error: UNKNOWN_CHANNEL} :
    {result: {offset: String(++offset), epoch: 'stand-in'}},
  Broadcast: (req) => ({result: {responses: (req.channels || []).map((channel) =>
    missing(channel) ? {error: UNKNOWN_CHANNEL} :
      {result: {offset: String(++offset), epoch: 'stand-in'}})}}),
  Presence: (req) => missing(req.channel) ? {error: UNKNOWN_CHANNEL} :
    {result: {presence: {c1: {user: '42', client: 'c1', conn_info: Buffer.from('{}').toString('base64')}}}},
  PresenceStats: (req) => missing(req.channel) ? {error: UNKNOWN_CHANNEL} :
    {result: {num_clients: 3, num_users: 2}},
  History: (req) => missing(req.channel) ? {error: UNKNOWN_CHANNEL} : {result: {
    publications: [{data: Buffer.from('{"n":1}').toString('base64'), offset: '1'}],
    epoch: 'stand-in', offset: '1'}},
  Channels: () => ({result: {channels: {news: {num_clients: 5}}}}),
  Info: () => ({result: {nodes: [{uid: 'n1', name: 'stand-in', version: '6.9.1', num_clients: 5}]}}),
  Batch: (req) => ({replies: (req.commands || []).map((command) => {
    if (command.publish) {
      return missing(command.publish.channel) ? {error: UNKNOWN_CHANNEL} :
        {publish: {offset: String(++offset), epoch: 'stand-in'}};
    }
    return {error: {code: 108, message: 'not available'}};
  })}),
};

function handler(method) {
  return (call, callback) => {
    const metadata = call.metadata.getMap();
    emit({event: 'call', method, request: call.request, metadata});
    if (KEY !== null && metadata.authorization !== `apikey ${KEY}`) {
      callback({code: grpc.status.UNAUTHENTICATED, details: 'bad API key'});
      return;
    }
    callback(null, (ANSWERS[method] || (() => ({result: {}})))(call.request));
  };
}

const server = new grpc.Server();
const implementation = {};
for (const method of Object.keys(api.CentrifugoApi.service)) {
  implementation[method] = handler(method);
}
server.addService(api.CentrifugoApi.service, implementation);
server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (err, port) => {
  if (err) {
    emit({event: 'error', error: String(err)});
    process.exit(1);
  }
  emit({event: 'listening', port});
});
process.stdin.on('end', () => server.forceShutdown());
process.stdin.resume();
process.stdin.on('close', () => process.exit(0));
