// Test users on the local Synapse (shared-secret registration) and a few client-server calls.
// In an encrypted room a test user talks like Element Web: messages go through matrix-js-sdk
// with Rust crypto from a chat device of their own (encrypted on the wire), and what the bot
// says is read by decrypting it. Plaintext raw-API messages are used only in unencrypted rooms.
import { createHmac, randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import type { StackInfo } from '../stack/info.ts';
import { ChatDevice, type ChatDeviceOptions } from './chat-device.ts';

export interface TestUser {
  userId: string;
  accessToken: string;
  deviceId: string;
  homeserverUrl: string;
  /** For logging in further devices (the chat device of an encrypted room). */
  password: string;
}

/** A room event as tests look at it; `encrypted` says how it travelled. */
export interface SeenEvent {
  type: string;
  sender: string;
  event_id: string;
  content: Record<string, unknown>;
  encrypted: boolean;
}

async function call<T>(baseUrl: string, method: string, path: string, token?: string, body?: unknown): Promise<T> {
  const response = await fetch(`${baseUrl}${path}`, {
    method,
    headers: { 'Content-Type': 'application/json', ...(token ? { Authorization: `Bearer ${token}` } : {}) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await response.text();
  if (!response.ok) throw new Error(`${method} ${path} -> ${response.status} ${text}`);
  return (text ? JSON.parse(text) : {}) as T;
}

/** Registers a fresh user through Synapse's shared-secret admin API (a unique localpart per call). */
export async function registerUser(stack: StackInfo, prefix = 'user', options: { admin?: boolean } = {}): Promise<TestUser> {
  const base = stack.synapse.url;
  const username = `${prefix}-${randomBytes(4).toString('hex')}`;
  const password = randomBytes(12).toString('hex');
  const { nonce } = await call<{ nonce: string }>(base, 'GET', '/_synapse/admin/v1/register');
  const admin = options.admin ? 'admin' : 'notadmin';
  const mac = createHmac('sha1', stack.synapse.registrationSharedSecret).update(`${nonce}\0${username}\0${password}\0${admin}`).digest('hex');
  const result = await call<{ user_id: string; access_token: string; device_id: string }>(base, 'POST', '/_synapse/admin/v1/register', undefined, {
    nonce,
    username,
    password,
    admin: options.admin ?? false,
    mac,
  });
  return { userId: result.user_id, accessToken: result.access_token, deviceId: result.device_id, homeserverUrl: base, password };
}

export class TestClient {
  readonly user: TestUser;
  private txn = 0;
  private chat: Promise<ChatDevice> | undefined;
  private readonly encryptedRooms = new Map<string, boolean>();

  readonly chatOptions: ChatDeviceOptions;

  constructor(user: TestUser, chatOptions: ChatDeviceOptions = {}) {
    this.user = user;
    this.chatOptions = chatOptions;
  }

  /** The user's Element-like chat device (js-sdk + Rust crypto), started on first use. */
  chatDevice(): Promise<ChatDevice> {
    this.chat ??= ChatDevice.start(this.user, this.chatOptions);
    return this.chat;
  }

  /** Stops the chat device, if one was started. */
  async close(): Promise<void> {
    if (this.chat) (await this.chat).stop();
  }

  async isEncrypted(roomId: string): Promise<boolean> {
    const known = this.encryptedRooms.get(roomId);
    if (known !== undefined) return known;
    const encrypted = (await this.roomState(roomId)).some((e) => e.type === 'm.room.encryption');
    this.encryptedRooms.set(roomId, encrypted);
    return encrypted;
  }

  request<T = Record<string, unknown>>(method: string, path: string, body?: unknown): Promise<T> {
    return call<T>(this.user.homeserverUrl, method, path, this.user.accessToken, body);
  }

  async createRoom(options: Record<string, unknown> = {}): Promise<string> {
    const { room_id } = await this.request<{ room_id: string }>('POST', '/_matrix/client/v3/createRoom', { preset: 'private_chat', ...options });
    return room_id;
  }

  invite(roomId: string, userId: string) {
    return this.request('POST', `/_matrix/client/v3/rooms/${encodeURIComponent(roomId)}/invite`, { user_id: userId });
  }

  /** Sends a text message: encrypted through the chat device in an encrypted room, as Element does. */
  async sendText(roomId: string, body: string): Promise<{ event_id: string }> {
    if (await this.isEncrypted(roomId)) return (await this.chatDevice()).sendText(roomId, body);
    return this.sendPlaintext(roomId, body);
  }

  /** A plaintext message through the raw API (what no Element client does in an encrypted room). */
  sendPlaintext(roomId: string, body: string) {
    return this.request<{ event_id: string }>(
      'PUT',
      `/_matrix/client/v3/rooms/${encodeURIComponent(roomId)}/send/m.room.message/t${Date.now()}-${this.txn++}`,
      { msgtype: 'm.text', body },
    );
  }

  /** The room's current state events. */
  roomState(roomId: string) {
    return this.request<Array<{ type: string; state_key: string; sender: string; content: Record<string, unknown> }>>(
      'GET',
      `/_matrix/client/v3/rooms/${encodeURIComponent(roomId)}/state`,
    );
  }

  async members(roomId: string): Promise<Map<string, string>> {
    const state = await this.roomState(roomId);
    return new Map(state.filter((e) => e.type === 'm.room.member').map((e) => [e.state_key, String(e.content.membership)]));
  }

  /** Timeline events of the room, newest first; in an encrypted room, as the chat device decrypted them. */
  async recentEvents(roomId: string, limit = 50): Promise<SeenEvent[]> {
    if (await this.isEncrypted(roomId)) return (await this.chatDevice()).recentEvents(roomId, limit);
    const { chunk } = await this.request<{ chunk: Array<{ type: string; sender: string; event_id: string; content: Record<string, unknown> }> }>(
      'GET',
      `/_matrix/client/v3/rooms/${encodeURIComponent(roomId)}/messages?dir=b&limit=${limit}`,
    );
    return chunk.map((e) => ({ ...e, encrypted: e.type === 'm.room.encrypted' }));
  }

  /** Polls the room timeline until an event matches; fails naming what it waited for. */
  async waitForEvent(
    roomId: string,
    match: (event: SeenEvent) => boolean,
    what: string,
    timeoutMs = 30_000,
  ) {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      const found = (await this.recentEvents(roomId)).find(match);
      if (found) return found;
      await sleep(250);
    }
    throw new Error(`no ${what} in ${roomId} within ${timeoutMs} ms`);
  }

  /** Waits for a message from `sender` whose body matches `pattern` (what the bot says). */
  waitForMessage(roomId: string, sender: string, pattern: RegExp, what: string, timeoutMs = 30_000) {
    return this.waitForEvent(roomId, (e) => e.sender === sender && pattern.test(String(e.content.body)), what, timeoutMs);
  }
}

/** Polls until `check` returns a value other than undefined, or fails naming what it waited for. */
export async function waitFor<T>(check: () => Promise<T | undefined>, what: string, timeoutMs = 30_000, intervalMs = 250): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(intervalMs);
  }
}
