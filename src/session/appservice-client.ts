// Client-server calls made with the appservice token on behalf of a namespaced user (the
// `user_id` query parameter), used by workers that do not run the appservice listener.
import { MatrixApiError } from '../errors.ts';
import { matrixRequest } from '../rtc/http.ts';

export class AppserviceClient {
  readonly #homeserverUrl: string;
  readonly #asToken: string;

  constructor(homeserverUrl: string, asToken: string) {
    this.#homeserverUrl = homeserverUrl.replace(/\/+$/, '');
    this.#asToken = asToken;
  }

  request<T>(what: string, method: string, path: string, asUser: string, body?: unknown): Promise<T> {
    const separator = path.includes('?') ? '&' : '?';
    return matrixRequest<T>(what, `${this.#homeserverUrl}${path}${separator}user_id=${encodeURIComponent(asUser)}`, {
      method,
      accessToken: this.#asToken,
      body,
    });
  }
}

/** Registers a user of the appservice's namespace; returns false when it existed already (M_USER_IN_USE). */
export async function registerAppserviceUser(client: AppserviceClient, userId: string): Promise<boolean> {
  try {
    await client.request(`registering ${userId}`, 'POST', '/_matrix/client/v3/register', userId, {
      type: 'm.login.application_service',
      username: userId.slice(1, userId.indexOf(':')),
      inhibit_login: true,
    });
    return true;
  } catch (err) {
    if (err instanceof MatrixApiError && err.errcode === 'M_USER_IN_USE') return false;
    throw err;
  }
}

export const roomPath = (roomId: string, rest: string) => `/_matrix/client/v3/rooms/${encodeURIComponent(roomId)}/${rest}`;
