import { AppService, AppServiceRegistration, Bridge, type Intent, type Request, type WeakEvent } from 'matrix-appservice-bridge';
import type { Config } from '../config/schema.ts';
import type { Registration } from '../config/registration.ts';
import { CommandError, ConfigError, describeError, MatrixApiError, RecorderError } from '../errors.ts';
import type { Logger } from '../observability/logger.ts';
import { matrixRequest } from '../rtc/http.ts';
import { parseCommandEvent } from './commands/parse.ts';
import type { CommandRegistry } from './commands/registry.ts';
import { routeBridgeLibraryLogs } from './library-logs.ts';
import { AppserviceClient, registerAppserviceUser } from '../session/appservice-client.ts';
import { BotClient, UndecryptableError, type DecryptedEvent } from './bot-client.ts';
import { ensureBotProfile } from './bot-profile.ts';
import { callUserLocalpart } from '../call/call-user.ts';
import type { NoticeJobData } from '../jobs/notices.ts';
import { effectiveAllowList, isAllowed, privilegedCreators, userPowerLevel, type CreateEvent, type PowerLevelsContent } from './permissions.ts';
import { checkHsTokenInConstantTime, sameSecret } from './hs-token.ts';
import { CommandRateLimiter } from './rate-limit.ts';
import { roomTextSanitiser, type RoomTextSanitiser } from './room-text.ts';

export interface BridgeDeps {
  config: Config;
  registration: Registration;
  log: Logger;
  commands: CommandRegistry;
}

/**
 * The appservice side: receives transactions from the homeserver (hs_token checked by the
 * library), joins rooms it is invited to by allowed users, and runs commands. Encrypted commands
 * are decrypted, and everything it says is sent, by the bot's own E2EE client (bot-client.ts).
 */
export class RecorderAppservice {
  readonly botUserId: string;
  readonly #deps: BridgeDeps;
  readonly #bridge: Bridge;
  readonly #log: Logger;
  #bot: BotClient | undefined;
  readonly #withheldNotices = new OncePer(10 * 60_000);
  /** Whoever floods gets told once a minute, not once per command. */
  readonly #rateNotices = new OncePer(60_000);
  readonly #allow: readonly string[];
  readonly #limiter: CommandRateLimiter;
  readonly #sanitise: RoomTextSanitiser;

  constructor(deps: BridgeDeps) {
    this.#deps = deps;
    this.#log = deps.log.child({ module: 'appservice' });
    this.botUserId = `@${deps.config.bot.localpart}:${deps.config.homeserver.domain}`;
    const { config } = deps;
    this.#allow = effectiveAllowList(config.permissions.allow, config.homeserver.domain);
    this.#limiter = new CommandRateLimiter({
      user: { burst: config.limits.userCommandBurst, perMinute: config.limits.userCommandsPerMinute },
      room: { burst: config.limits.roomCommandBurst, perMinute: config.limits.roomCommandsPerMinute },
    });
    this.#sanitise = roomTextSanitiser({
      internalHosts: [
        config.homeserver.url, config.appservice.publicUrl, config.appservice.bindAddress, config.redis.url,
        ...(config.rtc.livekitServiceUrl ? [config.rtc.livekitServiceUrl] : []), ...config.rtc.allowedAuthorizers,
      ],
    });
    routeBridgeLibraryLogs(deps.log.child({ module: 'appservice-lib' }));
    this.#bridge = new Bridge({
      homeserverUrl: deps.config.homeserver.url,
      domain: deps.config.homeserver.domain,
      registration: AppServiceRegistration.fromObject(deps.registration as never),
      disableStores: true,
      disableContext: true,
      suppressEcho: true,
      queue: { type: 'per_room' },
      controller: { onEvent: (request) => this.#onEvent(request) },
    });
  }

  /** The bot user, acting through the appservice token. */
  get intent(): Intent {
    return this.#bridge.getIntent(this.botUserId);
  }

  async start(): Promise<void> {
    const { config, registration } = this.#deps;
    const { bindAddress, port } = config.appservice;
    const storeKey = config.encryption.storeKey;
    if (!storeKey) {
      throw new ConfigError('encryption.storeKey', 'is required to run the bridge: it encrypts the bot\'s crypto store (set MRR_ENCRYPTION__STORE_KEY or MRR_ENCRYPTION__STORE_KEY_FILE)');
    }
    await this.#bridge.initialise();
    await this.#setProfiles();
    this.#bot = await BotClient.start({
      homeserverUrl: config.homeserver.url,
      asToken: registration.as_token,
      userId: this.botUserId,
      storeDir: config.encryption.storeDir,
      storeKey,
      deviceDisplayName: config.bot.displayName,
      syncTimeoutMs: config.rtc.syncTimeoutMs,
      crossSigningKeysFile: config.encryption.crossSigningKeysFile,
      log: this.#log,
    });
    // Our own AppService instance, so that its hs_token check is the constant-time one.
    const appService = new AppService({ homeserverToken: registration.hs_token });
    checkHsTokenInConstantTime(appService, registration.hs_token);
    await this.#bridge.listen(port, bindAddress, 10, appService);
    this.#servePing();
    this.#log.info({ botUserId: this.botUserId, deviceId: this.#bot.device.deviceId, bindAddress, port }, 'appservice listening');
    await this.#pingHomeserver();
  }

  /** Display names and avatars of the bot and its call user; a failure is logged, the bot still works. */
  async #setProfiles(): Promise<void> {
    const { config, registration } = this.#deps;
    const callUserId = `@${callUserLocalpart(config.bot.localpart)}:${config.homeserver.domain}`;
    const as = new AppserviceClient(config.homeserver.url, registration.as_token);
    for (const userId of [this.botUserId, callUserId]) if (await registerAppserviceUser(as, userId)) this.#log.info({ userId }, 'registered');
    for (const [userId, displayName] of [
      [this.botUserId, config.bot.displayName],
      [callUserId, `${config.bot.displayName} (recording)`],
    ] as const) {
      await ensureBotProfile({ homeserverUrl: config.homeserver.url, asToken: registration.as_token, userId, displayName }, this.#log).catch((err: unknown) =>
        this.#log.warn({ err, userId }, 'could not set the profile'),
      );
    }
  }

  /** Sends a notice queued by a worker (encrypted in encrypted rooms). */
  async sendNotice(notice: NoticeJobData): Promise<void> {
    await this.#notice(notice.roomId, notice.body, notice.replyTo);
  }

  /** The appservice side of MSC2659 (the library serves transactions only): 200 for the homeserver. */
  #servePing(): void {
    const hsToken = this.#deps.registration.hs_token;
    this.#bridge.appService.expressApp.post('/_matrix/app/v1/ping', (req, res) => {
      if (!sameSecret(req.headers.authorization, `Bearer ${hsToken}`)) {
        res.status(403).json({ errcode: 'M_FORBIDDEN', error: 'Bad hs_token' });
        return;
      }
      res.status(200).json({});
    });
  }

  /**
   * MSC2659 ping: proves the homeserver reaches our URL, and makes Synapse retry at once the
   * transactions it held back while we were down (otherwise it waits out its backoff, up to 512 s).
   */
  async #pingHomeserver(): Promise<void> {
    const { url } = this.#deps.config.homeserver;
    const path = `/_matrix/client/v1/appservice/${encodeURIComponent(this.#deps.registration.id)}/ping`;
    try {
      const result = await matrixRequest<{ duration_ms?: number }>('pinging the appservice through the homeserver', `${url.replace(/\/+$/, '')}${path}`, {
        method: 'POST',
        accessToken: this.#deps.registration.as_token,
        body: { transaction_id: `mrr-ping-${Date.now()}` },
      });
      this.#log.info({ durationMs: result.duration_ms }, 'the homeserver reaches the appservice');
    } catch (err) {
      this.#log.error({ err }, 'the homeserver could not reach the appservice (check appservice.publicUrl and the registration url)');
    }
  }

  async stop(): Promise<void> {
    await this.#bridge.close();
    await this.#bot?.stop();
  }

  async #onEvent(request: Request<WeakEvent>): Promise<void> {
    const event = request.getData();
    const log = this.#log.child({ roomId: event.room_id, eventId: event.event_id });
    try {
      if (event.type === 'm.room.member' && event.state_key === this.botUserId) {
        await this.#onOwnMembership(event, log);
      } else if (event.type === 'm.room.message') {
        await this.#onMessage(event, log);
      } else if (event.type === 'm.room.encrypted' && event.sender !== this.botUserId) {
        await this.#onEncrypted(event, log);
      }
    } catch (err) {
      log.error({ err, type: event.type }, 'event handling failed');
    }
  }

  async #onOwnMembership(event: WeakEvent, log: Logger): Promise<void> {
    if (event.content.membership !== 'invite') return;
    if (!isAllowed(this.#allow, event.sender)) {
      log.warn({ inviter: event.sender }, 'invite from a user not on permissions.allow; declining');
      await this.intent.leave(event.room_id, 'This bot is not available to you (not on its allow-list).');
      return;
    }
    await this.intent.join(event.room_id);
    log.info({ inviter: event.sender }, 'joined room on invite');
    await this.#notice(event.room_id, 'Hello! I can record calls in this room. Type !help for the commands.');
  }

  /** What Element sends in an encrypted room: decrypted with the bot's device, then handled like any message. */
  async #onEncrypted(event: WeakEvent, log: Logger): Promise<void> {
    let decrypted: DecryptedEvent;
    try {
      decrypted = await this.#botClient().decrypt(event as never);
    } catch (err) {
      if (!(err instanceof UndecryptableError)) throw err;
      log.warn({ sender: event.sender, code: err.code }, 'could not decrypt a message');
      // Unreadable messages are mostly not for the bot; a key withheld on purpose is worth one sentence.
      if (err.withheld && this.#withheldNotices.shouldTell(`${event.room_id}|${event.sender}`)) {
        await this.#notice(
          event.room_id,
          `${event.sender}: I cannot read your messages: your client did not share their keys with my device, probably because it ` +
            'shares only with verified devices. My operator can have my devices signed (matrixrtc-recorder generate-cross-signing).',
        );
      }
      return;
    }
    if (decrypted.type !== 'm.room.message') return;
    await this.#onMessage({ ...event, type: decrypted.type, content: decrypted.content }, log);
  }

  #botClient(): BotClient {
    if (!this.#bot) throw new RecorderError('the bot client is not started', 'MRR_NOT_STARTED');
    return this.#bot;
  }

  async #onMessage(event: WeakEvent, log: Logger): Promise<void> {
    const parsed = parseCommandEvent(event, new Set([this.botUserId]));
    if (!parsed) return;
    const roomId = event.room_id;
    const reply = (text: string) => this.#notice(roomId, text, event.event_id);
    const allowed = isAllowed(this.#allow, event.sender);
    // Other bots' `!commands` get no answer to answer back to: an unknown command is answered only
    // for users allowed to command the bot (and m.notice, what bots send, is never a command: parse.ts).
    if (!allowed && !this.#deps.commands.has(parsed.name)) {
      log.debug({ sender: event.sender, command: parsed.name }, 'ignoring an unknown command from a user not on the allow-list');
      return;
    }
    const limited = this.#limiter.check(roomId, event.sender);
    if (limited) {
      const seconds = Math.max(1, Math.ceil(limited.waitMs / 1000));
      log.info({ sender: event.sender, command: parsed.name, limited: limited.limited, waitMs: limited.waitMs }, 'command dropped: rate limit');
      const who = limited.limited === 'user' ? event.sender : roomId;
      if (this.#rateNotices.shouldTell(`${limited.limited}|${who}`)) {
        await reply(
          limited.limited === 'user'
            ? `${event.sender} is sending commands faster than I take them (limits.userCommandsPerMinute); I ignore theirs for about ${seconds} s.`
            : `This room is sending commands faster than I take them (limits.roomCommandsPerMinute); I ignore commands here for about ${seconds} s.`,
        );
      }
      return;
    }
    if (!allowed) {
      log.info({ sender: event.sender, command: parsed.name }, 'command from a user not on the allow-list');
      await reply(`${event.sender} is not allowed to use this bot (permissions.allow).`);
      return;
    }
    log.info({ sender: event.sender, command: parsed.name, args: this.#deps.commands.loggableArgs(parsed) }, 'command');
    try {
      await this.#deps.commands.dispatch(parsed, {
        roomId,
        sender: event.sender,
        eventId: event.event_id,
        log,
        reply,
        redactCommand: async (reason) => {
          await this.#botClient().client.redactEvent(roomId, event.event_id, undefined, { reason });
        },
        senderPowerLevel: async () => {
          const [levels, create] = await Promise.all([this.#powerLevels(roomId), this.#createEvent(roomId)]);
          return userPowerLevel(levels, event.sender, privilegedCreators(create));
        },
      });
    } catch (err) {
      if (!(err instanceof CommandError)) log.error({ err, command: parsed.name }, 'command failed');
      await reply(replyForError(err));
    }
  }

  async #powerLevels(roomId: string): Promise<PowerLevelsContent | undefined> {
    try {
      return (await this.intent.getStateEvent(roomId, 'm.room.power_levels', '')) as PowerLevelsContent;
    } catch (err) {
      throw wrapMatrixError('reading the room power levels', err);
    }
  }

  async #createEvent(roomId: string): Promise<CreateEvent> {
    try {
      // format=event: the creator is the event's sender, which the content alone does not carry in v12 rooms.
      const path = `/_matrix/client/v3/rooms/${encodeURIComponent(roomId)}/state/m.room.create/`;
      return (await this.intent.matrixClient.doRequest('GET', path, { format: 'event' })) as CreateEvent;
    } catch (err) {
      throw wrapMatrixError('reading the room creation event', err);
    }
  }

  async #notice(roomId: string, body: string, inReplyTo?: string): Promise<void> {
    // Internal addresses never reach a room, whichever sentence carried them (room-text.ts).
    const content: Record<string, unknown> = { msgtype: 'm.notice', body: this.#sanitise(body) };
    if (inReplyTo) content['m.relates_to'] = { 'm.in_reply_to': { event_id: inReplyTo } };
    await this.#botClient().send(roomId, content);
  }
}

/** Says yes once per key within a window (so one cause gets one message, not one per event). */
class OncePer {
  readonly #windowMs: number;
  readonly #last = new Map<string, number>();
  constructor(windowMs: number) {
    this.#windowMs = windowMs;
  }
  shouldTell(key: string): boolean {
    const now = Date.now();
    if (now - (this.#last.get(key) ?? -Infinity) < this.#windowMs) return false;
    this.#last.set(key, now);
    return true;
  }
}

/** One plain sentence for the room, with the Matrix errcode where there is one. */
export function replyForError(err: unknown): string {
  if (err instanceof CommandError) return err.userMessage ?? err.message;
  const text = describeError(err);
  const code = err instanceof RecorderError ? err.errcode : undefined;
  return `That failed: ${text}${code && !text.includes(code) ? ` (${code})` : ''}`;
}

/** Turns a bot-sdk/bridge error into a MatrixApiError keeping errcode and status. */
export function wrapMatrixError(what: string, err: unknown): RecorderError {
  if (err instanceof RecorderError) return err;
  const e = err as { statusCode?: number; body?: { errcode?: string; error?: string }; errcode?: string; message?: string };
  const errcode = e.body?.errcode ?? e.errcode;
  if (errcode) return new MatrixApiError(what, e.statusCode ?? 0, errcode, e.body?.error ?? e.message ?? '', { cause: err });
  return new RecorderError(`${what} failed: ${describeError(err)}`, 'MRR_MATRIX_REQUEST', { cause: err });
}
