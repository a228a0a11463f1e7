'use strict';
// A tarsnode ServerF stand-in for interoperability tests, written against the official Node.js
// Tars packages: @tars/rpc frames, decodes RequestPackets, dispatches and composes the replies
// (ResponsePacket for version 1, a TUP RequestPacket for version 3); @tars/stream decodes the
// arguments. The project's own codec is not involved on this side.
//
// Usage: node peer.js [--host 127.0.0.1] [--port 0] [--ret 0]
// Prints JSON lines: {"event":"listening","port":N}, then one {"event":"call",...} per call.

const TarsStream = require('@tars/stream');
const TarsRpc = require('@tars/rpc');

const SERVANT = 'tars.tarsnode.ServerObj';

function option(name, fallback) {
  const at = process.argv.indexOf('--' + name);
  return at > 0 && at + 1 < process.argv.length ? process.argv[at + 1] : fallback;
}

function emit(record) {
  process.stdout.write(JSON.stringify(record) + '\n');
}

// tars.ServerInfo from servant/NodeF.tars, in the shape @tars/stream expects of a struct.
function ServerInfo() {
  this.application = '';
  this.serverName = '';
  this.pid = 0;
  this.adapter = '';
  this._classname = 'tars.ServerInfo';
}
ServerInfo._classname = 'tars.ServerInfo';
ServerInfo._readFrom = function (is) {
  const info = new ServerInfo();
  info.application = is.readString(0, true, '');
  info.serverName = is.readString(1, true, '');
  info.pid = is.readInt32(2, true, 0);
  info.adapter = is.readString(3, false, '');
  return info;
};
ServerInfo.prototype._writeTo = function (os) {
  os.writeString(0, this.application);
  os.writeString(1, this.serverName);
  os.writeInt32(2, this.pid);
  os.writeString(3, this.adapter);
};

const RET = parseInt(option('ret', '0'), 10);

function isTup(current) {
  const v = current.getRequestVersion();
  return v === TarsStream.Tup.TUP_SIMPLE || v === TarsStream.Tup.TUP_COMPLEX;
}

function readArgs(current, func, binBuffer) {
  if (isTup(current)) {
    const tup = new TarsStream.UniAttribute();
    tup.tupVersion = current.getRequestVersion();
    tup.decode(binBuffer);
    if (func === 'reportVersion') {
      return { app: tup.readString('app'), serverName: tup.readString('serverName'),
        version: tup.readString('version') };
    }
    return { serverInfo: tup.readStruct('serverInfo', ServerInfo) };
  }
  const is = new TarsStream.TarsInputStream(binBuffer);
  if (func === 'reportVersion') {
    return { app: is.readString(1, true), serverName: is.readString(2, true),
      version: is.readString(3, true) };
  }
  return { serverInfo: is.readStruct(1, true, ServerInfo) };
}

function answer(current, ret) {
  if (isTup(current)) {
    const tup = new TarsStream.UniAttribute();
    tup.tupVersion = current.getRequestVersion();
    tup.writeInt32('', ret);
    tup.writeInt32('tars_ret', ret);
    current.doResponse(tup.encode());
  } else {
    const os = new TarsStream.TarsOutputStream();
    os.writeInt32(0, ret);
    current.doResponse(os.getBinBuffer());
  }
}

function ServerFImp() {}
ServerFImp.prototype.initialize = function () {};
ServerFImp.prototype.onDispatch = function (current, func, binBuffer) {
  if (func !== 'keepAlive' && func !== 'keepActiving' && func !== 'reportVersion') {
    return TarsRpc.error.SERVER.FUNC_NOT_FOUND;
  }
  const request = current.getRequest();
  const record = {
    event: 'call', func: func, version: request.iVersion, packetType: request.cPacketType,
    requestId: request.iRequestId, servant: request.sServantName, timeout: request.iTimeout,
  };
  const args = readArgs(current, func, binBuffer);
  if (args.serverInfo) {
    record.application = args.serverInfo.application;
    record.serverName = args.serverInfo.serverName;
    record.pid = args.serverInfo.pid;
    record.adapter = args.serverInfo.adapter;
  } else {
    record.application = args.app;
    record.serverName = args.serverName;
    record.appVersion = args.version;
  }
  emit(record);
  answer(current, RET);
  return TarsRpc.error.SUCCESS;
};

const server = TarsRpc.server.createServer(ServerFImp);
const host = option('host', '127.0.0.1');
server.start({
  endpoint: 'tcp -h ' + host + ' -p ' + option('port', '0') + ' -t 60000',
  servant: SERVANT,
  protocol: 'tars',
  maxconns: 64,
});

// @tars/rpc does not report the bound port; read it off the adapter's listener once it is up.
const listener = server._server._adapters[0]._netthread._listener;
listener.on('listening', function () {
  emit({ event: 'listening', port: listener.address().port });
});
listener.on('error', function (err) {
  emit({ event: 'error', message: String(err) });
  process.exit(1);
});
process.on('SIGTERM', function () { process.exit(0); });
process.stdin.on('end', function () { process.exit(0); });
process.stdin.resume();
