// The single source of truth for configuration: types, validation, defaults and documentation.
// docs/configuration.md and config/config.sample.yaml are generated from this file
// (`npm run docs`), and the logger's redaction list comes from the keys marked `secret`.
import { z } from 'zod';
import { validatePathTemplate } from '../delivery/storage-sink.ts';
import { destinationProblem } from '../outputs/stream/destination.ts';
import { speechLanguageProblem } from '../media/speech/synthesise.ts';

export interface KeyMeta {
  description: string;
  example?: unknown;
  /** Never logged; redacted wherever the config is printed. */
  secret?: boolean;
}

const key = <T extends z.ZodType>(schema: T, meta: KeyMeta): T => schema.meta({ ...meta });

const section = <T extends z.ZodRawShape>(description: string, shape: T) =>
  // prefault: a missing section is parsed as {} so its keys get their defaults.
  z.strictObject(shape).prefault({} as never).meta({ description });

const httpUrl = z.url({ protocol: /^https?$/, error: 'expected an http(s) URL' });
const logLevels = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;

export const configSchema = z.strictObject({
  homeserver: section('The Matrix homeserver the appservice is registered with.', {
    url: key(httpUrl, {
      description: 'Client-server API base URL of the homeserver, as the appservice reaches it.',
      example: 'https://matrix.example.org',
    }),
    domain: key(z.string().min(1), {
      description: 'The server name: the part after the colon in user IDs.',
      example: 'example.org',
    }),
  }),
  appservice: section('How the homeserver and the appservice reach each other.', {
    registrationFile: key(z.string().min(1).default('registration.yaml'), {
      description:
        'Path of the appservice registration (written by `matrixrtc-recorder generate-registration`). ' +
        'Its as_token and hs_token are read from there; relative paths are resolved from the config file.',
      example: '/data/registration.yaml',
    }),
    bindAddress: key(z.string().min(1).default('127.0.0.1'), {
      description: 'Address the appservice HTTP listener binds to.',
      example: '0.0.0.0',
    }),
    port: key(z.int().min(1).max(65535).default(9000), {
      description: 'Port the appservice HTTP listener binds to.',
      example: 9000,
    }),
    publicUrl: key(httpUrl.default('http://127.0.0.1:9000'), {
      description: 'URL at which the homeserver reaches this appservice (the registration `url`).',
      example: 'http://recorder:9000',
    }),
    id: key(z.string().min(1).default('matrixrtc-recorder'), {
      description: 'Appservice id written into the registration.',
      example: 'matrixrtc-recorder',
    }),
  }),
  bot: section('The Matrix user that answers commands and joins calls.', {
    localpart: key(
      z
        .string()
        .regex(/^[a-z0-9._=\-/]+$/, 'expected a lowercase Matrix localpart')
        .default('recorder'),
      {
        description:
          'Localpart of the bot user that people invite and talk to. The registration covers `<localpart>` and `<localpart>-*`; ' +
          'its sender is `<localpart>-appservice`, calls are joined by `<localpart>-call`.',
        example: 'recorder',
      },
    ),
    displayName: key(z.string().min(1).default('Call Recorder'), {
      description: 'Display name the bot sets for itself, visible to every call member.',
      example: 'Call Recorder',
    }),
  }),
  encryption: section("The bot's own end-to-end encryption: reading commands and writing replies in encrypted rooms.", {
    storeDir: key(z.string().min(1).default('data/crypto'), {
      description:
        "Directory of the bot's crypto store (its command device, Olm and Megolm sessions), so users see the same device after a restart. " +
        'Encrypted with `storeKey`; media keys of calls never go there. Relative paths are resolved from the working directory.',
      example: '/data/crypto',
    }),
    storeKey: key(z.string().min(16, 'expected at least 16 characters').optional(), {
      description:
        'Passphrase that encrypts the crypto store. Required for the bridge; set it through MRR_ENCRYPTION__STORE_KEY or ' +
        'MRR_ENCRYPTION__STORE_KEY_FILE rather than in the file. Losing it means a new bot device (users see a new unknown device).',
      example: 'a long random passphrase',
      secret: true,
    }),
    crossSigningKeysFile: key(z.string().min(1).optional(), {
      description:
        'Secret file with the cross-signing keys of the bot user and the call user, written once by `matrixrtc-recorder ' +
        'generate-cross-signing`. When set, every device the bot creates is signed, so clients that share keys only with ' +
        'verified devices include the bot. Keep it like a password.',
      example: '/secrets/cross-signing.json',
    }),
  }),
  permissions: section('Who may use the bot.', {
    minPowerLevel: key(z.int().min(0).max(100).default(50), {
      description:
        'Minimum power level in the room needed to start or stop a recording. `!help` and `!status` are open to every member.',
      example: 50,
    }),
    allow: key(z.array(z.string().min(1)).optional(), {
      description:
        'Users (`@alice:example.org`) or servers (`example.org`) allowed to invite the bot and use its commands. ' +
        "Unset: the homeserver's own users (`homeserver.domain`). `*` allows everyone, from any server; the power level check applies in addition. " +
        'Unknown `!commands` are answered only for users on this list, so other bots get no replies to talk back to.',
      example: ['@admin:example.org', 'example.org'],
    }),
  }),
  redis: section('The Redis server that carries the job queue.', {
    url: key(z.string().regex(/^rediss?:\/\//, 'expected a redis:// or rediss:// URL').default('redis://127.0.0.1:6379'), {
      description: 'Redis connection URL. May carry a password, so it is treated as a secret.',
      example: 'redis://:password@redis:6379/0',
      secret: true,
    }),
    prefix: key(z.string().regex(/^[A-Za-z0-9_-]+$/, 'expected letters, digits, - or _').default('mrr'), {
      description: 'Key prefix for everything this deployment stores in Redis (BullMQ queue prefix).',
      example: 'mrr',
    }),
  }),
  jobs: section('How workers take call sessions from the queue.', {
    concurrency: key(z.int().min(1).max(64).default(4), {
      description: 'Call sessions one worker process runs at the same time.',
      example: 4,
    }),
    lockDurationMs: key(z.int().min(1000).default(30_000), {
      description:
        'How long a worker holds a job without renewing its lock. A worker that dies loses its jobs after this, and another worker takes them up.',
      example: 30_000,
    }),
    stalledIntervalMs: key(z.int().min(1000).default(15_000), {
      description: 'How often workers look for jobs whose worker died.',
      example: 15_000,
    }),
    maxStalledCount: key(z.int().min(0).default(5), {
      description: 'How many times a session is taken up again after its worker died before it is given up.',
      example: 5,
    }),
    handoverTimeoutMs: key(z.int().min(0).default(20_000), {
      description:
        'A worker told to stop (SIGTERM, a rolling deploy) offers each running session to another worker and records on until that one records ' +
        'too, so the recording has no gap (the segments overlap; the manifest says where to cut). This is how long it waits for a worker to ' +
        'take a session over (and again for a taker to record) before it ends the session itself, files delivered. 0 ends sessions at once. ' +
        "Keep it, plus the time to deliver, within the orchestrator's grace period.",
      example: 20_000,
    }),
  }),
  limits: section('Quotas that keep one user, one room or a flood of messages from taking the whole service.', {
    userCommandBurst: key(z.int().min(1).default(5), {
      description: 'Commands one user may send at once before the per-minute rate applies (token bucket).',
      example: 5,
    }),
    userCommandsPerMinute: key(z.number().positive().default(10), {
      description: "Commands per minute one user may send in the long run; more are ignored (the user is told once a minute).",
      example: 10,
    }),
    roomCommandBurst: key(z.int().min(1).default(10), {
      description: 'Commands one room may send at once, all its users together.',
      example: 10,
    }),
    roomCommandsPerMinute: key(z.number().positive().default(30), {
      description: 'Commands per minute one room may send in the long run.',
      example: 30,
    }),
    maxOutputsPerRoom: key(z.int().min(1).default(4), {
      description: "Outputs (the recording and each live stream) one room's session may run at the same time.",
      example: 4,
    }),
    maxSessionsPerUser: key(z.int().min(1).default(3), {
      description: 'Sessions (calls being recorded or streamed, in any room) one user may have started and running at the same time.',
      example: 3,
    }),
  }),
  rtc: section('How the bot joins MatrixRTC calls.', {
    livekitServiceUrl: key(httpUrl.optional(), {
      description:
        'LiveKit authorizer (lk-jwt-service) URL used when the homeserver advertises none, neither through its ' +
        'MSC4143 transports endpoint nor in `.well-known/matrix/client` `org.matrix.msc4143.rtc_foci`.',
      example: 'https://rtc.example.org/livekit/jwt',
    }),
    allowedAuthorizers: key(
      z
        .array(z.string().regex(/^(\*|\[?[A-Za-z0-9.:-]+\]?(:\d{1,5})?)$/, 'expected `*`, a host name, or host:port'))
        .default([]),
      {
        description:
          "LiveKit authorizers the bot may ask for credentials (and take media from) besides the homeserver's own: a call " +
          "member's membership names the SFU it publishes on, so without this list any member could make the bot send " +
          'requests anywhere. The transports the homeserver advertises (MSC4143 endpoint, `.well-known` `rtc_foci`) and ' +
          '`livekitServiceUrl` are always allowed, at their exact host and port. Entries: `host` (any port), `host:port`, or ' +
          '`*` for any other host, whose name must then resolve to public addresses only (private, loopback and link-local ' +
          'ones are refused unless listed by name). Members on a refused SFU are named in the room and not recorded.',
        example: ['livekit-jwt.call.matrix.org', 'sfu.partner.example:443'],
      },
    ),
    delayedLeaveEventDelayMs: key(z.int().min(1000).max(600_000).default(10_000), {
      description:
        'Delay of the delayed leave event (MSC4140) kept alive while the bot is in a call: if the worker dies, the ' +
        "homeserver removes the bot's call membership after this long. Must not exceed the homeserver's max_event_delay_duration.",
      example: 10_000,
    }),
    membershipMode: key(z.enum(['auto', 'legacy', 'sticky']).default('auto'), {
      description:
        "How the bot publishes its own call membership. `legacy`: an `org.matrix.msc3401.call.member` state event, LiveKit identity " +
        '`@user:server:DEVICE` from `/sfu/get` (Element Call\'s default mode). `sticky`: a sticky `org.matrix.msc4143.rtc.member` event ' +
        "(MSC4354, Element Call's `matrix_2_0` mode), hashed LiveKit identity from `/get_token`; the homeserver must advertise " +
        '`org.matrix.msc4354`. `auto`: sticky when any current member publishes sticky memberships, otherwise legacy.',
      example: 'auto',
    }),
    emptyCallGraceMs: key(z.int().min(0).default(30_000), {
      description: 'How long the bot stays in a call with no other member before it ends the session.',
      example: 30_000,
    }),
    syncTimeoutMs: key(z.int().min(1000).default(30_000), {
      description: "How long a session waits for its device's first sync before giving up.",
      example: 30_000,
    }),
  }),
  recording: section('What a recording produces.', {
    defaultKind: key(z.enum(['audio', 'video']).default('audio'), {
      description: 'What `!record` without an argument records.',
      example: 'video',
    }),
    outputDir: key(z.string().min(1).default('recordings'), {
      description: 'Directory where recordings are written (one folder per session). Relative paths are resolved from the working directory.',
      example: '/data/recordings',
    }),
    ffmpegPath: key(z.string().min(1).default('ffmpeg'), {
      description: 'The ffmpeg executable.',
      example: '/usr/bin/ffmpeg',
    }),
    maxDurationMs: key(z.int().min(10_000).default(4 * 3600_000), {
      description: 'A recording ends by itself after this long, whoever is still in the call.',
      example: 7_200_000,
    }),
    videoWidth: key(z.int().min(160).max(3840).multipleOf(2).default(1280), {
      description: 'Width in pixels of the composite video (`!record video`): a tile per camera and screen share, a name card per member without video, Element Call style.',
      example: 1280,
    }),
    videoHeight: key(z.int().min(90).max(2160).multipleOf(2).default(720), {
      description: 'Height in pixels of the composite video.',
      example: 720,
    }),
    videoFps: key(z.int().min(1).max(60).default(15), {
      description: 'Frames per second of the composite video.',
      example: 15,
    }),
    shareVideoEncoder: key(z.boolean().default(false), {
      description:
        "Encode the composite video with the live streams' H.264 settings (constant `streaming.videoBitrateKbps`, low latency, a keyframe every 2 s) " +
        'in one encoder shared with any video stream of the call, so a recording beside a video stream encodes the picture once. ' +
        'Off: the recording encodes on its own for quality (CRF 23, B-frames): smaller files when the picture changes little, but a second x264 beside a video stream.',
      example: true,
    }),
    uploadToRoom: key(z.boolean().default(true), {
      description:
        'Upload the finished files into the room (as encrypted attachments in end-to-end encrypted rooms), with a summary message.',
      example: true,
    }),
    maxUploadBytes: key(z.int().min(16 * 1024).optional(), {
      description:
        "Largest file uploaded into the room in one piece, below the homeserver's own limit (`m.upload.size`, which always applies). A longer " +
        'file is cut with ffmpeg (stream copy, no re-encoding) into parts that each play on their own, uploaded one after another; the summary says so.',
      example: 52_428_800,
    }),
    retentionDays: key(z.number().positive().optional(), {
      description:
        'Local recordings (files below `outputDir`) older than this many days, counted from their last write, are deleted by the workers. ' +
        'Unset: kept until someone deletes them. The manifest of each recording says when its local files go. The archive (`storage`) is not touched.',
      example: 30,
    }),
    retentionSweepIntervalMs: key(z.int().min(10_000).default(3600_000), {
      description: 'How often a worker looks for local recordings past `retentionDays` (and once when it starts).',
      example: 3600_000,
    }),
  }),
  streaming: section('Live streams of a call (`!stream`): named destinations, HLS output, reconnecting.', {
    destinations: key(
      z
        .record(
          z.string(),
          z.strictObject({
            url: z.string().min(1).check((ctx) => {
              const problem = destinationProblem(ctx.value);
              if (problem) ctx.issues.push({ code: 'custom', message: problem, input: '[secret]' });
            }),
            kind: z.enum(['audio', 'video']).optional(),
          }),
        )
        .check((ctx) => {
          // Checked here rather than as the record's key schema, whose errors say only "Invalid key in record".
          for (const name of Object.keys(ctx.value)) {
            const problem = !/^[a-z0-9][a-z0-9_-]*$/.test(name)
              ? 'expected a name of lowercase letters, digits, - or _'
              : ['stop', 'audio', 'video', 'hls'].includes(name)
                ? 'stop, audio, video and hls are words of the !stream command'
                : undefined;
            if (problem) ctx.issues.push({ code: 'custom', message: problem, input: name, path: [name] });
          }
        })
        .default({}),
      {
        description:
          'Destinations by name, so that `!stream <name>` never puts a stream key in a room. `url`: `rtmp://host/app/<key>`, ' +
          '`rtmps://…`, `srt://host:port?latency=<ms>&passphrase=<10-79 characters>&streamid=<id>` (caller mode), or ' +
          '`hls:<directory>` (absolute, or below `hlsDirectory`); `kind`: what `!stream <name>` sends without an argument ' +
          '(audio or video). The whole mapping is secret: URLs carry stream keys.',
        example: { youtube: { url: 'rtmp://a.rtmp.youtube.com/live2/xxxx-xxxx-xxxx-xxxx', kind: 'video' }, relay: { url: 'srt://ingest.example.org:9000?latency=200&passphrase=a-long-passphrase' } },
        secret: true,
      },
    ),
    allowedHosts: key(
      z
        .array(z.string().regex(/^(\*|\[?[A-Za-z0-9.:-]+\]?(:\d{1,5})?)$/, 'expected `*`, a host name, or host:port'))
        .default(['*']),
      {
        description:
          'Hosts a stream URL typed in a room (`!stream rtmp://…`, `srt://…`) may point to. Whoever may stream chooses that host, so ' +
          'it must not be a way into the operator\'s network: `*` (the default) allows any host whose name resolves to public addresses ' +
          'only; private, loopback and link-local addresses are refused unless listed by name. Entries: `host` (any port), `host:port`, ' +
          '`*`. An empty list refuses typed URLs altogether (only named destinations). Named destinations are not checked.',
        example: ['*', 'ingest.internal.example.org:1935'],
      },
    ),
    hlsDirectory: key(z.string().min(1).default('hls'), {
      description: 'Base directory of HLS output: `!stream hls` writes a live playlist and its segments into a folder per session below it. Serve it with any web server.',
      example: '/var/www/live',
    }),
    hlsSegmentSeconds: key(z.int().min(1).max(30).default(4), {
      description: 'Length of an HLS segment in seconds (a segment starts on a keyframe; video has one every 2 s).',
      example: 2,
    }),
    hlsListSize: key(z.int().min(2).max(100).default(6), {
      description: 'Segments kept in the live HLS playlist; older segments are deleted.',
      example: 6,
    }),
    videoBitrateKbps: key(z.int().min(200).max(20_000).default(2500), {
      description: 'Video bitrate of a video stream (H.264, constant bitrate as ingests expect).',
      example: 4500,
    }),
    audioBitrateKbps: key(z.int().min(32).max(320).default(128), {
      description: 'Audio bitrate of every stream (AAC, stereo).',
      example: 160,
    }),
    retryInitialDelayMs: key(z.int().min(100).default(1000), {
      description: 'After a destination drops, the first reconnection waits this long; each further attempt waits twice as long.',
      example: 1000,
    }),
    retryMaxDelayMs: key(z.int().min(100).default(15_000), {
      description: 'Longest wait between two reconnection attempts.',
      example: 15_000,
    }),
    giveUpAfterMs: key(z.int().min(1000).default(600_000), {
      description: 'A destination that stays down this long is given up (the room is told once).',
      example: 600_000,
    }),
    stallTimeoutMs: key(z.int().min(1000).default(10_000), {
      description: 'A destination whose output does not advance for this long (no bytes leaving) is treated as down and reconnected.',
      example: 10_000,
    }),
  }),
  voice: section("The bot's own voice in the call: an audio track it publishes (encrypted with its own media key), used for spoken notices.", {
    enabled: key(z.boolean().default(true), {
      description:
        'Publish an audio track and say aloud when a recording or stream starts, so members who do not see the room (phone callers, the app in the background) are told too.',
      example: true,
    }),
    language: key(
      z.string().refine((v) => speechLanguageProblem(v) === undefined, { error: 'expected an espeak-ng language code such as en, de or pt-br' }).default('en'),
      { description: 'Language of the spoken notices: an espeak-ng voice (`espeak-ng --voices` lists them).', example: 'en' },
    ),
    recordingNotice: key(z.string().min(1).default('This call is being recorded.'), {
      description: 'Said when a recording starts.',
      example: 'This call is being recorded.',
    }),
    tellJoiners: key(z.boolean().default(true), {
      description:
        'Say `recordingNotice` again when members join while the call is recorded (a few seconds after they join, once their devices ' +
        'have the bot\'s media key; joiners arriving together hear one notice), so a late joiner who does not watch the room is told too.',
      example: true,
    }),
    streamingNotice: key(z.string().min(1).default('This call is being streamed live.'), {
      description: 'Said when a live stream starts.',
      example: 'This call is being streamed live.',
    }),
  }),
  storage: section('An archive copy of every finished recording, besides the upload to the room.', {
    directory: key(z.string().min(1).optional(), {
      description: 'Directory that receives a copy of each finished recording and its manifest. Unset: no archive copy.',
      example: '/archive/recordings',
    }),
    pathTemplate: key(
      z
        .string()
        .min(1)
        .default('{year}/{month}/{room}/{date}_{time}_{session}')
        .check((ctx) => {
          try {
            validatePathTemplate(ctx.value);
          } catch (err) {
            ctx.issues.push({ code: 'custom', message: (err as Error).message.replace(/^storage\.pathTemplate: /, ''), input: ctx.value });
          }
        }),
      {
        description:
          'Folder of a recording below `directory` (and in the S3 bucket, after `s3Prefix`). Placeholders: {room} {session} {date} {time} {year} {month} {day} (UTC). ' +
          'Each value is made file-name safe, so a room ID cannot add path segments.',
        example: '{room}/{date}_{session}',
      },
    ),
    s3Bucket: key(z.string().min(1).optional(), {
      description:
        'S3 bucket (AWS S3 or any S3-compatible server: MinIO, Ceph RGW, versitygw, …) that receives an archive copy of each finished recording, ' +
        'every segment of a recovered session, and HLS streams while they run; beside `directory` or instead of it. Files go to ' +
        '`<s3Prefix><pathTemplate>/<name>`, in multipart uploads that a worker dying mid-upload leaves invisible and the next delivery resumes. ' +
        'The bucket must exist. Unset: no S3 archive.',
      example: 'call-recordings',
    }),
    s3Endpoint: key(httpUrl.optional(), {
      description: 'URL of an S3-compatible server. Unset: AWS S3 in `s3Region`.',
      example: 'https://s3.example.org',
    }),
    s3Region: key(z.string().min(1).default('us-east-1'), {
      description: 'Region the requests are signed for (S3-compatible servers mostly accept the default).',
      example: 'eu-central-1',
    }),
    s3AccessKeyId: key(z.string().min(1).optional(), {
      description: "Access key ID. Unset together with `s3SecretAccessKey`: the AWS SDK's default credential chain (AWS_* environment, profile, instance role).",
      example: 'AKIAIOSFODNN7EXAMPLE',
    }),
    s3SecretAccessKey: key(z.string().min(1).optional(), {
      description: 'Secret access key. Set it through MRR_STORAGE__S3_SECRET_ACCESS_KEY or MRR_STORAGE__S3_SECRET_ACCESS_KEY_FILE rather than in the file.',
      example: 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY',
      secret: true,
    }),
    s3ForcePathStyle: key(z.boolean().default(true), {
      description: 'Path-style requests (`<endpoint>/<bucket>/<key>`), which S3-compatible servers expect; false for virtual-hosted style (`<bucket>.<endpoint>`).',
      example: true,
    }),
    s3Prefix: key(z.string().regex(/^([^/].*\/)?$/, 'expected a relative key prefix ending in "/"').default(''), {
      description: 'Key prefix before the path template, e.g. to share a bucket.',
      example: 'recorder/',
    }),
    s3PartSizeBytes: key(z.int().min(5 * 1024 * 1024).max(5 * 1024 * 1024 * 1024).default(8 * 1024 * 1024), {
      description: "Size of a multipart upload's parts; smaller files go up in one request. At least 5 MiB (S3's minimum).",
      example: 16_777_216,
    }),
  }),
  metrics: section('Prometheus metrics and health endpoints (`/metrics`, `/healthz`, `/readyz`) of the bridge and of every worker.', {
    enabled: key(z.boolean().default(true), {
      description: 'Serve the endpoints. Each role listens on its own port, so `all` serves both the bridge\'s and the worker\'s.',
      example: true,
    }),
    bindAddress: key(z.string().min(1).default('127.0.0.1'), {
      description: 'Address the endpoints bind to. They carry no secrets, but keep them off the public internet.',
      example: '0.0.0.0',
    }),
    bridgePort: key(z.int().min(0).max(65535).default(9464), {
      description: 'Port of the bridge\'s endpoints. 0: any free port (logged as `metrics listening`).',
      example: 9464,
    }),
    workerPort: key(z.int().min(0).max(65535).default(9465), {
      description:
        'Port of a worker\'s endpoints. Several workers on one host need one port each (set MRR_METRICS__WORKER_PORT per process), or 0 for any free port.',
      example: 9465,
    }),
    probeIntervalMs: key(z.int().min(1000).default(10_000), {
      description: 'How often Redis and the homeserver are checked; `/readyz` and `mrr_redis_up`/`mrr_homeserver_up` say the latest result.',
      example: 10_000,
    }),
  }),
  sip: section('The phone bridge: a SIP endpoint on a worker that brings callers into a room\'s call as members of their own (`!dial`, `!pin`, `!hangup`).', {
    enabled: key(z.boolean().default(false), {
      description: 'Run the SIP endpoint on this worker. Enable it on one worker (or give each its own port).',
      example: true,
    }),
    bindAddress: key(z.string().min(1).default('127.0.0.1'), {
      description: 'Address the SIP endpoint (UDP) and its RTP media listen on.',
      example: '0.0.0.0',
    }),
    port: key(z.int().min(1).max(65535).default(5060), {
      description: 'UDP port of the SIP endpoint.',
      example: 5060,
    }),
    publicAddress: key(z.string().min(1).optional(), {
      description: 'The address peers reach the endpoint and its media at (SDP and Contact), when it differs from bindAddress (NAT, 0.0.0.0).',
      example: '203.0.113.10',
    }),
    rtpPortMin: key(z.int().min(1024).max(65534).default(20_000), {
      description: 'Lowest UDP port of the range callers\' media (RTP, and RTCP on the next port) is received on; open the range in the firewall.',
      example: 20000,
    }),
    rtpPortMax: key(z.int().min(1025).max(65535).default(20_999), {
      description: 'Highest UDP port of the RTP range (two ports per call).',
      example: 20999,
    }),
    allowedSources: key(z.array(z.string().min(1)).default(['127.0.0.1/32', '::1/128']), {
      description: 'Addresses (CIDR) allowed to send SIP requests; anything else is refused with 403 Forbidden.',
      example: ['127.0.0.1/32', '198.51.100.0/24'],
    }),
    allowedUsers: key(z.array(z.string().min(1)).optional(), {
      description: 'Caller users (`alice` or `alice@pbx.example.org`, the From user) allowed to call in; anything else is refused with 403 Forbidden. Unset: any user from an allowed source. From users can be forged: use it together with allowedSources.',
      example: ['pbx@pbx.example.org'],
    }),
    rooms: key(z.record(z.string().min(1), z.string().regex(/^!/, 'expected a room ID (!…)')).default({}), {
      description: 'Numbers (the user part of the called URI) that lead straight into a room\'s call.',
      example: { '1000': '!abcdef:example.org' },
    }),
    conferenceNumber: key(z.string().min(1).optional(), {
      description: 'The number that asks the caller for a conference PIN (set per room with `!pin`) and leads into that room\'s call.',
      example: '2000',
    }),
    pinAttempts: key(z.int().min(1).max(10).default(3), {
      description: 'Wrong PINs a caller may enter before the bridge hangs up.',
      example: 3,
    }),
    puppetPrefix: key(z.string().regex(/^[a-z0-9._=-]+$/, 'expected Matrix localpart characters').default('sip_'), {
      description: 'Callers\' Matrix users are `@<bot localpart>-<prefix><number>` (`@recorder-sip_4930123456:example.org`), inside the registration\'s user namespace.',
      example: 'sip_',
    }),
    maxLegs: key(z.int().min(1).max(200).default(16), {
      description: 'Calls this worker bridges at once; more are refused with 486 Busy Here.',
      example: 16,
    }),
    dialAllowedHosts: key(z.array(z.string().min(1)).default([]), {
      description: 'Hosts `!dial sip:user@host` may call directly (the trunk is always allowed for numbers). Empty: SIP addresses cannot be dialled, only numbers through the trunk.',
      example: ['pbx.example.org'],
    }),
    trunk: key(
      z
        .strictObject({
          uri: z.string().regex(/^sips?:/, 'expected a SIP URI such as sip:trunk.example.org:5060'),
          username: z.string().min(1).optional(),
          password: z.string().min(1).optional(),
          register: z.boolean().default(false),
          /** Caller ID presented on outgoing calls. */
          callerId: z.string().min(1).optional(),
        })
        .optional(),
      {
        description: 'The SIP trunk numbers are dialled through (digest authentication with username/password; `register: true` keeps a registration). The password is secret.',
        example: { uri: 'sip:sip.provider.example:5060', username: 'account', password: 'secret', register: true, callerId: '+4930123456' },
        secret: true,
      },
    ),
  }),
  transcripts: section('Transcripts of recordings: one per speaker from their own stem, merged into WebVTT captions and a text file attached with the recording.', {
    enabled: key(z.boolean().default(false), {
      description: 'Transcribe every recording. Off: only recordings started with `!record transcript` (or `!record video transcript`) are transcribed.',
      example: true,
    }),
    backend: key(z.enum(['pocketsphinx', 'openai']).default('pocketsphinx'), {
      description:
        "`pocketsphinx`: on the worker, with ffmpeg's `asr` filter and Debian's English model (pocketsphinx-en-us), nothing downloaded; " +
        'modest accuracy (see docs). `openai`: an OpenAI-compatible transcription endpoint your organisation runs (`endpointUrl`, `apiKey`).',
      example: 'openai',
    }),
    modelDir: key(z.string().min(1).default('/usr/share/pocketsphinx/model/en-us'), {
      description: 'The pocketsphinx model folder, laid out as Debian installs it: `en-us/` (acoustic model), `cmudict-en-us.dict`, `en-us.lm.bin`.',
      example: '/usr/share/pocketsphinx/model/en-us',
    }),
    endpointUrl: key(httpUrl.optional(), {
      description: 'Base URL of the OpenAI-compatible API (`/audio/transcriptions` is appended), for `backend: openai`.',
      example: 'https://asr.example.org/v1',
    }),
    apiKey: key(z.string().min(1).optional(), {
      description: 'Bearer token for the endpoint. Set it through MRR_TRANSCRIPTS__API_KEY or MRR_TRANSCRIPTS__API_KEY_FILE rather than in the file.',
      example: 'sk-…',
      secret: true,
    }),
    model: key(z.string().min(1).default('whisper-1'), {
      description: 'The `model` field sent to the endpoint.',
      example: 'Systran/faster-whisper-small',
    }),
    language: key(z.string().regex(/^[a-z]{2}$/, 'expected an ISO-639-1 code such as en').optional(), {
      description: 'Language of the speech, sent to the endpoint; unset: the endpoint detects it. (pocketsphinx knows English only.)',
      example: 'en',
    }),
    requestTimeoutMs: key(z.int().min(1000).default(600_000), {
      description: 'How long one speaker\'s transcription request to the endpoint may take.',
      example: 600_000,
    }),
  }),
  logging: section('Log output (JSON lines on stdout).', {
    level: key(z.enum(logLevels).default('info'), {
      description: 'Minimum level logged.',
      example: 'debug',
    }),
    pretty: key(z.boolean().default(false), {
      description: 'Human-readable single-line logs instead of JSON (for development).',
      example: true,
    }),
  }),
});

export type Config = z.infer<typeof configSchema>;
export type ConfigInput = z.input<typeof configSchema>;

