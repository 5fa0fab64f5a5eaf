// Generated configuration for the stack's servers, all on loopback (protocol notes §4.3, §8).
import { randomBytes } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { buildRegistration, registrationYaml } from '../../src/config/registration.ts';
import { configSchema } from '../../src/config/schema.ts';
import type { RtmpInfo, SfuInfo, StackInfo } from './info.ts';
import { NGINX_RTMP_MODULE } from './install.ts';

export const PORTS = {
  synapse: 18008,
  appservice: 19000,
  redis: 16379,
  /** nginx: the RTMP ingest and, on `http`, the publish check it asks (on_publish). */
  nginx: { rtmp: 11935, http: 11936 },
  /** versitygw, the S3-compatible archive. */
  s3: 17070,
  sfus: [
    { name: 'a', http: 17880, tcp: 17881, udp: 17882, authorizer: 18080 },
    { name: 'b', http: 27880, tcp: 27881, udp: 27882, authorizer: 28080 },
  ],
} as const;
const SERVER_NAME = 'localhost';
const BOT_LOCALPART = 'recorder';

const secret = (bytes = 24) => randomBytes(bytes).toString('hex');

export function planStack(stateDir: string, ffmpegPath: string, chromiumPath: string): StackInfo {
  const synapseUrl = `http://127.0.0.1:${PORTS.synapse}`;
  const sfus: SfuInfo[] = PORTS.sfus.map((p) => ({
    name: p.name,
    livekitUrl: `ws://127.0.0.1:${p.http}`,
    authorizerUrl: `http://127.0.0.1:${p.authorizer}`,
    apiKey: `APItest${p.name}`,
    apiSecret: secret(),
  }));
  return {
    synapse: { url: synapseUrl, serverName: SERVER_NAME, registrationSharedSecret: secret() },
    appservice: {
      registrationFile: join(stateDir, 'registration.yaml'),
      bindAddress: '127.0.0.1',
      port: PORTS.appservice,
      url: `http://127.0.0.1:${PORTS.appservice}`,
      botLocalpart: BOT_LOCALPART,
    },
    botCrypto: { storeDir: join(stateDir, 'bot-crypto'), storeKey: secret(), crossSigningKeysFile: join(stateDir, 'cross-signing.json') },
    sfus,
    redis: { url: `redis://127.0.0.1:${PORTS.redis}` },
    rtmp: rtmpInfo(PORTS.nginx),
    s3: {
      endpoint: `http://127.0.0.1:${PORTS.s3}`,
      region: 'us-east-1',
      accessKeyId: `MRR${secret(8).toUpperCase()}`,
      secretAccessKey: secret(20),
      bucket: 'recordings',
      root: join(stateDir, 's3'),
    },
    ffmpegPath,
    chromiumPath,
  };
}

export function writeRegistration(info: StackInfo) {
  const config = configSchema.parse({
    homeserver: { url: info.synapse.url, domain: info.synapse.serverName },
    appservice: { registrationFile: info.appservice.registrationFile, publicUrl: info.appservice.url },
    redis: { url: info.redis.url },
  });
  writeFileSync(info.appservice.registrationFile, registrationYaml(buildRegistration(config)), { mode: 0o600 });
}

/** Synapse with everything a MatrixRTC call needs; rate limits relaxed because this is a test server. */
export function writeSynapseConfig(dir: string, info: StackInfo): string {
  mkdirSync(dir, { recursive: true });
  // An ed25519 signing key in Synapse's format ("ed25519 <version> <unpadded base64 seed>").
  writeFileSync(join(dir, 'signing.key'), `ed25519 a_test ${randomBytes(32).toString('base64').replace(/=+$/, '')}\n`);
  const generous = { per_second: 1000, burst_count: 1000 };
  const transport = { type: 'livekit', livekit_service_url: info.sfus[0]!.authorizerUrl };
  const config = {
    server_name: info.synapse.serverName,
    public_baseurl: `${info.synapse.url}/`,
    pid_file: join(dir, 'homeserver.pid'),
    report_stats: false,
    listeners: [
      {
        port: PORTS.synapse,
        bind_addresses: ['127.0.0.1'],
        type: 'http',
        tls: false,
        x_forwarded: false,
        resources: [{ names: ['client', 'openid'], compress: false }],
      },
    ],
    database: { name: 'sqlite3', args: { database: join(dir, 'homeserver.db') } },
    media_store_path: join(dir, 'media'),
    signing_key_path: join(dir, 'signing.key'),
    macaroon_secret_key: secret(),
    form_secret: secret(),
    registration_shared_secret: info.synapse.registrationSharedSecret,
    enable_registration: false,
    federation_domain_whitelist: [],
    trusted_key_servers: [],
    suppress_key_server_warning: true,
    presence: { enabled: false },
    url_preview_enabled: false,
    enable_metrics: false,
    max_upload_size: '100M',
    experimental_features: {
      msc4143_enabled: true,
      msc4222_enabled: true,
      msc4354_enabled: true,
      msc2409_to_device_messages_enabled: true,
      msc3202_transaction_extensions: true,
    },
    // Enables MSC4140 delayed events; longer delays are refused with 403 M_FORBIDDEN.
    max_event_delay_duration: '24h',
    matrix_rtc: { transports: [transport] },
    extra_well_known_client_content: { 'org.matrix.msc4143.rtc_foci': [transport] },
    app_service_config_files: [info.appservice.registrationFile],
    rc_message: generous,
    rc_joins: { local: generous, remote: generous },
    rc_invites: { per_room: generous, per_user: generous, per_issuer: generous },
    rc_registration: generous,
    rc_login: { address: generous, account: generous, failed_attempts: generous },
    rc_delayed_event_mgmt: generous,
    rc_room_creation: generous,
    rc_key_requests: generous,
  };
  const path = join(dir, 'homeserver.yaml');
  writeFileSync(path, stringify(config));
  return path;
}

export function writeLiveKitConfig(dir: string, sfu: SfuInfo, ports: (typeof PORTS.sfus)[number]): string {
  const config = {
    port: ports.http,
    bind_addresses: ['127.0.0.1'],
    rtc: {
      tcp_port: ports.tcp,
      udp_port: ports.udp,
      use_external_ip: false,
      node_ip: '127.0.0.1',
      enable_loopback_candidate: true,
    },
    keys: { [sfu.apiKey]: sfu.apiSecret },
    // As lk-jwt-service's README asks: only the authorizer creates rooms.
    room: { auto_create: false },
    logging: { level: 'info' },
  };
  const path = join(dir, `livekit-${sfu.name}.yaml`);
  writeFileSync(path, stringify(config));
  return path;
}

export interface NginxPorts {
  rtmp: number;
  http: number;
}

/** A publish key that is long enough for the logger's secret scrubber (8+ characters). */
const rtmpKey = () => `live_${secret(12)}`;

export function rtmpInfo(ports: NginxPorts, goodKey = rtmpKey()): RtmpInfo {
  return { url: `rtmp://127.0.0.1:${ports.rtmp}/live`, goodKey, port: ports.rtmp, checkPort: ports.http };
}

/**
 * nginx with Debian's RTMP module as a test ingest on loopback: application `live` accepts a
 * publish only when the stream name is the good key, or the good key plus `-<suffix>` (two streams
 * at once); nginx-rtmp asks its `on_publish` URL, answered here by a `location` of the same nginx
 * (2xx: accepted, 403: refused). Anyone on loopback may play a stream back under the same name.
 * Every path nginx writes is under `dir`, so it runs as any user (`nginx -p dir -c ... -e ...`).
 */
export function writeNginxConfig(dir: string, rtmp: RtmpInfo): { args: string[]; dir: string } {
  for (const sub of ['logs', 'temp']) mkdirSync(join(dir, sub), { recursive: true });
  const temp = (name: string) => join(dir, 'temp', name);
  const keyPattern = `^${rtmp.goodKey}(-[a-z0-9]+)?$`;
  const conf = `# Generated by test/stack/configs.ts
load_module ${NGINX_RTMP_MODULE};
daemon off;
worker_processes 1;
pid ${join(dir, 'nginx.pid')};
error_log stderr warn;
events { worker_connections 256; }

rtmp {
  server {
    listen 127.0.0.1:${rtmp.port};
    chunk_size 4096;
    # A publisher that sends nothing for this long is dropped, so a dead one frees its name.
    drop_idle_publisher 10s;
    # GET puts the arguments (name=<key>) in the query string, where a location can test them.
    notify_method get;
    application live {
      live on;
      record off;
      on_publish http://127.0.0.1:${rtmp.checkPort}/on_publish;
      allow publish 127.0.0.1;
      deny publish all;
      allow play 127.0.0.1;
      deny play all;
    }
  }
}

http {
  access_log off;
  client_body_temp_path ${temp('body')};
  proxy_temp_path ${temp('proxy')};
  fastcgi_temp_path ${temp('fastcgi')};
  uwsgi_temp_path ${temp('uwsgi')};
  scgi_temp_path ${temp('scgi')};
  server {
    listen 127.0.0.1:${rtmp.checkPort};
    location = /on_publish {
      if ($arg_name ~ "${keyPattern}") { return 204; }
      return 403;
    }
    location = /healthz { return 204; }
  }
}
`;
  const path = join(dir, 'nginx.conf');
  writeFileSync(path, conf);
  return { args: ['-p', dir, '-c', path, '-e', 'stderr'], dir };
}
